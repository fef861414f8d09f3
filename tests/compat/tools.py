"""Shared helpers for driving real S3 command-line tools against a live Nexq server.

Every tool runs with an environment built from scratch: ``HOME`` points into the test's
``tmp_path`` and only the variables a tool needs are set, so nothing from the developer's
``~/.aws``, ``~/.s3cfg``, ``~/.config/rclone`` or proxy settings can leak in.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.live import REGION, Key, LiveServer

MiB = 1024 * 1024


def require(tool: str) -> str:
    """The absolute path of ``tool``; a missing tool FAILS the test (CI must install it)."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool!r} is not installed; the compatibility tests need it "
            f"(on Debian: apt-get install -y {tool})",
            pytrace=False,
        )
    return path


def aws_command() -> list[str]:
    """aws-cli v1, run with this interpreter so no pyenv shim or ``$HOME`` lookup is involved."""
    if importlib.util.find_spec("awscli") is None:
        pytest.fail(
            "aws-cli (the 'awscli' package) is not installed: pip install -e '.[dev]'",
            pytrace=False,
        )
    return [sys.executable, "-m", "awscli"]


def base_env(tmp_path: Path) -> dict[str, str]:
    """A minimal environment whose ``HOME`` is a fresh folder in ``tmp_path``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": str(tmp_path),
        "NO_PROXY": "*",
        "no_proxy": "*",
    }


def run(
    cmd: list[str],
    env: dict[str, str],
    *,
    timeout: float = 120,
    check: bool = True,
    cwd: Path | None = None,
    stdin: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; with ``check`` a non-zero exit fails the test showing stdout and stderr.

    ``stdin`` is a file fed to the command's standard input (otherwise it gets none).
    """
    with open(stdin or os.devnull, "rb") as source:
        proc = subprocess.run(
            cmd,
            env=env,
            stdin=source,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )
    if check and proc.returncode != 0:
        pytest.fail(
            f"command failed with exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    return proc


def aws_env(tmp_path: Path, key: Key) -> dict[str, str]:
    """aws-cli configured only through the environment and empty temp config files."""
    env = base_env(tmp_path)
    config = tmp_path / "aws-config"
    credentials = tmp_path / "aws-credentials"
    config.touch()
    credentials.touch()
    env.update(
        {
            "AWS_ACCESS_KEY_ID": key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_EC2_METADATA_DISABLED": "true",
            # One attempt: a retry must never hide a server error.
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        }
    )
    return env


def rclone_env(tmp_path: Path, server: LiveServer, key: Key) -> dict[str, str]:
    """An rclone remote named ``nq:`` defined entirely by environment variables."""
    env = base_env(tmp_path)
    env.update(
        {
            "RCLONE_CONFIG_NQ_TYPE": "s3",
            "RCLONE_CONFIG_NQ_PROVIDER": "Other",
            "RCLONE_CONFIG_NQ_ENDPOINT": server.endpoint,
            "RCLONE_CONFIG_NQ_ACCESS_KEY_ID": key.access_key_id,
            "RCLONE_CONFIG_NQ_SECRET_ACCESS_KEY": key.secret_access_key,
            "RCLONE_CONFIG_NQ_REGION": REGION,
            "RCLONE_CONFIG_NQ_FORCE_PATH_STYLE": "true",
            # Small multipart thresholds so a 30 MiB file is uploaded in 5 MiB parts
            # (rclone's default cut-off is 200 MiB).
            "RCLONE_CONFIG_NQ_UPLOAD_CUTOFF": "5Mi",
            "RCLONE_CONFIG_NQ_CHUNK_SIZE": "5Mi",
            "RCLONE_CONFIG_NQ_COPY_CUTOFF": "5Mi",
            "RCLONE_CACHE_DIR": str(tmp_path / "rclone-cache"),
            "RCLONE_LOW_LEVEL_RETRIES": "1",
            "RCLONE_RETRIES": "1",
        }
    )
    return env


def s3cmd_config(tmp_path: Path, server: LiveServer, key: Key, *, signature_v2: bool) -> Path:
    """A temp s3cmd config using path-style requests (host_bucket has no %(bucket)s)."""
    host = urlsplit(server.endpoint).netloc
    path = tmp_path / f"s3cfg-{'v2' if signature_v2 else 'v4'}"
    path.write_text(
        "[default]\n"
        f"access_key = {key.access_key_id}\n"
        f"secret_key = {key.secret_access_key}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        f"bucket_location = {REGION}\n"
        "use_https = False\n"
        f"signature_v2 = {signature_v2}\n"
        "check_ssl_certificate = False\n"
        "guess_mime_type = True\n"
        "progress_meter = False\n"
        "multipart_chunk_size_mb = 5\n"
        "max_retries = 1\n"
    )
    return path


def restic_env(tmp_path: Path, server: LiveServer, key: Key, bucket: str) -> dict[str, str]:
    env = base_env(tmp_path)
    env.update(
        {
            "RESTIC_REPOSITORY": f"s3:{server.endpoint}/{bucket}",
            "RESTIC_PASSWORD": "compat-test-password",
            "RESTIC_CACHE_DIR": str(tmp_path / "restic-cache"),
            "AWS_ACCESS_KEY_ID": key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
            "AWS_DEFAULT_REGION": REGION,
        }
    )
    return env


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_tree(root: Path, *, seed: int = 0, big: int = 0) -> dict[str, bytes]:
    """A small directory tree with nested folders, an empty file and odd names.

    ``big`` adds ``big.bin`` of that many random bytes. Returns relative path -> content.
    """
    files = {
        "a.txt": b"hello from nexq\n",
        "empty.txt": b"",
        "dir1/b.bin": random_bytes(70_000, seed + 1),
        "dir1/c.txt": b"c" * 1000,
        "dir1/sub/d.json": b'{"d": 4}\n',
        "dir2/e with space.txt": b"spaces in the key\n",
        "dir2/f+plus=eq.txt": b"plus and equals\n",
        "dir2/ünïcødé 日本 100%.txt": b"non-ASCII and a percent sign\n",
        "dir2/a~b!c$d&e(f)g';h,i@.txt": b"punctuation\n",
        "dir2/deep/er/g.dat": random_bytes(4097, seed + 2),
    }
    if big:
        files["big.bin"] = random_bytes(big, seed + 3)
    for rel, data in files.items():
        write_file(root / rel, data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    """Relative path -> content of every regular file under ``root``."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def assert_same_tree(expected: dict[str, bytes], root: Path) -> None:
    actual = read_tree(root)
    assert sorted(actual) == sorted(expected)
    for rel, data in expected.items():
        assert actual[rel] == data, f"{rel}: contents differ ({len(actual[rel])} vs {len(data)})"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
