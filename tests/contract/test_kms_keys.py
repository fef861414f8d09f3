"""The KmsKeyStore contract (storage.kms_store): SQLite, PostgreSQL and memory alike; and
the use cases of storage.kms over each."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexq.app import SCHEMAS
from nexq.core.crypto import SecretBox, new_key
from nexq.core.db import Database
from nexq.core.identity import Account, Principal
from nexq.core.postgres import PostgresDatabase
from nexq.storage.kms import KmsAccessDenied, KmsKeyDisabled, KmsKeyNotFound, KmsKeys
from nexq.storage.kms_store import (
    DISABLED,
    ENABLED,
    AliasTaken,
    KeyRecord,
    KmsKeyStore,
    MemoryKmsKeys,
    SqlKmsKeys,
)
from tests.postgres import PostgresServer


def sqlite(_: pytest.FixtureRequest, tmp_path: Path) -> tuple[KmsKeyStore, Callable[[], None]]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    return SqlKmsKeys(db), db.close


def postgresql(request: pytest.FixtureRequest, _: Path) -> tuple[KmsKeyStore, Callable[[], None]]:
    server: PostgresServer = request.getfixturevalue("postgres")
    db = PostgresDatabase(server.new_database(), SCHEMAS, migrate_schema=True)
    return SqlKmsKeys(db), db.close


IMPLEMENTATIONS = {
    "sqlite": sqlite,
    "postgresql": postgresql,
    "memory": lambda _, __: (MemoryKmsKeys(), lambda: None),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KmsKeyStore]:
    made, close = IMPLEMENTATIONS[request.param](request, tmp_path)
    yield made
    close()


def record(key_id: str, account: str, alias: str | None, at: float) -> KeyRecord:
    return KeyRecord(
        key_id, account, alias, "d", ENABLED, False, at, b"\x00sealed " + key_id.encode()
    )


def test_keys_are_found_by_id_and_alias_within_an_account(store: KmsKeyStore) -> None:
    store.add_key(record("k2", "acct-a", "alias/x", 2.0))
    store.add_key(record("k1", "acct-a", None, 1.0))
    store.add_key(record("k3", "acct-b", "alias/x", 3.0))  # an alias is per account
    assert [r.id for r in store.keys("acct-a")] == ["k1", "k2"]
    assert store.key("k3") == record("k3", "acct-b", "alias/x", 3.0)
    found = store.key_by_alias("acct-a", "alias/x")
    assert found is not None and found.id == "k2"
    assert store.key_by_alias("acct-c", "alias/x") is None and store.key("nope") is None
    with pytest.raises(AliasTaken):
        store.add_key(record("k4", "acct-a", "alias/x", 4.0))
    store.add_key(record("k5", "acct-a", None, 5.0))  # keys without an alias never clash
    store.set_state("k2", DISABLED)
    disabled = store.key("k2")
    assert disabled is not None and disabled.state == DISABLED


def test_a_rewrap_replaces_only_what_it_read(store: KmsKeyStore) -> None:
    store.add_key(record("bb", "acct", None, 1.0))
    store.add_key(record("aa", "acct", None, 2.0))
    old = b"\x00sealed aa"
    assert store.sealed_page("", 1) == [("aa", old)]
    assert store.sealed_page("aa", 5) == [("bb", b"\x00sealed bb")]
    assert store.replace_sealed([("aa", old, b"new"), ("bb", b"stale", b"lost")]) == 1
    again = store.key("aa")
    assert again is not None and again.sealed == b"new"


def principal(account_id: str) -> Principal:
    return Principal(
        Account(account_id, f"{account_id}@example.com", "customer", "active", 0.0),
        frozenset({"storage:write"}),
    )


def test_use_cases_over_the_store(store: KmsKeyStore) -> None:
    box = SecretBox(new_key())
    kms = KmsKeys(store, box, "eu-west-1")
    mine, theirs = principal("acct-1"), principal("acct-2")
    key = kms.create(mine, "alias/app", "the app's")
    assert key.arn == f"arn:aws:kms:eu-west-1:acct-1:key/{key.id}" and key.enabled
    sealing = kms.for_write("acct-1", "alias/app", bucket_key=True)
    assert sealing.arn == key.arn and len(sealing.key) == 32 and sealing.bucket_key
    stored = store.key(key.id)
    assert stored is not None and sealing.key not in stored.sealed
    assert base64.b64encode(sealing.key) not in stored.sealed
    for named in (key.id, key.arn, "alias/app", "arn:aws:kms:eu-west-1:acct-1:alias/app"):
        assert kms.for_write("acct-1", named, False).key == sealing.key
    # A second process (a new KmsKeys on the same store) opens the same material.
    assert KmsKeys(store, box, "eu-west-1").for_read(key.arn).key == sealing.key
    with pytest.raises(KmsAccessDenied):
        kms.for_write("acct-2", key.arn, False)
    with pytest.raises(KmsKeyNotFound):
        kms.for_write("acct-2", key.id, False)
    with pytest.raises(KmsKeyNotFound):
        kms.get(theirs, key.arn)  # another account's key is "not found" to its REST callers
    default = kms.for_write("acct-2", None, False)
    assert default.arn == kms.for_write("acct-2", "alias/aws/s3", False).arn
    assert [k.alias for k in kms.list(theirs)] == ["alias/aws/s3"]
    kms.disable(mine, key.id)
    with pytest.raises(KmsKeyDisabled):
        kms.for_read(key.arn)
    with pytest.raises(KmsKeyDisabled):
        kms.for_write("acct-1", key.id, False)
    assert kms.enable(mine, "alias/app").enabled
    assert kms.for_read(key.arn).key == sealing.key
