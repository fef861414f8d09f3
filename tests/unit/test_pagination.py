"""Paginated listings walk the whole list once, in order, whatever the page size, and while
entries come and go between pages (issue 17: ListMultipartUploads lost and repeated uploads).

Every walk runs through the use cases on a real SQLite store and is checked against a plain
model of the listing: positions strictly increase (nothing repeated, the order kept), and
everything the walk had not yet passed when it appeared, and that was not removed before it
was reached, is listed (no gap). What changes between pages is drawn by Hypothesis too.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexq.accounts.model import ApiKey
from nexq.accounts.sqlite import SqliteAccounts
from nexq.app import SCHEMAS
from nexq.core.crypto import SecretBox
from nexq.core.db import Database
from nexq.core.identity import Account, Principal
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.directory import S3_SCOPES, Directory
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.model import AccessKey, Bucket, Listing, ObjectMeta, Part, Upload, prefix_end
from nexq.storage.multipart import Multipart, upload_id
from nexq.storage.s3.handlers.listing import _from_token, _token
from nexq.storage.service import ObjectStorage
from nexq.web.rest.pagination import decode_pair, decode_text, page_after, page_of

# Deterministic in CI (no example database either); few examples, each a whole walk.
PAGES = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MAX_PAGES = 500  # a walk longer than this is a walk that never ends

# Keys and prefixes near the edges of S3's order (UTF-8 bytes): multi-byte characters, the
# last BMP character and the last code point, which no prefix can be followed by.
CHARS = "ab/\u00e9\uffff\U0010ffff"
KEYS = st.text(st.sampled_from(CHARS), min_size=1, max_size=5)
PREFIXES = st.sampled_from(["", "a", "a/", "\u00e9", "\U0010ffff"])
DELIMITERS = st.sampled_from(["", "/", "a/", "b", "\U0010ffff"])
UPLOAD_KEYS = st.sampled_from(["a", "a/b", "ab", "b", "\u00e9", "\U0010ffff"])
UPLOAD_IDS = st.text("0123456789abcdef", min_size=1, max_size=3)
# Few distinct times: uploads of one key initiated at the same instant are the hard case.
INITIATED = st.sampled_from([1_700_000_000.0, 1_700_000_000.5])
CREATED = st.sampled_from([0.1, 1_700_000_000.123456, 1_700_000_001.0])

P = TypeVar("P", bytes, int, tuple[bytes, bytes], tuple[float, str], str)


@dataclass
class Ledger(Generic[P]):
    """What a walk listed, and what it must list by the end; P orders like the listing."""

    after_start: Callable[[P], bool] = lambda _: True
    listed: list[P] = field(default_factory=list)
    must: set[P] = field(default_factory=set)

    def appears(self, position: P) -> None:
        """An entry exists now: it must be listed unless the walk has passed its place."""
        passed = self.listed and position <= self.listed[-1]
        if self.after_start(position) and not passed:
            self.must.add(position)

    def vanishes(self, position: P) -> None:
        """Removed: listed already or never needed."""
        self.must.discard(position)

    def page(self, positions: list[P], limit: int, truncated: bool) -> None:
        assert len(positions) <= limit
        assert positions or not truncated, "a truncated page must make progress"
        self.listed += positions

    def check(self) -> None:
        assert self.listed == sorted(set(self.listed)), "out of order, or listed twice"
        assert not self.must - set(self.listed), "never listed"


@dataclass
class World:
    """The use cases over one SQLite database, shared by the examples of this module."""

    store: SqliteMetadata
    accounts: SqliteAccounts
    objects: ObjectStorage
    multipart: Multipart
    caller: Principal
    serial: Iterator[int] = field(default_factory=itertools.count)

    def bucket(self) -> Bucket:
        """A new, empty bucket for one example."""
        n = next(self.serial)
        made = Bucket(f"id-{n}", f"pages-{n}", self.caller.account.id, 0.0)
        self.store.add_bucket(made)
        return made

    def account(self, created_at: float = 0.0) -> str:
        n = next(self.serial)
        account = Account(f"acc-{n}", f"{n}@example.com", "customer", "active", created_at)
        self.accounts.add_account(account, "hash")
        return account.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root: Path = tmp_path_factory.mktemp("pagination")
    db = Database(root / "meta.db", SCHEMAS)
    store = SqliteMetadata(db)
    accounts = SqliteAccounts(db)
    owner = Account("owner", "owner@example.com", "customer", "active", 0.0)
    accounts.add_account(owner, "hash")
    directory = Directory(store, SecretBox(os.urandom(32)))
    objects = ObjectStorage(store, FileBlobStore(root), directory)
    caller = Principal(owner, S3_SCOPES)
    yield World(store, accounts, objects, Multipart(store, objects), caller)
    db.close()


def _bytes(text: str) -> bytes:
    """S3's order: UTF-8 bytes."""
    return text.encode()


