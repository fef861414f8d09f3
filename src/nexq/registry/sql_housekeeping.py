"""The registry store's house-keeping: garbage collection, fsck, usage sums."""

from __future__ import annotations

from nexq.core.sql import Connection, Database
from nexq.registry.sql_rows import (
    unheld_blobs,
)


class HousekeepingRows:
    """Garbage collection, fsck and usage."""

    _db: Database

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
                paths += unheld_blobs(conn, account_id, before)
            return paths

        return self._db.write(write)

    def blob_paths(self) -> set[str]:
        """Every path the registry's tables name (blobs and upload chunks), for recovery."""
        reader = self._db.reader()
        paths = {r[0] for r in reader.execute("SELECT path FROM registry_blobs")}
        return paths | {r[0] for r in reader.execute("SELECT path FROM registry_chunks")}

    def blob_sizes(self) -> dict[str, int]:
        """Every path the tables name with its size (fsck)."""
        reader = self._db.reader()
        sizes = {r[0]: int(r[1]) for r in reader.execute("SELECT path, size FROM registry_blobs")}
        for path, size in reader.execute("SELECT path, size FROM registry_chunks"):
            sizes[path] = int(size)
        return sizes

    def dangling(self) -> list[str]:
        """Manifests whose bytes or named content are gone, and tags naming no manifest."""
        reader = self._db.reader()
        found = [
            f"manifest {r[0]}/{r[1]}@{r[2]}: its bytes are not stored"
            for r in reader.execute(
                "SELECT m.registry_id, m.repository, m.digest FROM registry_manifests m "
                "JOIN registry_registries r ON r.id = m.registry_id WHERE NOT EXISTS ("
                "SELECT 1 FROM registry_blobs b WHERE b.account_id = r.account_id "
                "AND b.digest = m.digest)"
            )
        ]
        found += [
            f"manifest {r[0]}/{r[1]}@{r[2]}: names {r[3]}, whose bytes are not stored"
            for r in reader.execute(
                "SELECT f.registry_id, f.repository, f.manifest, f.digest "
                "FROM registry_manifest_refs f JOIN registry_registries r "
                "ON r.id = f.registry_id WHERE NOT EXISTS (SELECT 1 FROM registry_blobs b "
                "WHERE b.account_id = r.account_id AND b.digest = f.digest)"
            )
        ]
        found += [
            f"tag {r[0]}/{r[1]}:{r[2]}: names {r[3]}, which is not a manifest"
            for r in reader.execute(
                "SELECT t.registry_id, t.repository, t.name, t.digest FROM registry_tags t "
                "WHERE NOT EXISTS (SELECT 1 FROM registry_manifests m WHERE m.registry_id = "
                "t.registry_id AND m.repository = t.repository AND m.digest = t.digest)"
            )
        ]
        return sorted(found)

    def account_bytes(self, account_id: str) -> int:
        (size,) = (
            self._db.reader()
            .execute(
                "SELECT coalesce(sum(size), 0) FROM registry_blobs WHERE account_id = ?",
                (account_id,),
            )
            .fetchone()
        )
        return int(size)

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
