"""Rows the registry's SQL tables share: column lists, and the statements more than one
kind of change makes (a blob kept, a link, a tag, an upload dropped, unheld blobs)."""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection
from nexq.registry.model import (
    Blob,
    Bounds,
    Credential,
)

REGISTRY = "id, account_id, name, created_at"
CREDENTIAL = (
    "id, registry_id, label, username, token_hash, access, created_at, expires_at, "
    "revoked_at, last_used_at"
)
MANIFEST = (
    "registry_id, repository, digest, media_type, size, created_at, artifact_type, subject, "
    "annotations"
)
UPLOAD = "id, registry_id, repository, account_id, size, created_at, updated_at"
BLOB = "account_id, digest, size, path, created_at"


def marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def insert_credential(conn: Connection, credential: Credential) -> None:
    conn.execute(
        f"INSERT INTO registry_credentials({CREDENTIAL}) VALUES ({marks(10)})",  # noqa: S608 - fixed columns
        astuple(credential),
    )


def ensure_repository(
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


def keep(conn: Connection, blob: Blob, registry_id: str, repository: str, bounds: Bounds) -> Blob:
    row = conn.execute(
        f"SELECT {BLOB} FROM registry_blobs WHERE account_id = ? AND digest = ?",  # noqa: S608 - fixed columns
        (blob.account_id, blob.digest),
    ).fetchone()
    if not row and bounds.stored_bytes is not None:
        (stored,) = conn.execute(
            "SELECT coalesce(sum(size), 0) FROM registry_blobs WHERE account_id = ?",
            (blob.account_id,),
        ).fetchone()
        if stored + blob.size > bounds.stored_bytes:
            raise QuotaExceeded(
                "registry_storage_bytes",
                f"The account's registries hold {stored} bytes; {blob.size} more would pass "
                f"its registry_storage_bytes limit of {bounds.stored_bytes}. Delete images "
                "(then run garbage collection) or ask for a higher tier.",
            )
    if not row:
        conn.execute(
            f"INSERT INTO registry_blobs({BLOB}) VALUES ({marks(5)})",  # noqa: S608 - fixed columns
            astuple(blob),
        )
    ensure_repository(conn, registry_id, repository, blob.created_at, bounds.repositories)
    link(conn, registry_id, repository, blob.digest, blob.created_at)
    return Blob(*row) if row else blob


def link(conn: Connection, registry_id: str, repository: str, digest: str, now: float) -> None:
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


def set_tag(
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


def drop_upload(conn: Connection, upload_id: str) -> list[str]:
    paths = [
        r[0]
        for r in conn.execute("SELECT path FROM registry_chunks WHERE upload_id = ?", (upload_id,))
    ]
    conn.execute("DELETE FROM registry_chunks WHERE upload_id = ?", (upload_id,))
    conn.execute("DELETE FROM registry_uploads WHERE id = ?", (upload_id,))
    return paths


def unheld_blobs(conn: Connection, account_id: str, before: float | None = None) -> list[str]:
    """Delete the account's blobs that no repository of its registries holds and no manifest
    names (a layer deleted from a repository by hand stays while an image needs it; made before
    ``before``, when given: a push may be about to link a newer one); their paths."""
    rows: list[Any] = conn.execute(
        "SELECT b.digest, b.path FROM registry_blobs b WHERE b.account_id = ? "
        "AND b.created_at < ? AND NOT EXISTS (SELECT 1 FROM registry_links l "
        "JOIN registry_registries r ON r.id = l.registry_id WHERE r.account_id = b.account_id "
        "AND l.digest = b.digest) AND NOT EXISTS (SELECT 1 FROM registry_manifest_refs f "
        "JOIN registry_registries r ON r.id = f.registry_id WHERE r.account_id = b.account_id "
        "AND f.digest = b.digest)",
        (account_id, before if before is not None else 1e18),
    ).fetchall()
    for digest, _ in rows:
        conn.execute(
            "DELETE FROM registry_blobs WHERE account_id = ? AND digest = ?", (account_id, digest)
        )
    return [path for _, path in rows]
