"""kill -9 in a storm of PUT, multipart, copy, overwrite and delete, round after round.

Each writer thread owns its keys, so every key has one exact history: the states it was
acknowledged in and, at the moment of the kill, at most one operation in flight. After each
restart every key must hold its last acknowledged state or the in-flight one (whole), an
acknowledged delete stays deleted, listings agree with reads, tmp/ is empty, and at the end
`nexq admin fsck` finds disk and metadata in agreement.

CI: 2 rounds. Long form (``NEXQ_RELIABILITY=long``): 20 rounds on the same data dir, each
killed at a random moment; ``NEXQ_CRASH_ROUNDS`` chooses.
"""

from __future__ import annotations

import hashlib
import json
import os
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
from tests.reliability.harness import env_int, process_tree, scale, wait_for

MiB = 1024 * 1024
ROUNDS = env_int("NEXQ_CRASH_ROUNDS", scale(2, 20))
WRITERS = 6
KEYS_PER_WRITER = 6
BUCKET = "storm"
DELETED = b"<deleted>"


def content(name: str, version: int) -> bytes:
    """Deterministic bytes per key and version (the version is written into them)."""
    rng = random.Random(f"{name}/{version}")
    size = rng.choice([0, 1, 100, 4096, 70_000, 300_000, 1 * MiB + 3])
    seed = hashlib.sha256(f"{name}/{version}".encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def multipart_content(name: str, version: int) -> bytes:
    head = hashlib.sha256(f"mp/{name}/{version}".encode()).digest()
    return head * (5 * MiB // 32) + content(name, version)


@dataclass
class KeyState:
    """What one key may hold: its acknowledged state and the one in flight, if any."""

    acked: bytes = DELETED
    pending: bytes | None = None
    history: list[str] = field(default_factory=list)


@dataclass
class Storm:
    """The oracle shared by the writers of one data dir, across rounds."""

    keys: dict[str, KeyState] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked_ops: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    killed: bool = False
    early_errors: list[str] = field(default_factory=list)

    def begin(self, name: str, state: bytes, what: str) -> None:
        with self.lock:
            self.keys[name].pending = state
            self.keys[name].history.append(what)

    def ack(self, name: str, op: str) -> None:
        with self.lock:
            entry = self.keys[name]
            assert entry.pending is not None
            entry.acked, entry.pending = entry.pending, None
            self.acked_ops += 1
            self.counts[op] = self.counts.get(op, 0) + 1


def writer(live: LiveServer, key: Key, storm: Storm, worker: int, round_: int) -> None:
    """Random operations on this writer's keys until the server goes away."""
    client = live.client(key)
    rng = random.Random(f"{worker}/{round_}")
    names = [f"w{worker}/k{i}" for i in range(KEYS_PER_WRITER)]
    version = round_ * 100_000
    while True:
        version += 1
        name = rng.choice(names)
        op = rng.choices(["put", "multipart", "copy", "delete"], weights=[60, 8, 16, 16])[0]
        try:
            if op == "put":
                body = content(name, version)
                storm.begin(name, body, f"put v{version}")
                client.put_object(Bucket=BUCKET, Key=name, Body=body)
            elif op == "multipart":
                body = multipart_content(name, version)
                storm.begin(name, body, f"multipart v{version}")
                upload = client.create_multipart_upload(Bucket=BUCKET, Key=name)["UploadId"]
                parts = []
                for number, start in ((1, 0), (2, 5 * MiB)):
                    chunk = body[start : start + 5 * MiB] if number == 1 else body[start:]
                    etag = client.upload_part(
                        Bucket=BUCKET, Key=name, UploadId=upload, PartNumber=number, Body=chunk
                    )["ETag"]
                    parts.append({"PartNumber": number, "ETag": etag})
                client.complete_multipart_upload(
                    Bucket=BUCKET, Key=name, UploadId=upload, MultipartUpload={"Parts": parts}
                )
            elif op == "copy":
                with storm.lock:
                    sources = [n for n in names if storm.keys[n].acked != DELETED and n != name]
                if not sources:
                    continue
                source = rng.choice(sources)
                storm.begin(name, storm.keys[source].acked, f"copy from {source}")
                client.copy_object(
                    Bucket=BUCKET, Key=name, CopySource={"Bucket": BUCKET, "Key": source}
                )
            else:
                storm.begin(name, DELETED, "delete")
                client.delete_object(Bucket=BUCKET, Key=name)
        except (ClientError, BotoCoreError, OSError) as exc:
            if not storm.killed:
                storm.early_errors.append(f"{op} {name}: {exc!r}")
            return  # the server is gone: this operation stays in flight
        storm.ack(name, op)


def kill_now(live: LiveServer) -> None:
    """SIGKILL the server and wait until every one of its processes is gone."""
    assert live.process is not None
    pids = process_tree(live.process.pid)
    live.kill()

    def all_gone() -> bool:
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rfind(")") + 2] != "Z":
                return False
        return True

    wait_for(all_gone, 15, "a worker outlived its killed parent")


def verify(live: LiveServer, key: Key, storm: Storm) -> dict[str, int]:
    """Every key holds its acknowledged or its in-flight state; resolve the in-flight ones."""
    client = live.client(key)
    listed = {
        o["Key"]: o
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in page.get("Contents", [])
    }
    outcome = {"kept_acknowledged": 0, "in_flight_landed": 0, "in_flight_lost": 0}
    for name, entry in storm.keys.items():
        try:
            got = client.get_object(Bucket=BUCKET, Key=name)
            body: bytes = got["Body"].read()
            etag = got["ETag"].strip('"')
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "NoSuchKey", exc.response
            body, etag = DELETED, ""
        allowed = [entry.acked] + ([entry.pending] if entry.pending is not None else [])
        assert body in allowed, (
            f"{name} holds {len(body)} bytes of no allowed state "
            f"(acked {len(entry.acked)} B, in flight {entry.history[-1:]})"
        )
        if body != DELETED:
            assert name in listed and listed[name]["Size"] == len(body), name
            if "-" not in etag:
                assert etag == hashlib.md5(body).hexdigest(), f"{name}: ETag does not match"
        else:
            assert name not in listed, f"{name} is listed but cannot be read"
        if entry.pending is not None:
            landed = body == entry.pending and body != entry.acked
            outcome["in_flight_landed" if landed else "in_flight_lost"] += 1
            entry.acked, entry.pending = body, None
        else:
            outcome["kept_acknowledged"] += 1
    assert set(listed) <= set(storm.keys), f"unexpected keys {set(listed) - set(storm.keys)}"
    assert list((live.data_dir / "tmp").iterdir()) == [], "tmp/ was not emptied at start-up"
    return outcome


@pytest.mark.timeout(120 + 90 * ROUNDS)
def test_kill_9_storms_lose_nothing_acknowledged(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data")
    live.data_dir.mkdir()
    live.start()
    key = account_key(live, "storm@example.com")
    live.client(key).create_bucket(Bucket=BUCKET)
    storm = Storm()
    for worker in range(WRITERS):
        for i in range(KEYS_PER_WRITER):
            storm.keys[f"w{worker}/k{i}"] = KeyState()
    rng = random.Random(int(os.environ.get("NEXQ_CRASH_SEED", "7")))
    figures: list[dict[str, Any]] = []
    try:
        for round_ in range(ROUNDS):
            before = storm.acked_ops
            target = before + rng.randint(30, 150)
            extra_delay = rng.uniform(0, 0.4)
            with ThreadPoolExecutor(WRITERS) as pool:
                futures = [pool.submit(writer, live, key, storm, w, round_) for w in range(WRITERS)]
                wait_for(lambda t=target: storm.acked_ops >= t, 120, "writers made no progress")
                time.sleep(extra_delay)  # a random moment, by design: not a wait for a condition
                storm.killed = True
                kill_now(live)
                for future in futures:
                    future.result(timeout=120)
            assert not storm.early_errors, f"errors before the kill: {storm.early_errors[:5]}"
            storm.killed = False
            in_flight = sum(1 for e in storm.keys.values() if e.pending is not None)
            live.start()
            outcome = verify(live, key, storm)
            figures.append(
                {"round": round_, "acked": storm.acked_ops - before, "in_flight": in_flight}
                | outcome
            )
    finally:
        if live.process is not None:
            live.process.send_signal(signal.SIGINT)
            live.process.wait(30)
            live.process = None
    report = json.loads(nexq("admin", "fsck", data_dir=live.data_dir).stdout)
    assert report["clean"] is True, report
    assert report["temporaries"] == 0, report
    summary = {
        "rounds": ROUNDS,
        "acknowledged_operations": storm.acked_ops,
        "by_operation": storm.counts,
        "in_flight_at_kills": sum(f["in_flight"] for f in figures),
        "in_flight_landed": sum(f["in_flight_landed"] for f in figures),
        "blobs_referenced": report["blobs_referenced"],
    }
    print(json.dumps(summary))
    out = os.environ.get("NEXQ_CRASH_REPORT")
    if out:
        Path(out).write_text(json.dumps({"summary": summary, "rounds": figures}, indent=2))
    assert storm.counts.get("multipart", 0) + storm.counts.get("copy", 0) > 0
