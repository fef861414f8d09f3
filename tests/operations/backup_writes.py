"""The writer that overwrites and deletes objects while a backup is taken, and what a
restored object may then hold (tests/operations/test_installation_backup*.py)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.live import Key, LiveServer

SIZE = 48 * 1024
CHURN = 16  # keys a writer overwrites and deletes during a backup


def body_of(key: str, counter: int) -> bytes:
    """An object's body, derivable from its key and the writer's counter (named in it)."""
    head = f"{key}#{counter}#".encode()
    filler = hashlib.sha256(head).digest() * (SIZE // 32 + 1)
    return (head + filler)[:SIZE]


def counter_in(key: str, body: bytes) -> int:
    """The counter a body names, checked against the body it must then be."""
    name, counter, _ = body.split(b"#", 2)
    assert name.decode() == key
    assert body == body_of(key, int(counter)), f"{key}: the bytes are not those of its counter"
    return int(counter)


@dataclass
class Write:
    """One acknowledged write of the churning writer: ``counter`` None is a delete."""

    key: str
    counter: int | None
    issued: float
    acked: float


@contextmanager
def churning(server: LiveServer, key: Key, bucket: str, first: int = 0) -> Iterator[list[Write]]:
    """Overwrite (and every 7th time delete) ``churn/0`` … ``churn/15`` of ``bucket`` until
    the block ends, counting from ``first``; yields the acknowledged writes once the writer
    is going (each key written once at least)."""
    writes: list[Write] = []
    stop = threading.Event()

    def churn() -> None:
        client = server.client(key)
        counter = first
        while not stop.is_set():
            counter += 1
            name = f"churn/{counter % CHURN}"
            issued = time.monotonic()
            if counter % 7 == 0:
                client.delete_object(Bucket=bucket, Key=name)
                writes.append(Write(name, None, issued, time.monotonic()))
            else:
                client.put_object(Bucket=bucket, Key=name, Body=body_of(name, counter))
                writes.append(Write(name, counter, issued, time.monotonic()))

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        deadline = time.monotonic() + 10
        while len(writes) < CHURN and time.monotonic() < deadline:  # the writer is going
            time.sleep(0.01)
        yield writes
    finally:
        stop.set()
        writer.join()


def possible(writes: list[Write], name: str, started: float, ended: float) -> set[int | None]:
    """What the key may hold in a snapshot taken during a backup from ``started`` to
    ``ended``: its state when the backup started (0 if never written), or any write issued
    before it ended (None: deleted)."""
    mine = [w for w in writes if w.key == name]
    before = [w for w in mine if w.acked < started]
    states: set[int | None] = {before[-1].counter if before else 0}
    states |= {w.counter for w in mine if w.acked >= started and w.issued < ended}
    return states
