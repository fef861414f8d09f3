"""The reader of the Account, Billing and Support guides (src/nexq/accounts/guide,
src/nexq/billing/guide, src/nexq/support/guide): their shell and what they set in it, shared
by the test that runs the guides' blocks and the one that provokes what their
troubleshooting tables quote.

The reader starts with no account: the Account overview signs them up and logs `dcp` in.
Their shell has the variables that overview asks for (DCP_API_URL, NEXQ_EMAIL and
NEXQ_PASSWORD, and NEW_PASSWORD, which its password change reads), and on its PATH dcp (this
interpreter's folder), curl and jq. Its home is a folder of its own, where dcp keeps its
config file, as on the reader's computer."""

from __future__ import annotations

from pathlib import Path

import httpx

from nexq.accounts.descriptor import GUIDE as ACCOUNT
from nexq.billing.descriptor import GUIDE as BILLING
from nexq.support.descriptor import GUIDE as SUPPORT
from nexq.web.guide.section import GuideSection
from tests.compat.tools import base_env, require
from tests.guide_runner import Block, ReaderShell, every_block
from tests.live import LiveServer

SOURCES = Path(__file__).resolve().parents[2] / "src" / "nexq"
# Each guide's section name (its URL), folder and declaration, in the order they are read.
SECTIONS: tuple[tuple[str, Path, GuideSection], ...] = (
    ("account", SOURCES / "accounts" / "guide", ACCOUNT),
    ("billing", SOURCES / "billing" / "guide", BILLING),
    ("support", SOURCES / "support" / "guide", SUPPORT),
)
EMAIL = "ada@example.com"  # as the overview's 'not run' block sets it
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "correct horse battery stable"
TOOLS = ("curl", "jq")
SECONDS = 60.0


def pages(declared: GuideSection) -> tuple[str, ...]:
    """A section's pages in reading order, as its descriptor declares them."""
    return tuple(f"{page.slug}.md" for page in declared.pages)


def page_paths() -> list[str]:
    """Every page of the three guides in reading order, as a path from SOURCES (the names
    the blocks are reported with: each guide has an overview.md)."""
    return [
        str((folder / page).relative_to(SOURCES))
        for _, folder, declared in SECTIONS
        for page in pages(declared)
    ]


def guide_blocks() -> list[Block]:
    """Every ```sh block of the three guides, in reading order."""
    return every_block(SOURCES, page_paths())


def page_text(section: str, page: str) -> str:
    folder = next(folder for name, folder, _ in SECTIONS if name == section)
    return (folder / page).read_text()


class Reader(ReaderShell):
    """The reader's shell (its environment and working directory) on ``server``."""

    def __init__(self, server: LiveServer, root: Path) -> None:
        for tool in TOOLS:
            require(tool)
        self.server = server
        super().__init__(base_env(root), root / "work", root / "env", timeout=SECONDS)
        self.work.mkdir(parents=True)
        self.use_dcp(
            server.api_url,
            NEXQ_EMAIL=EMAIL,
            NEXQ_PASSWORD=PASSWORD,
            NEW_PASSWORD=NEW_PASSWORD,
        )

    def api(self) -> httpx.Client:
        """The REST API with the key the reader keeps in DCP_API_KEY (API keys page on)."""
        return bearer(self.server, self.env["DCP_API_KEY"])

    def setup(self, script: str) -> str:
        """Run ``script`` in the reader's shell: what the reader did before, not under test."""
        proc = self.sh(script)
        assert proc.returncode == 0, f"{script}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout


def bearer(server: LiveServer, token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=f"{server.api_url}/v1", headers=headers, timeout=30)


def operator_api(server: LiveServer) -> httpx.Client:
    """The REST API as the operator account made at first start (support answers as it)."""
    password = (server.data_dir / "operator-password").read_text().strip()
    login = httpx.post(
        f"{server.api_url}/v1/login",
        json={"email": "operator@nexq.local", "password": password},
        timeout=30,
    )
    assert login.status_code == 201, login.text
    return bearer(server, login.json()["token"])
