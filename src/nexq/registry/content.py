"""The registry's data plane: blobs, upload sessions, manifests, tags, referrers.

Blobs are content-addressed per account: a layer pushed to many repositories is stored once
(the first copy is kept, later ones deleted). Every received chunk is a committed blob of
the store before it is acknowledged, so an upload session survives a worker (or node) that
dies and resumes on any other. A manifest's bytes are a blob like any other.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nexq.core.errors import QuotaExceeded
from nexq.core.ids import new_id
from nexq.core.quotas import NoQuotas, Quotas
from nexq.registry.access import Caller
from nexq.registry.errors import (
    BlobUnknown,
    Denied,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestUnknown,
    NameUnknown,
    SizeInvalid,
    UploadUnknown,
)
from nexq.registry.fsck import RegistryReport, check
from nexq.registry.manifests import parse
from nexq.registry.model import (
    MAX_MANIFEST_BYTES,
    TAG,
    Blob,
    Bounds,
    Chunk,
    Manifest,
    Registry,
    Upload,
    check_digest,
    check_tag,
    is_digest,
    split_name,
)
from nexq.registry.sqlite import SqlRegistry
from nexq.storage.blobs.port import BlobStore, Bytes

CHUNK = 1024 * 1024  # read size when streaming a blob out
REPOSITORIES_LIMIT = "registry_repositories"
STORED_BYTES_LIMIT = "registry_storage_bytes"
# Requests per second of an account on the registry: an abuse guard far above what clients
# at their defaults send (a 200-layer pull asks for each layer in parallel).
RATE_LIMIT = "registry_rps"


@dataclass(frozen=True, slots=True)
class Place:
    """A repository of a registry, as a caller reached it."""

    registry: Registry
    repository: str

    @property
    def name(self) -> str:
        return f"{self.registry.name}/{self.repository}"


def _hasher(digest: str) -> hashlib._Hash:
    return hashlib.sha512() if digest.startswith("sha512:") else hashlib.sha256()


def _tag(reference: str, name: str) -> str:
    """The tag a pull or a delete names. Spec (end-3, end-9): a reference is a digest or a
    tag, and a manifest not found is 404, so one that no tag can spell is not there."""
    if not TAG.match(reference):
        raise ManifestUnknown(f"manifest {reference} is not in {name}.")
    return reference


class Content:
    """Pull and push, as the OCI distribution protocol needs them."""

    def __init__(self, store: SqlRegistry, blobs: BlobStore, quotas: Quotas | None = None) -> None:
        self._store = store
        self._blobs = blobs
        self._quotas = quotas or NoQuotas()

    # where -------------------------------------------------------------------------------

    def registry(self, caller: Caller, name: str) -> Registry:
        """The registry ``name`` if the caller reaches it; NameUnknown otherwise (never a
        hint that another account's registry exists)."""
        registry = self._store.registry_named(name)
        if (
            registry is None
            or registry.account_id != caller.account_id
            or (caller.registry_id is not None and caller.registry_id != registry.id)
        ):
            raise NameUnknown(f"registry {name!r} is not known to this registry.")
        return registry

    def place(self, caller: Caller, name: str, *, push: bool = False) -> Place:
        registry_name, repository = split_name(name)
        place = Place(self.registry(caller, registry_name), repository)
        if push and not caller.can_write:
            raise Denied(f"{name}: this credential is read-only; it can pull, not push or delete.")
        return place

    def reachable(self, caller: Caller) -> list[Registry]:
        """Every registry the caller reaches (the catalog's scope)."""
        if caller.registry_id is not None:
            registry = self._store.registry_by_id(caller.registry_id)
            return [registry] if registry else []
        return self._store.registries(caller.account_id)

    # blobs -------------------------------------------------------------------------------

    def stat_blob(self, caller: Caller, name: str, digest: str) -> Blob:
        return self.locate_blob(caller, name, digest)[1]

    def locate_blob(self, caller: Caller, name: str, digest: str) -> tuple[Registry, Blob]:
        """The blob ``digest`` of the repository ``name``, with its registry (metering)."""
        place = self.place(caller, name)
        blob = self._store.linked_blob(place.registry.id, place.repository, check_digest(digest))
        if blob is None:
            raise BlobUnknown(f"blob {digest} is not in {name}.")
        return place.registry, blob

    def read_blob(self, blob: Blob, offset: int, length: int) -> Iterator[Bytes]:
        return self._blobs.read(blob.path, offset, length, CHUNK)

    def delete_blob(self, caller: Caller, name: str, digest: str) -> None:
        place = self.place(caller, name, push=True)
        if not self._store.unlink(place.registry.id, place.repository, check_digest(digest)):
            raise BlobUnknown(f"blob {digest} is not in {name}.")

    def mount(self, caller: Caller, name: str, digest: str, source: str | None) -> Blob | None:
        """Make a blob of ``source`` (a repository the caller can pull from) part of ``name``
        without its bytes; None when it cannot be mounted (the client then uploads it)."""
        place = self.place(caller, name, push=True)
        check_digest(digest)
        blob = None
        if source:
            try:
                blob = self.stat_blob(caller, source, digest)
            except (NameUnknown, BlobUnknown, Denied):
                return None
        if blob is None:
            return None
        return self._keep(blob, place)

    # uploads -----------------------------------------------------------------------------

    def start_upload(self, caller: Caller, name: str) -> Upload:
        place = self.place(caller, name, push=True)
        now = time.time()
        upload = Upload(
            new_id(), place.registry.id, place.repository, caller.account_id, 0, now, now
        )
        self._store.add_upload(upload)
        return upload

    def upload(self, caller: Caller, name: str, upload_id: str) -> Upload:
        place = self.place(caller, name, push=True)
        upload = self._store.upload(upload_id)
        if (
            upload is None
            or upload.registry_id != place.registry.id
            or upload.repository != place.repository
        ):
            raise UploadUnknown(f"upload {upload_id} is not known in {name}.")
        return upload

    def append(
        self, caller: Caller, name: str, upload_id: str, data: Iterable[bytes], start: int | None
    ) -> Upload:
        """Store a chunk of the upload (starting at ``start``, or where it ends)."""
        upload = self.upload(caller, name, upload_id)
        return self._append(upload, data, upload.size if start is None else start)

    def _append(self, upload: Upload, data: Iterable[bytes], start: int) -> Upload:
        writer = self._blobs.writer()
        hasher = hashlib.sha256()
        try:
            for piece in data:
                hasher.update(piece)
                writer.write(piece)
            if writer.size == 0:
                writer.abort()
                return upload
            size = writer.size
            path = writer.commit()
        except BaseException:
            writer.abort()
            raise
        try:
            return self._store.add_chunk(
                Chunk(upload.id, start, size, path, hasher.hexdigest()), time.time()
            )
        except BaseException:
            self._blobs.delete([path])
            raise

    def finish(
        self,
        caller: Caller,
        name: str,
        upload_id: str,
        digest: str,
        data: Iterable[bytes],
        start: int | None = None,
    ) -> Blob:
        """Close the upload with its last chunk (maybe empty, starting at ``start`` or where
        the upload ends) as the blob ``digest``; DigestInvalid (the upload discarded) when
        the bytes are not that."""
        upload = self.upload(caller, name, upload_id)
        check_digest(digest)
        upload = self._append(upload, data, upload.size if start is None else start)
        place = self.place(caller, name, push=True)
        chunks = self._store.chunks(upload.id)
        if len(chunks) == 1 and digest.startswith("sha256:"):
            actual, path = f"sha256:{chunks[0].sha256}", chunks[0].path
            made = None
        else:
            actual, path = self._concatenate(chunks, digest)
            made = path
        if actual != digest:
            self._blobs.delete([*self._store.end_upload(upload.id), *([made] if made else [])])
            raise DigestInvalid(f"digest: the uploaded bytes are {actual}, not the {digest} given.")
        blob = Blob(caller.account_id, digest, upload.size, path, time.time())
        # Linked and the session ended in one transaction: a crash never leaves a blob that
        # an abandoned session's clean-up would delete.
        try:
            kept, chunk_paths = self._store.finish_upload(
                blob, place.registry.id, place.repository, self._bounds(place), upload.id
            )
        except QuotaExceeded:  # nothing of it is kept: the client hears why
            self._blobs.delete([*self._store.end_upload(upload.id), *([made] if made else [])])
            raise
        self._blobs.delete([p for p in [*chunk_paths, path] if p != kept.path])
        return kept

    def _concatenate(self, chunks: list[Chunk], digest: str) -> tuple[str, str]:
        """Write the chunks as one blob; (its digest, its path)."""
        hasher = _hasher(digest)
        writer = self._blobs.writer()
        try:
            for chunk in chunks:
                for piece in self._blobs.read(chunk.path, 0, chunk.size, CHUNK):
                    hasher.update(piece)
                    writer.write(piece)
            path = writer.commit()
        except BaseException:
            writer.abort()
            raise
        algorithm = digest.split(":", 1)[0]
        return f"{algorithm}:{hasher.hexdigest()}", path

    def cancel_upload(self, caller: Caller, name: str, upload_id: str) -> None:
        upload = self.upload(caller, name, upload_id)
        self._blobs.delete(self._store.end_upload(upload.id))

    def _keep(self, blob: Blob, place: Place) -> Blob:
        """Store ``blob`` in the account (or find the copy it holds) and link it to the
        repository."""
        return self._store.link(blob, place.registry.id, place.repository, self._bounds(place))

    def _bounds(self, place: Place) -> Bounds:
        account = place.registry.account_id
        return Bounds(
            self._quotas.limit(account, REPOSITORIES_LIMIT),
            self._quotas.limit(account, STORED_BYTES_LIMIT),
        )

    # manifests ---------------------------------------------------------------------------

    def put_manifest(
        self, caller: Caller, name: str, reference: str, content_type: str | None, body: bytes
    ) -> Manifest:
        place = self.place(caller, name, push=True)
        if len(body) > MAX_MANIFEST_BYTES:
            raise SizeInvalid(f"manifest: larger than {MAX_MANIFEST_BYTES // 2**20} MiB.")
        parsed = parse(body, content_type)
        algorithm = reference.split(":", 1)[0] if is_digest(reference) else "sha256"
        if algorithm not in ("sha256", "sha512"):
            raise DigestInvalid(f"digest {reference!r}: sha256 or sha512.")
        digest = f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
        tag = None
        if is_digest(reference):
            if check_digest(reference) != digest:
                raise DigestInvalid(f"digest: the manifest's bytes are {digest}, not {reference}.")
        else:
            tag = check_tag(reference)
        missing = self._store.missing(
            place.registry.id, place.repository, parsed.blobs + parsed.manifests
        )
        if missing:
            raise ManifestBlobUnknown(
                f"manifest: {missing[0]} is not in {name}; push it first.", missing[0]
            )
        writer = self._blobs.writer()
        try:
            writer.write(body)
            path = writer.commit()
        except BaseException:
            writer.abort()
            raise
        now = time.time()
        try:
            kept = self._keep(Blob(caller.account_id, digest, len(body), path, now), place)
        except BaseException:
            self._blobs.delete([path])
            raise
        if kept.path != path:
            self._blobs.delete([path])
        manifest = Manifest(
            place.registry.id,
            place.repository,
            digest,
            parsed.media_type,
            len(body),
            now,
            parsed.artifact_type,
            parsed.subject,
            json.dumps(parsed.annotations) if parsed.annotations else None,
        )
        self._store.put_manifest(
            manifest,
            caller.account_id,
            parsed.blobs + parsed.manifests,
            tag,
            self._bounds(place),
        )
        return manifest

    def manifest(self, caller: Caller, name: str, reference: str) -> tuple[Manifest, Blob]:
        place = self.place(caller, name)
        digest = self._resolve(place, reference, name)
        manifest = self._store.manifest(place.registry.id, place.repository, digest)
        blob = self._store.blob(place.registry.account_id, digest)
        if manifest is None or blob is None:
            raise ManifestUnknown(f"manifest {reference} is not in {name}.")
        return manifest, blob

    def manifest_bytes(self, blob: Blob) -> bytes:
        return b"".join(bytes(p) for p in self._blobs.read(blob.path, 0, blob.size, CHUNK))

    def _resolve(self, place: Place, reference: str, name: str) -> str:
        if is_digest(reference):
            return check_digest(reference)
        digest = self._store.tag(place.registry.id, place.repository, _tag(reference, name))
        if digest is None:
            if not self._store.repository_exists(place.registry.id, place.repository):
                raise NameUnknown(f"repository {name!r} is not known to this registry.")
            raise ManifestUnknown(f"manifest {reference} is not in {name}.")
        return digest

    def delete_manifest(self, caller: Caller, name: str, reference: str) -> None:
        """Delete a manifest (by digest: with every tag naming it) or only a tag."""
        place = self.place(caller, name, push=True)
        if is_digest(reference):
            gone = self._store.delete_manifest(
                place.registry.id, place.repository, check_digest(reference)
            )
        else:
            gone = self._store.delete_tag(
                place.registry.id, place.repository, _tag(reference, name)
            )
        if not gone:
            raise ManifestUnknown(f"manifest {reference} is not in {name}.")

    def tags(self, caller: Caller, name: str, n: int | None, last: str | None) -> list[str]:
        place = self.place(caller, name)
        if not self._store.repository_exists(place.registry.id, place.repository):
            raise NameUnknown(f"repository {name!r} is not known to this registry.")
        limit = 10_000 if n is None else n
        return self._store.tag_names(place.registry.id, place.repository, last or "", limit)

    def referrers(
        self, caller: Caller, name: str, digest: str, artifact_type: str | None
    ) -> list[Manifest]:
        place = self.place(caller, name)
        found = self._store.referrers(place.registry.id, place.repository, check_digest(digest))
        if artifact_type:
            found = [m for m in found if m.artifact_type == artifact_type]
        return found

    def catalog(
        self, caller: Caller, registry: str | None, n: int | None, last: str | None
    ) -> list[str]:
        """Repository names (``registry/repository``) the caller may see, in order."""
        registries = [self.registry(caller, registry)] if registry else self.reachable(caller)
        limit = 10_000 if n is None else n
        names: list[str] = []
        # Ordered by "<registry>/" so that the whole names are in lexical order ("a-b/x"
        # before "a/x"), the order ``last`` resumes in.
        for reg in sorted(registries, key=lambda r: f"{r.name}/"):
            prefix, after = f"{reg.name}/", ""
            if last and last.startswith(prefix):
                after = last.removeprefix(prefix)
            elif last and last > prefix:
                continue  # every name of this registry sorts before ``last``
            names += [
                f"{reg.name}/{repository}"
                for repository in self._store.repository_names(reg.id, after, limit)
            ]
            if len(names) >= limit:
                break
        return names[:limit]

    # house-keeping -----------------------------------------------------------------------

    def abandon_uploads(self, idle_seconds: float) -> int:
        """Discard upload sessions idle for ``idle_seconds`` (clients that died)."""
        stale = self._store.stale_uploads(time.time() - idle_seconds, 1000)
        for upload_id in stale:
            self._blobs.delete(self._store.end_upload(upload_id))
        return len(stale)

    def collect_garbage(self, grace_seconds: float) -> int:
        """Remove blobs no manifest needs, untouched for ``grace_seconds`` (pushes in flight
        link their blobs before their manifest arrives)."""
        paths = self._store.collect(time.time() - grace_seconds)
        self._blobs.delete(paths)
        return len(paths)

    def stored_bytes_of(self, account_id: str) -> int:
        """What the account's registries hold (its registry_storage_bytes limit's use)."""
        return self._store.account_bytes(account_id)

    def discard(self, paths: list[str]) -> None:
        """Delete blobs that the tables no longer name."""
        self._blobs.delete(paths)

    def check(self, *, repair: bool = False) -> RegistryReport:
        """fsck of the registry's tables against its blobs (``nexq admin fsck``)."""
        return check(self._store, self._blobs, repair=repair)

    def recover(self) -> int:
        """Start-up repair after a crash: remove temporaries and blobs the tables do not
        name (a chunk or layer written but never recorded); how many were removed."""
        return self._blobs.recover(self._store.blob_paths())
