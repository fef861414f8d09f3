"""DeleteObjects of 1,000 keys with S3's awkward characters, and listings after it, in a time
a client does not notice.

Each key used to be deleted in a transaction of its own: 1,000 durable commits (1,000 WAL
fsyncs) for one request, which took more than 30 s on a busy disk. The bounds are generous
(on a quiet disk the request takes well under a second); tests/unit/test_bulk_delete.py
counts the commits themselves.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

KEYS = [f"dir {i % 7}/ünï cødé %2B+{i}\nline {i}" for i in range(1100)]


def _timed(call: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    answer = call(**kwargs)
    return answer, time.monotonic() - started


def test_a_thousand_keys_delete_and_list_quickly(s3: Any, bucket: str) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), KEYS))
    gone, kept = KEYS[:1000], sorted(KEYS[1000:], key=str.encode)
    answer, took = _timed(
        s3.delete_objects,
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in gone]},
    )
    assert took < 5, f"DeleteObjects of 1,000 keys took {took:.1f} s"
    assert sorted(d["Key"] for d in answer["Deleted"]) == sorted(gone)
    assert "Errors" not in answer
    for call, kwargs in (
        (s3.list_objects_v2, {}),
        (s3.list_objects, {}),
        (s3.list_objects_v2, {"EncodingType": "url"}),
        (s3.list_objects, {"EncodingType": "url"}),
    ):
        listing, took = _timed(call, Bucket=bucket, **kwargs)
        assert took < 2, f"{call.__name__} {kwargs} took {took:.1f} s"
        keys = [o["Key"] for o in listing["Contents"]]
        if kwargs:  # asked for explicitly, boto3 hands the keys over still encoded
            keys = [unquote(k) for k in keys]
        assert keys == kept
    prefixes, took = _timed(s3.list_objects_v2, Bucket=bucket, Delimiter="/")
    assert took < 2
    assert [p["Prefix"] for p in prefixes["CommonPrefixes"]] == [f"dir {i}/" for i in range(7)]
