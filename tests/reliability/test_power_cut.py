"""Power cuts with a volatile page cache: acknowledged writes survive only if they were synced.

A kill -9 keeps the kernel's page cache, so the crash storm cannot see a missing fsync. Here
the real services (ObjectStorage, Multipart, FileBlobStore, SQLite metadata, group commit)
run in this process with a :class:`PageCache` as their durability port: it records each
durable call and can say, at any moment, what a power cut would leave of the blob files.

Two checks, both fed by the same concurrent writers (PUT, overwrite, multipart with replaced
and unused parts, CopyObject, DELETE, refused and aborted writes, the janitor collecting
garbage):

* at every metadata commit, every blob byte the database references must already be
  durable (the order: a commit that names a file comes after a durable call covering it);
* crash images taken at random moments (commits held, the database copied as committed,
  the blob files as the model says a power cut leaves them, sometimes with a random part
  of the unsynced writes let through, torn) are reopened with the real start-up recovery,
  and every key must read back whole, byte-exact, in its acknowledged state or the one in
  flight; fsck must find disk and metadata in agreement.

The same scenario with the flush skipped, forgotten by the store, or issued without being
waited for must fail those checks: that is the proof the checks can see a missing sync.

CI: one run (2-4 s). Long form: ``NEXQ_RELIABILITY=long`` (20 runs, one seed each), or
``NEXQ_POWER_CUT_ROUNDS=N`` and ``NEXQ_POWER_CUT_SEED=S`` to choose.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nexq.app import SCHEMAS, build, recover
from nexq.core.crypto import SecretBox
from nexq.core.db import Database, T, Write
from nexq.core.durability import Durability
from nexq.core.identity import Account, Principal
from nexq.settings import Settings
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.inline import InlineBlobs, is_inline
from nexq.storage.conditions import Conditions
from nexq.storage.descriptor import collect_garbage
from nexq.storage.directory import S3_SCOPES, Directory
from nexq.storage.errors import BadDigest, NoSuchKey, PreconditionFailed
from nexq.storage.fsck import check
from nexq.storage.incoming import IncomingBody
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.model import MIN_PART_BYTES
from nexq.storage.multipart import CompletedPart, Multipart
from nexq.storage.service import NewContent, ObjectStorage
from tests.reliability.harness import env_int, scale
from tests.reliability.power_cut import PageCache

if TYPE_CHECKING:
    pass

ACCOUNT = "acct-power-cut"
# Start-up refuses to make a new master key beside an existing database (it would open none
# of the secrets): crash images, which hold no secret, are opened with this one.
IMAGE_KEY = base64.b64encode(bytes(32)).decode()
BUCKET = "power-cut"
CALLER = Principal(Account(ACCOUNT, "power@example.com", "customer", "active", 0.0), S3_SCOPES)
SIZES = (0, 1, 100, 4096, 70_000, 300_000)
NO_HEADERS = NewContent({}, {})
# CI: one run; long form (NEXQ_RELIABILITY=long): 20, each with its own seed.
ROUNDS = env_int("NEXQ_POWER_CUT_ROUNDS", scale(1, 20))
SEED = env_int("NEXQ_POWER_CUT_SEED", 17)

# What a key holds: (SHA-256 hex, size) of its bytes, or None when it does not exist.
State = tuple[str, int] | None


def _state(data: bytes) -> State:
    return hashlib.sha256(data).hexdigest(), len(data)


def _content(key: str, version: int, size: int | None = None) -> bytes:
    """Bytes that name their key and version, so a mix-up cannot read back as the right one."""
    rng = random.Random(f"{key}/{version}")
    size = rng.choice(SIZES) if size is None else size
    seed = hashlib.sha256(f"{key}/{version}".encode()).digest()
    return (seed * (size // 32 + 1))[:size]


# -- the durability ports under test --------------------------------------------------------


class NoSync:
    """A writer that flushes nothing."""

    def sync_file(self, fd: int) -> None:
        pass

    def sync_dir(self, path: Path) -> None:
        pass


class Nameless:
    """A writer that flushes its file's bytes but not the directory entry naming it."""

    def __init__(self, inner: Durability) -> None:
        self._inner = inner

    def sync_file(self, fd: int) -> None:
        self._inner.sync_file(fd)

    def sync_dir(self, path: Path) -> None:
        pass