# objects ---------------------------------------------------------------------------------
def _entry(key: str, prefix: str, delimiter: str) -> str | None:
    """The name ``key`` is listed under (itself or its common prefix), None if not listed."""
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    if delimiter and delimiter in rest:
        return prefix + rest[: rest.index(delimiter) + len(delimiter)]
    return key


def _put(world: World, bucket: Bucket, key: str) -> None:
    world.store.put_object(ObjectMeta(bucket.id, key, 0, "e", 0.0, {}, {}, {}, None, ()))


def _names(listing: Listing) -> list[str]:
    # A key and a common prefix never share a name: the prefix ends in the delimiter.
    names = [o.key for o in listing.objects] + listing.common_prefixes
    return sorted(names, key=_bytes)


@PAGES
@given(
    keys=st.lists(KEYS, unique=True, max_size=25),
    prefix=PREFIXES,
    delimiter=DELIMITERS,
    max_keys=st.integers(1, 7),
    start=st.none() | KEYS,
    version=st.sampled_from(["v1", "v2"]),
    data=st.data(),
)
def test_object_pages(
    world: World,
    keys: list[str],
    prefix: str,
    delimiter: str,
    max_keys: int,
    start: str | None,
    version: str,
    data: st.DataObject,
) -> None:
    """ListObjects (marker) and ListObjectsV2 (start-after, continuation-token), with and
    without a delimiter; keys are added, and listed ones moved away, between pages."""
    bucket = world.bucket()
    present = set(keys)
    for key in keys:
        _put(world, bucket, key)
    ledger: Ledger[bytes] = Ledger(lambda name: start is None or name > _bytes(start))

    def appear(key: str) -> None:
        name = _entry(key, prefix, delimiter)
        if name is not None:
            ledger.appears(_bytes(name))

    for key in keys:
        appear(key)
    marker = start
    for _ in range(MAX_PAGES):
        listing = world.objects.list_objects(
            world.caller, bucket.name, prefix, delimiter, marker, max_keys
        )
        names = _names(listing)
        assert {o.key for o in listing.objects} <= present
        assert all(_entry(o.key, prefix, delimiter) == o.key for o in listing.objects)
        assert set(listing.common_prefixes) <= {_entry(k, prefix, delimiter) for k in present}
        ledger.page([_bytes(n) for n in names], max_keys, listing.is_truncated)
        if not listing.is_truncated:
            break
        assert listing.next_marker == names[-1]
        if version == "v1":
            # S3 compat: NextMarker comes only with a delimiter; clients use the last key.
            marker = listing.next_marker if delimiter else listing.objects[-1].key
        else:
            marker = _from_token(_token(listing.next_marker))
        for key in data.draw(st.lists(KEYS, max_size=3), label="added"):
            _put(world, bucket, key)
            present.add(key)
            appear(key)
        if data.draw(st.booleans(), label="move the listed objects away"):
            for moved in listing.objects:
                world.store.delete_object(bucket.id, moved.key)
                present.discard(moved.key)
    else:
        pytest.fail("the walk did not end")
    ledger.check()


