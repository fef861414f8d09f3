"""The implementations every contract runs against: SQLite and PostgreSQL (one database holds
the tables of both stores; the same SQL stores on either engine) and memory (the account
store lends its lookup and the auth generation)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexq.accounts.memory import MemoryAccounts
from nexq.accounts.port import AccountStore
from nexq.accounts.sqlite import SqliteAccounts
from nexq.app import SCHEMAS
from nexq.core.db import Database
from nexq.core.generation import AuthGeneration
from nexq.core.postgres import PostgresDatabase
from nexq.storage.metadata.memory import MemoryMetadata
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.metadata.sqlite import SqliteMetadata
from tests.postgres import PostgresServer

Stores = tuple[MetadataStore, AccountStore]


def sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Stores, Callable[[], None]]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    return (SqliteMetadata(db), SqliteAccounts(db)), db.close


def postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Stores, Callable[[], None]]:
    server: PostgresServer = request.getfixturevalue("postgres")
    db = PostgresDatabase(server.new_database(), SCHEMAS, migrate_schema=True)
    return (SqliteMetadata(db), SqliteAccounts(db)), db.close


def memory(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Stores, Callable[[], None]]:
    generation = AuthGeneration()
    accounts = MemoryAccounts(generation)
    store = MemoryMetadata(accounts.get_account, generation, accounts.find_account)
    return (store, accounts), lambda: None


IMPLEMENTATIONS = {"sqlite": sqlite, "postgresql": postgresql, "memory": memory}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """A metadata store and an account store that see the same accounts."""
    made, close = IMPLEMENTATIONS[request.param](request, tmp_path)
    yield made
    close()
