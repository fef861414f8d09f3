"""The tables Object Storage owns. Append new migrations; never edit one that has shipped.

``legacy`` is the number of the migration that held each one in the single list that
existing data directories were made with (``core.db`` adopts them by it)."""

from nexq.core.db import Migration, Schema

SCHEMA = Schema(
    "storage",
    [
        # buckets, objects, multipart uploads, access keys, blob garbage
        Migration(
            """
            CREATE TABLE buckets (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                account_id TEXT NOT NULL REFERENCES accounts(id),
                created_at REAL NOT NULL
            );
            CREATE INDEX buckets_by_account ON buckets(account_id, name);
            CREATE TABLE objects (
                bucket_id TEXT NOT NULL,
                key TEXT NOT NULL,
                size INTEGER NOT NULL,
                etag TEXT NOT NULL,
                last_modified REAL NOT NULL,
                headers TEXT NOT NULL,
                metadata TEXT NOT NULL,
                checksums TEXT NOT NULL,
                checksum_type TEXT,
                segments TEXT NOT NULL,
                parts_count INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (bucket_id, key)
            ) WITHOUT ROWID;
            CREATE TABLE uploads (
                id TEXT PRIMARY KEY,
                bucket_id TEXT NOT NULL,
                key TEXT NOT NULL,
                initiated REAL NOT NULL,
                headers TEXT NOT NULL,
                metadata TEXT NOT NULL,
                checksum_algorithm TEXT,
                checksum_type TEXT
            );
            CREATE INDEX uploads_by_key ON uploads(bucket_id, key, initiated);
            CREATE TABLE parts (
                upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
                number INTEGER NOT NULL,
                size INTEGER NOT NULL,
                etag TEXT NOT NULL,
                last_modified REAL NOT NULL,
                path TEXT NOT NULL,
                checksums TEXT NOT NULL,
                PRIMARY KEY (upload_id, number)
            ) WITHOUT ROWID;
            CREATE TABLE access_keys (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL REFERENCES accounts(id),
                label TEXT NOT NULL,
                secret_sealed BLOB NOT NULL,
                all_buckets INTEGER NOT NULL,
                status TEXT NOT NULL DEFAULT 'active',
                created_at REAL NOT NULL
            );
            CREATE INDEX access_keys_by_account ON access_keys(account_id, created_at);
            CREATE TABLE access_key_buckets (
                access_key_id TEXT NOT NULL REFERENCES access_keys(id) ON DELETE CASCADE,
                bucket_id TEXT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
                PRIMARY KEY (access_key_id, bucket_id)
            ) WITHOUT ROWID;
            CREATE TABLE garbage (
                path TEXT PRIMARY KEY
            ) WITHOUT ROWID
            """,
            legacy=1,
        ),
        # hidden per-account keys that sign the presigned URLs made by the API and console
        Migration(
            """
            ALTER TABLE access_keys ADD COLUMN internal INTEGER NOT NULL DEFAULT 0
            """,
            legacy=2,
        ),
        # metering: usage per bucket and hour, added to by every process's meter
        Migration(
            """
            CREATE TABLE usage_hourly (
                account_id TEXT NOT NULL,
                hour INTEGER NOT NULL,
                bucket_id TEXT NOT NULL,
                bucket_name TEXT NOT NULL,
                data_in INTEGER NOT NULL DEFAULT 0,
                data_out INTEGER NOT NULL DEFAULT 0,
                class_a INTEGER NOT NULL DEFAULT 0,
                class_b INTEGER NOT NULL DEFAULT 0,
                other INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (account_id, hour, bucket_id)
            ) WITHOUT ROWID
            """,
            legacy=3,
        ),
        # per-bucket counters kept with every write, so that quotas and bucket lists never sum
        # the objects table
        Migration(
            """
            ALTER TABLE buckets ADD COLUMN object_count INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE buckets ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
            UPDATE buckets SET
                object_count = (SELECT count(*) FROM objects WHERE objects.bucket_id = buckets.id),
                stored_bytes = (SELECT coalesce(sum(size), 0) FROM objects
                                WHERE objects.bucket_id = buckets.id)
            """,
            legacy=4,
        ),
        # each account's stored bytes in one row (the sum of its buckets' stored_bytes), kept
        # in the same transaction as the buckets' counters: the exact quota check inside a
        # write is one indexed update however many buckets the account has
        Migration(
            """
            CREATE TABLE account_storage (
                account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
                stored_bytes INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID;
            INSERT INTO account_storage(account_id, stored_bytes)
                SELECT account_id, sum(stored_bytes) FROM buckets GROUP BY account_id
            """,
            legacy=6,
        ),
        # versioning: a bucket's state; the current version's id stays on its objects row
        # (NULL is S3's null version), every other version and each delete marker is a row
        # of object_versions, newest per key with the highest seq (nexq.storage.versions)
        Migration(
            """
            ALTER TABLE buckets ADD COLUMN versioning TEXT;
            ALTER TABLE objects ADD COLUMN version_id TEXT;
            CREATE TABLE object_versions (
                bucket_id TEXT NOT NULL,
                key TEXT NOT NULL,
                seq INTEGER NOT NULL,
                version_id TEXT,
                delete_marker INTEGER NOT NULL,
                size INTEGER NOT NULL,
                etag TEXT NOT NULL,
                last_modified REAL NOT NULL,
                headers TEXT NOT NULL,
                metadata TEXT NOT NULL,
                checksums TEXT NOT NULL,
                checksum_type TEXT,
                segments TEXT NOT NULL,
                parts_count INTEGER NOT NULL,
                PRIMARY KEY (bucket_id, key, seq)
            ) WITHOUT ROWID
            """
        ),
        # a bucket's configuration documents (policy, CORS, lifecycle, tags...), each kept as
        # the canonical text its codec renders, by sub-resource name
        Migration(
            """
            CREATE TABLE bucket_settings (
                bucket_id TEXT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                document TEXT NOT NULL,
                PRIMARY KEY (bucket_id, name)
            ) WITHOUT ROWID
            """
        ),
        # object tags (a JSON list of [key, value]) on every version
        Migration(
            """
            ALTER TABLE objects ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
            ALTER TABLE object_versions ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'
            """
        ),
        # Object Lock: each version's retention (mode, until when) and legal hold
        Migration(
            """
            ALTER TABLE objects ADD COLUMN lock_mode TEXT;
            ALTER TABLE objects ADD COLUMN lock_until REAL;
            ALTER TABLE objects ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE object_versions ADD COLUMN lock_mode TEXT;
            ALTER TABLE object_versions ADD COLUMN lock_until REAL;
            ALTER TABLE object_versions ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0
            """
        ),
        # completed multipart uploads, kept a day so that a retried completion is answered as
        # the first one was (nexq.storage.completions); purged oldest first through the index
        Migration(
            """
            CREATE TABLE completed_uploads (
                upload_id TEXT PRIMARY KEY,
                bucket_id TEXT NOT NULL,
                key TEXT NOT NULL,
                etag TEXT NOT NULL,
                version_id TEXT,
                size INTEGER NOT NULL,
                completed_at REAL NOT NULL,
                checksums TEXT NOT NULL,
                checksum_type TEXT
            ) WITHOUT ROWID;
            CREATE INDEX completed_uploads_by_time ON completed_uploads(completed_at)
            """
        ),
        # the KMS keys of accounts (SSE-KMS; nexq.storage.kms): the material sealed with the
        # master key, re-wrapped by a rotation; an alias names at most one key per account
        Migration(
            """
            CREATE TABLE kms_keys (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL,
                alias TEXT,
                description TEXT NOT NULL,
                state TEXT NOT NULL,
                managed INTEGER NOT NULL,
                created_at REAL NOT NULL,
                sealed BLOB NOT NULL
            ) WITHOUT ROWID;
            CREATE UNIQUE INDEX kms_keys_by_alias ON kms_keys(account_id, alias)
            """
        ),
        # every bucket made before new buckets stored their Object Ownership keeps behaving
        # as BucketOwnerEnforced, now stored: a bucket without the setting (its controls
        # deleted) has ACLs, as on AWS (ObjectWriter)
        Migration(
            """
            INSERT INTO bucket_settings(bucket_id, name, document)
            SELECT id, 'ownershipControls', 'BucketOwnerEnforced' FROM buckets
            WHERE id NOT IN (
                SELECT bucket_id FROM bucket_settings WHERE name = 'ownershipControls'
            )
            """
        ),
        # set when the key's object is deleted while the upload is open: a completion with
        # If-None-Match then conflicts (409), as on AWS, though no object is there to see
        Migration("ALTER TABLE uploads ADD COLUMN key_deleted INTEGER NOT NULL DEFAULT 0"),
    ],
)
