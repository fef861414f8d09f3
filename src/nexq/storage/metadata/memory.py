"""The metadata store in memory: use cases run on it without a database (tests, tools).

Everything SQLite does in one transaction happens here under one lock, so conditional
writes, quotas and counters are as exact. Keys and upload ids are ordered as UTF-8 bytes:
SQLite's BINARY collation, and S3's order. What the tables' constraints do in SQLite (a
bucket's grants go with it, an upload's parts with it) is done here by hand, said where.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from nexq.core.errors import DomainError, QuotaExceeded
from nexq.core.generation import AuthGeneration
from nexq.core.identity import Account
from nexq.storage.completions import CompletedUpload, completion
from nexq.storage.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    PreconditionFailed,
)
from nexq.storage.lifecycle import NOTHING_DUE, Action, Candidate, Due
from nexq.storage.metadata import memory_lifecycle
from nexq.storage.metadata.memory_completions import CompletionLog
from nexq.storage.metadata.memory_versions import VersionShelf
from nexq.storage.metadata.sql_versions import CURRENT_RANK
from nexq.storage.model import (
    AccessKey,
    Bucket,
    Counters,
    ListedObject,
    ObjectMeta,
    Part,
    Upload,
    UsageRow,
    prefix_end,
)
from nexq.storage.object_lock import DeleteConditions, ObjectLocked, check_removal
from nexq.storage.quotas import (
    access_key_quota_message,
    bucket_quota_message,
    storage_quota_message,
)
from nexq.storage.versions import (
    ENABLED,
    SUSPENDED,
    Deletion,
    ListedVersion,
    Removal,
    new_version_id,
)

T = TypeVar("T")
AccountLookup = Callable[[str], Account | None]


def _no_accounts(account_id: str) -> Account | None:
    return None


def _take(items: list[T], limit: int) -> list[T]:
    # As SQL's LIMIT: a negative limit is no limit.
    return items if limit < 0 else items[:limit]


# Stored values are copies, so that neither the caller's dicts nor the store's change when
# the other's do (a database hands out new values on every read, too).
def _object(meta: ObjectMeta) -> ObjectMeta:
    return replace(
        meta,
        headers=dict(meta.headers),
        metadata=dict(meta.metadata),
        checksums=dict(meta.checksums),
    )


def _upload(upload: Upload) -> Upload:
    return replace(upload, headers=dict(upload.headers), metadata=dict(upload.metadata))


def _part(part: Part) -> Part:
    return replace(part, checksums=dict(part.checksums))


@dataclass
class _Bucket:
    bucket: Bucket
    objects: dict[bytes, ObjectMeta] = field(default_factory=dict)  # by UTF-8 key
    order: list[bytes] = field(default_factory=list)  # the keys of ``objects``, sorted
    object_count: int = 0
    stored_bytes: int = 0
    shelf: VersionShelf = field(default_factory=VersionShelf)  # noncurrent versions, markers
    settings: dict[str, str] = field(default_factory=dict)  # configuration documents by name


@dataclass
class _Upload:
    upload: Upload
    parts: dict[int, Part] = field(default_factory=dict)


@dataclass
class _Key:
    key: AccessKey
    sealed: bytes
    internal: bool


class MemoryMetadata:
    """:class:`MetadataStore` in memory, thread-safe.

    ``accounts`` answers :meth:`get_account` (accounts belong to the accounts service: in a
    database the two stores share a table; here the account store lends its lookup), and
    ``generation`` is shared with the account store, whose changes move it too.
    """

    def __init__(
        self,
        accounts: AccountLookup = _no_accounts,
        generation: AuthGeneration | None = None,
        by_email: AccountLookup = _no_accounts,
    ) -> None:
        self._accounts = accounts
        self._by_email = by_email
        self._generation = generation if generation is not None else AuthGeneration()
        # Re-entrant: a lifecycle action decides and deletes under one hold of it.
        self._lock = threading.RLock()
        self._buckets: dict[str, _Bucket] = {}  # by id
        self._names: dict[str, str] = {}  # bucket name -> id
        self._stored: dict[str, int] = {}  # each account's stored bytes
        self._uploads: dict[str, _Upload] = {}
        self._keys: dict[str, _Key] = {}
        self._garbage: set[str] = set()
        self._usage: dict[tuple[str, int, str], tuple[str, Counters]] = {}
        self._completed = CompletionLog()

    # accounts ---------------------------------------------------------------------------
    def get_account(self, account_id: str) -> Account | None:
        return self._accounts(account_id)

    def find_account(self, email: str) -> Account | None:
        return self._by_email(email)

    # buckets ----------------------------------------------------------------------------
    def add_bucket(self, bucket: Bucket, max_buckets: int | None = None) -> None:
        with self._lock:
            taken = self._names.get(bucket.name)
            if taken is not None:
                if self._buckets[taken].bucket.account_id == bucket.account_id:
                    raise BucketAlreadyOwnedByYou()
                raise BucketAlreadyExists()
            if max_buckets is not None:
                count = len(self._buckets_of(bucket.account_id))
                if count >= max_buckets:
                    raise QuotaExceeded("buckets", bucket_quota_message(count))
            if bucket.id in self._buckets:
                raise ValueError(f"bucket id {bucket.id} is taken")  # a primary key, in SQL
            self._buckets[bucket.id] = _Bucket(bucket)
            self._names[bucket.name] = bucket.id
            self._generation.bump()

    def bucket_setting(self, bucket_id: str, name: str) -> str | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            return held.settings.get(name) if held is not None else None

    def set_bucket_setting(self, bucket_id: str, name: str, document: str | None) -> None:
        with self._lock:
            held = self._held(bucket_id)
            if document is None:
                held.settings.pop(name, None)
            else:
                held.settings[name] = document
            self._generation.bump()

    def buckets_with_setting(self, name: str, after: str, limit: int) -> list[str]:
        with self._lock:
            found = [
                bucket_id
                for bucket_id, held in self._buckets.items()
                if name in held.settings and bucket_id.encode() > after.encode()
            ]
        return _take(sorted(found, key=str.encode), limit)

    def set_versioning(self, bucket_id: str, state: str) -> None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                raise NoSuchBucket()
            held.bucket = replace(held.bucket, versioning=state)
            self._generation.bump()

    def _buckets_of(self, account_id: str) -> list[_Bucket]:
        return [b for b in self._buckets.values() if b.bucket.account_id == account_id]

    def get_bucket(self, name: str) -> Bucket | None:
        with self._lock:
            found = self._names.get(name)
            return self._buckets[found].bucket if found is not None else None

    def list_buckets(self, account_id: str) -> list[Bucket]:
        with self._lock:
            return sorted((b.bucket for b in self._buckets_of(account_id)), key=lambda b: b.name)

    def remove_bucket(self, bucket_id: str) -> None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is not None and (held.objects or held.shelf):
                raise BucketNotEmpty()
            # As S3: unfinished uploads go with the bucket, their parts become garbage.
            for upload_id in [
                u for u, h in self._uploads.items() if h.upload.bucket_id == bucket_id
            ]:
                self._garbage.update(p.path for p in self._uploads.pop(upload_id).parts.values())
            if held is not None:
                del self._buckets[bucket_id]
                del self._names[held.bucket.name]
                # Grants name the bucket's id: they go with it (ON DELETE CASCADE, in SQL).
                for entry in self._keys.values():
                    granted = entry.key.bucket_ids
                    if granted is not None and bucket_id in granted:
                        entry.key = replace(entry.key, bucket_ids=granted - {bucket_id})
            self._generation.bump()

    def bucket_usage(self, bucket_id: str) -> tuple[int, int]:
        with self._lock:
            held = self._buckets.get(bucket_id)
            return (held.object_count, held.stored_bytes) if held is not None else (0, 0)

    def account_usage(self, account_id: str) -> tuple[int, int, int]:
        with self._lock:
            buckets = self._buckets_of(account_id)
            objects = sum(b.object_count for b in buckets)
            return len(buckets), objects, self._stored.get(account_id, 0)

    def stored_bytes(self, account_id: str, max_age: float = 0.0) -> int:
        # Always read now: memory is as cheap as the figure a database store would keep.
        with self._lock:
            return self._stored.get(account_id, 0)

    # objects ----------------------------------------------------------------------------
    def get_object(self, bucket_id: str, key: str) -> ObjectMeta | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            meta = held.objects.get(key.encode()) if held is not None else None
            return _object(meta) if meta is not None else None

    def list_objects(
        self, bucket_id: str, prefix: str, start: str, inclusive: bool, limit: int
    ) -> list[ListedObject]:
        if start < prefix:
            start, inclusive = prefix, True
        end = prefix_end(prefix)
        high = end.encode() if end is not None else None
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return []
            find = bisect.bisect_left if inclusive else bisect.bisect_right
            first = find(held.order, start.encode())
            found = []
            for key in held.order[first:] if limit < 0 else held.order[first : first + limit]:
                if high is not None and key >= high:
                    break
                meta = held.objects[key]
                found.append(ListedObject(meta.key, meta.size, meta.etag, meta.last_modified))
            return found

    def put_object(
        self,
        meta: ObjectMeta,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        with self._lock:
            old = self._check_conditions(meta, if_match, if_none_match)
            return self._write_current(meta, old, quota)

    def _check_conditions(
        self, meta: ObjectMeta, if_match: str | None, if_none_match: bool
    ) -> ObjectMeta | None:
        """Check conditional-write headers against the current object (a delete marker is no
        object); the current object, if any."""
        held = self._buckets.get(meta.bucket_id)
        current = held.objects.get(meta.key.encode()) if held is not None else None
        if current is None:
            if if_match is not None:
                raise NoSuchKey()
            return None
        if if_none_match:
            raise PreconditionFailed()
        if if_match is not None and if_match.strip('"') not in ("*", current.etag):
            raise PreconditionFailed()
        return current

    def _held(self, bucket_id: str) -> _Bucket:
        held = self._buckets.get(bucket_id)
        if held is None:
            raise NoSuchBucket()  # deleted meanwhile: an object there could never be reached
        return held

    def _count(self, held: _Bucket, objects: int, grown: int, quota: int | None) -> None:
        """Keep the bucket's and account's counters, refusing growth that takes the account
        over ``quota`` (call before changing anything)."""
        owner = held.bucket.account_id
        stored = self._stored.get(owner, 0)
        if grown > 0 and quota is not None and stored + grown > quota:
            raise QuotaExceeded("storage_bytes", storage_quota_message(quota))
        self._stored[owner] = stored + grown
        held.object_count += objects
        held.stored_bytes += grown

    def _retire(self, held: _Bucket, key: bytes) -> ObjectMeta:
        """Take the current object out of ``objects`` (its caller keeps or frees it)."""
        meta = held.objects.pop(key)
        del held.order[bisect.bisect_left(held.order, key)]
        return meta

    def _write_current(
        self, meta: ObjectMeta, old: ObjectMeta | None, quota: int | None
    ) -> str | None:
        """As the SQL store's ``write_current`` (nexq.storage.metadata.sql_versions)."""
        held = self._held(meta.bucket_id)
        state = held.bucket.versioning
        key = meta.key.encode()
        version_id = (meta.version_id or new_version_id()) if state == ENABLED else None
        freed = [old] if old is not None and old.version_id is None and state != ENABLED else []
        dropped = held.shelf.find(key, None) if state == SUSPENDED else None
        if dropped is not None:
            freed.append(dropped.meta)
        self._count(
            held, 0 if old is not None else 1, meta.size - sum(m.size for m in freed), quota
        )
        if old is not None:
            self._retire(held, key)
            if not freed or freed[0] is not old:
                held.shelf.push(old)
        if dropped is not None:
            held.shelf.remove(key, None)
        bisect.insort(held.order, key)
        held.objects[key] = _object(replace(meta, version_id=version_id, delete_marker=False))
        self._garbage.update(s.path for m in freed for s in m.segments)
        return version_id

    def delete_object(
        self, bucket_id: str, key: str, conditions: DeleteConditions | None = None
    ) -> Removal:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                raise NoSuchBucket()
            encoded = key.encode()
            current = held.objects.get(encoded)
            if conditions is not None:
                conditions.check(current)
            state = held.bucket.versioning
            if state is None:
                if current is None:
                    return Removal()
                self._retire(held, encoded)
                self._count(held, -1, -current.size, None)
                self._garbage.update(s.path for s in current.segments)
                return Removal(removed=True)
            freed: list[ObjectMeta] = []
            if current is not None:
                self._retire(held, encoded)
                if current.version_id is None and state == SUSPENDED:
                    freed.append(current)
                else:
                    held.shelf.push(current)
            if state == SUSPENDED:
                dropped = held.shelf.remove(encoded, None)
                freed += [dropped] if dropped is not None else []
            marker = new_version_id() if state == ENABLED else None
            held.shelf.push(_marker(bucket_id, key, marker))
            self._count(held, -1 if current is not None else 0, -sum(m.size for m in freed), None)
            self._garbage.update(s.path for m in freed for s in m.segments)
            return Removal(version_id=marker, delete_marker=True, marker_added=True)

    def delete_objects(
        self, bucket_id: str, deletions: Sequence[Deletion]
    ) -> list[Removal | DomainError]:
        def one(d: Deletion) -> Removal | DomainError:
            try:  # a refusal is raised before its deletion changes anything
                if d.by_version:
                    return self.delete_version(
                        bucket_id, d.key, d.version_id, d.bypass_governance, d.conditions
                    )
                return self.delete_object(bucket_id, d.key, d.conditions)
            except NoSuchBucket:
                raise
            except DomainError as exc:
                return exc

        with self._lock:  # re-entrant: one atomic step, as the SQL store's one transaction
            return [one(d) for d in deletions]

    def delete_version(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        bypass_governance: bool = False,
        conditions: DeleteConditions | None = None,
    ) -> Removal:
        with self._lock:
            held = self._held(bucket_id)
            encoded = key.encode()
            current = held.objects.get(encoded)
            older = held.shelf.find(encoded, version_id)
            named = (
                current
                if current is not None and current.version_id == version_id
                else older.meta
                if older is not None
                else None
            )
            if conditions is not None:
                conditions.check(named)
            if named is not None and not named.delete_marker:
                check_removal(named, bypass_governance, time.time())
            objects = 0
            if current is not None and current.version_id == version_id:
                gone: ObjectMeta | None = self._retire(held, encoded)
                objects = -1
            else:
                gone = held.shelf.remove(encoded, version_id)
            if gone is None:
                return Removal(version_id=version_id)
            if encoded not in held.objects:
                newest = held.shelf.newest(encoded)
                if newest is not None and not newest.meta.delete_marker:
                    promoted = held.shelf.remove(encoded, newest.meta.version_id)
                    assert promoted is not None
                    bisect.insort(held.order, encoded)
                    held.objects[encoded] = promoted
                    objects += 1
            self._count(held, objects, -gone.size, None)
            self._garbage.update(s.path for s in gone.segments)
            return Removal(version_id=version_id, delete_marker=gone.delete_marker, removed=True)

    def apply_lifecycle(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        decide: Callable[[Candidate], Due],
    ) -> tuple[Due, Removal]:
        with self._lock:  # held through the delete, as the SQL store's one transaction
            held = self._buckets.get(bucket_id)
            encoded = key.encode()
            found = (
                memory_lifecycle.candidate(
                    held.objects.get(encoded), held.shelf.of(encoded), version_id
                )
                if held is not None
                else None
            )
            if found is None:
                return NOTHING_DUE, Removal()
            due = decide(found)
            if (
                due.action is Action.EXPIRE_CURRENT
                and found.is_latest
                and not found.is_delete_marker
            ):
                return due, self.delete_object(bucket_id, key)
            if due.action in (Action.DELETE_NONCURRENT, Action.REMOVE_DELETE_MARKER):
                try:
                    return due, self.delete_version(bucket_id, key, version_id)
                except ObjectLocked:  # rules never remove a locked version
                    return NOTHING_DUE, Removal()
            return NOTHING_DUE, Removal()

    def amend_version(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        amend: Callable[[ObjectMeta], ObjectMeta],
        *,
        latest: bool,
    ) -> ObjectMeta | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return None
            encoded = key.encode()
            current = held.objects.get(encoded)
            if current is not None and (latest or current.version_id == version_id):
                held.objects[encoded] = _object(amend(_object(current)))
                return _object(held.objects[encoded])
            found = None if latest else held.shelf.find(encoded, version_id)
            if found is None or found.meta.delete_marker:
                return None
            found.meta = _object(amend(_object(found.meta)))
            return _object(found.meta)

    def tag_version(
        self, bucket_id: str, key: str, version_id: str | None, tags: str, *, latest: bool
    ) -> ObjectMeta | None:
        pairs = tuple((k, v) for k, v in json.loads(tags))
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return None
            encoded = key.encode()
            current = held.objects.get(encoded)
            if current is not None and (latest or current.version_id == version_id):
                held.objects[encoded] = replace(current, tags=pairs)
                return _object(held.objects[encoded])
            if latest:
                return None
            found = held.shelf.find(encoded, version_id)
            if found is None or found.meta.delete_marker:
                return None
            found.meta = replace(found.meta, tags=pairs)
            return _object(found.meta)

    def get_version(self, bucket_id: str, key: str, version_id: str | None) -> ObjectMeta | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return None
            current = held.objects.get(key.encode())
            if current is not None and current.version_id == version_id:
                return _object(current)
            found = held.shelf.find(key.encode(), version_id)
            return _object(found.meta) if found is not None else None

    def latest_marker(self, bucket_id: str, key: str) -> ObjectMeta | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None or key.encode() in held.objects:
                return None
            newest = held.shelf.newest(key.encode())
            if newest is None or not newest.meta.delete_marker:
                return None
            return _object(newest.meta)

    def version_rank(self, bucket_id: str, key: str, version_id: str | None) -> int | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return None
            current = held.objects.get(key.encode())
            if current is not None and current.version_id == version_id:
                return CURRENT_RANK
            found = held.shelf.find(key.encode(), version_id)
            return found.seq if found is not None else None

    def list_versions(
        self, bucket_id: str, prefix: str, start: str, below: int | None, limit: int
    ) -> list[tuple[ListedVersion, int]]:
        if start < prefix:
            start, below = prefix, None
        end = prefix_end(prefix)
        high = end.encode() if end is not None else None
        first = start.encode()
        out: list[tuple[ListedVersion, int]] = []
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return []
            keys = held.order[bisect.bisect_left(held.order, first) :][: max(limit, 0) + 1]
            keys += held.shelf.order[bisect.bisect_left(held.shelf.order, first) :][
                : max(limit, 0) + 1
            ]
            for key in sorted(set(keys)):
                if high is not None and key >= high:
                    break
                entries = [(held.objects[key], CURRENT_RANK)] if key in held.objects else []
                entries += [(n.meta, n.seq) for n in reversed(held.shelf.of(key))]
                for index, (meta, rank) in enumerate(entries):
                    if key == first and below is not None and rank >= below:
                        continue
                    latest = index == 0
                    out.append(
                        (
                            ListedVersion(
                                meta.key,
                                meta.version_id,
                                latest,
                                meta.delete_marker,
                                meta.size,
                                meta.etag,
                                meta.last_modified,
                                meta.tags,
                            ),
                            rank,
                        )
                    )
                    if len(out) >= limit:
                        return out
        return out

    # multipart --------------------------------------------------------------------------
    def add_upload(self, upload: Upload) -> None:
        with self._lock:
            if upload.id in self._uploads:
                raise ValueError(f"upload id {upload.id} is taken")  # a primary key, in SQL
            self._uploads[upload.id] = _Upload(_upload(upload))

    def get_upload(self, upload_id: str) -> Upload | None:
        with self._lock:
            held = self._uploads.get(upload_id)
            return _upload(held.upload) if held is not None else None

    def list_uploads(
        self, bucket_id: str, prefix: str, after: tuple[str, str | None] | None, limit: int
    ) -> list[Upload]:
        low = prefix.encode()
        end = prefix_end(prefix)
        high = end.encode() if end is not None else None
        with self._lock:
            found = [
                ((u.upload.key.encode(), u.upload.id.encode()), u.upload)
                for u in self._uploads.values()
                if u.upload.bucket_id == bucket_id
            ]
        found = [
            (position, u)
            for position, u in found
            if position[0] >= low and (high is None or position[0] < high)
        ]
        if after is not None:
            key, upload_id = after[0].encode(), after[1]
            if upload_id is None:  # after every upload of that key
                found = [(p, u) for p, u in found if p[0] > key]
            else:
                found = [(p, u) for p, u in found if p > (key, upload_id.encode())]
        found.sort(key=lambda item: item[0])
        return [_upload(u) for _, u in _take(found, limit)]

    def put_part(self, part: Part) -> None:
        with self._lock:
            held = self._uploads.get(part.upload_id)
            if held is None:
                raise NoSuchUpload()
            old = held.parts.get(part.number)
            held.parts[part.number] = _part(part)
            if old is not None:
                self._garbage.add(old.path)

    def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        with self._lock:
            held = self._uploads.get(upload_id)
            parts = sorted(
                (p for n, p in held.parts.items() if n > after) if held is not None else (),
                key=lambda p: p.number,
            )
            return [_part(p) for p in _take(parts, limit)]

    def complete_upload(
        self,
        upload: Upload,
        meta: ObjectMeta,
        used_parts: Iterable[int],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        used = set(used_parts)
        with self._lock:
            held = self._uploads.get(upload.id)
            if held is None:
                raise NoSuchUpload()
            old = self._check_conditions(meta, if_match, if_none_match)
            unused = [p.path for n, p in held.parts.items() if n not in used]
            version_id = self._write_current(meta, old, quota)
            del self._uploads[upload.id]
            self._garbage.update(unused)
            self._completed.record(completion(upload.id, meta, version_id))
            return version_id

    def completed_upload(self, upload_id: str) -> CompletedUpload | None:
        with self._lock:
            return self._completed.find(upload_id)

    def abort_upload(self, upload_id: str) -> bool:
        with self._lock:
            held = self._uploads.pop(upload_id, None)
            if held is None:
                return False
            self._garbage.update(p.path for p in held.parts.values())
            return True

    # access keys ------------------------------------------------------------------------
    def add_access_key(
        self,
        key: AccessKey,
        sealed_secret: bytes,
        *,
        internal: bool = False,
        max_keys: int | None = None,
    ) -> None:
        with self._lock:
            if max_keys is not None and not internal:
                count = sum(
                    1
                    for k in self._keys.values()
                    if k.key.account_id == key.account_id and not k.internal
                )
                if count >= max_keys:
                    raise QuotaExceeded("access_keys", access_key_quota_message(count))
            for bucket_id in key.bucket_ids or ():
                held = self._buckets.get(bucket_id)
                if held is None or held.bucket.account_id != key.account_id:
                    raise NoSuchBucket("A bucket granted to the key does not exist in its account.")
            if key.id in self._keys:
                raise ValueError(f"access key id {key.id} is taken")  # a primary key, in SQL
            self._keys[key.id] = _Key(key, bytes(sealed_secret), internal)
            self._generation.bump()

    def internal_access_key(self, account_id: str) -> tuple[AccessKey, bytes] | None:
        with self._lock:
            for entry in self._keys.values():
                if entry.internal and entry.key.account_id == account_id:
                    return entry.key, entry.sealed
            return None

    def remove_internal_access_keys(self, account_id: str) -> int:
        with self._lock:
            gone = [
                key_id
                for key_id, entry in self._keys.items()
                if entry.internal and entry.key.account_id == account_id
            ]
            for key_id in gone:
                del self._keys[key_id]
            self._generation.bump()
            return len(gone)

    def get_access_key(self, key_id: str) -> tuple[AccessKey, bytes] | None:
        with self._lock:
            entry = self._keys.get(key_id)
            return (entry.key, entry.sealed) if entry is not None else None

    def list_access_keys(self, account_id: str) -> list[AccessKey]:
        with self._lock:
            keys = [
                e.key
                for e in self._keys.values()
                if e.key.account_id == account_id and not e.internal
            ]
        return sorted(keys, key=lambda k: (k.created_at, k.id.encode()))

    def _own_key(self, account_id: str, key_id: str) -> _Key | None:
        """The account's key ``key_id``, if it is one it may change (not the internal one)."""
        entry = self._keys.get(key_id)
        if entry is None or entry.internal or entry.key.account_id != account_id:
            return None
        return entry

    def set_access_key_status(self, account_id: str, key_id: str, status: str) -> bool:
        with self._lock:
            entry = self._own_key(account_id, key_id)
            if entry is not None:
                entry.key = replace(entry.key, status=status)
            self._generation.bump()
            return entry is not None

    def remove_access_key(self, account_id: str, key_id: str) -> bool:
        with self._lock:
            entry = self._own_key(account_id, key_id)
            if entry is not None:
                del self._keys[key_id]
            self._generation.bump()
            return entry is not None

    def sealed_secrets(self, after: str, limit: int) -> list[tuple[str, bytes]]:
        with self._lock:
            found = [(k.encode(), k, e.sealed) for k, e in self._keys.items()]
        found = sorted(item for item in found if item[0] > after.encode())
        return [(key_id, sealed) for _, key_id, sealed in _take(found, limit)]

    def replace_sealed_secrets(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        replaced = 0
        with self._lock:
            for key_id, old, new in changes:
                # Compared with the old value: a key deleted or re-made meanwhile is left alone.
                entry = self._keys.get(key_id)
                if entry is not None and entry.sealed == old:
                    entry.sealed = bytes(new)
                    replaced += 1
        return replaced

    def bucket_names(self, bucket_ids: Iterable[str]) -> dict[str, str]:
        with self._lock:
            return {
                bucket_id: self._buckets[bucket_id].bucket.name
                for bucket_id in bucket_ids
                if bucket_id in self._buckets
            }

    # metering ---------------------------------------------------------------------------
    def add_usage(self, rows: Iterable[UsageRow]) -> None:
        batch = list(rows)
        with self._lock:
            for row in batch:
                position = (row.account_id, row.hour, row.bucket_id)
                # Additive; the row keeps the name it was first counted under, as in SQL.
                name, counters = self._usage.get(position, (row.bucket_name, Counters()))
                self._usage[position] = (name, counters + row.counters)

    def usage_rows(
        self, account_id: str, from_hour: int, to_hour: int
    ) -> list[tuple[str, int, Counters]]:
        with self._lock:
            found = [
                (hour, bucket_id, name, counters)
                for (account, hour, bucket_id), (name, counters) in self._usage.items()
                if account == account_id and from_hour <= hour < to_hour
            ]
        found.sort(key=lambda row: (row[0], row[1].encode()))
        return [(name, hour, counters) for hour, _, name, counters in found]

    # house-keeping ----------------------------------------------------------------------
    def auth_generation(self) -> int:
        return self._generation.value

    def garbage(self, limit: int) -> list[str]:
        with self._lock:
            return _take(sorted(self._garbage, key=str.encode), limit)

    def forget_garbage(self, paths: Iterable[str]) -> None:
        with self._lock:
            self._garbage.difference_update(paths)

    def referenced_paths(self) -> set[str]:
        paths = set(self.blob_sizes())
        with self._lock:
            paths.update(self._garbage)
        return paths

    def blob_sizes(self) -> dict[str, int]:
        with self._lock:
            sizes = {p.path: p.size for u in self._uploads.values() for p in u.parts.values()}
            for held in self._buckets.values():
                for meta in [*held.objects.values(), *held.shelf.metas()]:
                    sizes.update((s.path, s.size) for s in meta.segments)
            return sizes

    def counter_drift(self) -> list[str]:
        with self._lock:
            return self._drift()

    def _drift(self) -> list[str]:
        """Counters that differ from what the objects add up to (none, unless a bug)."""
        lines = []
        held_by: dict[str, int] = {}
        for held in self._buckets.values():
            count, stored = len(held.objects), _bytes(held)
            owner = held.bucket.account_id
            held_by[owner] = held_by.get(owner, 0) + stored
            if (held.object_count, held.stored_bytes) != (count, stored):
                lines.append(
                    f"bucket {held.bucket.name}: counted {held.object_count} objects, "
                    f"{held.stored_bytes} bytes; holds {count} objects, {stored} bytes"
                )
        for account_id in sorted(self._stored.keys() | held_by.keys()):
            counted, holds = self._stored.get(account_id, 0), held_by.get(account_id, 0)
            if counted != holds:
                account = self._accounts(account_id)
                name = account.email if account is not None else account_id
                lines.append(f"account {name}: counted {counted} bytes; holds {holds} bytes")
        return lines

    def recount(self) -> list[str]:
        with self._lock:
            drift = self._drift()
            if drift:
                for held in self._buckets.values():
                    held.object_count = len(held.objects)
                    held.stored_bytes = _bytes(held)
                self._stored = {account_id: 0 for account_id in self._stored}
                for held in self._buckets.values():
                    owner = held.bucket.account_id
                    self._stored[owner] = self._stored.get(owner, 0) + held.stored_bytes
            return drift


def _bytes(held: _Bucket) -> int:
    """What the bucket's objects and noncurrent versions hold."""
    return sum(m.size for m in held.objects.values()) + sum(m.size for m in held.shelf.metas())


def _marker(bucket_id: str, key: str, version_id: str | None) -> ObjectMeta:
    return ObjectMeta(
        bucket_id=bucket_id,
        key=key,
        size=0,
        etag="",
        last_modified=time.time(),
        headers={},
        metadata={},
        checksums={},
        checksum_type=None,
        segments=(),
        version_id=version_id,
        delete_marker=True,
    )
