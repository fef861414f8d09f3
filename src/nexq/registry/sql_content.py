"""The registry store's content: repositories, tags, manifests, blobs, uploads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple

from nexq.core.sql import Connection, Database
from nexq.registry.errors import RangeInvalid, UploadUnknown
from nexq.registry.model import (
    Blob,
    Bounds,
    Chunk,
    Manifest,
    Repository,
    Tag,
    Upload,
)
from nexq.registry.sql_rows import (
    BLOB,
    MANIFEST,
    UPLOAD,
    drop_upload,
    ensure_repository,
    keep,
    marks,
    set_tag,
)

# A repository's tags after a given one (the spec's order: see ContentRows.tag_names).
_TAGS_AFTER = "t.registry_id = ? AND t.repository = ? AND (lower(t.name), t.name) > (lower(?), ?)"


class ContentRows:
    """Repositories, tags, manifests, blobs and upload sessions."""

    _db: Database

    def repositories(self, registry_id: str, after: str, limit: int) -> list[Repository]:
        """A page of the registry's repositories with their tag counts and sizes (one
        statement, however many repositories)."""
        rows = (
            self._db.reader()
            .execute(
                "SELECT p.registry_id, p.name, p.created_at, p.last_push, "
                "(SELECT count(*) FROM registry_tags t WHERE t.registry_id = p.registry_id "
                "AND t.repository = p.name), "
                "(SELECT coalesce(sum(b.size), 0) FROM registry_links l "
                "JOIN registry_registries r ON r.id = l.registry_id "
                "JOIN registry_blobs b ON b.account_id = r.account_id AND b.digest = l.digest "
                "WHERE l.registry_id = p.registry_id AND l.repository = p.name) "
                "FROM registry_repositories p WHERE p.registry_id = ? AND p.name > ? "
                "ORDER BY p.name LIMIT ?",
                (registry_id, after, limit),
            )
            .fetchall()
        )
        return [Repository(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]

    def repository_names(self, registry_id: str, after: str, limit: int) -> list[str]:
        """A page of the registry's repository names (the catalog needs nothing more)."""
        rows = (
            self._db.reader()
            .execute(
                "SELECT name FROM registry_repositories WHERE registry_id = ? AND name > ? "
                "ORDER BY name LIMIT ?",
                (registry_id, after, limit),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    def repository_exists(self, registry_id: str, name: str) -> bool:
        row = (
            self._db.reader()
            .execute(
                "SELECT 1 FROM registry_repositories WHERE registry_id = ? AND name = ?",
                (registry_id, name),
            )
            .fetchone()
        )
        return row is not None

    def count_repositories(self, registry_id: str) -> int:
        (count,) = (
            self._db.reader()
            .execute(
                "SELECT count(*) FROM registry_repositories WHERE registry_id = ?", (registry_id,)
            )
            .fetchone()
        )
        return int(count)

    def tags(self, registry_id: str, repository: str, after: str, limit: int) -> list[Tag]:
        """The tags after ``after`` with their images' sizes (the manifest and every blob it
        names), in one statement, in the order of :meth:`tag_names`."""
        rows = (
            self._db.reader()
            .execute(
                "SELECT t.registry_id, t.repository, t.name, t.digest, t.updated_at, "  # noqa: S608 - fixed text
                "coalesce(m.size, 0) + (SELECT coalesce(sum(b.size), 0) "
                "FROM registry_manifest_refs f JOIN registry_registries r ON r.id = f.registry_id "
                "JOIN registry_blobs b ON b.account_id = r.account_id AND b.digest = f.digest "
                "WHERE f.registry_id = t.registry_id AND f.repository = t.repository "
                "AND f.manifest = t.digest) "
                "FROM registry_tags t LEFT JOIN registry_manifests m ON m.registry_id = "
                "t.registry_id AND m.repository = t.repository AND m.digest = t.digest "
                f"WHERE {_TAGS_AFTER} ORDER BY lower(t.name), t.name LIMIT ?",
                (registry_id, repository, after, after, limit),
            )
            .fetchall()
        )
        return [Tag(r[0], r[1], r[2], r[3], r[4], size=int(r[5])) for r in rows]

    def tag_names(self, registry_id: str, repository: str, after: str, limit: int) -> list[str]:
        """The tag names after ``after``, in the spec's lexical order: "case-insensitive
        alphanumeric" (ties, "A" and "a", by their bytes), the order ``after`` resumes in."""
        rows = (
            self._db.reader()
            .execute(
                f"SELECT t.name FROM registry_tags t WHERE {_TAGS_AFTER} "  # noqa: S608 - fixed text
                "ORDER BY lower(t.name), t.name LIMIT ?",
                (registry_id, repository, after, after, limit),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    def tag(self, registry_id: str, repository: str, name: str) -> str | None:
        row = (
            self._db.reader()
            .execute(
                "SELECT digest FROM registry_tags WHERE registry_id = ? AND repository = ? "
                "AND name = ?",
                (registry_id, repository, name),
            )
            .fetchone()
        )
        return str(row[0]) if row else None

    def manifest(self, registry_id: str, repository: str, digest: str) -> Manifest | None:
        row = (
            self._db.reader()
            .execute(
                f"SELECT {MANIFEST} FROM registry_manifests WHERE registry_id = ? "  # noqa: S608 - fixed columns
                "AND repository = ? AND digest = ?",
                (registry_id, repository, digest),
            )
            .fetchone()
        )
        return Manifest(*row) if row else None

    def referrers(self, registry_id: str, repository: str, subject: str) -> list[Manifest]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {MANIFEST} FROM registry_manifests WHERE registry_id = ? "  # noqa: S608 - fixed columns
                "AND repository = ? AND subject = ? ORDER BY created_at, digest",
                (registry_id, repository, subject),
            )
            .fetchall()
        )
        return [Manifest(*r) for r in rows]

    def missing(self, registry_id: str, repository: str, digests: Sequence[str]) -> list[str]:
        """Which of ``digests`` the repository holds neither as a blob nor as a manifest."""
        reader = self._db.reader()
        absent = []
        for digest in digests:
            held = reader.execute(
                "SELECT 1 FROM registry_links WHERE registry_id = ? AND repository = ? "
                "AND digest = ?",
                (registry_id, repository, digest),
            ).fetchone()
            if not held:
                absent.append(digest)
        return absent

    def put_manifest(
        self,
        manifest: Manifest,
        account_id: str,
        refs: Sequence[str],
        tag: str | None,
        bounds: Bounds,
    ) -> None:
        """Store ``manifest`` (its content blob linked already), what it names, and ``tag``."""

        def write(conn: Connection) -> None:
            key = (manifest.registry_id, manifest.repository)
            ensure_repository(conn, *key, manifest.created_at, bounds.repositories)
            conn.execute(
                "DELETE FROM registry_manifests WHERE registry_id = ? AND repository = ? "
                "AND digest = ?",
                (*key, manifest.digest),
            )
            conn.execute(
                f"INSERT INTO registry_manifests({MANIFEST}) VALUES ({marks(9)})",  # noqa: S608 - fixed columns
                astuple(manifest),
            )
            conn.execute(
                "DELETE FROM registry_manifest_refs WHERE registry_id = ? AND repository = ? "
                "AND manifest = ?",
                (*key, manifest.digest),
            )
            conn.executemany(
                "INSERT INTO registry_manifest_refs(registry_id, repository, manifest, digest) "
                "VALUES (?, ?, ?, ?)",
                [(*key, manifest.digest, d) for d in dict.fromkeys(refs)],
            )
            if tag is not None:
                set_tag(conn, *key, tag, manifest.digest, manifest.created_at)

        self._db.write(write)

    def delete_manifest(self, registry_id: str, repository: str, digest: str) -> bool:
        def write(conn: Connection) -> bool:
            key = (registry_id, repository, digest)
            gone = conn.execute(
                "DELETE FROM registry_manifests WHERE registry_id = ? AND repository = ? "
                "AND digest = ?",
                key,
            ).rowcount
            conn.execute(
                "DELETE FROM registry_manifest_refs WHERE registry_id = ? AND repository = ? "
                "AND manifest = ?",
                key,
            )
            conn.execute(
                "DELETE FROM registry_tags WHERE registry_id = ? AND repository = ? AND digest = ?",
                key,
            )
            conn.execute(
                "DELETE FROM registry_links WHERE registry_id = ? AND repository = ? "
                "AND digest = ?",
                key,
            )
            return gone > 0

        return self._db.write(write)

    def delete_repository(self, registry_id: str, name: str) -> bool:
        """Remove the repository with its manifests and tags; its blobs go at the next
        garbage collection (unless other repositories hold them)."""

        def write(conn: Connection) -> bool:
            key = (registry_id, name)
            for table in (
                "registry_tags",
                "registry_manifest_refs",
                "registry_manifests",
                "registry_links",
            ):
                conn.execute(
                    f"DELETE FROM {table} WHERE registry_id = ? AND repository = ?",  # noqa: S608 - fixed table names
                    key,
                )
            return (
                conn.execute(
                    "DELETE FROM registry_repositories WHERE registry_id = ? AND name = ?", key
                ).rowcount
                > 0
            )

        return self._db.write(write)

    def delete_tag(self, registry_id: str, repository: str, name: str) -> bool:
        return self._db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM registry_tags WHERE registry_id = ? AND repository = ? "
                    "AND name = ?",
                    (registry_id, repository, name),
                ).rowcount
                > 0
            )
        )

    def unlink(self, registry_id: str, repository: str, digest: str) -> bool:
        return self._db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM registry_links WHERE registry_id = ? AND repository = ? "
                    "AND digest = ?",
                    (registry_id, repository, digest),
                ).rowcount
                > 0
            )
        )

    # blobs and uploads -------------------------------------------------------------------

    def blob(self, account_id: str, digest: str) -> Blob | None:
        row = (
            self._db.reader()
            .execute(
                f"SELECT {BLOB} FROM registry_blobs WHERE account_id = ? AND digest = ?",  # noqa: S608 - fixed columns
                (account_id, digest),
            )
            .fetchone()
        )
        return Blob(*row) if row else None

    def linked_blob(self, registry_id: str, repository: str, digest: str) -> Blob | None:
        row = (
            self._db.reader()
            .execute(
                "SELECT b.account_id, b.digest, b.size, b.path, b.created_at "
                "FROM registry_links l JOIN registry_registries r ON r.id = l.registry_id "
                "JOIN registry_blobs b ON b.account_id = r.account_id AND b.digest = l.digest "
                "WHERE l.registry_id = ? AND l.repository = ? AND l.digest = ?",
                (registry_id, repository, digest),
            )
            .fetchone()
        )
        return Blob(*row) if row else None

    def link(self, blob: Blob, registry_id: str, repository: str, bounds: Bounds) -> Blob:
        """Keep ``blob`` (unless the account holds that digest already: then the stored one,
        and the caller deletes its copy) and make it part of the repository."""
        return self._db.write(lambda conn: keep(conn, blob, registry_id, repository, bounds))

    def finish_upload(
        self,
        blob: Blob,
        registry_id: str,
        repository: str,
        bounds: Bounds,
        upload_id: str,
    ) -> tuple[Blob, list[str]]:
        """:meth:`link` and end the upload at once; (the kept blob, the chunks' paths)."""

        def write(conn: Connection) -> tuple[Blob, list[str]]:
            kept = keep(conn, blob, registry_id, repository, bounds)
            return kept, drop_upload(conn, upload_id)

        return self._db.write(write)

    def add_upload(self, upload: Upload) -> None:
        self._db.write(
            lambda conn: conn.execute(
                f"INSERT INTO registry_uploads({UPLOAD}) VALUES ({marks(7)})",  # noqa: S608 - fixed columns
                astuple(upload),
            )
        )

    def upload(self, upload_id: str) -> Upload | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {UPLOAD} FROM registry_uploads WHERE id = ?", (upload_id,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return Upload(*row) if row else None

    def add_chunk(self, chunk: Chunk, now: float) -> Upload:
        """Append ``chunk`` if it starts where the upload ends (RangeInvalid otherwise)."""

        def write(conn: Connection) -> Upload:
            row = conn.execute(
                f"SELECT {UPLOAD} FROM registry_uploads WHERE id = ?",  # noqa: S608 - fixed columns
                (chunk.upload_id,),
            ).fetchone()
            if not row:
                raise UploadUnknown(f"upload {chunk.upload_id}: unknown or finished.")
            upload = Upload(*row)
            if chunk.offset != upload.size:
                raise RangeInvalid(
                    f"Content-Range: the chunk starts at {chunk.offset}, the upload holds "
                    f"{upload.size} bytes.",
                    upload.size,
                )
            conn.execute(
                "INSERT INTO registry_chunks(upload_id, start, size, path, sha256) "
                "VALUES (?, ?, ?, ?, ?)",
                astuple(chunk),
            )
            size = upload.size + chunk.size
            conn.execute(
                "UPDATE registry_uploads SET size = ?, updated_at = ? WHERE id = ?",
                (size, now, upload.id),
            )
            return Upload(row[0], row[1], row[2], row[3], size, upload.created_at, now)

        return self._db.write(write)

    def chunks(self, upload_id: str) -> list[Chunk]:
        rows = (
            self._db.reader()
            .execute(
                "SELECT upload_id, start, size, path, sha256 FROM registry_chunks "
                "WHERE upload_id = ? ORDER BY start",
                (upload_id,),
            )
            .fetchall()
        )
        return [Chunk(*r) for r in rows]

    def end_upload(self, upload_id: str) -> list[str]:
        """Forget the session; the paths of its chunks (for the caller to delete)."""
        return self._db.write(lambda conn: drop_upload(conn, upload_id))

    def stale_uploads(self, before: float, limit: int) -> list[str]:
        rows = (
            self._db.reader()
            .execute(
                "SELECT id FROM registry_uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?",
                (before, limit),
            )
            .fetchall()
        )
        return [r[0] for r in rows]
