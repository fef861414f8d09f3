"""Shared fixtures: one live server per test module, accounts and keys made through the CLI."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import Key, LiveServer

_names = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("nexq") / "data")
    live.data_dir.mkdir()
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def owner(server: LiveServer) -> Key:
    """An account with an All Buckets key."""
    return server.key(server.account(f"owner{next(_names)}@example.com"))


@pytest.fixture(scope="module")
def s3(server: LiveServer, owner: Key) -> Any:
    return server.client(owner)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh, empty bucket of the owner."""
    name = f"bucket-{next(_names)}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def data_dir(server: LiveServer) -> Path:
    return server.data_dir