class LateSync:
    """Flushes that are issued but not waited for, so the commit may run before they are done."""

    def __init__(self, inner: Durability, delay: float = 0.05) -> None:
        self._inner = inner
        self._delay = delay

    def sync_file(self, fd: int) -> None:
        held = os.dup(fd)  # the writer closes its own as soon as this returns

        def late() -> None:
            try:
                self._inner.sync_file(held)
            finally:
                os.close(held)

        self._later(late)

    def sync_dir(self, path: Path) -> None:
        self._later(lambda: self._inner.sync_dir(path))

    def _later(self, call: Callable[[], None]) -> None:
        timer = threading.Timer(self._delay, call)
        timer.daemon = True
        timer.start()


class Witnessed(Database):
    """The real database, with a check inside every write's transaction: each blob byte the
    metadata references must be durable by then (the write commits right after, so this is
    a power cut at every commit)."""

    def __init__(self, data: Path, cache: PageCache) -> None:
        super().__init__(data / "meta.db", SCHEMAS)
        self._cache = cache
        self.violations: list[str] = []

    def write(self, write: Write[T]) -> T:
        return super().write(self._witnessed(write))

    def write_later(self, write: Write[Any]) -> None:
        super().write_later(self._witnessed(write))

    def _witnessed(self, write: Write[T]) -> Write[T]:
        def run(conn: sqlite3.Connection) -> T:
            value = write(conn)
            self._check(conn)
            return value

        return run

    def _check(self, conn: sqlite3.Connection) -> None:
        durable = self._cache.durable()
        for path, size in _referenced(conn).items():
            state = durable.get(f"blobs/{path}")
            if state is None or state.size < size:
                have = "nothing" if state is None else f"{state.size} bytes"
                self.violations.append(f"committed {path} ({size} bytes) with {have} durable")


def _referenced(conn: sqlite3.Connection) -> dict[str, int]:
    """Every blob file the metadata references, with the bytes it must hold (as fsck reads)."""
    sizes: dict[str, int] = dict(conn.execute("SELECT path, size FROM parts").fetchall())
    for (segments,) in conn.execute("SELECT segments FROM objects"):
        sizes.update((p, s) for p, s, *_ in json.loads(segments))
    return {p: s for p, s in sizes.items() if not is_inline(p)}  # an inline one is the row


# -- the writers ----------------------------------------------------------------------------


@dataclass
class Services:
    """The live process: real services over a data dir whose durability is modelled."""

    data: Path
    db: Witnessed
    store: SqliteMetadata
    blobs: FileBlobStore
    objects: ObjectStorage
    multipart: Multipart


@dataclass
class Writer:
    """One thread's keys: each has one history, so its possible states are exact."""

    name: str
    keys: list[str]
    rng: random.Random
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, State] = field(default_factory=dict)
    pending: tuple[str, State] | None = None
    versions: int = 0
    ops: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # operations done, by kind

    def allowed(self) -> dict[str, set[State]]:
        """Per key: the acknowledged state, and the one in flight if the key has one."""
        with self.lock:
            out = {k: {self.acked.get(k)} for k in self.keys}
            if self.pending is not None:
                out[self.pending[0]].add(self.pending[1])
            return out

    def change(self, key: str, new: State, op: Callable[[], object]) -> None:
        """Run ``op``, which makes ``key`` hold ``new`` once acknowledged."""
        with self.lock:
            self.pending = (key, new)
        try:
            op()
        except BaseException:
            with self.lock:
                self.pending = None
            raise
        with self.lock:
            self.acked[key] = new
            self.pending = None

    def version(self) -> int:
        self.versions += 1
        return self.versions


def _body(live: Services, data: bytes) -> IncomingBody:
    body = live.objects.receive()
    body.write(data)
    return body


def _put(live: Services, w: Writer, key: str) -> None:
    data = _content(key, w.version())
    w.change(
        key,
        _state(data),
        lambda: live.objects.put_object(CALLER, BUCKET, key, _body(live, data), NO_HEADERS),
    )
    w.kinds["put"] += 1


def _refused_put(live: Services, w: Writer, key: str) -> None:
    """A PUT that must leave nothing: a wrong Content-MD5, or If-None-Match on a key in use."""
    data = _content(key, w.version())
    if w.acked.get(key) is not None:
        with pytest.raises(PreconditionFailed):
            live.objects.put_object(
                CALLER, BUCKET, key, _body(live, data), NewContent({}, {}, if_none_match=True)
            )
        w.kinds["refused"] += 1
        return
    wrong = base64.b64encode(hashlib.md5(data + b"!").digest()).decode()
    with pytest.raises(BadDigest):
        live.objects.put_object(
            CALLER, BUCKET, key, _body(live, data), NewContent({}, {}, content_md5=wrong)
        )
    w.kinds["refused"] += 1


def _copy(live: Services, w: Writer, key: str) -> None:
    """CopyObject from a sibling key that holds an object (a PUT if none does)."""
    sources = [k for k in w.keys if k != key and w.acked.get(k) is not None]
    if not sources:
        _put(live, w, key)
        return
    source = w.rng.choice(sources)
    state = w.acked[source]
    w.change(
        key,
        state,
        lambda: live.objects.copy_object(
            CALLER, (BUCKET, source, None), (BUCKET, key), Conditions(), None, NO_HEADERS
        ),
    )
    w.kinds["copy"] += 1


def _multipart(live: Services, w: Writer, key: str, big: bool) -> None:
    """Parts 1-3 (part 1 sent twice), completed with a chosen subset; or aborted."""
    upload = live.multipart.create(CALLER, BUCKET, key, {}, {}, None, None)
    version = w.version()
    bodies: dict[int, bytes] = {}
    etags: dict[int, str] = {}
    for number, send in ((1, 0), (1, 1), (2, 0), (3, 0)):
        size = MIN_PART_BYTES if big and number == 1 else None
        bodies[number] = _content(f"{key}/part{number}.{send}", version, size)
        part = live.multipart.upload_part(
            CALLER, BUCKET, key, upload.id, number, _body(live, bodies[number]), None, {}
        )
        etags[number] = part.etag
    if w.rng.random() < 0.2:
        live.multipart.abort(CALLER, BUCKET, key, upload.id)
        w.kinds["aborted"] += 1
        return
    chosen = [1, 3] if big else [w.rng.choice([1, 2, 3])]  # the rest are unused parts
    data = b"".join(bodies[n] for n in chosen)
    done = [CompletedPart(n, etags[n], {}) for n in chosen]
    w.change(
        key,
        _state(data),
        lambda: live.multipart.complete(CALLER, BUCKET, key, upload.id, done, NO_HEADERS),
    )
    w.kinds["multipart"] += 1


def _delete(live: Services, w: Writer, key: str) -> None:
    w.change(key, None, lambda: live.objects.delete_object(CALLER, BUCKET, key))
    w.kinds["delete"] += 1


def _one_op(live: Services, w: Writer, big: bool) -> None:
    key = w.rng.choice(w.keys)
    roll = w.rng.random()
    if big:
        _multipart(live, w, key, big=True)
    elif roll < 0.5:
        _put(live, w, key)
    elif roll < 0.62:
        _copy(live, w, key)
    elif roll < 0.77:
        _multipart(live, w, key, big=False)
    elif roll < 0.9:
        _delete(live, w, key)
    else:
        _refused_put(live, w, key)


