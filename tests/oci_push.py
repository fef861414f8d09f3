"""The OCI distribution protocol spoken by hand, as docker speaks it: a bearer token from the
registry's /v2/token for a username and token, then blobs and a manifest pushed with plain
HTTP. For tests that need images in a registry without starting a container engine."""

from __future__ import annotations

import hashlib
import json

import httpx

from tests.live import LiveServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def registry_url(server: LiveServer) -> str:
    return f"http://127.0.0.1:{server.registry_port}"


def token_response(server: LiveServer, username: str, token: str) -> httpx.Response:
    """What the registry's token endpoint answers to these Basic credentials."""
    return httpx.get(f"{registry_url(server)}/v2/token", auth=(username, token), timeout=30)


def bearer(server: LiveServer, username: str, token: str) -> dict[str, str]:
    answer = token_response(server, username, token)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def push_image(
    server: LiveServer,
    username: str,
    token: str,
    name: str,
    tag: str,
    layers: list[bytes],
) -> str:
    """Push an image of ``layers`` to ``name`` (``registry/repository``) as ``tag``; its
    manifest's digest."""
    headers = bearer(server, username, token)
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    with httpx.Client(base_url=registry_url(server), headers=headers, timeout=30) as oci:
        for blob in (config, *layers):
            pushed = oci.post(
                f"/v2/{name}/blobs/uploads/", params={"digest": digest_of(blob)}, content=blob
            )
            assert pushed.status_code == 201, pushed.text
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
                    for layer in layers
                ],
            }
        ).encode()
        put = oci.put(
            f"/v2/{name}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 201, put.text
        assert put.headers["Docker-Content-Digest"] == digest_of(manifest)
        return digest_of(manifest)


def start_upload(server: LiveServer, username: str, token: str, name: str) -> httpx.Response:
    """The first step of a push (POST .../blobs/uploads/), answered as it is."""
    return httpx.post(
        f"{registry_url(server)}/v2/{name}/blobs/uploads/",
        headers=bearer(server, username, token),
        timeout=30,
    )
