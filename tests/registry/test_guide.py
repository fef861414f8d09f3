"""The Container Registry's user guide (src/nexq/registry/guide/*.md, which Nexq serves at
/docs/registry/…) run as a reader runs it: every ```sh block, as written, in page order, in
one reader's shell against a live Nexq.

The reader's shell has the variables the guide asks for (NEXQ_REGISTRY, …), docker talking
to the module's own dockerd, podman and skopeo with a configuration, store and login file of
their own (the registry, on plain HTTP here, is marked insecure in the per-user
registries.conf, as the guide tells plain-HTTP readers), dcp on its PATH, and the local
image ``web:1.0`` the guide starts from. A block marked ``<!-- not run: reason -->`` needs
what no test has (a Kubernetes cluster, the reader's own values); every other one runs."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nexq.registry.descriptor import GUIDE as DECLARED
from tests import guide_runner as runner
from tests.compat.tools import base_env, require
from tests.guide_runner import Block, ReaderShell
from tests.live import BURST, LiveServer
from tests.registry.clients import DockerDaemon, release
from tests.registry.images import build_busybox_image

GUIDE = Path(__file__).resolve().parents[2] / "src" / "nexq" / "registry" / "guide"
# The pages in reading order, as the registry's descriptor declares them to the guide.
PAGES = tuple(f"{page.slug}.md" for page in DECLARED.pages)
REGISTRY = "team-images"
# What the reader sets once (overview.md), and so what the test sets for the reader.
VARIABLES = (
    "NEXQ_REGISTRY",
    "NEXQ_REGISTRY_URL",
    "NEXQ_REGISTRY_USER",
    "NEXQ_REGISTRY_TOKEN",
    "DCP_API_URL",
    "DCP_API_KEY",
)
# A block that makes the guide's registry runs when there is none to make it again.
CREATES = re.compile(rf"registry create {REGISTRY}\b|-X POST \"\$DCP_API_URL/v1/registries\"")


def every_block() -> list[Block]:
    return runner.every_block(GUIDE, PAGES)


def test_the_guide_has_its_pages_and_says_why_a_block_is_not_run() -> None:
    runner.check_pages(GUIDE, PAGES)


def test_the_guide_asks_for_the_variables_the_test_sets() -> None:
    """The variables a reader sets once are the test's, and a block uses no other but
    those a block of the guide sets: no command depends on something left unsaid."""
    settings = [b for b in every_block() if b.not_run and "export NEXQ_REGISTRY=" in b.code]
    assert len(settings) == 1, settings
    assert runner.variables_set(settings[0]) == set(VARIABLES)
    runner.check_every_variable_is_set(every_block())


class Reader(ReaderShell):
    """The reader's shell (its environment and working directory), their account, and the
    registry ``team-images`` the guide's blocks act on."""

    def __init__(self, server: LiveServer, dockerd: DockerDaemon, root: Path) -> None:
        self.server, self.root = server, root
        email = server.account(f"guide-reader-{id(self)}@example.com")
        server.raise_limits(email, api_rps=BURST)  # dcp and curl, block after block
        self.api_key = server.api_key(email, "the reader's key")
        self.run_dir = Path(tempfile.mkdtemp(prefix="nq-guide-", dir="/tmp"))  # short: sockets
        super().__init__(base_env(root), root / "work", self.run_dir / "env", timeout=180)
        self.work.mkdir(parents=True)
        host = f"127.0.0.1:{server.registry_port}"
        self.env["PATH"] = f"{Path(sys.executable).parent}:{self.env['PATH']}"  # dcp
        self.env.update(
            NEXQ_REGISTRY=host,
            NEXQ_REGISTRY_URL=f"http://{host}",
            DCP_API_URL=server.api_url,
            DCP_API_KEY=self.api_key,
            DCP_CONFIG=str(root / "dcp" / "config.json"),
            DOCKER_HOST=dockerd.host,
            DOCKER_CONFIG=str(root / "docker"),
        )
        self._containers(host)

    def _containers(self, host: str) -> None:
        """podman and skopeo: their files here, found through variables and ``$HOME``."""
        home, run = Path(self.env["HOME"]), self.run_dir
        user_conf = home / ".config" / "containers"
        user_conf.mkdir(parents=True)
        # skopeo reads only the per-user file (podman also CONTAINERS_REGISTRIES_CONF)
        (user_conf / "registries.conf").write_text(
            f'unqualified-search-registries = []\n[[registry]]\nlocation = "{host}"\n'
            "insecure = true\n"
        )
        (self.root / "auth.json").write_text("{}")
        runtime = "runc" if shutil.which("runc") else "crun"
        # podman as the harness runs it (clients.Podman), through files instead of flags
        (self.root / "containers.conf").write_text(
            '[containers]\nnetns = "host"\n'
            'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n'
            f'[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
            f'runtime = "{runtime}"\ntmp_dir = "{run / "libpod"}"\n'
        )
        (self.root / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{self.root / "storage"}"\n'
            f'runroot = "{run / "storage"}"\n'
        )
        self.env.update(
            REGISTRY_AUTH_FILE=str(self.root / "auth.json"),
            CONTAINERS_CONF=str(self.root / "containers.conf"),
            CONTAINERS_STORAGE_CONF=str(self.root / "storage.conf"),
            XDG_RUNTIME_DIR=str(run),
        )

    def setup(self, script: str) -> None:
        proc = self.sh(script)
        assert proc.returncode == 0, f"{script}\n{proc.stdout}\n{proc.stderr}"

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.Client(base_url=f"{self.server.api_url}/v1", headers=headers, timeout=30)

    def without_registry(self) -> None:
        with self.api() as api:
            api.delete(f"/registries/{REGISTRY}")

    def with_registry(self) -> None:
        """The registry exists and NEXQ_REGISTRY_USER/TOKEN is an active credential of it,
        as a reader who followed create-registry.md has."""
        with self.api() as api:
            made = api.post("/registries", json={"name": REGISTRY})
            if made.status_code == 201:
                self._use(made.json()["credential"])
                return
            assert made.status_code == 409, made.text
            listed = api.get(f"/registries/{REGISTRY}/credentials").json()
            active = {c["username"] for c in listed if c["status"] == "active"}
            if self.env.get("NEXQ_REGISTRY_USER") not in active:
                issued = api.post(f"/registries/{REGISTRY}/credentials", json={"label": "reader"})
                assert issued.status_code == 201, issued.text
                self._use(issued.json())

    def _use(self, credential: dict[str, str]) -> None:
        self.env["NEXQ_REGISTRY_USER"] = credential["username"]
        self.env["NEXQ_REGISTRY_TOKEN"] = credential["token"]

    def close(self) -> None:
        self.sh("podman rm --all --force")
        release(self.run_dir)