def _write(live: Services, w: Writer, ops: int, big: bool, errors: list[BaseException]) -> None:
    try:
        for n in range(ops):
            _one_op(live, w, big and n == ops // 2)
            w.ops += 1
    except BaseException as exc:  # reported by the test, not lost in the thread
        errors.append(exc)


# -- crash images ---------------------------------------------------------------------------


@dataclass
class Image:
    """A data dir as a power cut at one moment would leave it, and what each key may hold."""

    path: Path
    allowed: dict[str, set[State]]
    torn: bool


@contextlib.contextmanager
def _commits_held(db: Database) -> Iterator[None]:
    """Hold the commit stage (a write that waits) so that nothing commits meanwhile."""
    started, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(30)

    db.write_later(hold)
    assert started.wait(30), "the commit stage never reached the hold"
    try:
        yield
    finally:
        release.set()


def _crash_image(
    live: Services, cache: PageCache, writers: list[Writer], dest: Path, torn: random.Random | None
) -> Image:
    """The data dir as a power cut now would leave it: the database as committed (SQLite's
    own fsyncs are trusted), the blob files as the page cache model says. Nothing was
    sealed, so the image is opened with a master key of its own (IMAGE_KEY)."""
    with _commits_held(live.db):
        allowed: dict[str, set[State]] = {}
        for w in writers:
            allowed.update(w.allowed())
        dest.mkdir()
        with (
            contextlib.closing(sqlite3.connect(live.data / "meta.db")) as src,
            contextlib.closing(sqlite3.connect(dest / "meta.db")) as dst,
        ):
            src.backup(dst)
        cache.restore(dest, torn)
    return Image(dest, allowed, torn is not None)


def _read(objects: ObjectStorage, key: str) -> State | str:
    try:
        opened = objects.open_object(CALLER, BUCKET, key, Conditions())
    except NoSuchKey:
        return None
    except OSError as exc:
        return f"unreadable ({exc})"
    try:
        return _state(b"".join(opened.chunks()))
    except OSError as exc:
        return f"unreadable ({exc})"


def _verify(image: Image) -> list[str]:
    """Reopen the image with the real start-up recovery; what is wrong with it (empty: all
    is well)."""
    nexq = build(Settings(data_dir=image.path, master_key=IMAGE_KEY))
    try:
        recover(nexq)
        report = check(nexq.store, nexq.blobs)
        problems = [f"fsck: blob missing: {p}" for p in report.missing]
        problems += [f"fsck: blob of the wrong size: {p}" for p in report.wrong_size]
        problems += [f"fsck: {c}" for c in report.counters]
        if any((image.path / "tmp").iterdir()):
            problems.append("tmp/ was not emptied by recovery")
        bucket = nexq.store.get_bucket(BUCKET)
        assert bucket is not None
        listed = {o.key for o in nexq.store.list_objects(bucket.id, "", "", True, 10_000)}
        for key, allowed in sorted(image.allowed.items()):
            got = _read(nexq.objects, key)
            if isinstance(got, str) or got not in allowed:
                problems.append(f"{key}: holds {got}, acknowledged or in flight: {allowed}")
            elif (got is not None) != (key in listed):
                problems.append(f"{key}: the listing disagrees with the read")
        problems += [f"{k}: listed, never written" for k in sorted(listed - set(image.allowed))]
        return problems
    finally:
        nexq.close()


# -- one run --------------------------------------------------------------------------------


@dataclass
class Run:
    """What a run left: the per-commit check's findings and the crash images."""

    db: Witnessed
    cache: PageCache
    writers: list[Writer]
    images: list[Image]


def _services(data: Path, cache: PageCache, port: Durability, inline: bool) -> Services:
    blobs = FileBlobStore(data, port)
    db = Witnessed(data, cache)
    store = SqliteMetadata(db)
    box = SecretBox(os.urandom(32))  # nothing is sealed: no key file is needed
    # Small blobs in their rows, as an installation keeps them, or every blob a file (the
    # durability port's calls are what the other runs check).
    kept = InlineBlobs(blobs) if inline else blobs
    objects = ObjectStorage(store, kept, Directory(store, box))
    db.write(
        lambda conn: conn.execute(
            "INSERT INTO accounts(id, email, password_hash, created_at) VALUES (?, ?, 'x', 0)",
            (ACCOUNT, f"{ACCOUNT}@example.com"),
        )
    )
    objects.create_bucket(CALLER, BUCKET)
    return Services(data, db, store, blobs, objects, Multipart(store, objects))


def _janitor(
    live: Services, stop: threading.Event, errors: list[BaseException]
) -> threading.Thread:
    """The janitor's garbage collection, every 10 ms (the server's runs every second)."""

    def run() -> None:
        try:
            while not stop.wait(0.01):
                collect_garbage(live.store, live.blobs, live.db)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="power-cut-janitor", daemon=True)
    thread.start()
    return thread


def _run(
    tmp_path: Path,
    variant: str,
    *,
    writers: int = 4,
    ops: int = 30,
    cuts: int = 3,
    big: bool = False,
    seed: int = 17,
    inline: bool = False,
) -> Run:
    """Concurrent writers on fresh services; ``cuts`` crash images while they write, one
    more once they are done. ``variant`` names the durability port: sound (the model
    itself), skipped, nameless (the file is flushed, not its directory) or late."""
    data = tmp_path / "data"
    FileBlobStore(data)  # the fan-out directories exist before the model starts
    cache = PageCache(data, tmp_path / "shadow")
    ports: dict[str, Durability] = {
        "skipped": NoSync(),
        "nameless": Nameless(cache),
        "late": LateSync(cache),
    }
    live = _services(data, cache, ports.get(variant, cache), inline)
    rng = random.Random(seed)
    team = [
        Writer(f"w{i}", [f"w{i}/k{j}" for j in range(4)], random.Random(rng.random()))
        for i in range(writers)
    ]
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_write, args=(live, w, ops, big, errors), name=w.name) for w in team
    ]
    stop = threading.Event()
    janitor = _janitor(live, stop, errors)
    for t in threads:
        t.start()
    images = []
    for cut in range(cuts):
        # Spread over the run whatever the machine's speed: cut when a share of it is done.
        while sum(w.ops for w in team) < (cut + 1) * writers * ops // (cuts + 1):
            if not any(t.is_alive() for t in threads):
                break
            time.sleep(0.005)
        torn = random.Random(rng.random()) if cut % 2 else None
        images.append(_crash_image(live, cache, team, tmp_path / f"cut{cut}", torn))
    for t in threads:
        t.join()
    images.append(_crash_image(live, cache, team, tmp_path / "end", None))
    stop.set()
    janitor.join()
    live.db.close()
    assert not errors, errors
    return Run(live.db, cache, team, images)


# -- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(SEED, SEED + ROUNDS))
def test_acknowledged_writes_survive_a_power_cut(tmp_path: Path, seed: int) -> None:
    run = _run(tmp_path, "sound", big=True, seed=seed)
    assert not run.db.violations, run.db.violations[:10]
    assert run.cache.calls > 0
    for image in run.images:
        assert _verify(image) == [], f"{image.path.name} (torn: {image.torn})"
    # The run wrote in every way (else the images would prove little).
    kinds = sum((w.kinds for w in run.writers), Counter[str]())
    assert set(kinds) == {"put", "refused", "copy", "aborted", "multipart", "delete"}, kinds


def test_small_writes_kept_in_their_rows_survive_a_power_cut(tmp_path: Path) -> None:
    run = _run(tmp_path, "sound", big=True, inline=True)
    assert not run.db.violations, run.db.violations[:10]
    for image in run.images:
        assert _verify(image) == [], f"{image.path.name} (torn: {image.torn})"
    # Some of what the images hold was in rows, not files (else this proves nothing new).
    with contextlib.closing(sqlite3.connect(run.images[-1].path / "meta.db")) as conn:
        rows = [s for (s,) in conn.execute("SELECT segments FROM objects")]
    assert any(is_inline(p) for segments in rows for p, *_ in json.loads(segments))


