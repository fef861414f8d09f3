"""Master keys: SecretBox with several keys, the keyring file, and rotation (core/keyring.py)."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nexq.core.crypto import LEGACY, Keyring, SecretBox, UnknownMasterKey, key_id
from nexq.core.keyring import (
    KeyringError,
    KeyringFile,
    RotationRefused,
    format_keyring,
    open_box,
    parse_keyring,
    rotate,
    status,
)

OLD, NEW, OTHER = os.urandom(32), os.urandom(32), os.urandom(32)


def legacy_seal(key: bytes, plaintext: str, context: str, nonce: bytes | None = None) -> bytes:
    """A value as Nexq sealed it before key ids: nonce + ciphertext, no header."""
    nonce = nonce or os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_new_values_carry_the_current_key_id_and_open_with_any_key() -> None:
    old = SecretBox(OLD)
    sealed_old = old.seal("secret-1", "NQAK1")
    assert old.key_id_of(sealed_old) == key_id(OLD)
    both = SecretBox(Keyring(NEW, (OLD,)))
    sealed_new = both.seal("secret-2", "NQAK2")
    assert both.key_id_of(sealed_new) == key_id(NEW)
    assert both.open(sealed_old, "NQAK1") == "secret-1"
    assert both.open(sealed_new, "NQAK2") == "secret-2"
    with pytest.raises(InvalidTag):
        both.open(sealed_new, "NQAK1")  # the context is bound


def test_values_sealed_before_key_ids_still_open() -> None:
    sealed = legacy_seal(OLD, "legacy-secret", "NQAKold")
    box = SecretBox(Keyring(NEW, (OLD,)))
    assert box.key_id_of(sealed) == LEGACY
    assert box.open(sealed, "NQAKold") == "legacy-secret"
    # Even one whose random nonce happens to begin like a header.
    odd = legacy_seal(OLD, "unlucky", "NQAKodd", nonce=b"nqk1" + os.urandom(8))
    assert box.open(odd, "NQAKodd") == "unlucky"
    assert box.rewrap(odd, "NQAKodd") is not None


def test_a_value_sealed_with_an_unknown_key_is_refused() -> None:
    sealed = SecretBox(OTHER).seal("secret", "NQAK1")
    with pytest.raises(UnknownMasterKey, match=key_id(OTHER)):
        SecretBox(Keyring(NEW, (OLD,))).open(sealed, "NQAK1")
    with pytest.raises(InvalidTag):
        SecretBox(NEW).open(legacy_seal(OTHER, "secret", "NQAK1"), "NQAK1")


def test_rewrap_moves_old_values_to_the_current_key_only() -> None:
    box = SecretBox(Keyring(NEW, (OLD,)))
    current = box.seal("a", "k1")
    assert box.rewrap(current, "k1") is None
    for sealed in (SecretBox(OLD).seal("b", "k2"), legacy_seal(OLD, "b", "k2")):
        fresh = box.rewrap(sealed, "k2")
        assert fresh is not None and box.key_id_of(fresh) == key_id(NEW)
        assert SecretBox(NEW).open(fresh, "k2") == "b"
        with pytest.raises(UnknownMasterKey):
            SecretBox(OLD).open(fresh, "k2")


def test_keyring_text_old_and_new_forms() -> None:
    assert parse_keyring(b64(OLD) + "\n") == Keyring(OLD)
    ring = Keyring(NEW, (OLD,))
    assert parse_keyring(format_keyring(ring)) == ring
    assert b64(NEW) in format_keyring(ring) and format_keyring(ring).startswith("#")
    for bad in (
        "",
        "current x\n",
        f"current {b64(NEW)}\ncurrent {b64(OLD)}\n",
        f"previous {b64(OLD)}\n",
        f"next {b64(NEW)}\n",
        base64.b64encode(b"short").decode(),
    ):
        with pytest.raises(ValueError):
            parse_keyring(bad)


def test_a_server_reads_the_keyring_again_for_an_unknown_key_and_before_sealing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "master.key"
    path.write_text(format_keyring(Keyring(OLD)))
    worker_file = KeyringFile(path)
    worker = SecretBox(worker_file.load(), worker_file)
    # Another process rotates: NEW is current, OLD still accepted.
    KeyringFile(path).save(Keyring(NEW, (OLD,)))
    sealed_by_rotation = SecretBox(NEW).seal("s", "k")
    assert worker.open(sealed_by_rotation, "k") == "s"  # reloaded on the unknown id
    KeyringFile(path).save(Keyring(OTHER, (NEW,)))
    assert worker.key_id_of(worker.seal("t", "k")) == key_id(OTHER)  # reloaded: file changed


def test_first_start_makes_a_private_keyring(tmp_path: Path) -> None:
    box = open_box(tmp_path)
    path = tmp_path / "master.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert parse_keyring(path.read_text()).current_id == box.keyring.current_id
    assert open_box(tmp_path).keyring == box.keyring  # the same key on the next start
    # With data, a missing keyring is a mistake (a variable not set), not a first start.
    path.unlink()
    with pytest.raises(KeyringError, match="already holds data"):
        open_box(tmp_path, has_data=True)
    assert not path.exists()


def test_a_keyring_outside_the_data_dir(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data, keys = tmp_path / "data", tmp_path / "keys"
    data.mkdir()
    keys.mkdir()
    box = open_box(data, key_file=keys / "nexq.key")
    assert not (data / "master.key").exists()
    assert (keys / "nexq.key").exists()
    assert open_box(data, key_file=keys / "nexq.key").keyring == box.keyring
    # Moving an existing installation's key: refused until the file is where it is named.
    (data / "master.key").write_text(b64(OLD))
    with pytest.raises(KeyringError, match="move that file"):
        open_box(data, key_file=keys / "missing.key")
    with caplog.at_level(logging.WARNING):
        open_box(data, key_file=keys / "nexq.key")
    assert "still in the data directory" in caplog.text
    assert b64(OLD) not in caplog.text


def test_keys_from_the_environment(tmp_path: Path) -> None:
    box = open_box(tmp_path, env_key=b64(NEW), env_previous=f"{b64(OLD)}, {b64(OTHER)}")
    assert box.keyring == Keyring(NEW, (OLD, OTHER)) and box.source is None
    assert not (tmp_path / "master.key").exists()
    with pytest.raises(KeyringError, match="not both"):
        open_box(tmp_path, env_key=b64(NEW), key_file=tmp_path / "k")
    with pytest.raises(KeyringError, match="goes with NEXQ_MASTER_KEY"):
        open_box(tmp_path, env_previous=b64(OLD))
    with pytest.raises(KeyringError, match="32 random bytes"):
        open_box(tmp_path, env_key="c2hvcnQ=")


class Store:
    """An in-memory table of sealed secrets that can fail after some writes (a crash)."""

    sealed_label = "test secrets"

    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}
        self.writes_left: int | None = None
        self.on_page: list[str] = []

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        self.on_page.append(after)
        return sorted((k, v) for k, v in self.rows.items() if k > after)[:limit]

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        done = 0
        for context, old, new in changes:
            if self.writes_left is not None:
                if self.writes_left == 0:
                    raise KeyboardInterrupt("crash")
                self.writes_left -= 1
            if self.rows.get(context) == old:
                self.rows[context] = new
                done += 1
        return done


def installation(tmp_path: Path, count: int = 1200) -> tuple[KeyringFile, SecretBox, Store]:
    path = tmp_path / "master.key"
    path.write_text(b64(OLD))  # as Nexq wrote it before keyrings
    keys = KeyringFile(path)
    box = SecretBox(keys.load(), keys)
    store = Store()
    for i in range(count):
        context = f"NQAK{i:05d}"
        store.rows[context] = (
            legacy_seal(OLD, f"secret-{i}", context) if i % 2 else box.seal(f"secret-{i}", context)
        )
    return keys, box, store


def opens_all(box: SecretBox, store: Store) -> bool:
    return all(
        box.open(v, k) == f"secret-{k[4:].lstrip('0') or '0'}" for k, v in store.rows.items()
    )


def test_rotation_rewraps_everything_and_retires_the_old_key(tmp_path: Path) -> None:
    keys, box, store = installation(tmp_path)
    said: list[str] = []
    report = rotate(box, [store], 0, said.append)
    ring = keys.load()
    assert ring.previous == () and ring.current != OLD
    assert report["retired"] == [key_id(OLD)] and report["rewrapped"] == 1200
    assert report["sealed"] == {"test secrets": {ring.current_id: 1200}}
    assert opens_all(SecretBox(ring), store)
    old_only = SecretBox(OLD)
    for context, sealed in store.rows.items():
        with pytest.raises(UnknownMasterKey):
            old_only.open(sealed, context)
    assert all(b64(OLD) not in line and b64(ring.current) not in line for line in said)
    assert status(box, [store])["previous"] == []


def test_an_interrupted_rotation_leaves_every_secret_openable_and_finishes_on_rerun(
    tmp_path: Path,
) -> None:
    keys, box, store = installation(tmp_path)
    store.writes_left = 700
    with pytest.raises(KeyboardInterrupt):
        rotate(box, [store], 0, lambda line: None)
    ring = keys.load()
    assert ring.previous == (OLD,)  # the old key stays accepted until the work is done
    fresh_process = SecretBox(ring)
    assert opens_all(fresh_process, store)
    counts = status(SecretBox(ring, KeyringFile(keys.path)), [store])["sealed"]["test secrets"]
    assert counts[ring.current_id] >= 700 and sum(counts.values()) == 1200
    store.writes_left = None
    said: list[str] = []
    report = rotate(SecretBox(ring, KeyringFile(keys.path)), [store], 0, said.append)
    assert said[0] == f"finishing the rotation to key {ring.current_id}"
    assert report["current"] == ring.current_id  # the same rotation, not a new key
    assert keys.load() == Keyring(ring.current)
    assert opens_all(SecretBox(ring.current), store)


def test_a_secret_sealed_with_the_old_key_during_the_rotation_is_rewrapped(
    tmp_path: Path,
) -> None:
    keys, box, store = installation(tmp_path, count=3)
    stale = SecretBox(OLD)  # a server that has not yet read the new keyring

    class Late(Store):
        def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
            if "NQAKlate" not in self.rows:
                self.rows["NQAKlate"] = stale.seal("secret-late", "NQAKlate")
            return super().replace_sealed(changes)

    late = Late()
    late.rows = store.rows
    rotate(box, [late], 0, lambda line: None)
    ring = keys.load()
    assert SecretBox(ring).open(late.rows["NQAKlate"], "NQAKlate") == "secret-late"


def test_rotation_with_an_environment_key(tmp_path: Path) -> None:
    box = open_box(tmp_path, env_key=b64(OLD))
    store = Store()
    store.rows["k"] = box.seal("secret-0", "k")
    with pytest.raises(RotationRefused, match="NEXQ_MASTER_KEY_PREVIOUS"):
        rotate(box, [store], 0, lambda line: None)
    box = open_box(tmp_path, env_key=b64(NEW), env_previous=b64(OLD))
    report = rotate(box, [store], 0, lambda line: None)
    assert report["rewrapped"] == 1 and report["retired"] == [key_id(OLD)]
    assert SecretBox(NEW).open(store.rows["k"], "k") == "secret-0"
    assert not (tmp_path / "master.key").exists()
