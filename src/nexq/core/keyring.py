"""Where the master keys live, and their rotation (docs/operations.md, "The master key").

The keyring is a small text file (``master.key`` in the data directory by default; better,
``NEXQ_MASTER_KEY_FILE`` outside it, so that a backup of the data never holds its key)::

    current <base64 of 32 bytes>
    previous <base64 of 32 bytes>     (only while a rotation re-wraps secrets)

A file of one bare base64 line (what Nexq wrote before keyrings) is a keyring whose only key
is current. Or the keys come from the environment (``NEXQ_MASTER_KEY``, and
``NEXQ_MASTER_KEY_PREVIOUS`` during a rotation), and no file is read.

Rotation (file keyrings): a new key becomes current with the old one listed as previous;
after a grace period (writes that began under the old key land), every sealed secret is
re-wrapped with the new key, the old key is dropped from the file, and a last pass re-wraps
any straggler with the old key still in memory. Running servers read the file again when
they meet a key id they do not know, and before each seal when the file changed. Interrupted
at any point, every secret still opens with the file's keys, and running ``rotate`` again
finishes the same rotation. This module knows no service: the tables holding sealed secrets
are handed to it as :class:`SealedStore`.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag

from nexq.core.crypto import (
    Keyring,
    SecretBox,
    UnknownMasterKey,
    decode_key,
    new_key,
)

log = logging.getLogger("nexq")
KEYRING_NAME = "master.key"
PAGE = 500
MAX_PASSES = 10
_HEADER = (
    "# Nexq master keyring: 'current' seals new secrets, every key listed opens them.\n"
    "# Keep this file out of the backups of the data directory, and keep a copy of it\n"
    "# apart from them: without it no S3 secret can be recovered.\n"
)
ENV_ROTATION = (
    "the master key comes from NEXQ_MASTER_KEY, which Nexq cannot change: make a new key "
    "(head -c 32 /dev/urandom | base64), then on every server set NEXQ_MASTER_KEY to it and "
    "NEXQ_MASTER_KEY_PREVIOUS to the old one and restart; then run this command again to "
    "re-wrap every secret, and finally remove NEXQ_MASTER_KEY_PREVIOUS and restart "
    '(docs/operations.md, "The master key")'
)


class KeyringError(ValueError):
    """The master key configuration is unusable; the message says what to do."""


class RotationRefused(Exception):
    """Rotation cannot run in this configuration; the message says what to do instead."""


class SealedStore(Protocol):
    """A table of secrets sealed with the master key (a service's, e.g. S3 access keys)."""

    sealed_label: str

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        """(context, sealed) pairs with context > ``after``, in context order."""
        ...

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Store each (context, old, new) where the value still is ``old``; how many."""
        ...


class KeyringFile:
    """A keyring kept in a file; also what running servers reload after a rotation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None

    def load(self) -> Keyring:
        with open(self.path, "rb") as f:
            stat = os.fstat(f.fileno())
            text = f.read().decode()
        self._seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        try:
            return parse_keyring(text)
        except ValueError as exc:
            raise KeyringError(f"{self.path}: {exc}") from None

    def changed(self) -> bool:
        try:
            stat = os.stat(self.path)
        except OSError:
            return False  # keep the keys in memory rather than fail a seal
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._seen

    def load_or_create(self) -> Keyring:
        """The keyring, made with a new key on an installation's first start."""
        try:
            return self.load()
        except FileNotFoundError:
            pass
        tmp = self._write_temporary(Keyring(new_key()))
        try:
            # Two processes starting at once must agree on one key: the first link wins.
            os.link(tmp, self.path)
            _sync_directory(self.path.parent)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return self.load()

    def save(self, keyring: Keyring) -> None:
        """Replace the file atomically and durably: secrets are re-wrapped only after this."""
        tmp = self._write_temporary(keyring)
        os.replace(tmp, self.path)
        _sync_directory(self.path.parent)
        # This process chose the new content: its own seals need not read it back (and
        # must not, while it still re-wraps with keys the file no longer lists).
        stat = os.stat(self.path)
        self._seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One rotation at a time (running servers never take this lock)."""
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write_temporary(self, keyring: Keyring) -> Path:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, format_keyring(keyring).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_keyring(text: str) -> Keyring:
    """The keyring in ``text``: ``current``/``previous`` lines, or one bare base64 key."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) == 1 and " " not in lines[0]:
        return Keyring(decode_key(lines[0]))  # written before keyrings existed
    current: list[bytes] = []
    previous: list[bytes] = []
    for line in lines:
        role, _, value = line.partition(" ")
        if role not in ("current", "previous"):
            raise ValueError("not a Nexq keyring: lines are 'current <key>' or 'previous <key>'")
        (current if role == "current" else previous).append(decode_key(value))
    if len(current) != 1:
        raise ValueError("a keyring has exactly one 'current' key")
    return Keyring(current[0], tuple(k for k in previous if k != current[0]))


def format_keyring(keyring: Keyring) -> str:
    lines = [f"current {_b64(keyring.current)}"]
    lines += [f"previous {_b64(k)}" for k in keyring.previous]
    return _HEADER + "\n".join(lines) + "\n"


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def open_box(
    data_dir: Path,
    env_key: str | None = None,
    env_previous: str | None = None,
    key_file: Path | None = None,
    has_data: bool = False,
) -> SecretBox:
    """The installation's :class:`SecretBox`, from the environment or a keyring file.

    A keyring file is made only for an installation without data (``has_data`` False): a
    new key would open none of the secrets an existing one holds, so a missing file there is
    a configuration to fix, not a first start.
    """
    beside_data = data_dir / KEYRING_NAME
    if env_key:
        if key_file is not None:
            raise KeyringError("set NEXQ_MASTER_KEY or NEXQ_MASTER_KEY_FILE, not both")
        try:
            previous = tuple(decode_key(k) for k in (env_previous or "").split(",") if k.strip())
            return SecretBox(Keyring(decode_key(env_key), previous))
        except ValueError as exc:
            raise KeyringError(f"NEXQ_MASTER_KEY / NEXQ_MASTER_KEY_PREVIOUS: {exc}") from None
    if env_previous:
        raise KeyringError("NEXQ_MASTER_KEY_PREVIOUS goes with NEXQ_MASTER_KEY")
    path = beside_data
    if key_file is not None:
        path = key_file
        if beside_data.exists():
            if not path.exists():
                raise KeyringError(
                    f"NEXQ_MASTER_KEY_FILE names {path}, which does not exist, and the data "
                    f"directory holds {beside_data}: move that file to {path}"
                )
            log.warning(
                "%s is still in the data directory although NEXQ_MASTER_KEY_FILE is %s: "
                "delete it, so that backups of the data do not carry a key",
                beside_data,
                path,
            )
    if has_data and not path.exists():
        raise KeyringError(
            f"no master keyring at {path}, and the data directory already holds data sealed "
            "with one: set NEXQ_MASTER_KEY_FILE (or NEXQ_MASTER_KEY) as the server has it; if "
            "the key is lost, see docs/operations.md"
        )
    keys = KeyringFile(path)
    return SecretBox(keys.load_or_create(), keys)


def census(box: SecretBox, stores: Sequence[SealedStore]) -> dict[str, dict[str, int]]:
    """For each store, how many secrets each key id sealed (``none``: before key ids)."""
    counts: dict[str, dict[str, int]] = {}
    for store in stores:
        mine = counts.setdefault(store.sealed_label, {})
        for _, sealed in _every(store):
            kid = box.key_id_of(sealed)
            mine[kid] = mine.get(kid, 0) + 1
    return counts


def status(box: SecretBox, stores: Sequence[SealedStore]) -> dict[str, Any]:
    """What ``nexq admin master-key status`` prints: ids and counts, never a key."""
    source = box.source
    box.reload()
    return {
        "keyring": str(source.path) if isinstance(source, KeyringFile) else "NEXQ_MASTER_KEY",
        "current": box.keyring.current_id,
        "previous": box.keyring.previous_ids,
        "sealed": census(box, stores),
    }


def rotate(
    box: SecretBox,
    stores: Sequence[SealedStore],
    grace_seconds: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Make a new key current and re-wrap every secret with it (or finish a rotation that
    was interrupted); the old key is retired once nothing needs it."""
    source = box.source
    if not isinstance(source, KeyringFile):
        return _rewrap_to_environment_key(box, stores, say)
    with source.lock():
        ring = source.load()
        if ring.previous:
            say(f"finishing the rotation to key {ring.current_id}")
        else:
            ring = Keyring(new_key(), (ring.current,))
            source.save(ring)
            say(f"key {ring.current_id} now seals new secrets; {ring.previous_ids[0]} still opens")
        box.use(ring)
        # A server that read the keyring just before the save may be sealing with the old
        # key right now: let such writes land before the pass that must see them.
        time.sleep(grace_seconds)
        rewrapped, unopenable = _rewrap_until_done(box, stores)
        source.save(Keyring(ring.current))
        # The old keys are still in this process's memory: re-wrap any late straggler.
        late, late_unopenable = _rewrap_until_done(box, stores)
        box.use(Keyring(ring.current))
    say(f"retired {', '.join(ring.previous_ids)}")
    return {
        "current": ring.current_id,
        "retired": ring.previous_ids,
        "rewrapped": rewrapped + late,
        "unopenable": unopenable + late_unopenable,
        "sealed": census(box, stores),
    }


def _rewrap_to_environment_key(
    box: SecretBox, stores: Sequence[SealedStore], say: Callable[[str], None]
) -> dict[str, Any]:
    ring = box.keyring
    if not ring.previous:
        raise RotationRefused(ENV_ROTATION)
    rewrapped, unopenable = _rewrap_until_done(box, stores)
    say(
        "every secret is sealed with the current key: remove NEXQ_MASTER_KEY_PREVIOUS from "
        "every server and restart them"
    )
    return {
        "current": ring.current_id,
        "retired": ring.previous_ids,
        "rewrapped": rewrapped,
        "unopenable": unopenable,
        "sealed": census(box, stores),
    }


def _rewrap_until_done(box: SecretBox, stores: Sequence[SealedStore]) -> tuple[int, int]:
    """Passes until one re-wraps nothing: (re-wrapped, unopenable by any key we hold)."""
    total = 0
    unopenable = 0
    for _ in range(MAX_PASSES):
        done, unopenable = _rewrap_pass(box, stores)
        total += done
        if done == 0:
            break
    if unopenable:
        log.warning("%d sealed secrets open with no key of the keyring", unopenable)
    return total, unopenable


def _rewrap_pass(box: SecretBox, stores: Sequence[SealedStore]) -> tuple[int, int]:
    done = unopenable = 0
    for store in stores:
        changes: list[tuple[str, bytes, bytes]] = []
        for context, sealed in _every(store):
            try:
                fresh = box.rewrap(sealed, context)
            except (InvalidTag, UnknownMasterKey):
                unopenable += 1
                continue
            if fresh is not None:
                changes.append((context, sealed, fresh))
            if len(changes) >= PAGE:
                done += store.replace_sealed(changes)
                changes = []
        done += store.replace_sealed(changes) if changes else 0
    return done, unopenable


def _every(store: SealedStore) -> Iterator[tuple[str, bytes]]:
    after = ""
    while True:
        page = store.sealed_page(after, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1][0]
