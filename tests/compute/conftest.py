"""Compute's fixtures: key pairs made by ssh-keygen once per module, customers with API keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import api, fresh_email
from tests.cli.conftest import Dcp, admin_api_key, api_url, isolated_env, new_account
from tests.compute.keys import KeyPair, keygen
from tests.live import BURST, LiveServer


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> list[KeyPair]:
    """An Ed25519, an RSA 3072 and an ECDSA key pair, as a user makes them."""
    folder = tmp_path_factory.mktemp("keys")
    return [
        keygen(folder / "a", "ed25519"),
        keygen(folder / "b", "rsa", 3072, "ci@build"),
        keygen(folder / "c", "ecdsa", 384, ""),
    ]


def customer(server: LiveServer, **limits: int | str) -> str:
    email = server.account(fresh_email("compute"))
    server.raise_limits(email, api_rps=BURST, **limits)
    return email


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    """A fresh customer (no key yet), with an every-scope API key."""
    with api(server, server.api_key(customer(server))) as made:
        yield made


@pytest.fixture
def user(server: LiveServer, tmp_path: Path) -> Dcp:
    """dcp configured with an every-scope key of a fresh customer."""
    dcp = Dcp(isolated_env(tmp_path), tmp_path)
    dcp("config", "set", "api-url", api_url(server))
    dcp("config", "set", "api-key", admin_api_key(server, new_account(server))["token"])
    return dcp


# The console tests' browser (one Debian Chromium per package) and its fresh tabs.
from tests.console.conftest import chromium, tab  # noqa: E402, F401 - fixtures, by name
