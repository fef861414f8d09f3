"""Compute's SSH key store on both SQL engines (SQLite, PostgreSQL) and in memory: one
default per account, names and keys unique per account, the limit counted in the write."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from nexq.app import SCHEMAS
from nexq.compute.errors import NoSuchSshKey, SshKeyAdded, SshKeyNameTaken
from nexq.compute.memory import MemorySshKeys
from nexq.compute.model import SSH_KEYS_LIMIT, SshKey
from nexq.compute.port import SshKeyStore
from nexq.compute.sql_ssh_keys import SqlSshKeys
from nexq.core.db import Database
from nexq.core.errors import QuotaExceeded
from nexq.core.postgres import PostgresDatabase
from tests.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SshKeyStore]:
    if request.param == "memory":
        yield MemorySshKeys()
        return
    if request.param == "sqlite":
        db: Database | PostgresDatabase = Database(tmp_path / "meta.db", SCHEMAS)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        db = PostgresDatabase(server.new_database(), SCHEMAS, migrate_schema=True)
    yield SqlSshKeys(db)
    db.close()


def key(n: int, account: str = "acc-a", name: str | None = None) -> SshKey:
    return SshKey(
        id=f"key-{account}-{n}",
        account_id=account,
        name=name or f"key {n}",
        public_key=f"ssh-ed25519 AAAA{n} c{n}",
        kind="ED25519",
        bits=256,
        fingerprint=f"SHA256:{account}{n}",
        comment=f"c{n}",
        default=False,
        created_at=1000.0 + n,
    )


def defaults(store: SshKeyStore, account: str = "acc-a") -> list[str]:
    return [k.name for k in store.list_ssh_keys(account) if k.default]


def test_the_first_key_is_the_default_and_the_rest_are_not(store: SshKeyStore) -> None:
    first = store.add_ssh_key(key(1), None)
    assert first.default
    second = store.add_ssh_key(replace(key(2), default=True), None)  # the store decides
    assert not second.default
    assert store.list_ssh_keys("acc-a") == [first, second]
    assert store.get_ssh_key(second.id) == second
    assert store.get_ssh_key("nothing") is None
    # another account's first key is its own default
    assert store.add_ssh_key(key(1, "acc-b"), None).default
    assert defaults(store) == ["key 1"] and defaults(store, "acc-b") == ["key 1"]
    assert store.count_ssh_keys("acc-a") == 2 and store.count_ssh_keys("nobody") == 0


def test_names_and_keys_are_unique_per_account(store: SshKeyStore) -> None:
    store.add_ssh_key(key(1, name="laptop"), None)
    with pytest.raises(SshKeyNameTaken, match="'laptop'"):
        store.add_ssh_key(key(2, name="laptop"), None)
    with pytest.raises(SshKeyAdded, match="named 'laptop'"):
        store.add_ssh_key(replace(key(3), fingerprint=key(1).fingerprint), None)
    # the same name and the same key in another account
    other = replace(key(1, "acc-b", "laptop"), fingerprint=key(1).fingerprint)
    store.add_ssh_key(other, None)
    desk = store.add_ssh_key(key(4, name="desk"), None)
    with pytest.raises(SshKeyNameTaken):
        store.rename_ssh_key(desk, "laptop")
    assert store.rename_ssh_key(desk, "desk").name == "desk"  # its own name again
    renamed = store.rename_ssh_key(desk, "workstation")
    assert renamed.name == "workstation" and store.get_ssh_key(desk.id) == renamed
    assert [k.name for k in store.list_ssh_keys("acc-a")] == ["laptop", "workstation"]


def test_exactly_one_default_through_changes_and_deletes(store: SshKeyStore) -> None:
    keys = [store.add_ssh_key(key(n), None) for n in range(1, 5)]
    made = store.set_default_ssh_key(keys[2])
    assert made.default and defaults(store) == ["key 3"]
    assert store.set_default_ssh_key(keys[2]).default and defaults(store) == ["key 3"]
    # deleting a key that is not the default changes nothing else
    assert store.delete_ssh_key(keys[1]) is None
    assert defaults(store) == ["key 3"]
    # deleting the default: the oldest remaining key becomes it
    successor = store.delete_ssh_key(keys[2])
    assert successor is not None and successor.id == keys[0].id and successor.default
    assert defaults(store) == ["key 1"]
    assert store.delete_ssh_key(keys[0]) is not None
    assert defaults(store) == ["key 4"]
    assert store.delete_ssh_key(keys[3]) is None  # the last one: no key left
    assert store.list_ssh_keys("acc-a") == []
    # the next key added is the default again
    assert store.add_ssh_key(key(9), None).default


def test_a_deleted_key_cannot_be_renamed_or_made_the_default(store: SshKeyStore) -> None:
    first = store.add_ssh_key(key(1), None)
    gone = store.add_ssh_key(key(2), None)
    store.delete_ssh_key(gone)
    with pytest.raises(NoSuchSshKey):
        store.rename_ssh_key(gone, "back")
    with pytest.raises(NoSuchSshKey):
        store.set_default_ssh_key(gone)
    assert defaults(store) == [first.name]


def test_the_limit_is_counted_in_the_write_even_under_concurrency(store: SshKeyStore) -> None:
    store.add_ssh_key(key(1), 2)
    store.add_ssh_key(key(2), 2)
    with pytest.raises(QuotaExceeded, match="2 SSH keys") as refused:
        store.add_ssh_key(key(3), 2)
    assert refused.value.limit == SSH_KEYS_LIMIT
    errors: list[BaseException] = []

    def add(n: int) -> None:
        try:
            store.add_ssh_key(key(n, "acc-c"), 3)
        except QuotaExceeded as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count_ssh_keys("acc-c") == 3 and len(errors) == 7
    assert len(defaults(store, "acc-c")) == 1
