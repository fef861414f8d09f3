"""Shared fixtures: one live server per test module, accounts and keys made through the CLI."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ceph import CephCluster
from tests.cluster.nodes import BalancedServer
from tests.live import BURST, Key, LiveServer
from tests.postgres import PostgresServer
from tests.scheduling import handing_out_order

_names = itertools.count()

# `make unit` selects these folders by path, so none of their tests may start a server.
WITHOUT_SERVER = ("unit", "contract")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        folder = _folder(item, tests)
        if folder in WITHOUT_SERVER and "server" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(
                f"{item.nodeid} starts a live server: tests/{folder} runs without one "
                "(make unit); move it under tests/api, tests/compat or tests/console."
            )
    items[:] = handing_out_order(items, tests)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report ends with what its live servers logged: a failure seen only in
    CI's output can then be told apart (a slow machine, a job that failed, a crash)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for server in _live_servers(getattr(item, "funcargs", {})):
        report.sections.append((f"nexq serve on :{server.s3_port}", server.last_words()))


def _live_servers(values: dict[str, Any]) -> list[LiveServer]:
    """The live servers among a test's fixtures, and those of fixtures that hold one (a
    browser tab's ``server``), each once."""
    found: dict[int, LiveServer] = {}
    for value in values.values():
        for candidate in (value, getattr(value, "server", None)):
            if isinstance(candidate, LiveServer):
                found[id(candidate)] = candidate
    return list(found.values())


def _folder(item: pytest.Item, tests: Path) -> str:
    return item.path.relative_to(tests).parts[0] if item.path.is_relative_to(tests) else ""


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server per test process (each test asks it for a database of its own)."""
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ceph() -> Iterator[CephCluster]:
    """One single-node Ceph cluster per test process (each test asks it for a namespace)."""
    cluster = CephCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live server per module. With NEXQ_TEST_DATABASE=postgresql its metadata is in a
    PostgreSQL database of its own; with NEXQ_TEST_CLUSTER=1 it is three nodes on
    PostgreSQL and Ceph behind nginx (make test-cluster)."""
    data_dir = tmp_path_factory.mktemp("nexq") / "data"
    live: LiveServer
    if os.environ.get("NEXQ_TEST_CLUSTER") == "1":
        cluster: CephCluster = request.getfixturevalue("ceph")
        live = BalancedServer(
            data_dir,
            database_url=request.getfixturevalue("postgres").new_database(),
            blobs_url=cluster.url(cluster.new_namespace()),
        )
    elif os.environ.get("NEXQ_TEST_DATABASE") == "postgresql":
        live = LiveServer(data_dir, database_url=request.getfixturevalue("postgres").new_database())
    else:
        live = LiveServer(data_dir)
    live.data_dir.mkdir()
    live.start()
    yield live
    live.stop()
    # Its guests outlive it: without this they keep their memory until the phase ends.
    live.remove_instances()
    live.remove_databases()
    if isinstance(live, BalancedServer):
        live.close()


@pytest.fixture(scope="module")
def owner(server: LiveServer) -> Key:
    """A Free account with an All Buckets key, shared by the tests of a module. Raised limits:
    - buckets: the ``bucket`` fixture gives every test a bucket of its own (never deleted, so
      a module holds dozens; Free has 10);
    - s3_read_rps, s3_write_rps: lifted, so that no test depends on the rates a tier ships
      (tests/compat/test_quotas.py tests the rates themselves, lowered on purpose)."""
    email = server.account(f"owner{next(_names)}@example.com")
    server.raise_limits(email, buckets=100, s3_read_rps=BURST, s3_write_rps=BURST)
    return server.key(email)


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
