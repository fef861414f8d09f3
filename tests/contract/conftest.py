"""The implementations every contract runs against: SQLite (one database holds the tables of
both stores) and memory (the account store lends its lookup and the auth generation)."""

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
from nexq.storage.metadata.memory import MemoryMetadata
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.metadata.sqlite import SqliteMetadata

Stores = tuple[MetadataStore, AccountStore]


def sqlite(tmp_path: Path) -> tuple[Stores, Callable[[], None]]:
    db = Database(tmp_path / "meta.db", tmp_path, SCHEMAS)
    return (SqliteMetadata(db), SqliteAccounts(db)), db.close


def memory(tmp_path: Path) -> tuple[Stores, Callable[[], None]]:
    generation = AuthGeneration()
    accounts = MemoryAccounts(generation)
    return (MemoryMetadata(accounts.get_account, generation), accounts), lambda: None


IMPLEMENTATIONS = {"sqlite": sqlite, "memory": memory}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """A metadata store and an account store that see the same accounts."""
    made, close = IMPLEMENTATIONS[request.param](tmp_path)
    yield made
    close()