@pytest.fixture(scope="module")
def reader(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    """The reader, with the local image ``web:1.0`` in docker and in podman."""
    for tool in ("docker", "podman", "skopeo", "curl", "jq"):
        require(tool)
    root = tmp_path_factory.mktemp("reader")
    image = build_busybox_image(root / "web-layout")
    with DockerDaemon(root / "dockerd") as dockerd:
        reader = Reader(server, dockerd, root)
        try:
            reader.setup(
                f"skopeo copy oci:{image} docker-archive:{root}/web.tar:web:1.0\n"
                f"docker load --quiet --input {root}/web.tar\n"
                f"podman tag $(podman pull --quiet oci:{image}) web:1.0"
            )
            yield reader
        finally:
            reader.close()


def test_every_sh_block_of_the_guide_runs_as_written(reader: Reader) -> None:
    ran: list[Block] = []
    for block in every_block():
        if block.not_run:
            continue
        if CREATES.search(block.code):
            reader.without_registry()
        else:
            reader.with_registry()
        proc = reader.sh(block.code)
        if proc.returncode != 0:
            runner.failed(block, proc)
        ran.append(block)

    assert ran == [b for b in every_block() if not b.not_run]
    # what the guide left: web:1.0 pushed, its other tags and images deleted, the
    # credentials it made deleted
    with reader.api() as api:
        tags = api.get(f"/registries/{REGISTRY}/repositories/web/tags").json()
        labels = [c["label"] for c in api.get(f"/registries/{REGISTRY}/credentials").json()]
    assert sorted(t["name"] for t in tags) == ["1.0"], tags
    assert "ci" not in labels and "deploy" not in labels, labels
