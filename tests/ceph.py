"""A real Ceph cluster for the tests: Debian's ceph 16 (a monitor, a manager, one BlueStore OSD
on a file) started by scripts/ceph-single-node in a folder of its own on 127.0.0.1, one per
test process; every test gets a RADOS namespace of its own in the pool ``nexq``."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from nexq.storage.blobs.rados import RadosBlobStore

SCRIPT = Path(__file__).parent.parent / "scripts" / "ceph-single-node"


def installed() -> None:
    missing = [tool for tool in ("ceph-mon", "ceph-mgr", "ceph-osd") if not shutil.which(tool)]
    if missing:
        raise RuntimeError(
            f"Ceph is not installed ({', '.join(missing)} missing): `make tools` runs "
            "scripts/install-ceph (Debian's ceph-mon, ceph-mgr, ceph-osd and python3-rados)"
        )


class CephCluster:
    """One cluster: ``ceph-single-node start`` (about 8 s), stores made on demand, ``stop``."""

    def __init__(self) -> None:
        installed()
        self.root = Path(tempfile.mkdtemp(prefix="nexq-ceph-"))
        self._names = itertools.count(1)
        try:
            started = self._run("start")
        except BaseException:
            self.stop()
            raise
        self.conf = Path(started.strip())

    def url(self, namespace: str = "") -> str:
        url = f"rados://nexq?conf={self.conf}&id=nexq"
        return f"{url}&namespace={namespace}" if namespace else url

    def new_namespace(self) -> str:
        """A namespace nothing has written to yet (a store in it starts empty)."""
        return f"t{os.getpid()}_{next(self._names)}"

    def blob_store(self, **options: Any) -> RadosBlobStore:
        """A blob store of its own: a new namespace of the pool, as the client ``nexq``."""
        return RadosBlobStore(
            "nexq",
            conf=str(self.conf),
            client_id="nexq",
            namespace=self.new_namespace(),
            **options,
        )

    def kill(self) -> None:
        """SIGKILL every daemon (the data stays); :meth:`restart` brings them back."""
        self._run("kill")

    def restart(self) -> None:
        self._run("start")

    def stop(self) -> None:
        # SIGKILL, as pg_ctl's immediate mode: the cluster's folder goes right after.
        with contextlib.suppress(RuntimeError):
            self._run("kill")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, command: str) -> str:
        done = subprocess.run(
            [str(SCRIPT), command, str(self.root)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"ceph-single-node {command} {self.root} failed ({done.returncode}):\n{done.stderr}"
            )
        return done.stdout
