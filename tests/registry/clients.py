"""Real OCI clients (skopeo, podman, docker; buildah in buildah.py) against a registry, and
the servers they meet.

Each client keeps its configuration, credentials and image store under a test's temp dir, so
nothing of the machine's ``~/.docker``, ``/etc/containers`` or ``/var/lib`` leaks in or is
touched, and reaches the registry over plain HTTP on 127.0.0.1. The images they push are
built offline by images.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.compat.tools import base_env, require, run
from tests.live import free_port
from tests.registry.images import canonical

# Processes and mounts that a daemon or a runtime may leave -----------------------------------


def mounts_under(root: Path) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if Path(p.replace("\\040", " ")).is_relative_to(root)]


def processes_under(root: Path) -> list[int]:
    """Processes whose command line names a path under ``root`` (shims, conmon, containerd)."""
    found, within, itself = list[int](), f"{root}/".encode(), f"{root}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                if within in cmdline or itself in cmdline:
                    found.append(int(entry.name))
            except OSError:
                continue  # it exited meanwhile
    return found


def release(*roots: Path) -> None:
    """End what still runs from ``roots``, unmount what is mounted there (deepest first), remove
    them; raise if anything is left, since a test must leave the machine as it found it."""
    for root in roots:
        for pid in processes_under(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for point in sorted(mounts_under(root), key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)
    deadline = time.monotonic() + 10
    while any(processes_under(root) for root in roots) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [(str(r), processes_under(r), mounts_under(r)) for r in roots]
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
    if any(pids or mounts for _, pids, mounts in left):
        raise RuntimeError(f"left behind (root, processes, mounts): {left}")


def _short_dir(prefix: str) -> Path:
    # A unix socket's path is capped at 108 bytes, and a pytest tmp_path plus a container id
    # passes that: sockets and run state live in a short directory of /tmp instead.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


# Servers ------------------------------------------------------------------------------------


class _Server:
    """A process of a test's, its output in a log file, stopped by ``__exit__``."""

    _process: subprocess.Popen[bytes] | None = None

    def _start(
        self, command: list[str], log: Path, ready: Callable[[], bool], **popen: Any
    ) -> None:
        with log.open("wb") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **popen)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self._process.poll() is None:
            if ready():
                return
            time.sleep(0.05)
        self.__exit__(None, None, None)
        name = Path(command[0]).name
        raise RuntimeError(f"{name} did not start:\n{log.read_text(errors='replace')[-4000:]}")

    def pids(self) -> list[int]:
        """The server's process, while it runs (benchmarks sample its memory)."""
        running = self._process is not None and self._process.poll() is None
        return [self._process.pid] if running and self._process is not None else []

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class ReferenceRegistry(_Server):
    """Debian's docker-registry (the CNCF distribution), files under ``root``, a bcrypt
    htpasswd user, plain HTTP on a free loopback port."""

    def __init__(self, root: Path, *, user: str = "nexq", password: str = "reference-secret-1"):
        self.root, self.user, self.password = root, user, password
        self.host = f"127.0.0.1:{free_port()}"

    def ref(self, name: str) -> str:
        """``ns/repo:tag`` as a client names it on this registry."""
        return f"{self.host}/{name}"

    def __enter__(self) -> ReferenceRegistry:
        self.root.mkdir(parents=True, exist_ok=True)
        hashed = run([require("htpasswd"), "-nbB", self.user, self.password], base_env(self.root))
        (self.root / "htpasswd").write_text(hashed.stdout.strip() + "\n")
        config = {  # YAML is a superset of JSON: no YAML writer needed
            "version": "0.1",
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "data")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": "nexq-tests-reference-registry"},
            "auth": {"htpasswd": {"realm": "nexq-reference", "path": str(self.root / "htpasswd")}},
        }
        (self.root / "config.yml").write_bytes(canonical(config))
        command = [require("docker-registry"), "serve", str(self.root / "config.yml")]
        self._start(command, self.root / "registry.log", self._asks_for_credentials)
        return self

    def _asks_for_credentials(self) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            opener.open(f"http://{self.host}/v2/", timeout=2)
        except urllib.error.HTTPError as error:
            return error.code == 401
        except OSError:
            return False  # not listening yet
        return False


