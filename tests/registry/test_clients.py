"""Real OCI clients (skopeo, podman, docker) against Nexq's Container Registry: the steps
test_reference_clients.py proves against the reference registry, and what only Nexq has
(credentials made, scoped, rotated through the REST API; accounts that cannot see each
other). One live server and one dockerd serve the whole module.

The refusals are checked on the clients' own words, since they are what a user reads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer
from tests.registry.clients import Ctr, Docker, DockerDaemon, Podman, Skopeo
from tests.registry.images import (
    GREETING,
    OCI_INDEX,
    OCI_MANIFEST,
    SBOM,
    build_artifact,
    build_busybox_image,
    build_layered_image,
    build_multi_arch_image,
    layout_blobs,
    layout_digest,
)
from tests.registry.live_registry import NexqRegistry, open_registry

WRONG_TOKEN = "nxr_not-the-token-of-anyone"
# What containers/image (skopeo, podman) and docker print when a login is refused.
REFUSED_LOGIN = "invalid username/password"
DOCKER_REFUSED_LOGIN = "unauthorized: The username or token is not valid."


@pytest.fixture(scope="module")
def team(server: LiveServer) -> NexqRegistry:
    return open_registry(server, "team")


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox_image(tmp_path_factory.mktemp("busybox"))


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerDaemon]:
    with DockerDaemon(tmp_path_factory.mktemp("dockerd")) as daemon:
        yield daemon


@pytest.fixture
def skopeo(tmp_path: Path, team: NexqRegistry) -> Skopeo:
    """skopeo logged in to the team's registry with its default credential."""
    client = Skopeo(tmp_path / "skopeo")
    client.login(team.host, team.login.username, team.login.token)
    return client


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    with Podman(tmp_path / "podman") as client:
        yield client


@pytest.fixture
def docker(tmp_path: Path, dockerd: DockerDaemon) -> Docker:
    """The docker CLI with credentials of its own; the images it pulls are the module's
    dockerd's, so each test removes the ones it made."""
    return Docker(tmp_path / "docker", dockerd)


def digest_of(raw: str) -> str:
    return f"sha256:{hashlib.sha256(raw.encode()).hexdigest()}"


def logged_in(client_home: Path, host: str) -> bool:
    return host in (client_home / "auth.json").read_text()


