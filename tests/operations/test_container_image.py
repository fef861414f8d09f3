"""The container image of packaging/container (issue 19), as an operator meets it: built by its
script from Debian's packages and this work tree, run with podman on a named volume with
published ports, served as the unprivileged uid 10001, used with boto3 after the operator's
`nexq admin` commands in the container, and its data read back after a stop and start and
from a new container on the same volume (an upgrade). docs/operations.md, "Container image".

The base image (localhost/nexq-base:bookworm, debootstrap: a minute or more here) is kept for
the next build, as the script keeps it; the image, container and volume made here are
removed.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "packaging" / "container" / "build"
DOCS = ROOT / "docs" / "operations.md"
BUILD_SECONDS = 1200.0  # here: 1.5 to 2 min cold (the base's debootstrap), 20 to 40 s warm
READY_SECONDS = 120.0
UID = 10001
DATA = "/var/lib/nexq"
MAX_IMAGE_BYTES = 500_000_000  # 400 MB when written: Debian's minbase, Python, the wheels
CAP_SYS_RESOURCE = 24  # linux/capability.h
# What podman itself keeps of the processes limit, and so the most a container may ask for
# without CAP_SYS_RESOURCE (seen in /proc/<podman>/limits here).
PODMAN_NPROC = 32768
# The first test builds the image (the module's fixture), up to a cold build's time.
pytestmark = pytest.mark.timeout(BUILD_SECONDS + 600)


def _engine_environment(folder: Path) -> dict[str, str]:
    """podman's environment: its own settings, but for what this host cannot do.

    Two things this machine (a sandbox) refuses podman's defaults: crun runs no container on
    a hybrid cgroup hierarchy (v1 controllers with a v2 mount beside them: "cgroups in hybrid
    mode not supported"), where runc does; and root without CAP_SYS_RESOURCE cannot raise
    the open-files and processes limits podman asks for (1048576: "setrlimit RLIMIT_NOFILE:
    Operation not permitted"), so the containers get this process's own. docs/operations.md
    tells an operator the same two fixes as `podman run` options.
    """
    settings: dict[str, list[str]] = {}
    if Path("/sys/fs/cgroup/unified").is_mount():
        settings.setdefault("engine", []).append('runtime = "runc"')
    status = Path("/proc/self/status").read_text()
    effective = int(
        next(line for line in status.splitlines() if line.startswith("CapEff:"))[7:], 16
    )
    if not effective >> CAP_SYS_RESOURCE & 1:
        files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        processes = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], PODMAN_NPROC)
        limits = f'"nofile={files}:{files}", "nproc={processes}:{processes}"'
        settings.setdefault("containers", []).append(f"default_ulimits = [{limits}]")
    if not settings:
        return dict(os.environ)
    conf = folder / "containers.conf"
    conf.write_text(
        "".join(f"[{table}]\n" + "\n".join(lines) + "\n" for table, lines in settings.items())
    )
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


@dataclass
class Podman:
    environment: dict[str, str]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["podman", *args],
            capture_output=True,
            text=True,
            env=self.environment,
            timeout=timeout,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-3000:]}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args).stdout)


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    return Podman(_engine_environment(tmp_path_factory.mktemp("podman")))


@pytest.fixture(scope="module")
def image(podman: Podman) -> Iterator[str]:
    """The image, built by the script as the docs say (with this test's own name)."""
    tag = f"localhost/nexq-test:{secrets.token_hex(4)}"
    began = time.monotonic()
    built = subprocess.run(
        [str(BUILD), "--tag", tag],
        capture_output=True,
        text=True,
        env={**podman.environment, "PYTHON": sys.executable},
        timeout=BUILD_SECONDS,
        check=False,
    )
    took = time.monotonic() - began
    try:
        assert built.returncode == 0, built.stderr[-4000:]
        assert built.stdout.strip() == tag  # the script prints the image's name, alone
        print(f"\nbuilt {tag} in {took:.0f} s: {built.stderr.splitlines()[0]}")
        yield tag
    finally:
        podman("rmi", "--force", tag, check=False)


@dataclass
class Container:
    podman: Podman
    name: str
    api_port: int
    s3_port: int

    def nexq(self, *args: str) -> Any:
        """`nexq ARGS` inside, as the operator runs it (`podman exec`), its JSON answer."""
        return self.podman.json("exec", self.name, "nexq", *args)

    def wait_ready(self) -> None:
        """Until the control plane's health check answers (a first start writes the master
        key, the tiers file and the operator account)."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{self.api_port}/health", timeout=5)
                if answer.status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            state = self.podman.json("inspect", "--format", "{{json .State}}", self.name)
            logs = self.podman("logs", self.name, check=False)
            assert state["Running"], f"the container stopped: {state}\n{logs.stdout}{logs.stderr}"
            assert time.monotonic() < deadline, f"not ready in {READY_SECONDS:.0f} s: {logs.stderr}"
            time.sleep(0.5)

    def host_pids(self) -> list[int]:
        """The container's processes, as this host numbers them (rootful podman: no user
        namespace, so the host sees the very uid the container runs as)."""
        top = self.podman("top", self.name, "hpid").stdout.split()
        return [int(pid) for pid in top[1:]]  # past the header


def _run(podman: Podman, image: str, name: str, volume: str) -> Container:
    container = Container(podman, name, free_port(), free_port())
    # As docs/operations.md runs it: the volume, the ports on loopback, the stop timeout
    # that lets requests under way finish (NEXQ_SHUTDOWN_SECONDS, 30 s).
    podman(
        "run", "--detach", "--name", name, "--volume", f"{volume}:{DATA}",
        "--publish", f"127.0.0.1:{container.api_port}:8080",
        "--publish", f"127.0.0.1:{container.s3_port}:9000",
        "--env", f"NEXQ_S3_URL=http://127.0.0.1:{container.s3_port}",
        "--stop-timeout", "40", image,
    )  # fmt: skip
    container.wait_ready()
    return container


def _s3(container: Container, key: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{container.s3_port}",
        aws_access_key_id=key["access_key_id"],
        aws_secret_access_key=key["secret_access_key"],
        region_name="nexq-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_the_image_is_what_the_docs_say(podman: Podman, image: str) -> None:
    [shown] = podman.json("image", "inspect", image)
    config = shown["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert DATA in config["Volumes"]
    assert {"8080/tcp", "9000/tcp", "5000/tcp"} <= set(config["ExposedPorts"])
    assert config["Entrypoint"] == ["/usr/bin/tini", "--", "/opt/nexq/bin/nexq"]
    assert config["Cmd"] == ["serve"]
    environment = dict(item.split("=", 1) for item in config["Env"])
    assert environment["NEXQ_DATA_DIR"] == DATA
    assert environment["NEXQ_HOST"] == "0.0.0.0"  # noqa: S104 - every address of the container
    assert shown["Healthcheck"]["Test"][0] == "CMD"  # podman keeps it beside Config
    assert shown["Size"] < MAX_IMAGE_BYTES, shown["Size"]
    # What the docs say is not in it: PostgreSQL and QEMU (databases and instances end in
    # status Error, saying which is missing); nor pip, which only the build needs.
    absent = podman(
        "run", "--rm", "--entrypoint", "/bin/sh", image, "-c",
        "ls /usr/lib/postgresql /usr/bin/qemu-system-x86_64 /opt/nexq/bin/pip",
        check=False,
    )  # fmt: skip
    assert absent.returncode != 0 and absent.stdout == "", absent.stdout
    docs = DOCS.read_text()
    assert "## Container image" in docs and "packaging/container/build" in docs


def test_serves_s3_as_uid_10001_and_keeps_its_data_on_the_volume(
    podman: Podman, image: str
) -> None:
    token = secrets.token_hex(4)
    volume, names = f"nexq-test-{token}", [f"nexq-test-{token}", f"nexq-test-{token}-upgraded"]
    podman("volume", "create", volume)
    try:
        container = _run(podman, image, names[0], volume)
        # The operator's first steps, with the server's own command line inside.
        account = container.nexq(
            "admin",
            "account",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "a long password",
        )
        assert account["email"] == "ops@example.com"
        key = container.nexq(
            "admin", "access-key", "create", "--account", "ops@example.com", "--label", "test"
        )
        s3 = _s3(container, key)
        s3.create_bucket(Bucket="kept")
        body = secrets.token_bytes(300_000)
        s3.put_object(Bucket="kept", Key="on/the/volume", Body=body)
        assert s3.get_object(Bucket="kept", Key="on/the/volume")["Body"].read() == body

        # Every process of it runs as uid 10001, as the host sees them, and as it says.
        pids = container.host_pids()
        assert len(pids) >= 2  # tini and `nexq serve`, with its workers
        for pid in pids:
            status = Path(f"/proc/{pid}/status").read_text()
            uids = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert uids.split()[1:] == [str(UID)] * 4, (pid, uids)
        assert podman("exec", names[0], "id", "-u").stdout.strip() == str(UID)
        owner = podman("exec", names[0], "stat", "-c", "%u %a", DATA).stdout.split()
        assert owner == [str(UID), "700"]
        # The image's health check, as the engine runs it.
        assert podman("healthcheck", "run", names[0], check=False).returncode == 0

        # Stopped (SIGTERM through tini: a clean exit, not a kill) and started again.
        podman("stop", names[0], timeout=60)
        state = podman.json("inspect", "--format", "{{json .State}}", names[0])
        assert state["ExitCode"] == 0, state
        podman("start", names[0])
        container.wait_ready()
        assert (
            _s3(container, key).get_object(Bucket="kept", Key="on/the/volume")["Body"].read()
            == body
        )

        # An upgrade: the container replaced, the volume kept; the master key, the account,
        # the key and the object all came with it.
        podman("rm", "--force", "--time", "40", names[0], timeout=60)
        upgraded = _run(podman, image, names[1], volume)
        s3 = _s3(upgraded, key)
        assert s3.get_object(Bucket="kept", Key="on/the/volume")["Body"].read() == body
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["kept"]
    finally:
        for name in names:
            podman("rm", "--force", "--time", "5", name, check=False, timeout=60)
        podman("volume", "rm", "--force", volume, check=False)
    assert podman("volume", "exists", volume, check=False).returncode != 0
