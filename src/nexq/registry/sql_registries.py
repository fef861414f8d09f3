"""The registry store's registries and credentials (SQLite or PostgreSQL)."""

from __future__ import annotations

from dataclasses import astuple

from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, Database
from nexq.registry.errors import RegistryExists
from nexq.registry.model import (
    Credential,
    Registry,
)
from nexq.registry.sql_rows import (
    CREDENTIAL,
    REGISTRY,
    drop_upload,
    insert_credential,
    marks,
    unheld_blobs,
)


class RegistryRows:
    """Registries and their credentials."""

    _db: Database

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
                f"INSERT INTO registry_registries({REGISTRY}) VALUES ({marks(4)})",  # noqa: S608 - fixed columns
                astuple(registry),
            )
            insert_credential(conn, first)

        self._db.write(write)

    def registry_named(self, name: str) -> Registry | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {REGISTRY} FROM registry_registries WHERE name = ?", (name,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return Registry(*row) if row else None

    def registry_by_id(self, registry_id: str) -> Registry | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {REGISTRY} FROM registry_registries WHERE id = ?", (registry_id,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return Registry(*row) if row else None

    def registries(self, account_id: str) -> list[Registry]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {REGISTRY} FROM registry_registries WHERE account_id = ? "  # noqa: S608 - fixed columns
                "ORDER BY name",
                (account_id,),
            )
            .fetchall()
        )
        return [Registry(*r) for r in rows]

    def all_registries(self) -> list[Registry]:
        """Every registry of the installation (hourly storage samples)."""
        rows = (
            self._db.reader()
            .execute(f"SELECT {REGISTRY} FROM registry_registries ORDER BY id")  # noqa: S608 - fixed columns
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
            for table in (  # its usage rows stay: the month's invoice still bills them
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
                paths += drop_upload(conn, upload)
            conn.execute("DELETE FROM registry_registries WHERE id = ?", rid)
            return paths + unheld_blobs(conn, registry.account_id)

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
            insert_credential(conn, credential)

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
                f"SELECT {CREDENTIAL} FROM registry_credentials WHERE registry_id = ? "  # noqa: S608 - fixed columns
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
            .execute(f"SELECT {CREDENTIAL} FROM registry_credentials WHERE {column} = ?", (value,))  # noqa: S608 - fixed columns
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