class DockerDaemon(_Server):
    """A dockerd of a test's own: data under ``root``, its socket, exec state and containerd
    in a short dir of /tmp, no bridge and no iptables (containers use the host's network).
    Leaves no process and no mount behind (``release``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_dir = _short_dir("nq-dockerd-")
        self.socket = self.run_dir / "docker.sock"
        self.host = f"unix://{self.socket}"

    def __enter__(self) -> DockerDaemon:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "daemon.json").write_text("{}")  # not the machine's /etc/docker/daemon.json
        command = [
            require("dockerd"),
            *("--data-root", str(self.root / "data"), "--exec-root", str(self.run_dir / "exec")),
            *("-H", self.host, "--pidfile", str(self.run_dir / "dockerd.pid")),
            *("--config-file", str(self.root / "daemon.json"), "--storage-driver", "vfs"),
            *("--bridge=none", "--iptables=false", "--ip6tables=false", "--log-level=warn"),
        ]
        self._start(command, self.root / "dockerd.log", self._pong, start_new_session=True)
        return self

    def _pong(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(2)
                client.connect(str(self.socket))
                client.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return client.recv(4096).endswith(b"OK")
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        super().__exit__()  # dockerd stops its containers and its containerd, not their mounts
        release(self.run_dir, self.root)


def dockerd_problem(root: Path) -> str | None:
    """Why dockerd cannot run on this machine, in its own words; None when it can."""
    if shutil.which("dockerd") is None:
        return "dockerd is not installed (Debian: apt-get install docker.io)"
    try:
        with DockerDaemon(root):
            return None
    except RuntimeError as error:
        return str(error)


# Clients ------------------------------------------------------------------------------------


class Client:
    """A client's binary run with flags and an environment of its own (buildah.py's too)."""

    login_flags: tuple[str, ...] = ()

    def __init__(self, home: Path, binary: str, flags: list[str], env: dict[str, str]) -> None:
        self.home, self.binary, self.flags, self.env = home, binary, flags, env

    def __call__(
        self, *args: str, check: bool = True, password: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the client; a password goes to its standard input (never on a command line)."""
        command = [self.binary, *self.flags, *args]
        if password is None:
            return run(command, self.env, check=check)
        secret = self.home / "password"
        secret.touch(mode=0o600)
        secret.write_text(password)
        try:
            return run(command, self.env, check=check, stdin=secret)
        finally:
            secret.unlink()

    def login(
        self, host: str, user: str, password: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        args = ("login", *self.login_flags, "-u", user, "--password-stdin", host)
        return self(*args, password=password, check=check)

    def logout(self, host: str) -> None:
        self("logout", host)


def containers_env(home: Path) -> dict[str, str]:
    """The environment of a containers/image tool (skopeo, podman) whose credentials and
    registries.conf are its own; refs are always fully qualified (no search registries)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "auth.json").write_text("{}")  # podman refuses to start on an absent one
    (home / "registries.conf").write_text("unqualified-search-registries = []\n")
    env = base_env(home)
    env["REGISTRY_AUTH_FILE"] = str(home / "auth.json")
    env["CONTAINERS_REGISTRIES_CONF"] = str(home / "registries.conf")
    return env


class Skopeo(Client):
    """skopeo with its own auth file, trust policy and registries.conf."""

    login_flags = ("--tls-verify=false",)

    def __init__(self, home: Path) -> None:
        env = containers_env(home)
        (home / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
        flags = ["--policy", str(home / "policy.json"), "--tmpdir", str(home)]
        super().__init__(home, require("skopeo"), flags, env)

    def copy(
        self, source: str, dest: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # --preserve-digests: fail rather than convert, so a digest seen is the digest pushed
        tls = ("--src-tls-verify=false", "--dest-tls-verify=false")
        return self("copy", "--all", "--preserve-digests", *tls, source, dest, check=check)

    def push(
        self, layout: Path, remote: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.copy(f"oci:{layout}", f"docker://{remote}", check=check)

    def pull(self, remote: str, layout: Path) -> Path:
        self.copy(f"docker://{remote}", f"oci:{layout}:latest")
        return layout

    def inspect_raw(self, remote: str) -> str:
        """The manifest (or index) exactly as the registry serves it."""
        return self("inspect", "--raw", "--tls-verify=false", f"docker://{remote}").stdout

    def inspect(self, remote: str, *, architecture: str = "amd64") -> Any:
        arch = ("--override-arch", architecture)
        return json.loads(self(*arch, "inspect", "--tls-verify=false", f"docker://{remote}").stdout)


# podman asks the runtime to raise a container's nofile and nproc limits (to 1048576 and up),
# which this sandbox refuses ("runc create failed: ... error setting rlimit type 7: operation
# not permitted"; crun: "setrlimit `RLIMIT_NOFILE`: Operation not permitted"): modest ones pass.
ULIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")


class Podman(Client):
    """podman as root on the vfs driver, its store, run state, auth file and configuration its
    own; cgroupfs, host network. ``close()`` (or ``with``) removes it all."""

    login_flags = ("--tls-verify=false",)

    def __init__(self, home: Path) -> None:
        env = containers_env(home)
        self.run_dir = _short_dir("nq-podman-")
        store, state = home / "storage", self.run_dir / "storage"
        (home / "containers.conf").write_text("")  # not the machine's /etc/containers ones
        (home / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{store}"\nrunroot = "{state}"\n'
        )
        env["CONTAINERS_CONF"] = str(home / "containers.conf")
        env["CONTAINERS_STORAGE_CONF"] = str(home / "storage.conf")
        env["XDG_RUNTIME_DIR"] = str(self.run_dir)
        runtime = "runc" if shutil.which("runc") else "crun"
        flags = [
            *("--root", str(store), "--runroot", str(state), "--storage-driver", "vfs"),
            *("--cgroup-manager", "cgroupfs", "--runtime", runtime, "--events-backend", "file"),
            *("--tmpdir", str(self.run_dir / "libpod")),
        ]
        super().__init__(home, require("podman"), flags, env)

    def __enter__(self) -> Podman:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self("rm", "--all", "--force", check=False)
        release(self.run_dir, self.home)

    def push(self, source: str | Path, remote: str) -> None:
        """Push a local image, or an OCI layout (loaded into the store first)."""
        if isinstance(source, Path):
            source = self("pull", "--quiet", f"oci:{source}").stdout.strip()
        self("push", "--tls-verify=false", source, remote)

    def pull(self, remote: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self("pull", "--quiet", "--tls-verify=false", remote, check=check)

    def remove_images(self) -> None:
        self("rmi", "--all", "--force")

    def run(self, image: str) -> str:
        """The output of the image's command, run once and removed."""
        return self("run", "--rm", "--pull=never", "--network=host", *ULIMITS, image).stdout


class Docker(Client):
    """The docker CLI with its own DOCKER_CONFIG (credentials), talking to ``daemon``.
    dockerd treats 127.0.0.0/8 as an insecure registry: plain HTTP needs no flag."""

    def __init__(self, home: Path, daemon: DockerDaemon) -> None:
        home.mkdir(parents=True, exist_ok=True)
        env = base_env(home)
        env["DOCKER_CONFIG"] = str(home / "docker-config")
        env["DOCKER_HOST"] = daemon.host
        super().__init__(home, require("docker"), [], env)

    def push(self, local: str, remote: str) -> str:
        """Push ``local`` as ``remote``; the manifest digest the registry acknowledged."""
        self("tag", local, remote)
        out = self("push", remote).stdout
        return next(word for word in out.split() if word.startswith("sha256:"))

    def pull(self, remote: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self("pull", "--quiet", remote, check=check)

    def remove_images(self, *refs: str) -> None:
        self("rmi", "--force", *refs)

    def run(self, image: str) -> str:
        return self("run", "--rm", "--network=host", image).stdout


class Ctr:
    """containerd's ctr, on the containerd a DockerDaemon runs, in a namespace of its own:
    the runtime a Kubernetes node pulls with, a pull secret's credential in hand."""

    def __init__(self, home: Path, daemon: DockerDaemon) -> None:
        home.mkdir(parents=True, exist_ok=True)
        socket = daemon.run_dir / "exec" / "containerd" / "containerd.sock"
        self.flags = ["--address", str(socket), "--namespace", "nexq-tests"]
        self.env = base_env(home)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([require("ctr"), *self.flags, *args], self.env, check=check)

    def pull(
        self, remote: str, user: str, token: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # The token on the command line: ctr has no other way, and it lives as long as the test
        return self(
            "images", "pull", "--plain-http", "--user", f"{user}:{token}", remote, check=check
        )