def test_the_registry_sends_clients_to_its_own_token_endpoint(team: NexqRegistry) -> None:
    with httpx.Client(base_url=team.base, timeout=30) as http:
        asked = http.get("/v2/")
        assert asked.status_code == 401
        challenge = asked.headers["www-authenticate"]
        assert challenge.startswith(f'Bearer realm="{team.base}/v2/token"'), challenge

        issued = http.get("/v2/token", auth=(team.login.username, team.login.token))
        assert issued.status_code == 200, issued.text
        token = issued.json()["token"]
        assert http.get("/v2/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # Basic works on every endpoint too (clients that never ask for a token)
        assert http.get("/v2/", auth=(team.login.username, team.login.token)).status_code == 200


def test_skopeo_copies_an_image_there_and_back_keeping_its_digest(
    team: NexqRegistry, busybox: Path, skopeo: Skopeo, tmp_path: Path
) -> None:
    remote = team.ref("busybox:1")
    skopeo.push(busybox, remote)
    assert digest_of(skopeo.inspect_raw(remote)) == layout_digest(busybox)

    back = skopeo.pull(remote, tmp_path / "back")
    assert layout_digest(back) == layout_digest(busybox)
    assert layout_blobs(back) == layout_blobs(busybox)


def test_podman_logs_in_pushes_pulls_and_runs(
    team: NexqRegistry, busybox: Path, podman: Podman
) -> None:
    podman.login(team.host, team.login.username, team.login.token)
    assert logged_in(podman.home, team.host)
    remote = team.ref("apps/podman:1")
    podman.push(busybox, remote)
    podman.remove_images()  # so that the run below can only use what the pull fetched

    podman.pull(remote)
    assert podman.run(remote) == f"{GREETING}\n"


def test_docker_logs_in_pulls_runs_and_pushes(
    team: NexqRegistry, busybox: Path, skopeo: Skopeo, docker: Docker
) -> None:
    remote = team.ref("busybox-for-docker:1")
    skopeo.push(busybox, remote)
    docker.login(team.host, team.login.username, team.login.token)

    docker.pull(remote)
    pushed = team.ref("apps/docker:1")
    try:
        assert docker.run(remote) == f"{GREETING}\n"
        digest = docker.push(remote, pushed)
        assert digest_of(skopeo.inspect_raw(pushed)) == digest
    finally:
        docker.remove_images(remote, pushed)

    docker.pull(pushed)  # what docker pushed comes back to docker, and runs
    try:
        assert docker.run(pushed) == f"{GREETING}\n"
    finally:
        docker.remove_images(pushed)


def test_containerd_pulls_with_a_credential_as_a_kubernetes_node_does(
    team: NexqRegistry, busybox: Path, skopeo: Skopeo, dockerd: DockerDaemon, tmp_path: Path
) -> None:
    """containerd asks the token endpoint with an OAuth2 password grant (a POST), not with
    docker's GET: the way a pod's pull secret reaches the registry."""
    remote = team.ref("for-kubernetes:1")
    skopeo.push(busybox, remote)
    ctr = Ctr(tmp_path / "ctr", dockerd)
    try:
        ctr.pull(remote, team.login.username, team.login.token)
        listed = ctr("images", "list").stdout
        assert remote in listed and layout_digest(busybox) in listed

        wrong = ctr.pull(remote, team.login.username, WRONG_TOKEN, check=False)
        assert wrong.returncode != 0
        assert "failed to fetch oauth token: unexpected status: 401" in wrong.stderr
    finally:
        ctr("images", "remove", remote, check=False)


def test_a_multi_arch_index_keeps_both_platforms(
    team: NexqRegistry, skopeo: Skopeo, podman: Podman, tmp_path: Path
) -> None:
    layout = build_multi_arch_image(tmp_path / "multi")
    remote = team.ref("multi:1")
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
    podman.login(team.host, team.login.username, team.login.token)
    podman.pull(remote)
    assert podman.run(remote) == f"{GREETING}\n"


def test_an_image_of_200_small_layers_goes_there_and_back(
    team: NexqRegistry, skopeo: Skopeo, tmp_path: Path
) -> None:
    layout = build_layered_image(tmp_path / "layers", 200)
    remote = team.ref("layers:1")
    skopeo.push(layout, remote)
    assert len(json.loads(skopeo.inspect_raw(remote))["layers"]) == 200

    back = skopeo.pull(remote, tmp_path / "back")
    assert layout_digest(back) == layout_digest(layout)
    assert layout_blobs(back) == layout_blobs(layout)
    assert len(layout_blobs(back)) == 202  # the layers, the config and the manifest


def test_an_artifact_pushed_with_a_subject_is_listed_among_its_referrers(
    team: NexqRegistry, busybox: Path, skopeo: Skopeo, tmp_path: Path
) -> None:
    skopeo.push(busybox, team.ref("signed:1"))
    artifact = build_artifact(tmp_path / "sbom", busybox)
    skopeo.push(artifact, team.ref("signed:sbom"))
    image, sbom = layout_digest(busybox), layout_digest(artifact)

    auth = (team.login.username, team.login.token)
    with httpx.Client(base_url=team.base, auth=auth, timeout=30) as http:
        listed = http.get(f"/v2/{team.name}/signed/referrers/{image}")
        assert listed.status_code == 200, listed.text
        assert listed.headers["content-type"] == OCI_INDEX
        (referrer,) = listed.json()["manifests"]
        assert referrer["digest"] == sbom
        assert referrer["mediaType"] == OCI_MANIFEST
        assert referrer["artifactType"] == SBOM

        other = http.get(f"/v2/{team.name}/signed/referrers/{image}?artifactType=text/plain")
        assert other.json()["manifests"] == []
        assert other.headers["oci-filters-applied"] == "artifactType"

    back = skopeo.pull(team.ref("signed:sbom"), tmp_path / "back")
    assert layout_digest(back) == sbom
    assert layout_blobs(back) == layout_blobs(artifact)


def test_a_manifest_deleted_with_skopeo_no_longer_pulls_by_its_tag(
    team: NexqRegistry, busybox: Path, skopeo: Skopeo, tmp_path: Path
) -> None:
    skopeo.push(busybox, team.ref("short-lived:1"))
    kept = build_layered_image(tmp_path / "kept", 1)
    skopeo.push(kept, team.ref("short-lived:2"))

    # skopeo delete resolves the tag and deletes the manifest by its digest
    skopeo("delete", "--tls-verify=false", f"docker://{team.ref('short-lived:1')}")

    gone = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"docker://{team.ref('short-lived:1')}",
        check=False,
    )
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr
    assert digest_of(skopeo.inspect_raw(team.ref("short-lived:2"))) == layout_digest(kept)
    tags = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{team.ref('short-lived')}").stdout
    )
    assert tags["Tags"] == ["2"]


def test_podman_after_logout_is_told_to_authenticate(
    team: NexqRegistry, busybox: Path, skopeo: Skopeo, podman: Podman
) -> None:
    remote = team.ref("private:1")
    skopeo.push(busybox, remote)
    podman.login(team.host, team.login.username, team.login.token)
    podman.pull(remote)
    podman.logout(team.host)
    podman.remove_images()

    refused = podman.pull(remote, check=False)
    assert refused.returncode != 0
    # Nobody typed a password: "invalid username/password" sends the user after the wrong
    # problem. The reference registry's words (test_reference_clients.py) are the ones meant.
    assert REFUSED_LOGIN not in refused.stderr
    assert "authentication required" in refused.stderr


def test_docker_after_logout_is_told_to_authenticate(
    team: NexqRegistry, busybox: Path, skopeo: Skopeo, docker: Docker
) -> None:
    remote = team.ref("private-docker:1")
    skopeo.push(busybox, remote)
    docker.login(team.host, team.login.username, team.login.token)
    docker.pull(remote)
    docker.logout(team.host)
    docker.remove_images(remote)

    refused = docker.pull(remote, check=False)
    assert refused.returncode != 0
    assert "authentication required" in refused.stderr


