"""The registry's store and data-plane use cases on both SQL engines (SQLite, PostgreSQL),
with blobs in files: deduplication, quotas, garbage collection, fsck, metering."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexq.app import SCHEMAS
from nexq.core.db import Database
from nexq.core.errors import QuotaExceeded
from nexq.core.postgres import PostgresDatabase
from nexq.core.sql import Database as SqlDatabase
from nexq.registry.access import Caller
from nexq.registry.content import Content
from nexq.registry.errors import BlobUnknown, DigestInvalid, ManifestBlobUnknown, NameUnknown
from nexq.registry.metering import EGRESS, PULLS, STORED, RegistryMeter
from nexq.registry.model import Credential, Registry
from nexq.registry.sqlite import SqlRegistry
from nexq.storage.blobs.filesystem import FileBlobStore
from tests.postgres import PostgresServer

OCI = "application/vnd.oci.image.manifest.v1+json"


class Limits:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def limit(self, account_id: str, name: str) -> int | None:
        return self.values.get(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase]:
    made: SqlDatabase
    if request.param == "sqlite":
        made = Database(tmp_path / "meta.db", SCHEMAS)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        made = PostgresDatabase(server.new_database(), SCHEMAS, migrate_schema=True)
    yield made
    made.close()


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "registry")


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def registry(store: SqlRegistry, name: str, account: str = "acc-a") -> Caller:
    made = Registry(f"id-{name}", account, name, time.time())
    credential = Credential(f"c-{name}", made.id, "default", f"{name}+u", "h", "write", 1.0)
    store.add_registry(made, credential, None)
    return Caller(account, None, True)


def push_blob(content: Content, caller: Caller, name: str, data: bytes) -> None:
    upload = content.start_upload(caller, name)
    content.finish(caller, name, upload.id, digest(data), [data[:7], data[7:]])


def push_image(content: Content, caller: Caller, name: str, tag: str, layer: bytes) -> str:
    config = json.dumps({"os": "linux", "tag": tag}).encode()
    for data in (layer, config):
        push_blob(content, caller, name, data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer), "size": len(layer)}],
    }  # fmt: skip
    return content.put_manifest(caller, name, tag, OCI, json.dumps(manifest).encode()).digest


def test_a_layer_pushed_to_two_repositories_is_stored_once(
    db: SqlDatabase, blobs: FileBlobStore
) -> None:
    store = SqlRegistry(db)
    content = Content(store, blobs)
    caller = registry(store, "team")
    layer = b"layer bytes " * 1000
    push_image(content, caller, "team/a", "v1", layer)
    push_image(content, caller, "team/b", "v2", layer)
    files, _ = blobs.inventory()
    # Two configs, two manifests, one layer: the second copy of the layer was dropped.
    assert len(files) == 5
    registry_id = store.registry_named("team")
    assert registry_id is not None
    assert store.stored_bytes(registry_id.id) == sum(size for size, _ in files.values())
    _, blob = content.locate_blob(caller, "team/b", digest(layer))
    assert b"".join(bytes(p) for p in content.read_blob(blob, 0, blob.size)) == layer
    assert content.check().clean


def test_refusals_keep_nothing(db: SqlDatabase, blobs: FileBlobStore) -> None:
    store = SqlRegistry(db)
    limits = Limits()
    content = Content(store, blobs, limits)
    caller = registry(store, "team")
    upload = content.start_upload(caller, "team/a")
    with pytest.raises(DigestInvalid):
        content.finish(caller, "team/a", upload.id, digest(b"other"), [b"bytes"])
    missing = {"schemaVersion": 2, "mediaType": OCI,
               "config": {"mediaType": "x/y", "digest": digest(b"c"), "size": 1},
               "layers": []}  # fmt: skip
    with pytest.raises(ManifestBlobUnknown):
        content.put_manifest(caller, "team/a", "v1", OCI, json.dumps(missing).encode())
    limits.values["registry_storage_bytes"] = 100
    upload = content.start_upload(caller, "team/a")
    with pytest.raises(QuotaExceeded) as refused:
        content.finish(caller, "team/a", upload.id, digest(b"x" * 101), [b"x" * 101])
    assert refused.value.limit == "registry_storage_bytes"
    assert blobs.inventory()[0] == {}
    assert store.account_bytes("acc-a") == 0
    other = Caller("acc-b", None, True)
    with pytest.raises(NameUnknown):
        content.start_upload(other, "team/a")


def test_garbage_collection_keeps_what_images_need(db: SqlDatabase, blobs: FileBlobStore) -> None:
    store = SqlRegistry(db)
    content = Content(store, blobs)
    caller = registry(store, "team")
    kept_layer, lone = b"kept " * 100, b"pushed but never used " * 10
    manifest = push_image(content, caller, "team/a", "v1", kept_layer)
    push_blob(content, caller, "team/a", lone)
    # A layer deleted from the repository by hand stays while the image names it.
    content.delete_blob(caller, "team/a", digest(kept_layer))
    assert content.collect_garbage(grace_seconds=3600) == 0  # everything is recent
    assert content.collect_garbage(grace_seconds=-1) == 1  # the lone blob only
    with pytest.raises(BlobUnknown):
        content.stat_blob(caller, "team/a", digest(lone))
    assert content.check().clean
    content.delete_manifest(caller, "team/a", manifest)
    assert content.collect_garbage(grace_seconds=-1) == 3  # manifest, config, layer
    assert blobs.inventory()[0] == {}
    assert content.check().clean


def test_fsck_finds_a_missing_layer(db: SqlDatabase, blobs: FileBlobStore) -> None:
    store = SqlRegistry(db)
    content = Content(store, blobs)
    caller = registry(store, "team")
    layer = b"precious " * 100
    push_image(content, caller, "team/a", "v1", layer)
    _, blob = content.locate_blob(caller, "team/a", digest(layer))
    (blobs.root / blob.path).unlink()
    report = content.check()
    assert report.missing == [blob.path]
    assert not report.clean


def test_metering_counts_and_samples_deduplicated_storage(
    db: SqlDatabase, blobs: FileBlobStore
) -> None:
    store = SqlRegistry(db)
    content = Content(store, blobs)
    meter = RegistryMeter(db, store)
    caller = registry(store, "team")
    layer = b"z" * 5000
    push_image(content, caller, "team/a", "v1", layer)
    push_image(content, caller, "team/b", "v2", layer)
    meter.count("acc-a", "id-team", PULLS, 1)
    meter.count("acc-a", "id-team", PULLS, 2)
    meter.count("acc-a", "id-team", EGRESS, 5000)
    meter.flush()
    meter.count("acc-a", "id-team", EGRESS, 1)
    meter.flush()
    hour = int(time.time() // 3600)
    counted = {r.meter: r.quantity for r in meter.counted("acc-a", hour - 1, hour + 1)}
    assert counted == {PULLS.name: 3, EGRESS.name: 5001}
    assert list(meter.accounts(hour, hour + 1)) == ["acc-a"]
    (sample,) = meter.gauges(hour)
    assert sample.meter == STORED.name
    assert sample.resource == "id-team"
    assert (
        sample.quantity
        == store.stored_bytes("id-team")
        == sum(size for size, _ in blobs.inventory()[0].values())
    )