# multipart uploads -----------------------------------------------------------------------
UploadRow = tuple[str, str, float]  # key, id, initiated


def _position(upload: Upload) -> tuple[bytes, bytes]:
    return _bytes(upload.key), _bytes(upload.id)


@PAGES
@given(
    uploads=st.lists(
        st.tuples(UPLOAD_KEYS, UPLOAD_IDS, INITIATED), unique_by=lambda u: u[1], max_size=25
    ),
    prefix=st.sampled_from(["", "a", "\u00e9"]),
    max_uploads=st.integers(1, 7),
    start=st.none() | st.tuples(UPLOAD_KEYS, st.none() | UPLOAD_IDS),
    data=st.data(),
)
def test_upload_pages(
    world: World,
    uploads: list[UploadRow],
    prefix: str,
    max_uploads: int,
    start: tuple[str, str | None] | None,
    data: st.DataObject,
) -> None:
    """ListMultipartUploads by (key-marker, upload-id-marker), many uploads of one key with
    the same initiation time; uploads start and end between pages, the marker's own too."""
    bucket = world.bucket()
    # Ids are unique in the whole database: each example's share one prefix, keeping the order.
    scope = f"{bucket.id}:"
    after = None if start is None else (start[0], None if start[1] is None else scope + start[1])

    def after_start(position: tuple[bytes, bytes]) -> bool:
        if after is None:
            return True
        if after[1] is None:  # S3 compat: a key-marker alone skips every upload of that key
            return position[0] > _bytes(after[0])
        return position > (_bytes(after[0]), _bytes(after[1]))

    ledger: Ledger[tuple[bytes, bytes]] = Ledger(after_start)
    present: dict[str, Upload] = {}
    used: set[str] = set()

    def begin(key: str, short_id: str, initiated: float) -> None:
        upload = Upload(scope + short_id, bucket.id, key, initiated, {}, {}, None, None)
        if upload.id in used:
            return  # an upload id is never given twice
        used.add(upload.id)
        world.store.add_upload(upload)
        present[upload.id] = upload
        if upload.key.startswith(prefix):
            ledger.appears(_position(upload))

    def end(upload_id: str) -> None:
        world.store.abort_upload(upload_id)
        ledger.vanishes(_position(present.pop(upload_id)))

    for key, short_id, initiated in uploads:
        begin(key, short_id, initiated)
    for _ in range(MAX_PAGES):
        page, truncated = world.multipart.list_uploads(
            world.caller, bucket.name, prefix, after, max_uploads
        )
        assert all(u.id in present and u.key.startswith(prefix) for u in page)
        ledger.page([_position(u) for u in page], max_uploads, truncated)
        if not truncated:
            break
        after = (page[-1].key, page[-1].id)  # NextKeyMarker, NextUploadIdMarker
        for key, short_id, initiated in data.draw(
            st.lists(st.tuples(UPLOAD_KEYS, UPLOAD_IDS, INITIATED), max_size=3), label="begun"
        ):
            begin(key, short_id, initiated)
        if data.draw(st.booleans(), label="abort the listed uploads, as clean-up tools do"):
            for upload in page:
                end(upload.id)
        if present:
            for upload_id in data.draw(st.sets(st.sampled_from(sorted(present))), label="ended"):
                end(upload_id)
    else:
        pytest.fail("the walk did not end")
    ledger.check()


def test_uploads_of_a_key_are_listed_in_initiation_order(world: World) -> None:
    bucket = world.bucket()
    begun = [
        world.multipart.create(world.caller, bucket.name, "same", {}, {}, None, None)
        for _ in range(12)
    ]
    listed: list[Upload] = []
    after: tuple[str, str | None] | None = None
    while True:
        page, truncated = world.multipart.list_uploads(world.caller, bucket.name, "", after, 5)
        listed += page
        if not truncated:
            break
        after = (page[-1].key, page[-1].id)
    assert [u.id for u in listed] == [u.id for u in begun]
    assert [u.initiated for u in listed] == sorted(u.initiated for u in begun)