def test_a_wrong_token_is_refused_at_login_by_every_client(
    team: NexqRegistry, podman: Podman, docker: Docker, tmp_path: Path
) -> None:
    skopeo = Skopeo(tmp_path / "anonymous")
    for client in (skopeo, podman):
        wrong = client.login(team.host, team.login.username, WRONG_TOKEN, check=False)
        assert wrong.returncode != 0
        assert REFUSED_LOGIN in wrong.stderr
        assert not logged_in(client.home, team.host)

    wrong = docker.login(team.host, team.login.username, WRONG_TOKEN, check=False)
    assert wrong.returncode != 0
    assert DOCKER_REFUSED_LOGIN in wrong.stderr
    unknown = docker.login(team.host, "team+nobody", WRONG_TOKEN, check=False)
    assert DOCKER_REFUSED_LOGIN in unknown.stderr  # no hint that one of the two exists


def test_a_read_only_credential_pulls_but_cannot_push_or_delete(
    team: NexqRegistry, busybox: Path, skopeo: Skopeo, podman: Podman, docker: Docker
) -> None:
    remote = team.ref("read-only:1")
    skopeo.push(busybox, remote)
    ci = team.add_credential("ci", access="read")

    podman.login(team.host, ci.username, ci.token)
    podman.pull(remote)
    assert podman.run(remote) == f"{GREETING}\n"
    pushed = podman("push", "--tls-verify=false", remote, team.ref("read-only:2"), check=False)
    assert pushed.returncode != 0
    assert "denied: " in pushed.stderr and "read-only" in pushed.stderr

    docker.login(team.host, ci.username, ci.token)
    docker.pull(remote)
    try:
        docker("tag", remote, team.ref("read-only:3"))
        refused = docker("push", team.ref("read-only:3"), check=False)
        assert refused.returncode != 0
        assert "denied: " in refused.stderr and "read-only" in refused.stderr
    finally:
        docker.remove_images(remote, team.ref("read-only:3"))

    reader = Skopeo(podman.home.parent / "reader")
    reader.login(team.host, ci.username, ci.token)
    deleted = reader("delete", "--tls-verify=false", f"docker://{remote}", check=False)
    assert deleted.returncode != 0
    assert "403 Forbidden" in deleted.stderr and "read-only" in deleted.stderr
    assert digest_of(skopeo.inspect_raw(remote))  # still there


def test_a_rotated_credentials_old_token_is_refused(
    team: NexqRegistry, busybox: Path, skopeo: Skopeo, podman: Podman, docker: Docker
) -> None:
    remote = team.ref("rotated:1")
    skopeo.push(busybox, remote)
    deploy = team.add_credential("deploy")
    docker.login(team.host, deploy.username, deploy.token)
    docker.pull(remote)
    docker.remove_images(remote)

    rotated = team.rotate(deploy)
    # the login docker stored stops working at once
    stale = docker.pull(remote, check=False)
    assert stale.returncode != 0
    assert DOCKER_REFUSED_LOGIN in stale.stderr

    old = docker.login(team.host, deploy.username, deploy.token, check=False)
    assert old.returncode != 0
    assert DOCKER_REFUSED_LOGIN in old.stderr
    old = podman.login(team.host, deploy.username, deploy.token, check=False)
    assert old.returncode != 0
    assert REFUSED_LOGIN in old.stderr

    podman.login(team.host, rotated.username, rotated.token)
    podman.pull(remote)


def test_another_accounts_registry_is_invisible(
    server: LiveServer, team: NexqRegistry, busybox: Path, skopeo: Skopeo, tmp_path: Path
) -> None:
    theirs = open_registry(server, "theirs")
    owner = Skopeo(tmp_path / "owner")
    owner.login(theirs.host, theirs.login.username, theirs.login.token)
    owner.push(busybox, theirs.ref("busybox:1"))

    # the team's credential names their image, then a registry that exists nowhere
    seen = skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{theirs.ref('busybox:1')}", check=False
    )
    unknown = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"docker://{team.host}/nowhere/busybox:1",
        check=False,
    )
    assert seen.returncode != 0 and unknown.returncode != 0
    assert "name unknown" in seen.stderr
    for hint in ("denied", "forbidden", "unauthorized", "permission"):
        assert hint not in seen.stderr.lower()
    assert (
        seen.stderr.split("msg=")[1].replace("theirs", "nowhere") == unknown.stderr.split("msg=")[1]
    )

    pushed = skopeo.push(busybox, theirs.ref("intruder:1"), check=False)
    assert pushed.returncode != 0
    assert "name unknown" in pushed.stderr
    with httpx.Client(base_url=team.base, timeout=30) as http:
        catalog = http.get("/v2/_catalog", auth=(team.login.username, team.login.token))
    assert catalog.status_code == 200
    assert all(name.startswith("team/") for name in catalog.json()["repositories"])
