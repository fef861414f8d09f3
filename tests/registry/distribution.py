"""The OCI distribution protocol spoken by hand with ``requests``: what the protocol tests
share. Every answer is checked for the API version header as it arrives, and every refusal
for the spec's error document, so no test can forget either."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

import requests

from tests.live import BURST, LiveServer

API_VERSION = "registry/2.0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
EMPTY_JSON = "application/vnd.oci.empty.v1+json"
_CONFIG_OF = {OCI_MANIFEST: OCI_CONFIG, DOCKER_MANIFEST: DOCKER_CONFIG}
_LAYER_OF = {OCI_MANIFEST: OCI_LAYER, DOCKER_MANIFEST: DOCKER_LAYER}
_serial = itertools.count()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def unique(prefix: str) -> str:
    """A name no other test of the installation uses (registry names are global)."""
    return f"{prefix}{next(_serial)}x{id(_serial) % 10_000}"


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def image_manifest(
    config: bytes, layers: list[bytes], media_type: str = OCI_MANIFEST, **extra: Any
) -> bytes:
    return canonical(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor(_CONFIG_OF[media_type], config),
            "layers": [descriptor(_LAYER_OF[media_type], layer) for layer in layers],
            **extra,
        }
    )


def index_manifest(children: list[tuple[str, bytes]], media_type: str = OCI_INDEX) -> bytes:
    """An index (or Docker manifest list) naming ``children``: (media type, manifest bytes)."""
    platforms = itertools.cycle(("amd64", "arm64", "riscv64"))
    return canonical(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                descriptor(kind, body, platform={"architecture": next(platforms), "os": "linux"})
                for kind, body in children
            ],
        }
    )


@dataclass(frozen=True)
class Tenant:
    """An account with a registry: an API key holding ``registry:write`` and the
    registry's first credential (read-write), as POST /v1/registries answered it."""

    email: str
    key: str
    registry: str
    username: str
    token: str

    def name(self, repository: str) -> str:
        return f"{self.registry}/{repository}"


def new_tenant(server: LiveServer, prefix: str = "reg") -> Tenant:
    email = server.account(f"{unique(prefix)}@example.com")
    server.raise_limits(email, api_rps=BURST, registries=10, registry_credentials=50)
    key = server.api_key(email, scopes=("registry:write",))
    registry = unique(prefix)
    made = requests.post(
        f"{server.api_url}/v1/registries",
        json={"name": registry},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    credential = made.json()["credential"]
    return Tenant(email, key, registry, credential["username"], credential["token"])


def add_registry(server: LiveServer, tenant: Tenant, name: str | None = None) -> str:
    """Another registry of the tenant's account; its name."""
    name = name or unique("more")
    made = requests.post(
        f"{server.api_url}/v1/registries",
        json={"name": name},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    return name


def control(
    server: LiveServer, tenant: Tenant, method: str, path: str, **body: Any
) -> dict[str, Any]:
    """A call of the REST API as the tenant (credentials of its registry and so on)."""
    answer = requests.request(
        method,
        f"{server.api_url}/v1/registries/{tenant.registry}{path}",
        json=body or None,
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=30,
    )
    assert answer.status_code in (200, 201), answer.text
    found: dict[str, Any] = answer.json()
    return found


class Oci:
    """One caller of the registry listener."""

    def __init__(
        self,
        server: LiveServer,
        basic: tuple[str, str] | None = None,
        bearer: str | None = None,
    ) -> None:
        self.base = f"http://127.0.0.1:{server.registry_port}"
        self.session = requests.Session()
        if basic is not None:
            self.session.auth = basic
        if bearer is not None:
            self.session.headers["Authorization"] = f"Bearer {bearer}"

    @staticmethod
    def of(server: LiveServer, tenant: Tenant) -> Oci:
        return Oci(server, basic=(tenant.username, tenant.token))

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        answer = self.session.request(method, url, timeout=60, allow_redirects=False, **kwargs)
        assert answer.headers.get("Docker-Distribution-API-Version") == API_VERSION, (
            method,
            path,
            answer.status_code,
            dict(answer.headers),
        )
        return answer

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("HEAD", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # pushing -----------------------------------------------------------------------------

    def start_upload(self, name: str) -> str:
        """POST an upload session; its Location."""
        started = self.post(f"/v2/{name}/blobs/uploads/", headers={"Content-Length": "0"})
        assert started.status_code == 202, started.text
        location: str = started.headers["Location"]
        return location

    def push_blob(self, name: str, data: bytes, digest: str | None = None) -> str:
        """POST then PUT (the monolithic upload); the blob's digest."""
        digest = digest or sha256(data)
        location = self.start_upload(name)
        done = self.put(
            location,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        return digest

    def push_manifest(
        self, name: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST
    ) -> requests.Response:
        return self.put(
            f"/v2/{name}/manifests/{reference}", data=body, headers={"Content-Type": media_type}
        )

    def push_image(
        self,
        name: str,
        reference: str,
        layers: list[bytes],
        media_type: str = OCI_MANIFEST,
        **extra: Any,
    ) -> tuple[str, bytes]:
        """Push blobs and manifest of an image; (the manifest's digest, its bytes)."""
        config = canonical({"architecture": "amd64", "os": "linux", "layers": len(layers)})
        for data in (config, *layers):
            self.push_blob(name, data)
        body = image_manifest(config, layers, media_type, **extra)
        pushed = self.push_manifest(name, reference, body, media_type)
        assert pushed.status_code == 201, pushed.text
        assert pushed.headers["Docker-Content-Digest"] == sha256(body)
        return sha256(body), body


def assert_error(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is the spec's error document with ``code`` (its first error returned)."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["Content-Type"].startswith("application/json"), answer.headers
    if answer.request.method == "HEAD":
        assert answer.content == b""
        return {}
    errors = answer.json()["errors"]
    assert isinstance(errors, list) and errors, answer.text
    for error in errors:
        assert set(error) <= {"code", "message", "detail"}, error
        assert isinstance(error["message"], str) and error["message"]
    assert errors[0]["code"] == code, answer.text
    first: dict[str, Any] = errors[0]
    return first
