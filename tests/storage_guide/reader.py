"""The reader of the Object Storage guide (src/nexq/storage/guide/*.md): their shell, their
account and what they keep from the guide's answers, shared by the test that runs the
guide's blocks and the one that provokes what its troubleshooting tables quote.

The reader's shell has the variables the overview asks for (DCP_API_URL and DCP_API_KEY),
and on its PATH dcp, aws-cli and a Python with boto3 (this interpreter's, as
``pip install awscli boto3`` gives the reader), rclone, curl and jq. Its home is a folder of
its own, where aws-cli, rclone and dcp keep their files."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from nexq.storage.descriptor import GUIDE as DECLARED
from tests.compat.tools import base_env, require
from tests.guide_runner import ReaderShell
from tests.live import BURST, LiveServer

GUIDE = Path(__file__).resolve().parents[2] / "src" / "nexq" / "storage" / "guide"
# The pages in reading order, as the descriptor declares them to the guide.
PAGES = tuple(f"{page.slug}.md" for page in DECLARED.pages)
# The access key the overview makes for the reader, who keeps it in AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY (a block marked 'not run', since the reader types it).
KEEPS_KEY = "dcp storage keys create --label laptop"
PRINTED = re.compile(r"^(?P<field>access_key_id|secret_access_key):\s+(?P<value>\S+)$", re.M)
TOOLS = ("rclone", "curl", "jq")
SECONDS = 120.0


class Reader(ReaderShell):
    """The reader's shell (its environment and working directory) and their account."""

    def __init__(self, server: LiveServer, root: Path) -> None:
        for tool in TOOLS:
            require(tool)
        self.server = server
        self.email = server.account(f"storage-guide-reader-{id(self)}@example.com")
        server.raise_limits(self.email, api_rps=BURST)  # dcp and curl, block after block
        self.api_key = server.api_key(self.email, "the reader's key")
        super().__init__(base_env(root), root / "work", root / "env", timeout=SECONDS)
        self.work.mkdir(parents=True)
        # dcp, aws and a python3 with boto3: this interpreter's folder, first
        self.use_dcp(
            server.api_url, DCP_API_KEY=self.api_key, DCP_CONFIG=str(root / "dcp" / "config.json")
        )

    def keep_key(self, output: str) -> None:
        """Keep the access key ``output`` shows, as the overview tells the reader to."""
        printed = {m["field"]: m["value"] for m in PRINTED.finditer(output)}
        assert set(printed) == {"access_key_id", "secret_access_key"}, output
        self.env["AWS_ACCESS_KEY_ID"] = printed["access_key_id"]
        self.env["AWS_SECRET_ACCESS_KEY"] = printed["secret_access_key"]

    def api(self, api_key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key or self.api_key}"}
        return httpx.Client(base_url=f"{self.server.api_url}/v1", headers=headers, timeout=30)

    def setup(self, script: str) -> str:
        """Run ``script`` in the reader's shell: what the reader did before, not under test."""
        proc = self.sh(script)
        assert proc.returncode == 0, f"{script}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout
