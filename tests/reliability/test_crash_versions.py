"""kill -9 during versioned writes, deletes (delete markers) and version removals.

Each writer thread owns its keys and records what the server acknowledged: versions written
(with their bytes), delete markers added, versions removed for good. After each restart,
every acknowledged version and marker is listed by ListObjectVersions and reads back
byte-identical, nothing removed comes back, nothing listed is unknown (only the one
operation in flight per writer may have landed or not), each key has exactly one latest
version, and at the end `nexq admin fsck` finds disk, metadata and counters in agreement.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.live import Key, LiveServer, nexq
from tests.reliability.conftest import account_key
from tests.reliability.harness import env_int, scale, wait_for
from tests.reliability.test_crash_storm import kill_now

ROUNDS = env_int("NEXQ_CRASH_ROUNDS", scale(2, 10))
WRITERS = 4
KEYS_PER_WRITER = 3
BUCKET = "versioned-storm"


def body_of(name: str, serial: int) -> bytes:
    seed = hashlib.sha256(f"{name}/{serial}".encode()).digest()
    return seed * random.Random(serial).choice([1, 10, 300, 3000])


@dataclass
class History:
    """What the server acknowledged, and what may be in flight, per writer."""

    versions: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (key, id) → bytes
    markers: set[tuple[str, str]] = field(default_factory=set)
    removed: set[tuple[str, str]] = field(default_factory=set)
    in_flight: dict[int, tuple[str, str]] = field(default_factory=dict)  # writer → (op, key)
    acked: int = 0
    killed: bool = False
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def writer(live: LiveServer, key: Key, history: History, worker: int, round_: int) -> None:
    client = live.client(key)
    rng = random.Random(f"{worker}/{round_}")
    names = [f"w{worker}/k{i}" for i in range(KEYS_PER_WRITER)]
    serial = round_ * 100_000
    while True:
        serial += 1
        name = rng.choice(names)
        mine = [v for v in history.versions if v[0] == name and v not in history.removed]
        op = rng.choices(["put", "delete", "remove"], weights=[60, 20, 20 if mine else 0])[0]
        history.in_flight[worker] = (op, name)
        try:
            if op == "put":
                body = body_of(name, serial)
                vid = client.put_object(Bucket=BUCKET, Key=name, Body=body)["VersionId"]
                with history.lock:
                    history.versions[(name, vid)] = body
            elif op == "delete":
                vid = client.delete_object(Bucket=BUCKET, Key=name)["VersionId"]
                with history.lock:
                    history.markers.add((name, vid))
            else:
                target = rng.choice(mine)
                client.delete_object(Bucket=BUCKET, Key=name, VersionId=target[1])
                with history.lock:
                    history.removed.add(target)
            with history.lock:
                history.acked += 1
                del history.in_flight[worker]
        except (BotoCoreError, ClientError) as exc:
            if history.killed:
                return  # the server died under this request: it stays in flight
            history.errors.append(f"{op} {name}: {exc}")
            return


def verify(live: LiveServer, key: Key, history: History) -> dict[str, int]:
    client = live.client(key)
    listed: list[dict[str, Any]] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        listed += [dict(v, marker=False) for v in page.get("Versions", [])]
        listed += [dict(m, marker=True) for m in page.get("DeleteMarkers", [])]
    seen = {(v["Key"], v["VersionId"]): v for v in listed}
    in_flight_keys = {name for _, name in history.in_flight.values()}
    removing = {name for op, name in history.in_flight.values() if op == "remove"}
    for version, body in list(history.versions.items()):
        if version in history.removed:
            assert version not in seen, f"{version} came back"
            continue
        if version not in seen and version[0] in removing:
            history.removed.add(version)  # the removal in flight landed
            continue
        assert version in seen and not seen[version]["marker"], f"lost version {version}"
        got = client.get_object(Bucket=BUCKET, Key=version[0], VersionId=version[1])
        assert got["Body"].read() == body, f"{version} does not read back whole"
    for marker in history.markers - history.removed:
        assert marker in seen and seen[marker]["marker"], f"lost delete marker {marker}"
    unknown = [v for v in seen if v not in history.versions and v not in history.markers]
    # Only an operation in flight at the kill may have landed unacknowledged.
    assert all(name in in_flight_keys for name, _ in unknown), f"unknown versions {unknown}"
    for name in {v["Key"] for v in listed}:
        latest = [v for v in listed if v["Key"] == name and v["IsLatest"]]
        assert len(latest) == 1, f"{name} has {len(latest)} latest versions"
    for version in unknown:  # landed: from now on, as acknowledged
        if seen[version]["marker"]:
            history.markers.add(version)
        else:
            got = client.get_object(Bucket=BUCKET, Key=version[0], VersionId=version[1])
            history.versions[version] = got["Body"].read()
    return {"versions_listed": len(listed), "landed_in_flight": len(unknown)}


@pytest.mark.timeout(120 + 90 * ROUNDS)
def test_kill_9_during_versioned_writes_loses_no_version(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data")
    live.data_dir.mkdir()
    live.start()
    key = account_key(live, "versions@example.com")
    client = live.client(key)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    history = History()
    rng = random.Random(11)
    figures = []
    try:
        for round_ in range(ROUNDS):
            target = history.acked + rng.randint(40, 160)
            with ThreadPoolExecutor(WRITERS) as pool:
                futures = [
                    pool.submit(writer, live, key, history, w, round_) for w in range(WRITERS)
                ]
                wait_for(lambda t=target: history.acked >= t, 120, "writers made no progress")
                time.sleep(rng.uniform(0, 0.3))  # a random moment, by design
                history.killed = True
                kill_now(live)
                for future in futures:
                    future.result(timeout=120)
            assert not history.errors, history.errors[:5]
            history.killed = False
            live.start()
            figures.append(verify(live, key, history))
            history.in_flight.clear()
    finally:
        if live.process is not None:
            live.process.send_signal(signal.SIGINT)
            live.process.wait(30)
            live.process = None
    report = json.loads(nexq("admin", "fsck", data_dir=live.data_dir).stdout)
    assert report["clean"] is True, report
    print(json.dumps({"acknowledged": history.acked, "rounds": figures}))
    assert history.markers and history.removed, "every kind of operation was exercised"
