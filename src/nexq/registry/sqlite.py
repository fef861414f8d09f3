"""The SQL registry store (SQLite or PostgreSQL), in the metadata database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import Any

from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, Database
from nexq.registry.errors import RangeInvalid, RegistryExists, UploadUnknown
from nexq.registry.model import Blob, Chunk, Credential, Manifest, Registry, Repository, Tag, Upload

_REGISTRY = "id, account_id, name, created_at"
_CREDENTIAL = (
    "id, registry_id, label, username, token_hash, access, created_at, expires_at, "
    "revoked_at, last_used_at"
)
_MANIFEST = (
    "registry_id, repository, digest, media_type, size, created_at, artifact_type, subject, "
    "annotations"
)
_UPLOAD = "id, registry_id, repository, account_id, size, created_at, updated_at"
_BLOB = "account_id, digest, size, path, created_at"


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


class SqlRegistry:
    """:class:`RegistryStore` on a SQL :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # registries and credentials ----------------------------------------------------------

    def add_registry(self, registry: Registry, first: Credential, max_count: int | None) -> None:
        def write(conn: Connection) -> None:
            if conn.execute(
                "SELECT 1 FROM registry_registries WHERE name = ?", (registry.name,)
            ).fetchone():
                raise RegistryExists(f"name: a registry named {registry.name!r} exists already.")
            if max_count is not None:
                (count,) = conn.execute(
                    "SELECT count(*) FROM registry_registries WHERE account_id = ?",
                    (registry.account_id,),
                ).fetchone()
                if count >= max_count:
                    raise QuotaExceeded(
                        "registries",
                        f"The account has {count} registries, its registries limit; delete "
                        "one or ask for a higher tier.",
                    )
            conn.execute(
                f"INSERT INTO registry_registries({_REGISTRY}) VALUES ({_marks(4)})",  # noqa: S608 - fixed columns
                astuple(registry),
            )
            _insert_credential(conn, first)

        self._db.write(write)

    def registry_named(self, name: str) -> Registry | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_REGISTRY} FROM registry_registries WHERE name = ?", (name,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return Registry(*row) if row else None

    def registry_by_id(self, registry_id: str) -> Registry | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_REGISTRY} FROM registry_registries WHERE id = ?", (registry_id,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return Registry(*row) if row else None

    def registries(self, account_id: str) -> list[Registry]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_REGISTRY} FROM registry_registries WHERE account_id = ? "  # noqa: S608 - fixed columns
                "ORDER BY name",
                (account_id,),
            )
            .fetchall()
        )
        return [Registry(*r) for r in rows]

    def count_registries(self, account_id: str) -> int:
        (count,) = (
            self._db.reader()
            .execute("SELECT count(*) FROM registry_registries WHERE account_id = ?", (account_id,))
            .fetchone()
        )
        return int(count)

    def delete_registry(self, registry: Registry) -> list[str]:
        """Remove the registry and everything in it; the paths of blobs nothing holds now."""

        def write(conn: Connection) -> list[str]:
            rid = (registry.id,)
            for table in (
                "registry_credentials",
                "registry_repositories",
                "registry_links",
                "registry_manifests",
                "registry_manifest_refs",
                "registry_tags",
            ):
                conn.execute(f"DELETE FROM {table} WHERE registry_id = ?", rid)  # noqa: S608 - fixed table names
            uploads = [
                r[0]
                for r in conn.execute("SELECT id FROM registry_uploads WHERE registry_id = ?", rid)
            ]
            paths = []
            for upload in uploads:
                paths += _drop_upload(conn, upload)
            conn.execute("DELETE FROM registry_registries WHERE id = ?", rid)
            return paths + _unheld_blobs(conn, registry.account_id)

        return self._db.write(write)

    def add_credential(self, credential: Credential, max_count: int | None) -> None:
        def write(conn: Connection) -> None:
            if max_count is not None:
                (count,) = conn.execute(
                    "SELECT count(*) FROM registry_credentials c JOIN registry_registries r "
                    "ON r.id = c.registry_id WHERE r.account_id = "
                    "(SELECT account_id FROM registry_registries WHERE id = ?)",
                    (credential.registry_id,),
                ).fetchone()
                if count >= max_count:
                    raise QuotaExceeded(
                        "registry_credentials",
                        f"The account has {count} registry credentials, its "
                        "registry_credentials limit; delete one first.",
                    )
            _insert_credential(conn, credential)

        self._db.write(write)

    def count_credentials(self, account_id: str) -> int:
        (count,) = (
            self._db.reader()
            .execute(
                "SELECT count(*) FROM registry_credentials c JOIN registry_registries r "
                "ON r.id = c.registry_id WHERE r.account_id = ?",
                (account_id,),
            )
            .fetchone()
        )
        return int(count)

    def credentials(self, registry_id: str) -> list[Credential]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_CREDENTIAL} FROM registry_credentials WHERE registry_id = ? "  # noqa: S608 - fixed columns
                "ORDER BY created_at, id",
                (registry_id,),
            )
            .fetchall()
        )
        return [Credential(*r) for r in rows]

    def credential(self, credential_id: str) -> Credential | None:
        return self._credential("id", credential_id)

    def credential_named(self, username: str) -> Credential | None:
        return self._credential("username", username)

    def _credential(self, column: str, value: str) -> Credential | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_CREDENTIAL} FROM registry_credentials WHERE {column} = ?", (value,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return Credential(*row) if row else None

    def update_credential(self, credential: Credential) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE registry_credentials SET label = ?, token_hash = ?, access = ?, "
                "expires_at = ?, revoked_at = ? WHERE id = ?",
                (
                    credential.label,
                    credential.token_hash,
                    credential.access,
                    credential.expires_at,
                    credential.revoked_at,
                    credential.id,
                ),
            )
        )

    def touch_credential(self, credential_id: str, now: float) -> None:
        """Record a use (batched with other writes: last-used is informative)."""
        self._db.write_later(
            lambda conn: conn.execute(
                "UPDATE registry_credentials SET last_used_at = ? WHERE id = ?",
                (now, credential_id),
            )
        )

    def delete_credential(self, credential_id: str) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM registry_credentials WHERE id = ?", (credential_id,)
            )
        )

    # repositories, tags, manifests -------------------------------------------------------

    def repositories(self, registry_id: str, after: str, limit: int) -> list[Repository]:
        reader = self._db.reader()
        rows = reader.execute(
            "SELECT registry_id, name, created_at, last_push FROM registry_repositories "
            "WHERE registry_id = ? AND name > ? ORDER BY name LIMIT ?",
            (registry_id, after, limit),
        ).fetchall()
        found = []
        for row in rows:
            (tags,) = reader.execute(
                "SELECT count(*) FROM registry_tags WHERE registry_id = ? AND repository = ?",
                (registry_id, row[1]),
            ).fetchone()
            size = self._size(reader, row[0], row[1])
            found.append(Repository(row[0], row[1], row[2], row[3], int(tags), size))
        return found

    @staticmethod
    def _size(reader: Connection, registry_id: str, repository: str) -> int:
        (size,) = reader.execute(
            "SELECT coalesce(sum(b.size), 0) FROM registry_links l "
            "JOIN registry_registries r ON r.id = l.registry_id "
            "JOIN registry_blobs b ON b.account_id = r.account_id AND b.digest = l.digest "
            "WHERE l.registry_id = ? AND l.repository = ?",
            (registry_id, repository),
        ).fetchone()
        return int(size)

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
        rows = (
            self._db.reader()
            .execute(
                "SELECT t.registry_id, t.repository, t.name, t.digest, t.updated_at, m.size "
                "FROM registry_tags t LEFT JOIN registry_manifests m ON m.registry_id = "
                "t.registry_id AND m.repository = t.repository AND m.digest = t.digest "
                "WHERE t.registry_id = ? AND t.repository = ? AND t.name > ? "
                "ORDER BY t.name LIMIT ?",
                (registry_id, repository, after, limit),
            )
            .fetchall()
        )
        return [
            Tag(r[0], r[1], r[2], r[3], r[4], size=self._tagged_size(r[0], r[1], r[3], r[5] or 0))
            for r in rows
        ]

    def _tagged_size(self, registry_id: str, repository: str, digest: str, own: int) -> int:
        """The manifest's bytes and those of every blob it names (an image's size)."""
        (size,) = (
            self._db.reader()
            .execute(
                "SELECT coalesce(sum(b.size), 0) FROM registry_manifest_refs f "
                "JOIN registry_registries r ON r.id = f.registry_id "
                "JOIN registry_blobs b ON b.account_id = r.account_id AND b.digest = f.digest "
                "WHERE f.registry_id = ? AND f.repository = ? AND f.manifest = ?",
                (registry_id, repository, digest),
            )
            .fetchone()
        )
        return own + int(size)

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
                f"SELECT {_MANIFEST} FROM registry_manifests WHERE registry_id = ? "  # noqa: S608 - fixed columns
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
                f"SELECT {_MANIFEST} FROM registry_manifests WHERE registry_id = ? "  # noqa: S608 - fixed columns
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
        max_repositories: int | None,
    ) -> None:
        """Store ``manifest`` (its content blob linked already), what it names, and ``tag``."""

        def write(conn: Connection) -> None:
            key = (manifest.registry_id, manifest.repository)
            _ensure_repository(conn, *key, manifest.created_at, max_repositories)
            conn.execute(
                "DELETE FROM registry_manifests WHERE registry_id = ? AND repository = ? "
                "AND digest = ?",
                (*key, manifest.digest),
            )
            conn.execute(
                f"INSERT INTO registry_manifests({_MANIFEST}) VALUES ({_marks(9)})",  # noqa: S608 - fixed columns
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
                _set_tag(conn, *key, tag, manifest.digest, manifest.created_at)

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
                f"SELECT {_BLOB} FROM registry_blobs WHERE account_id = ? AND digest = ?",  # noqa: S608 - fixed columns
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

    def link(
        self, blob: Blob, registry_id: str, repository: str, max_repositories: int | None
    ) -> Blob:
        """Keep ``blob`` (unless the account holds that digest already: then the stored one,
        and the caller deletes its copy) and make it part of the repository."""
        return self._db.write(
            lambda conn: _keep(conn, blob, registry_id, repository, max_repositories)
        )

    def finish_upload(
        self,
        blob: Blob,
        registry_id: str,
        repository: str,
        max_repositories: int | None,
        upload_id: str,
    ) -> tuple[Blob, list[str]]:
        """:meth:`link` and end the upload at once; (the kept blob, the chunks' paths)."""

        def write(conn: Connection) -> tuple[Blob, list[str]]:
            kept = _keep(conn, blob, registry_id, repository, max_repositories)
            return kept, _drop_upload(conn, upload_id)

        return self._db.write(write)

    def add_upload(self, upload: Upload) -> None:
        self._db.write(
            lambda conn: conn.execute(
                f"INSERT INTO registry_uploads({_UPLOAD}) VALUES ({_marks(7)})",  # noqa: S608 - fixed columns
                astuple(upload),
            )
        )

    def upload(self, upload_id: str) -> Upload | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_UPLOAD} FROM registry_uploads WHERE id = ?", (upload_id,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return Upload(*row) if row else None

    def add_chunk(self, chunk: Chunk, now: float) -> Upload:
        """Append ``chunk`` if it starts where the upload ends (RangeInvalid otherwise)."""

        def write(conn: Connection) -> Upload:
            row = conn.execute(
                f"SELECT {_UPLOAD} FROM registry_uploads WHERE id = ?",  # noqa: S608 - fixed columns
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
        return self._db.write(lambda conn: _drop_upload(conn, upload_id))

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

    # garbage collection and usage -------------------------------------------------------

    def collect(self, before: float) -> list[str]:
        """Drop links no manifest needs (made before ``before``), then blobs no repository
        holds; the paths of those blobs."""

        def write(conn: Connection) -> list[str]:
            conn.execute(
                "DELETE FROM registry_links WHERE created_at < ? AND NOT EXISTS ("
                "SELECT 1 FROM registry_manifest_refs f WHERE f.registry_id = "
                "registry_links.registry_id AND f.repository = registry_links.repository "
                "AND f.digest = registry_links.digest) AND NOT EXISTS ("
                "SELECT 1 FROM registry_manifests m WHERE m.registry_id = "
                "registry_links.registry_id AND m.repository = registry_links.repository "
                "AND m.digest = registry_links.digest)",
                (before,),
            )
            rows = conn.execute(
                "SELECT DISTINCT account_id FROM registry_blobs WHERE created_at < ?", (before,)
            ).fetchall()
            paths: list[str] = []
            for (account_id,) in rows:
                paths += _unheld_blobs(conn, account_id, before)
            return paths

        return self._db.write(write)

    def blob_paths(self) -> set[str]:
        """Every path the registry's tables name (blobs and upload chunks), for recovery."""
        reader = self._db.reader()
        paths = {r[0] for r in reader.execute("SELECT path FROM registry_blobs")}
        return paths | {r[0] for r in reader.execute("SELECT path FROM registry_chunks")}

    def stored_bytes(self, registry_id: str) -> int:
        """The distinct blobs' bytes the registry's repositories hold (deduplicated)."""
        (size,) = (
            self._db.reader()
            .execute(
                "SELECT coalesce(sum(b.size), 0) FROM registry_blobs b "
                "JOIN registry_registries r ON r.account_id = b.account_id WHERE r.id = ? "
                "AND EXISTS (SELECT 1 FROM registry_links l WHERE l.registry_id = r.id "
                "AND l.digest = b.digest)",
                (registry_id,),
            )
            .fetchone()
        )
        return int(size)


def _insert_credential(conn: Connection, credential: Credential) -> None:
    conn.execute(
        f"INSERT INTO registry_credentials({_CREDENTIAL}) VALUES ({_marks(10)})",  # noqa: S608 - fixed columns
        astuple(credential),
    )


def _ensure_repository(
    conn: Connection, registry_id: str, name: str, now: float, max_count: int | None
) -> None:
    updated = conn.execute(
        "UPDATE registry_repositories SET last_push = ? WHERE registry_id = ? AND name = ?",
        (now, registry_id, name),
    ).rowcount
    if updated:
        return
    if max_count is not None:
        (count,) = conn.execute(
            "SELECT count(*) FROM registry_repositories WHERE registry_id = ?", (registry_id,)
        ).fetchone()
        if count >= max_count:
            raise QuotaExceeded(
                "registry_repositories",
                f"The registry has {count} repositories, its registry_repositories limit; "
                "delete one or ask for a higher tier.",
            )
    conn.execute(
        "INSERT INTO registry_repositories(registry_id, name, created_at, last_push) "
        "VALUES (?, ?, ?, ?)",
        (registry_id, name, now, now),
    )


def _keep(
    conn: Connection, blob: Blob, registry_id: str, repository: str, max_repositories: int | None
) -> Blob:
    row = conn.execute(
        f"SELECT {_BLOB} FROM registry_blobs WHERE account_id = ? AND digest = ?",  # noqa: S608 - fixed columns
        (blob.account_id, blob.digest),
    ).fetchone()
    if not row:
        conn.execute(
            f"INSERT INTO registry_blobs({_BLOB}) VALUES ({_marks(5)})",  # noqa: S608 - fixed columns
            astuple(blob),
        )
    _ensure_repository(conn, registry_id, repository, blob.created_at, max_repositories)
    _link(conn, registry_id, repository, blob.digest, blob.created_at)
    return Blob(*row) if row else blob


def _link(conn: Connection, registry_id: str, repository: str, digest: str, now: float) -> None:
    updated = conn.execute(
        "UPDATE registry_links SET created_at = ? WHERE registry_id = ? AND repository = ? "
        "AND digest = ?",
        (now, registry_id, repository, digest),
    ).rowcount
    if not updated:
        conn.execute(
            "INSERT INTO registry_links(registry_id, repository, digest, created_at) "
            "VALUES (?, ?, ?, ?)",
            (registry_id, repository, digest, now),
        )


def _set_tag(
    conn: Connection, registry_id: str, repository: str, name: str, digest: str, now: float
) -> None:
    updated = conn.execute(
        "UPDATE registry_tags SET digest = ?, updated_at = ? WHERE registry_id = ? "
        "AND repository = ? AND name = ?",
        (digest, now, registry_id, repository, name),
    ).rowcount
    if not updated:
        conn.execute(
            "INSERT INTO registry_tags(registry_id, repository, name, digest, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (registry_id, repository, name, digest, now),
        )


def _drop_upload(conn: Connection, upload_id: str) -> list[str]:
    paths = [
        r[0]
        for r in conn.execute("SELECT path FROM registry_chunks WHERE upload_id = ?", (upload_id,))
    ]
    conn.execute("DELETE FROM registry_chunks WHERE upload_id = ?", (upload_id,))
    conn.execute("DELETE FROM registry_uploads WHERE id = ?", (upload_id,))
    return paths


def _unheld_blobs(conn: Connection, account_id: str, before: float | None = None) -> list[str]:
    """Delete the account's blobs that no repository of its registries holds (made before
    ``before``, when given: a push may be about to link a newer one); their paths."""
    rows: list[Any] = conn.execute(
        "SELECT b.digest, b.path FROM registry_blobs b WHERE b.account_id = ? "
        "AND b.created_at < ? AND NOT EXISTS (SELECT 1 FROM registry_links l "
        "JOIN registry_registries r ON r.id = l.registry_id WHERE r.account_id = b.account_id "
        "AND l.digest = b.digest)",
        (account_id, before if before is not None else 1e18),
    ).fetchall()
    for digest, _ in rows:
        conn.execute(
            "DELETE FROM registry_blobs WHERE account_id = ? AND digest = ?", (account_id, digest)
        )
    return [path for _, path in rows]
