"""kill -9 during concurrent pushes: every acknowledged manifest pulls byte-identical, no blob
a manifest names is missing, and fsck (which checks the registry too) is clean.

Pushes mix the ways clients upload (monolithic POST+PUT, a single POST, chunked PATCHes) and
share layers between repositories, so deduplication is crossed by the crash too.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.live import LiveServer, nexq

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SHARED = os.urandom(200_000)  # a base layer every image has: deduplicated per account


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Pusher:
    base: str
    auth: tuple[str, str]
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.auth = self.auth

    def blob(self, name: str, data: bytes, how: int) -> None:
        url, d = f"{self.base}/v2/{name}/blobs/uploads/", digest(data)
        if how == 0:  # a single POST
            answer = self.session.post(f"{url}?digest={d}", data=data, timeout=30)
        else:
            start = self.session.post(url, timeout=30)
            assert start.status_code == 202, start.text
            location = self.base + start.headers["Location"]
            if how == 2:  # chunked, then an empty closing PUT
                half = len(data) // 2
                for lo, hi in ((0, half), (half, len(data))):
                    part = self.session.patch(
                        location,
                        data=data[lo:hi],
                        headers={"Content-Range": f"{lo}-{hi - 1}"},
                        timeout=30,
                    )
                    assert part.status_code == 202, part.text
                    location = self.base + part.headers["Location"]
                answer = self.session.put(f"{location}?digest={d}", timeout=30)
            else:  # monolithic PUT
                answer = self.session.put(f"{location}?digest={d}", data=data, timeout=30)
        assert answer.status_code == 201, answer.text

    def image(self, name: str, tag: str, rng: random.Random) -> bytes:
        """Push an image; its manifest's bytes once acknowledged."""
        layer = rng.randbytes(rng.choice((1000, 50_000, 700_000)))
        config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
        for data in (SHARED, layer, config):
            self.blob(name, data, rng.randrange(3))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": digest(data),
                        "size": len(data),
                    }
                    for data in (SHARED, layer)
                ],
            }
        ).encode()
        answer = self.session.put(
            f"{self.base}/v2/{name}/manifests/{tag}",
            data=manifest,
            headers={"Content-Type": OCI_MANIFEST},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        return manifest


def test_kill_during_pushes_loses_no_acknowledged_image(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data", extra=("--workers", "2"))
    live.start()
    try:
        email = live.account("crash@example.com")
        key = live.api_key(email, scopes=("registry:write",))
        made = requests.post(
            f"{live.api_url}/v1/registries",
            json={"name": "crash"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ).json()
        auth = (made["credential"]["username"], made["credential"]["token"])
        base = f"http://127.0.0.1:{live.registry_port}"
        acknowledged: dict[tuple[str, str], bytes] = {}
        lock = threading.Lock()
        stop = threading.Event()

        def push(worker: int) -> None:
            rng = random.Random(worker)
            pusher = Pusher(base, auth)
            for n in range(1000):
                if stop.is_set():
                    return
                name, tag = f"crash/app{worker % 3}", f"w{worker}-{n}"
                try:
                    manifest = pusher.image(name, tag, rng)
                except (requests.RequestException, AssertionError):
                    return  # the server died under this push
                with lock:
                    acknowledged[(name, tag)] = manifest

        threads = [threading.Thread(target=push, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        live.kill()
        stop.set()
        for thread in threads:
            thread.join(60)
        assert len(acknowledged) >= 40
    finally:
        live.stop()

    live.start()
    try:
        session = requests.Session()
        session.auth = auth
        for (name, tag), manifest in sorted(acknowledged.items()):
            got = session.get(
                f"{base}/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}, timeout=30
            )
            assert got.status_code == 200, (name, tag, got.text)
            assert got.content == manifest
            document = json.loads(manifest)
            for descriptor in [document["config"], *document["layers"]]:
                blob = session.get(f"{base}/v2/{name}/blobs/{descriptor['digest']}", timeout=30)
                assert blob.status_code == 200, (name, descriptor)
                assert digest(blob.content) == descriptor["digest"]
    finally:
        live.stop()
    report = json.loads(nexq("admin", "fsck", data_dir=live.data_dir).stdout)
    assert report["registry"]["missing"] == []
    assert report["registry"]["wrong_size"] == []
    assert report["registry"]["dangling"] == []
    assert report["clean"] is True, report
