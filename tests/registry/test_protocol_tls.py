"""The registry's listener serves HTTPS with the certificate the other listeners use, and
sends clients to a token endpoint of the same scheme."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer


def test_the_registry_speaks_https_with_the_servers_certificate(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data", extra=("--self-signed",), scheme="https")
    live.data_dir.mkdir()
    live.start()
    try:
        key = live.api_key(live.account("tls@example.com"), scopes=("registry:write",))
        (certificate,) = [p for p in (live.data_dir / "tls").iterdir() if "key" not in p.name]
        trusted = ssl.create_default_context(cafile=str(certificate))
        with httpx.Client(verify=trusted, timeout=30) as https:
            made = https.post(
                f"{live.api_url}/v1/registries",
                json={"name": "secure"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert made.status_code == 201, made.text
            credential = made.json()["credential"]
            base = f"https://127.0.0.1:{live.registry_port}"
            challenge = https.get(f"{base}/v2/")
            assert challenge.status_code == 401
            assert challenge.headers["WWW-Authenticate"].startswith(
                f'Bearer realm="{base}/v2/token"'
            )
            token = https.get(
                f"{base}/v2/token", auth=(credential["username"], credential["token"])
            ).json()["token"]
            answer = https.get(f"{base}/v2/", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):  # no plain HTTP on a TLS port
            httpx.get(f"http://127.0.0.1:{live.registry_port}/v2/", timeout=30)
    finally:
        live.stop()
