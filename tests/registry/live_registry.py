"""A registry of Nexq's as a user gets one: an account, an API key with ``registry:write``,
``POST /v1/registries``, and the credential the answer shows once."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import httpx

from tests.live import LiveServer

_accounts = itertools.count()


@dataclass(frozen=True)
class Login:
    """A registry credential: what ``docker login`` is given."""

    id: str
    username: str
    token: str


@dataclass(frozen=True)
class NexqRegistry:
    server: LiveServer
    api_key: str
    name: str
    login: Login  # the default (read-write) credential made with the registry

    @property
    def host(self) -> str:
        """What ``docker login`` names: the registry listener, without a scheme."""
        return f"127.0.0.1:{self.server.registry_port}"

    @property
    def base(self) -> str:
        return f"http://{self.host}"

    def ref(self, repository: str) -> str:
        """``repository[:tag]`` of this registry as clients name it."""
        return f"{self.host}/{self.name}/{repository}"

    def api(self) -> httpx.Client:
        """The REST API as the registry's account (its API key)."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.Client(base_url=self.server.api_url, headers=headers, timeout=30)

    def call(self, method: str, path: str, **body: Any) -> Any:
        """``/v1/registries/NAME`` + ``path``; the JSON answer of a 2xx (asserted)."""
        with self.api() as api:
            answer = api.request(method, f"/v1/registries/{self.name}{path}", json=body or None)
        assert answer.is_success, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def add_credential(self, label: str, access: str = "write") -> Login:
        issued = self.call("POST", "/credentials", label=label, access=access)
        return Login(issued["id"], issued["username"], issued["token"])

    def rotate(self, login: Login) -> Login:
        issued = self.call("POST", f"/credentials/{login.id}/rotate")
        assert issued["username"] == login.username
        return Login(issued["id"], issued["username"], issued["token"])


def open_registry(server: LiveServer, name: str) -> NexqRegistry:
    """A new account of ``server`` with a registry ``name``, made through the REST API."""
    email = server.account(f"registry{next(_accounts)}-{os.getpid()}@example.com")
    key = server.api_key(email, "registry", ("registry:write",))
    with httpx.Client(base_url=server.api_url, timeout=30) as api:
        answer = api.post(
            "/v1/registries", json={"name": name}, headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["endpoint"] == f"127.0.0.1:{server.registry_port}/{name}", made
    credential = made["credential"]
    login = Login(credential["id"], credential["username"], credential["token"])
    return NexqRegistry(server, key, name, login)
