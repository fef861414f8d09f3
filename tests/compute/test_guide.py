"""Compute's user guide (src/nexq/compute/guide/*.md, which Nexq serves at /docs/compute/…)
run as a reader runs it: every ```sh block, as written, in page order, in one reader's shell
(a fresh ``$HOME``, dcp, curl, jq and ssh-keygen on its PATH) against a live Nexq; then what
its troubleshooting table quotes, provoked for real."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from nexq.accounts import tier_tables
from nexq.accounts.descriptor import GUIDE as ACCOUNT_GUIDE
from nexq.accounts.tiers import load_tiers
from nexq.compute.descriptor import GUIDE as DECLARED
from nexq.web.guide.library import Guide
from tests import guide_runner as runner
from tests.compat.tools import base_env, require
from tests.compute.conftest import customer
from tests.compute.keys import keygen, security_key_line, ssh
from tests.guide_runner import Block, ReaderShell
from tests.live import LiveServer

GUIDE = Path(__file__).resolve().parents[2] / "src" / "nexq" / "compute" / "guide"
PAGES = tuple(f"{page.slug}.md" for page in DECLARED.pages)
VARIABLES = ("DCP_API_URL", "DCP_API_KEY")
KEYGEN_LF = "ssh-keygen -lf ~/.ssh/id_ed25519.pub"
# What the guide shows a block prints: (a piece of the block, a piece of its output), each
# output also in the guide.
SHOWN = (
    ("dcp compute ssh-keys add --name laptop", "name:        laptop\n"),
    ("dcp compute ssh-keys add --name laptop", "default:     yes\n"),
    ("dcp compute ssh-keys add --name laptop", "public_key:  ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"),
    ("--rawfile key ~/.ssh/id_ci.pub", '"name":"ci-deploy","fingerprint":"SHA256:'),
    ("--rawfile key ~/.ssh/id_ci.pub", '"type":"ECDSA","bits":384,"comment":"ci@build"'),
    ("dcp compute ssh-keys list", "NAME       ID                                TYPE"),
    ("dcp compute ssh-keys list", "yes      20"),
    ("dcp compute ssh-keys rename", "Renamed SSH key ci-deploy to ci\nci is now your default"),
    ("ssh-keys delete ci --yes", "Deleted SSH key ci\nlaptop is now your default SSH key"),
    ("dcp compute instances sizes", "nano    Nano    1      256 MiB   1 GiB\n"),
    ("instances launch web-1 --size nano --wait", "status:  Running\nimage:   tiny\n"),
    ("instances launch web-1 --size nano --wait", "ssh key: laptop\n"),
    ("dcp compute instances list", "web-1  Running  tiny   nano  localhost:"),
    ("-- uname -n", "web-1\n"),
    ("-- cat /data/greeting.txt", "from my laptop\n"),
    ("instances console web-1 -n 200", "nexq-tiny: ssh ready\n"),
    ("dcp compute instances images", "tiny       root    yes    Tiny (a Linux kernel, busybox"),
    ("dcp compute instances images", "debian-12  debian  no     Debian 12 (bookworm)"),
    (
        "snapshots create web-1 --name before-upgrade",
        "status:   Available\ninstance: web-1\nimage:    tiny\ndisk:     1 GiB\n",
    ),
    ("snapshots revert before-upgrade", "hello\n"),
    ("dcp compute snapshots list", "before-upgrade  Available  web-1     1 GiB"),
    ("snapshots delete before-upgrade", "Deleting snapshot before-upgrade\n"),
    ("backups create web-1 --name web-1-first", "status:   Available\ninstance: web-1\n"),
    ("backups schedule web-1 --keep 7", "instance:      web-1\ndaily backups: on, the newest 7"),
    ("select(.scheduled | not)", "web-1-first Available true\n"),
    ("--from-backup web-1-first", "Deleting instance web-1: it is gone within seconds\n"),
    ("--from-backup web-1-first", "hello\n"),
    ("backups delete web-1-first", "Deleting instance web-2: it is gone within seconds\n"),
    ("backups delete web-1-first", "Deleting backup web-1-first\n"),
)


def every_block() -> list[Block]:
    return runner.every_block(GUIDE, PAGES)


def text_of() -> str:
    return "\n".join((GUIDE / page).read_text() for page in PAGES)


def test_the_guide_has_its_pages_and_says_why_a_block_is_not_run() -> None:
    runner.check_pages(GUIDE, PAGES)


def test_the_guide_asks_for_the_variables_the_test_sets() -> None:
    settings = [b for b in every_block() if b.not_run and "export DCP_API_URL=" in b.code]
    assert len(settings) == 1 and settings[0].page == "manage-ssh-keys.md", settings
    assert runner.variables_set(settings[0]) == set(VARIABLES)
    runner.check_every_variable_is_set(every_block())
    # The one other block not run deletes web-1, which the later pages still use; the
    # Backups page runs the same command.
    later = [b for b in every_block() if b.not_run and b not in settings]
    assert [(b.page, b.code) for b in later] == [
        ("launch-instance.md", "dcp compute instances delete web-1 --yes --wait")
    ]
    assert any(
        b.code.splitlines()[1] == later[0].code for b in every_block() if "--from-backup" in b.code
    )


def test_every_link_reaches_a_page_and_its_anchor() -> None:
    account = replace(
        ACCOUNT_GUIDE,
        fragments=tier_tables.fragments(lambda: load_tiers(None), lambda: (), lambda: ()),
    )
    guide = Guide([("account", account), ("compute", DECLARED)])
    # The Account guide's own links reach sections not loaded here: only Compute's count.
    assert [link for link in guide.broken_links() if link.startswith("/docs/compute/")] == []
    section = guide.section("compute")
    assert section is not None
    assert [p.title for p in section.pages] == [p.title for p in DECLARED.pages]
    assert section.pages[1].rendered.title == "Manage SSH keys"


def test_every_sh_block_of_the_guide_runs_as_written(server: LiveServer, tmp_path: Path) -> None:
    for tool in ("ssh-keygen", "curl", "jq"):
        require(tool)
    reader = ReaderShell(base_env(tmp_path), tmp_path / "work", tmp_path / "env", timeout=120)
    reader.work.mkdir()
    api_key = server.api_key(customer(server), "the reader's key")
    reader.use_dcp(server.api_url, DCP_API_KEY=api_key, DCP_CONFIG=str(tmp_path / "dcp.json"))
    outputs: dict[str, str] = {}
    for block in every_block():
        if block.not_run:
            continue
        proc = reader.sh(block.code)
        if proc.returncode != 0:
            runner.failed(block, proc)
        outputs[block.code] = proc.stdout

    def output_of(piece: str) -> str:
        (found,) = [out for code, out in outputs.items() if piece in code]
        return found

    # The fingerprint Nexq shows is the one ssh-keygen printed on the reader's computer.
    line = output_of(KEYGEN_LF).strip()
    assert re.fullmatch(r"256 SHA256:[A-Za-z0-9+/]{43} ada@laptop \(ED25519\)", line), line
    assert f"fingerprint: {line}\n" in output_of("dcp compute ssh-keys add --name laptop")
    assert f"fingerprint: {line}\n" in output_of("dcp compute ssh-keys show laptop")
    text = text_of()
    for piece, shown in SHOWN:
        assert shown in text, f"the guide does not show {shown!r}"
        assert shown in output_of(piece), f"{piece}: {output_of(piece)!r} lacks {shown!r}"
    with httpx.Client(
        base_url=server.api_url, headers={"Authorization": f"Bearer {api_key}"}
    ) as api:
        left = api.get("/v1/compute/ssh-keys").json()
        instances = api.get("/v1/compute/instances").json()
    assert [(k["name"], k["default"]) for k in left] == [("laptop", True)]
    assert instances == []  # the guide deleted web-1, and web-2 it restored


def quoted(text: str) -> list[str]:
    """The messages a page's troubleshooting table quotes (its first column's code spans)."""
    table = text.split("## Troubleshooting", 1)[1]
    return [m.rstrip("…") for m in re.findall(r"^\| `([^`]+)`", table, re.M)]


def test_the_troubleshooting_quotes_what_nexq_says(server: LiveServer, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    ed25519, rsa = keygen(keys, "ed25519"), keygen(keys, "rsa", 2048)
    weak = keygen(keys, "rsa", 1024)
    dsa = keygen(keys, "dsa")
    reader = ReaderShell(base_env(tmp_path), tmp_path, tmp_path / "env", timeout=120)
    email = customer(server, ssh_keys=1)
    api_key = server.api_key(email)
    reader.use_dcp(server.api_url, DCP_API_KEY=api_key, DCP_CONFIG=str(tmp_path / "dcp.json"))
    said: list[str] = []
    with httpx.Client(
        base_url=f"{server.api_url}/v1/compute", headers={"Authorization": f"Bearer {api_key}"}
    ) as api:

        def add(name: str, key: str) -> None:
            answer = api.post("/ssh-keys", json={"name": name, "public_key": key})
            said.append(f"{answer.json()['detail']} ({answer.status_code})")

        pem = reader.sh(f"ssh-keygen -e -m PKCS8 -f {rsa.public}").stdout
        provoke: list[Callable[[], None]] = [
            lambda: add("oops", ed25519.private_text),
            lambda: add("old", dsa.public_text),
            lambda: add("weak", weak.public_text),
            lambda: add("pem", pem),
            lambda: add("cut", ed25519.public_text[:60]),
            lambda: add("sk", security_key_line()),
        ]
        for action in provoke:
            action()
        assert (
            api.post(
                "/ssh-keys", json={"name": "laptop", "public_key": ed25519.public_text}
            ).status_code
            == 201
        )
        add("again", ed25519.public_text)
        add("laptop", rsa.public_text)
        server.raise_limits(email, ssh_keys=10)
        for n in range(9):
            more = keygen(keys / str(n), "ed25519")
            api.post("/ssh-keys", json={"name": f"k{n}", "public_key": more.public_text})
        add("eleventh", rsa.public_text)
    said.append(
        reader.sh(f"dcp compute ssh-keys add --name x --public-key-file {ed25519.private}").stderr
    )
    said.append(reader.sh("dcp compute ssh-keys show x").stderr)
    everything = "\n".join(said)
    for message in quoted((GUIDE / "manage-ssh-keys.md").read_text()):
        parts = [p for p in re.split(r"…|SHA256:…", message) if p.strip()]
        assert all(p in everything for p in parts), f"Nexq never says {message!r}:\n{everything}"


def test_the_launch_troubleshooting_quotes_what_nexq_and_ssh_say(
    server: LiveServer, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    mine, other = keygen(keys / "mine", "ed25519"), keygen(keys / "other", "ed25519")
    said: list[str] = []
    with httpx.Client(
        base_url=f"{server.api_url}/v1/compute",
        headers={"Authorization": f"Bearer {server.api_key(customer(server))}"},
        timeout=30,
    ) as api:

        def launch(name: str, size: str = "nano", image: str = "tiny") -> httpx.Response:
            answer = api.post("/instances", json={"name": name, "size": size, "image": image})
            if answer.status_code >= 400:
                said.append(f"{answer.json()['detail']} ({answer.status_code})")
            return answer

        launch("web-1")  # no key yet
        assert api.post(
            "/ssh-keys", json={"name": "laptop", "public_key": mine.public_text}
        ).is_success
        launch("Web_1")
        launch("web-1", "huge")
        launch("web-1", image="debian-12")  # not built on this server's host
        assert launch("web-1").status_code == 201
        launch("web-1")  # the name again
        launch("web-2")  # the Free tier's one instance
        made = wait_running(api, "web-1")
        # ssh with a key that is not the instance's, once its SSH server answers
        deadline = time.monotonic() + 90
        while "Permission denied" not in (
            refused := ssh(other.private, made["ssh"]["port"], "true").stderr
        ):
            assert time.monotonic() < deadline, refused
            time.sleep(0.5)
        said.append(refused)
        assert api.post("/instances/web-1/stop").is_success
        wait_running(api, "web-1", "Stopped")
        said.append(api.post("/instances/web-1/stop").json()["detail"] + " (409)")
        assert api.delete("/instances/web-1").is_success
    everything = "\n".join(said)
    for message in quoted((GUIDE / "launch-instance.md").read_text()):
        parts = [p for p in message.split("…") if p.strip()]
        assert all(p in everything for p in parts), f"Nexq never says {message!r}:\n{everything}"


def wait_running(api: httpx.Client, name: str, status: str = "Running") -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while (found := api.get(f"/instances/{name}").json())["status"] != status:
        assert time.monotonic() < deadline, found
        time.sleep(0.3)
    return dict(found)
