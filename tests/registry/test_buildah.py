"""buildah, as a CI job without a daemon uses it, against Nexq's Container Registry: an image
built from scratch offline, pushed with a registry credential, pulled and run by podman; a
read-only credential's push refused in words the user can act on. One live server serves
the module."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer
from tests.registry.buildah import Buildah
from tests.registry.clients import Podman
from tests.registry.images import BUSYBOX, OCI_MANIFEST
from tests.registry.live_registry import NexqRegistry, open_registry

MESSAGE = "built by buildah"
IMAGE = "localhost/built/app:latest"


@pytest.fixture(scope="module")
def builders(server: LiveServer) -> NexqRegistry:
    return open_registry(server, "builders")


@pytest.fixture
def buildah(tmp_path: Path) -> Iterator[Buildah]:
    """buildah holding IMAGE: busybox-static alone, whose command prints MESSAGE."""
    with Buildah(tmp_path / "buildah") as client:
        client.build_from_scratch(
            IMAGE, {"/bin/busybox": BUSYBOX}, ["/bin/busybox", "echo", MESSAGE]
        )
        yield client


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    with Podman(tmp_path / "podman") as client:
        yield client


def manifest(registry: NexqRegistry, repository: str, reference: str) -> httpx.Response:
    auth = (registry.login.username, registry.login.token)
    path = f"/v2/{registry.name}/{repository}/manifests/{reference}"
    with httpx.Client(base_url=registry.base, auth=auth, timeout=30) as http:
        return http.get(path, headers={"Accept": OCI_MANIFEST})


def test_an_image_buildah_built_and_pushed_pulls_and_runs_with_podman(
    builders: NexqRegistry, buildah: Buildah, podman: Podman
) -> None:
    buildah.login(builders.host, builders.login.username, builders.login.token)
    remote = builders.ref("built/app:1")
    digest = buildah.push(IMAGE, remote)

    stored = manifest(builders, "built/app", "1")
    assert stored.status_code == 200, stored.text
    assert stored.headers["content-type"] == OCI_MANIFEST  # buildah's default format, kept
    assert f"sha256:{hashlib.sha256(stored.content).hexdigest()}" == digest

    # podman's store is its own: what it runs can only come from the registry
    podman.login(builders.host, builders.login.username, builders.login.token)
    podman.pull(remote)
    assert podman.run(remote) == f"{MESSAGE}\n"


def test_a_read_only_credentials_buildah_push_is_refused(
    builders: NexqRegistry, buildah: Buildah
) -> None:
    ci = builders.add_credential("ci-reader", access="read")
    buildah.login(builders.host, ci.username, ci.token)

    remote = builders.ref("built/app:read-only")
    refused = buildah("push", "--tls-verify=false", IMAGE, f"docker://{remote}", check=False)
    assert refused.returncode != 0
    # the registry's own words, naming the repository, after containers/image's "denied: "
    refusal = f"denied: {builders.name}/built/app: this credential is read-only"
    assert refusal in refused.stderr, refused.stderr
    assert manifest(builders, "built/app", "read-only").status_code == 404