@pytest.mark.parametrize("variant", ["skipped", "nameless"])
def test_a_skipped_flush_is_caught(tmp_path: Path, variant: str) -> None:
    """The checks themselves are tested: without the flush, both must see the loss."""
    run = _run(tmp_path, variant, writers=3, ops=12, cuts=0)
    assert run.db.violations, "the per-commit check missed commits of unsynced blobs"
    lost = _verify(run.images[-1])
    assert any("fsck: blob missing" in p for p in lost), lost
    assert any("unreadable" in p for p in lost), lost


def test_a_flush_not_waited_for_is_caught(tmp_path: Path) -> None:
    """The order: a flush issued but finished after the commit is a loss window, which the
    per-commit check sees even when the late flushes all land before the run ends."""
    run = _run(tmp_path, "late", writers=3, ops=12, cuts=0)
    assert run.db.violations, "the per-commit check missed a commit before its flush"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _written(path: Path, data: bytes, cache: PageCache | None = None) -> None:
    """Write ``data`` to ``path``, flushed through ``cache`` when given."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, data)
        if cache is not None:
            cache.sync_file(fd)
    finally:
        os.close(fd)


def test_the_model_keeps_only_what_a_durable_call_covered(tmp_path: Path) -> None:
    data = tmp_path / "data"
    fan = data / "blobs" / "ab"
    fan.mkdir(parents=True)
    (data / "tmp").mkdir()
    _written(fan / "old", b"o" * 4)  # there before the model starts: durable
    cache = PageCache(data, tmp_path / "shadow")
    _written(fan / "grown", b"g" * 10, cache)
    _written(data / "tmp/moved", b"m" * 5, cache)
    _written(fan / "unlinked", b"u" * 3, cache)
    _written(fan / "bytes-only", b"b" * 2, cache)
    cache.sync_dir(fan)
    cache.sync_dir(data / "tmp")
    _written(fan / "grown", b"+" * 5)  # not flushed
    (data / "tmp/moved").rename(fan / "moved")
    (fan / "unlinked").unlink()
    _written(fan / "name-only", b"n")  # named below, its bytes never flushed
    cache.sync_dir(fan)
    _written(fan / "new", b"x", cache)  # its bytes flushed, its name not
    (fan / "old").unlink()
    cache.restore(tmp_path / "cut")
    assert _files(tmp_path / "cut") == {
        "blobs/ab/grown": b"g" * 10,  # cut back to what its flush covered
        "blobs/ab/moved": b"m" * 5,  # renamed in, and the new directory flushed
        "tmp/moved": b"m" * 5,  # ... but the old directory was not: both names survive
        "blobs/ab/bytes-only": b"b" * 2,
        "blobs/ab/name-only": b"",  # a name without its bytes
        "blobs/ab/old": b"o" * 4,  # the unlink was not covered
    }
    for n in range(8):  # torn: any mix of the changes, each file a prefix of what it was
        cache.restore(tmp_path / f"torn{n}", random.Random(n))
        torn = _files(tmp_path / f"torn{n}")
        assert b"g" * 10 <= torn["blobs/ab/grown"] <= b"g" * 10 + b"+" * 5
        assert torn.get("blobs/ab/new", b"") in (b"", b"x")
        assert "blobs/ab/unlinked" not in torn
    cache.sync_dir(data / "tmp")
    cache.sync_dir(fan)
    cache.restore(tmp_path / "synced")
    assert _files(tmp_path / "synced") == {
        "blobs/ab/grown": b"g" * 10,  # its growth was never flushed
        "blobs/ab/moved": b"m" * 5,
        "blobs/ab/bytes-only": b"b" * 2,
        "blobs/ab/name-only": b"",
        "blobs/ab/new": b"x",
    }


def test_the_model_refuses_calls_outside_its_tree(tmp_path: Path) -> None:
    cache = PageCache(tmp_path / "data", tmp_path / "shadow")
    with pytest.raises(AssertionError):
        cache.sync_dir(tmp_path)