@given(st.floats(0, 4e9), st.floats(0, 4e9))
@settings(max_examples=200, derandomize=True, database=None)
def test_upload_ids_sort_by_initiation_time(earlier: float, later: float) -> None:
    first, second = upload_id(earlier), upload_id(later)
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != second
    if int(earlier * 1_000_000) < int(later * 1_000_000):
        assert first < second


# parts -----------------------------------------------------------------------------------
@PAGES
@given(
    numbers=st.sets(st.integers(1, 10_000), max_size=20),
    max_parts=st.integers(1, 6),
    marker=st.just(0) | st.integers(0, 10_000),
    data=st.data(),
)
def test_part_pages(
    world: World, numbers: set[int], max_parts: int, marker: int, data: st.DataObject
) -> None:
    """ListParts by part-number-marker; parts are uploaded (or uploaded again) between pages."""
    bucket = world.bucket()
    upload = Upload(upload_id(1.0), bucket.id, "k", 1.0, {}, {}, None, None)
    world.store.add_upload(upload)
    ledger: Ledger[int] = Ledger(lambda number: number > marker)
    uploaded = itertools.count()

    def put(number: int) -> None:
        path = f"{upload.id}-{number}-{next(uploaded)}"
        world.store.put_part(Part(upload.id, number, 1, "e", 0.0, path, {}))
        ledger.appears(number)

    for number in sorted(numbers):
        put(number)
    after = marker
    for _ in range(MAX_PAGES):
        _, parts, truncated = world.multipart.list_parts(
            world.caller, bucket.name, "k", upload.id, after, max_parts
        )
        ledger.page([p.number for p in parts], max_parts, truncated)
        if not truncated:
            break
        after = parts[-1].number  # NextPartNumberMarker
        for number in data.draw(st.sets(st.integers(1, 10_000), max_size=3), label="uploaded"):
            put(number)
    else:
        pytest.fail("the walk did not end")
    ledger.check()


# REST lists (/v1): cursors ---------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    created_at: float
    id: str


ROWS = st.lists(st.builds(Row, CREATED, st.text("abc", min_size=1, max_size=3)), max_size=15)


@PAGES
@given(rows=ROWS, limit=st.integers(1, 5), data=st.data())
def test_in_memory_pages(rows: list[Row], limit: int, data: st.DataObject) -> None:
    """page_after (access keys, buckets): items in any order, ties on created_at, new items."""
    held = {row.id: row for row in rows}  # one row per id, as ids are unique
    ledger: Ledger[tuple[float, str]] = Ledger()
    for row in held.values():
        ledger.appears((row.created_at, row.id))
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page, cursor = page_after(
            list(held.values()), decode_pair(cursor), limit, lambda r: (r.created_at, r.id)
        )
        ledger.page([(r.created_at, r.id) for r in page], limit, cursor is not None)
        if cursor is None:
            break
        for row in data.draw(ROWS.map(lambda r: r[:2]), label="added"):
            if row.id not in held:
                held[row.id] = row
                ledger.appears((row.created_at, row.id))
    else:
        pytest.fail("the walk did not end")
    ledger.check()


@PAGES
@given(
    names=st.sets(st.text("abc-.", min_size=3, max_size=5), max_size=12), limit=st.integers(1, 4)
)
def test_in_memory_pages_by_name(names: set[str], limit: int) -> None:
    ledger: Ledger[str] = Ledger()
    for name in names:
        ledger.appears(name)
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page, cursor = page_after(sorted(names, reverse=True), decode_text(cursor), limit, str)
        ledger.page(page, limit, cursor is not None)
        if cursor is None:
            break
    ledger.check()


