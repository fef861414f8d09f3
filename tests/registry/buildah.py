"""buildah, the image builder of CI jobs that have no daemon, against a registry.

Like podman (clients.py) it runs as root on the vfs driver with a store, auth file,
registries.conf and configuration of its own under the test's temp dir. It builds images
from scratch with files of this machine, so nothing is pulled from anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.compat.tools import require
from tests.registry.clients import Client, containers_env, release


class Buildah(Client):
    """buildah with its own ``--root``/``--runroot`` on vfs. ``close()`` (or ``with``) removes
    its working containers and everything under its home."""

    login_flags = ("--tls-verify=false",)

    def __init__(self, home: Path) -> None:
        env = containers_env(home)
        store, state = home / "storage", home / "run"
        (home / "containers.conf").write_text("")  # not the machine's /etc/containers ones
        (home / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{store}"\nrunroot = "{state}"\n'
        )
        env["CONTAINERS_CONF"] = str(home / "containers.conf")
        env["CONTAINERS_STORAGE_CONF"] = str(home / "storage.conf")
        # For a `buildah run`: its default OCI isolation runs crun, which this sandbox refuses
        # ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"); chroot
        # needs no runtime and no cgroup.
        env["BUILDAH_ISOLATION"] = "chroot"
        flags = ["--root", str(store), "--runroot", str(state), "--storage-driver", "vfs"]
        super().__init__(home, require("buildah"), flags, env)

    def __enter__(self) -> Buildah:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self("rm", "--all", check=False)
        release(self.home)

    def build_from_scratch(self, image: str, files: dict[str, Path], cmd: list[str]) -> str:
        """Commit ``image``: an empty root holding ``files`` (path in the image -> file of this
        machine) whose command is ``cmd``; the image's id."""
        container = self("from", "scratch").stdout.strip()
        for inside, outside in files.items():
            self("copy", container, str(outside), inside)
        self("config", "--cmd", json.dumps(cmd), container)
        return self("commit", "--quiet", "--rm", container, image).stdout.strip()

    def push(self, image: str, remote: str) -> str:
        """Push the local ``image`` as ``remote``; the digest of the manifest buildah sent."""
        digest = self.home / "pushed-digest"
        quiet = ("--quiet", "--tls-verify=false")
        self("push", *quiet, "--digestfile", str(digest), image, f"docker://{remote}")
        return digest.read_text().strip()
