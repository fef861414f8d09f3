"""Real key pairs made by ``ssh-keygen``, for the tests of Compute's SSH keys."""

from __future__ import annotations

import base64
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.compat.tools import require


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path

    @property
    def public_text(self) -> str:
        return self.public.read_text()

    @property
    def private_text(self) -> str:
        return self.private.read_text()


def keygen(
    folder: Path, kind: str, bits: int | None = None, comment: str = "ada@laptop", *extra: str
) -> KeyPair:
    """``ssh-keygen -t kind [-b bits]``, without a passphrase, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"id_{kind}{bits or ''}{''.join(extra).replace('-', '_')}"
    private = folder / name
    args = [require("ssh-keygen"), "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(private)]
    if bits is not None:
        args += ["-b", str(bits)]
    subprocess.run([*args, *extra], check=True, capture_output=True, timeout=120)
    return KeyPair(private, folder / f"{name}.pub")


def keygen_lf(path: Path) -> str:
    """What ``ssh-keygen -lf path`` prints (one line, without its newline)."""
    out = subprocess.run(
        [require("ssh-keygen"), "-lf", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip()


def ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def security_key_line() -> str:
    """An sk-ssh-ed25519@openssh.com public key (FIDO): ssh-keygen cannot make one without a
    hardware key, so its wire format is written here (type, key, application)."""
    blob = (
        ssh_string(b"sk-ssh-ed25519@openssh.com")
        + ssh_string(bytes(range(32)))
        + ssh_string(b"ssh:")
    )
    return f"sk-ssh-ed25519@openssh.com {base64.b64encode(blob).decode()} ada@yubikey"


def ssh(
    private: Path, port: int, command: str, user: str = "root"
) -> subprocess.CompletedProcess[str]:
    """Real OpenSSH, as ``user`` on 127.0.0.1:``port`` with only this key, in batch mode (no
    prompt) and without remembering the host key."""
    return subprocess.run(
        [
            require("ssh"),
            *("-i", str(private), "-p", str(port), "-o", "IdentitiesOnly=yes"),
            *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
            *("-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR"),
            *(f"{user}@127.0.0.1", command),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ssh_answer(
    private: Path, port: int, command: str, seconds: float = 90, user: str = "root"
) -> str:
    """What ``command`` prints, once the guest's SSH server lets the key in. Until it
    listens, QEMU's user network accepts the connection and drops it."""
    deadline = time.monotonic() + seconds
    while True:
        done = ssh(private, port, command, user)
        if done.returncode == 0:
            return done.stdout
        assert time.monotonic() < deadline, f"no ssh within {seconds} s: {done.stderr}"
        time.sleep(0.5)