@PAGES
@given(rows=ROWS, limit=st.integers(1, 5), data=st.data())
def test_access_key_pages(world: World, rows: list[Row], limit: int, data: st.DataObject) -> None:
    """GET /v1/storage/access-keys: the store's order, then the route's page_after."""
    account = world.account()
    ledger: Ledger[tuple[float, str]] = Ledger()
    made: set[str] = set()

    def add(row: Row) -> None:
        key_id = f"{account}-{row.id}"
        if key_id not in made:
            made.add(key_id)
            key = AccessKey(key_id, account, "label", "active", row.created_at, None)
            world.store.add_access_key(key, b"sealed")
            ledger.appears((row.created_at, key_id))

    for row in rows:
        add(row)
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        keys = world.store.list_access_keys(account)
        assert keys == sorted(keys, key=lambda k: (k.created_at, k.id))
        page, cursor = page_after(keys, decode_pair(cursor), limit, lambda k: (k.created_at, k.id))
        ledger.page([(k.created_at, k.id) for k in page], limit, cursor is not None)
        if cursor is None:
            break
        for row in data.draw(ROWS.map(lambda r: r[:2]), label="added"):
            add(row)
    else:
        pytest.fail("the walk did not end")
    ledger.check()


@PAGES
@given(rows=ROWS, limit=st.integers(1, 5), data=st.data())
def test_api_key_pages(world: World, rows: list[Row], limit: int, data: st.DataObject) -> None:
    """GET /v1/api-keys: the store pages by (created_at, id) from the route's cursor."""
    account = world.account()
    ledger: Ledger[tuple[float, str]] = Ledger()
    made: set[str] = set()

    def add(row: Row) -> None:
        key_id = f"{account}-{row.id}"
        if key_id not in made:
            made.add(key_id)
            key = ApiKey(key_id, account, "n", "", frozenset(), "active", row.created_at, None)
            world.accounts.add_api_key(key, f"hash-{key_id}")
            ledger.appears((row.created_at, key_id))

    for row in rows:
        add(row)
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        # As the route does: one more than a page, to know whether another follows.
        keys = world.accounts.list_api_keys(account, decode_pair(cursor), limit + 1)
        page, cursor = page_of(keys, limit, lambda k: [k.created_at, k.id])
        ledger.page([(k.created_at, k.id) for k in page], limit, cursor is not None)
        if cursor is None:
            break
        for row in data.draw(ROWS.map(lambda r: r[:2]), label="added"):
            add(row)
    else:
        pytest.fail("the walk did not end")
    ledger.check()


@PAGES
@given(created=st.lists(CREATED, max_size=8), limit=st.integers(1, 5))
def test_account_pages(world: World, created: list[float], limit: int) -> None:
    """GET /v1/admin/accounts (and `nexq admin account list`): every account, ties included."""
    for created_at in created:
        world.account(created_at)
    everything = world.accounts.list_accounts(None, 1_000_000)
    ledger: Ledger[tuple[float, str]] = Ledger()
    for account in everything:
        ledger.appears((account.created_at, account.id))
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        listed = world.accounts.list_accounts(decode_pair(cursor), limit + 1)
        page, cursor = page_of(listed, limit, lambda a: [a.created_at, a.id])
        ledger.page([(a.created_at, a.id) for a in page], limit, cursor is not None)
        if cursor is None:
            break
    else:
        pytest.fail("the walk did not end")
    ledger.check()
    assert ledger.listed == sorted((a.created_at, a.id) for a in everything)


# the bound of a prefix -------------------------------------------------------------------
@given(prefix=st.text(st.sampled_from(CHARS), max_size=3), other=KEYS)
@settings(max_examples=300, derandomize=True, database=None)
def test_prefix_end_bounds_exactly_the_keys_under_a_prefix(prefix: str, other: str) -> None:
    end = prefix_end(prefix)
    under = other.startswith(prefix)
    if end is None:  # nothing sorts after every key under the prefix
        assert set(prefix) <= {"\U0010ffff"}
        assert under or _bytes(other) < _bytes(prefix)
    else:
        assert under == (_bytes(prefix) <= _bytes(other) < _bytes(end))
