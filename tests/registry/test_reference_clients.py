"""Real OCI clients against the reference registry (Debian's docker-registry, the CNCF
distribution): the harness of clients.py and images.py proven, and the template of
test_clients.py, which runs the same steps against Nexq's registry.

The refusals are checked on the clients' own words, since they are what a user reads."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry.clients import (
    Docker,
    DockerDaemon,
    Podman,
    ReferenceRegistry,
    Skopeo,
    dockerd_problem,
    mounts_under,
    processes_under,
)
from tests.registry.images import (
    GREETING,
    OCI_INDEX,
    build_busybox_image,
    build_layered_image,
    build_multi_arch_image,
    layout_blobs,
    layout_digest,
)

WRONG_PASSWORD = "not-the-password"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceRegistry]:
    with ReferenceRegistry(tmp_path_factory.mktemp("registry")) as registry:
        yield registry


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox_image(tmp_path_factory.mktemp("busybox"))


@pytest.fixture
def skopeo(tmp_path: Path, registry: ReferenceRegistry) -> Skopeo:
    """skopeo logged in to the registry."""
    client = Skopeo(tmp_path / "skopeo")
    client.login(registry.host, registry.user, registry.password)
    return client


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    with Podman(tmp_path / "podman") as client:
        yield client


def digest_of(raw: str) -> str:
    return f"sha256:{hashlib.sha256(raw.encode()).hexdigest()}"


def logged_in(client_home: Path, host: str) -> bool:
    return host in (client_home / "auth.json").read_text()


def test_images_are_built_byte_for_byte_alike(tmp_path: Path, busybox: Path) -> None:
    again = build_busybox_image(tmp_path / "again")
    assert layout_digest(again) == layout_digest(busybox)
    manifest = json.loads((again / "blobs" / layout_digest(again).replace(":", "/")).read_text())
    (layer,) = manifest["layers"]
    compressed = (again / "blobs" / layer["digest"].replace(":", "/")).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(compressed))) as tar:
        member = tar.getmember("bin/busybox")
        assert member.mode == 0o755 and member.mtime == 0 and member.size > 100_000


def test_skopeo_copies_an_image_there_and_back_keeping_its_digest(
    registry: ReferenceRegistry, busybox: Path, skopeo: Skopeo, tmp_path: Path
) -> None:
    remote = registry.ref("ns/busybox:1")
    skopeo.push(busybox, remote)
    assert digest_of(skopeo.inspect_raw(remote)) == layout_digest(busybox)

    back = skopeo.pull(remote, tmp_path / "back")
    assert layout_digest(back) == layout_digest(busybox)
    assert layout_blobs(back) == layout_blobs(busybox)


def test_skopeo_is_refused_without_credentials_and_with_a_wrong_password(
    registry: ReferenceRegistry, busybox: Path, tmp_path: Path
) -> None:
    anonymous = Skopeo(tmp_path / "anonymous")
    pushed = anonymous.push(busybox, registry.ref("ns/anonymous:1"), check=False)
    assert pushed.returncode != 0
    assert "authentication required" in pushed.stderr

    wrong = anonymous.login(registry.host, registry.user, WRONG_PASSWORD, check=False)
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr
    assert not logged_in(anonymous.home, registry.host)


def test_podman_logs_in_pushes_pulls_and_runs(
    registry: ReferenceRegistry, busybox: Path, podman: Podman
) -> None:
    podman.login(registry.host, registry.user, registry.password)
    assert logged_in(podman.home, registry.host)
    remote = registry.ref("ns/podman:1")
    podman.push(busybox, remote)
    podman.remove_images()  # so that the run below can only use what the pull fetched

    podman.pull(remote)
    assert podman.run(remote) == f"{GREETING}\n"


def test_podman_is_refused_after_logout_and_with_a_wrong_password(
    registry: ReferenceRegistry, busybox: Path, skopeo: Skopeo, podman: Podman
) -> None:
    remote = registry.ref("ns/private:1")
    skopeo.push(busybox, remote)
    podman.login(registry.host, registry.user, registry.password)
    podman.pull(remote)
    podman.logout(registry.host)
    podman.remove_images()

    refused = podman.pull(remote, check=False)
    assert refused.returncode != 0
    assert "authentication required" in refused.stderr

    wrong = podman.login(registry.host, registry.user, WRONG_PASSWORD, check=False)
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr
    assert not logged_in(podman.home, registry.host)


def test_docker_logs_in_pulls_runs_and_pushes(
    registry: ReferenceRegistry, busybox: Path, skopeo: Skopeo, tmp_path: Path
) -> None:
    problem = dockerd_problem(tmp_path / "probe")
    assert problem is None, problem
    remote = registry.ref("ns/busybox-for-docker:1")
    skopeo.push(busybox, remote)

    with DockerDaemon(tmp_path / "dockerd") as daemon:
        docker = Docker(tmp_path / "docker", daemon)
        wrong = docker.login(registry.host, registry.user, WRONG_PASSWORD, check=False)
        assert wrong.returncode != 0
        assert "401 Unauthorized" in wrong.stderr
        docker.login(registry.host, registry.user, registry.password)

        docker.pull(remote)
        assert docker.run(remote) == f"{GREETING}\n"

        pushed = registry.ref("ns/docker:1")
        digest = docker.push(remote, pushed)
        assert digest_of(skopeo.inspect_raw(pushed)) == digest

        docker.logout(registry.host)
        docker.remove_images(remote, pushed)
        refused = docker.pull(pushed, check=False)
        assert refused.returncode != 0
        assert "no basic auth credentials" in refused.stderr

    assert not daemon.run_dir.exists() and not daemon.root.exists()
    assert processes_under(daemon.run_dir) == [] and mounts_under(daemon.run_dir) == []


def test_a_multi_arch_index_keeps_both_platforms(
    registry: ReferenceRegistry, skopeo: Skopeo, podman: Podman, tmp_path: Path
) -> None:
    layout = build_multi_arch_image(tmp_path / "multi")
    remote = registry.ref("ns/multi:1")
    skopeo.push(layout, remote)

    raw = skopeo.inspect_raw(remote)
    index = json.loads(raw)
    assert index["mediaType"] == OCI_INDEX
    platforms = [(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]]
    assert platforms == [("linux", "amd64"), ("linux", "arm64")]
    assert digest_of(raw) == layout_digest(layout)
    assert skopeo.inspect(remote, architecture="arm64")["Architecture"] == "arm64"

    back = skopeo.pull(remote, tmp_path / "back")
    assert layout_digest(back) == layout_digest(layout)
    assert layout_blobs(back) == layout_blobs(layout)

    # podman picks this machine's platform out of the index
    podman.login(registry.host, registry.user, registry.password)
    podman.pull(remote)
    assert podman.run(remote) == f"{GREETING}\n"


def test_an_image_of_200_small_layers_goes_there_and_back(
    registry: ReferenceRegistry, skopeo: Skopeo, tmp_path: Path
) -> None:
    layout = build_layered_image(tmp_path / "layers", 200)
    remote = registry.ref("ns/layers:1")
    skopeo.push(layout, remote)
    assert len(json.loads(skopeo.inspect_raw(remote))["layers"]) == 200

    back = skopeo.pull(remote, tmp_path / "back")
    assert layout_digest(back) == layout_digest(layout)
    assert layout_blobs(back) == layout_blobs(layout)
    assert len(layout_blobs(back)) == 202  # the layers, the config and the manifest
