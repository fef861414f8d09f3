"""The tables the Container Registry owns. Append new migrations; never edit one that has
shipped."""

from nexq.core.db import Migration, Schema

SCHEMA = Schema(
    "registry",
    [
        # registries and their credentials; repositories, what each holds (links to the
        # account's content-addressed blobs), manifests, what they name, tags; upload
        # sessions; what was pulled and pushed, per hour
        Migration(
            """
            CREATE TABLE registry_registries (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL,
                name TEXT NOT NULL UNIQUE,
                created_at REAL NOT NULL
            );
            CREATE INDEX registry_registries_by_account ON registry_registries(account_id);
            CREATE TABLE registry_credentials (
                id TEXT PRIMARY KEY,
                registry_id TEXT NOT NULL,
                label TEXT NOT NULL,
                username TEXT NOT NULL UNIQUE,
                token_hash TEXT NOT NULL,
                access TEXT NOT NULL,
                created_at REAL NOT NULL,
                expires_at REAL,
                revoked_at REAL,
                last_used_at REAL
            );
            CREATE INDEX registry_credentials_by_registry
                ON registry_credentials(registry_id, created_at);
            CREATE TABLE registry_repositories (
                registry_id TEXT NOT NULL,
                name TEXT NOT NULL,
                created_at REAL NOT NULL,
                last_push REAL NOT NULL,
                PRIMARY KEY (registry_id, name)
            );
            CREATE TABLE registry_blobs (
                account_id TEXT NOT NULL,
                digest TEXT NOT NULL,
                size INTEGER NOT NULL,
                path TEXT NOT NULL,
                created_at REAL NOT NULL,
                PRIMARY KEY (account_id, digest)
            );
            CREATE TABLE registry_links (
                registry_id TEXT NOT NULL,
                repository TEXT NOT NULL,
                digest TEXT NOT NULL,
                created_at REAL NOT NULL,
                PRIMARY KEY (registry_id, repository, digest)
            );
            CREATE INDEX registry_links_by_digest ON registry_links(digest);
            CREATE TABLE registry_manifests (
                registry_id TEXT NOT NULL,
                repository TEXT NOT NULL,
                digest TEXT NOT NULL,
                media_type TEXT NOT NULL,
                size INTEGER NOT NULL,
                created_at REAL NOT NULL,
                artifact_type TEXT,
                subject TEXT,
                annotations TEXT,
                PRIMARY KEY (registry_id, repository, digest)
            );
            CREATE INDEX registry_manifests_by_subject
                ON registry_manifests(registry_id, repository, subject);
            CREATE TABLE registry_manifest_refs (
                registry_id TEXT NOT NULL,
                repository TEXT NOT NULL,
                manifest TEXT NOT NULL,
                digest TEXT NOT NULL,
                PRIMARY KEY (registry_id, repository, manifest, digest)
            );
            CREATE INDEX registry_manifest_refs_by_digest
                ON registry_manifest_refs(registry_id, repository, digest);
            CREATE TABLE registry_tags (
                registry_id TEXT NOT NULL,
                repository TEXT NOT NULL,
                name TEXT NOT NULL,
                digest TEXT NOT NULL,
                updated_at REAL NOT NULL,
                PRIMARY KEY (registry_id, repository, name)
            );
            CREATE INDEX registry_tags_by_digest ON registry_tags(registry_id, repository, digest);
            CREATE TABLE registry_uploads (
                id TEXT PRIMARY KEY,
                registry_id TEXT NOT NULL,
                repository TEXT NOT NULL,
                account_id TEXT NOT NULL,
                size INTEGER NOT NULL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL
            );
            CREATE INDEX registry_uploads_by_age ON registry_uploads(updated_at);
            CREATE TABLE registry_chunks (
                upload_id TEXT NOT NULL,
                start INTEGER NOT NULL,
                size INTEGER NOT NULL,
                path TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                PRIMARY KEY (upload_id, start)
            );
            CREATE TABLE registry_usage (
                account_id TEXT NOT NULL,
                registry_id TEXT NOT NULL,
                meter TEXT NOT NULL,
                hour INTEGER NOT NULL,
                quantity INTEGER NOT NULL,
                PRIMARY KEY (account_id, hour, registry_id, meter)
            )
            """,
        ),
    ],
)
