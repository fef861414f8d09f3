"""The DataKeyStore contract (core.data_keys): SQLite, PostgreSQL and memory alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexq.app import SCHEMAS
from nexq.core.crypto import SecretBox, new_key
from nexq.core.data_keys import DataKeys, DataKeyStore, MemoryDataKeys, SqlDataKeys
from nexq.core.db import Database
from nexq.core.postgres import PostgresDatabase
from tests.postgres import PostgresServer


def sqlite(_: pytest.FixtureRequest, tmp_path: Path) -> tuple[DataKeyStore, Callable[[], None]]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    return SqlDataKeys(db), db.close


def postgresql(request: pytest.FixtureRequest, _: Path) -> tuple[DataKeyStore, Callable[[], None]]:
    server: PostgresServer = request.getfixturevalue("postgres")
    db = PostgresDatabase(server.new_database(), SCHEMAS, migrate_schema=True)
    return SqlDataKeys(db), db.close


IMPLEMENTATIONS = {
    "sqlite": sqlite,
    "postgresql": postgresql,
    "memory": lambda _, __: (MemoryDataKeys(), lambda: None),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DataKeyStore]:
    made, close = IMPLEMENTATIONS[request.param](request, tmp_path)
    yield made
    close()


def test_keys_are_listed_oldest_first_and_paged_by_id(store: DataKeyStore) -> None:
    store.add_data_key("bb", b"\x00second", 2.0)
    store.add_data_key("aa", b"\x00third", 3.0)
    store.add_data_key("cc", b"\x00first", 1.0)
    assert store.data_keys() == [("cc", b"\x00first"), ("bb", b"\x00second"), ("aa", b"\x00third")]
    assert store.sealed_page("", 2) == [("aa", b"\x00third"), ("bb", b"\x00second")]
    assert store.sealed_page("bb", 2) == [("cc", b"\x00first")]


def test_a_rewrap_replaces_only_what_it_read(store: DataKeyStore) -> None:
    store.add_data_key("aa", b"old", 1.0)
    assert store.replace_sealed([("aa", b"old", b"new"), ("aa", b"stale", b"lost")]) == 1
    assert store.replace_sealed([("zz", b"old", b"new")]) == 0
    assert store.data_keys() == [("aa", b"new")]


def test_every_process_agrees_on_the_first_key(store: DataKeyStore) -> None:
    box = SecretBox(new_key())
    first, second = DataKeys(box, store), DataKeys(box, store)
    kid, cipher = first.current()
    assert second.current()[0] == kid  # made once, found by the next process
    assert second.cipher(kid).decrypt(b"0" * 12, cipher.encrypt(b"0" * 12, b"k", None), None)
    assert len(store.data_keys()) == 1
    with pytest.raises(LookupError):
        first.cipher(b"\x00" * 8)
