"""The Databases suites' fixtures: an account's API client on the module's server (a module
may give its own, on a server of its own), and the installation's CA certificate from it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.databases.live_databases import account_api, ca_file
from tests.live import LiveServer


@pytest.fixture(scope="module")
def api(server: LiveServer) -> httpx.Client:
    return account_api(server)


@pytest.fixture(scope="module")
def ca(api: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca_file(api, tmp_path_factory.mktemp("ca"))
