"""nginx in front of several Nexq nodes, as docs/scale-out.md lays it out: one upstream per
listener (S3, control plane, container registry), requests spread round robin, bodies
streamed both ways."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.live import free_port

CONFIG = """
worker_processes 1;
daemon off;
user root;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    client_max_body_size 0;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_buffer_size 256k;
    proxy_buffers 4 256k;
    proxy_busy_buffers_size 256k;
    proxy_read_timeout 120s;
    # A node that refuses connections (dead) is skipped for 5 s; a request it was sent is
    # retried on the next node only if nothing was sent yet (nginx never repeats a POST or a
    # PUT that reached a node: the client's SDK retries it).
    proxy_next_upstream error timeout;
    upstream s3 {{
{s3}
        keepalive 32;
    }}
    upstream api {{
{api}
        keepalive 32;
    }}
    upstream registry {{
{registry}
        keepalive 32;
    }}
    server {{ listen 127.0.0.1:{s3_port}; location / {{ proxy_pass http://s3; }} }}
    server {{ listen 127.0.0.1:{api_port}; location / {{ proxy_pass http://api; }} }}
    server {{ listen 127.0.0.1:{registry_port}; location / {{ proxy_pass http://registry; }} }}
}}
"""


class Balancer:
    """nginx on three free loopback ports, forwarding to the nodes' S3, API and registry
    ports."""

    def __init__(self, nodes: list[tuple[int, int, int]]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nexq-nginx-"))
        self.s3_port = free_port()
        self.api_port = free_port()
        self.registry_port = free_port()
        upstream = "        server 127.0.0.1:{} max_fails=1 fail_timeout=5s;"
        (self.root / "nginx.conf").write_text(
            CONFIG.format(
                root=self.root,
                s3="\n".join(upstream.format(s3) for s3, _, _ in nodes),
                api="\n".join(upstream.format(api) for _, api, _ in nodes),
                registry="\n".join(upstream.format(oci) for _, _, oci in nodes),
                s3_port=self.s3_port,
                api_port=self.api_port,
                registry_port=self.registry_port,
            )
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen(
            [nginx, "-c", str(self.root / "nginx.conf"), "-p", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.process.stderr!r}")
            try:
                with socket.create_connection(("127.0.0.1", self.s3_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening within 10 s")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
