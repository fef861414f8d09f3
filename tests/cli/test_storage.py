"""dcp storage buckets, objects and usage against a live server."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.cli.conftest import Dcp
from tests.live import BURST, LiveServer

BUCKET_FIELDS = {"name", "created_at", "object_count", "stored_bytes", "object_lock"}
OBJECT_FIELDS = {"key", "size", "etag", "last_modified"}


def test_buckets_create_list_show_delete(user: Dcp, bucket_name: Callable[[], str]) -> None:
    first, second = bucket_name(), bucket_name()
    created = user.json("storage", "buckets", "create", first)
    assert set(created) == BUCKET_FIELDS
    assert (created["name"], created["object_count"], created["stored_bytes"]) == (first, 0, 0)
    user("storage", "buckets", "create", second)

    listed = user.json("storage", "buckets", "list")
    assert isinstance(listed, list)
    assert sorted(b["name"] for b in listed) == sorted([first, second])
    assert all(set(b) == BUCKET_FIELDS for b in listed)
    table = user("storage", "buckets", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "OBJECTS", "SIZE", "CREATED"]
    assert sorted(line.split()[0] for line in table[1:]) == sorted([first, second])

    assert user.json("storage", "buckets", "show", first)["name"] == first
    assert first in user("storage", "buckets", "show", first).stdout

    user("storage", "buckets", "delete", second)
    assert [b["name"] for b in user.json("storage", "buckets", "list")] == [first]
    assert user("--output", "json", "storage", "buckets", "delete", first).stdout == ""


def test_bucket_errors_map_to_exit_codes(user: Dcp, bucket_name: Callable[[], str]) -> None:
    missing = bucket_name()
    user.fails(4, "storage", "buckets", "show", missing)
    user.fails(4, "storage", "buckets", "delete", missing)
    user.fails(4, "storage", "objects", "list", missing)
    user.fails(6, "storage", "buckets", "create", "Not_A_Valid_Name!")
    user.fails(6, "storage", "buckets", "create", "ab")

    full = bucket_name()
    user("storage", "buckets", "create", full)
    user.fails(5, "storage", "buckets", "create", full)
    _put(user, full, "keep.txt", b"still here")
    user.fails(5, "storage", "buckets", "delete", full)
    assert user.json("storage", "buckets", "show", full)["object_count"] == 1


def test_objects_presign_put_get_list_rm(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = bucket_name()
    user("storage", "buckets", "create", bucket)
    body = os.urandom(100_000)
    key = "photos/2026/cat picture.bin"

    put = user.json("storage", "objects", "presign", bucket, key, "--method", "PUT")
    assert set(put) == {"url", "method", "expires_at"}
    assert put["method"] == "PUT"
    assert httpx.put(put["url"], content=body).status_code == 200
    _put(user, bucket, "photos/readme.txt", b"read me")
    _put(user, bucket, "top.txt", b"top")

    # Table mode prints the URL alone, ready for curl.
    url = user("storage", "objects", "presign", bucket, key, "--expires-in", "60").stdout
    assert url.count("\n") == 1
    got = httpx.get(url.strip())
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(body).digest()

    objects = user.json("storage", "objects", "list", bucket)["items"]
    assert isinstance(objects, list)
    assert all(set(o) == OBJECT_FIELDS for o in objects)
    assert {o["key"]: o["size"] for o in objects} == {
        key: len(body),
        "photos/readme.txt": 7,
        "top.txt": 3,
    }
    only = user.json("storage", "objects", "list", bucket, "--prefix", "photos/2026/")["items"]
    assert [o["key"] for o in only] == [key]
    grouped = user("storage", "objects", "list", bucket, "--delimiter", "/").stdout
    rows = [line.split()[0] for line in grouped.splitlines()[1:]]
    assert rows == ["photos/", "top.txt"]
    folders = user.json("storage", "objects", "list", bucket, "--delimiter", "/")
    assert folders["prefixes"] == ["photos/"]
    assert [o["key"] for o in folders["items"]] == ["top.txt"]

    user("storage", "objects", "rm", bucket, key)
    remaining = user.json("storage", "objects", "list", bucket)["items"]
    assert key not in [o["key"] for o in remaining]
    assert httpx.get(url.strip()).status_code == 404
    user.fails(4, "storage", "objects", "rm", bucket, key)
    user.fails(6, "storage", "objects", "presign", bucket, key, "--expires-in", "0")


def test_objects_revoke_links(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = bucket_name()
    user("storage", "buckets", "create", bucket)
    _put(user, bucket, "leaked.txt", b"leaked")
    url = user("storage", "objects", "presign", bucket, "leaked.txt").stdout.strip()
    assert httpx.get(url).content == b"leaked"
    said = user("storage", "objects", "revoke-links").stdout
    assert "revoked" in said
    assert httpx.get(url).status_code == 403
    again = user("storage", "objects", "presign", bucket, "leaked.txt").stdout.strip()
    assert httpx.get(again).content == b"leaked"


def test_object_listing_follows_every_page(
    user: Dcp, server: LiveServer, email: str, bucket_name: Callable[[], str]
) -> None:
    # 250 PUTs from 8 threads fill the pages; the write rate is lifted so that the test does
    # not depend on the tier's. Raised before the account's first request (a server keeps an
    # account's limits for up to 2 s).
    server.raise_limits(email, s3_write_rps=BURST)
    bucket = bucket_name()
    user("storage", "buckets", "create", bucket)
    s3 = server.client(server.key(email))
    keys = [f"k{i:04d}" for i in range(250)]  # the API pages by 100 unless told otherwise
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    listed = user.json("storage", "objects", "list", bucket)["items"]
    assert [o["key"] for o in listed] == keys
    table = user("storage", "objects", "list", bucket).stdout.splitlines()
    assert len(table) == 1 + len(keys)


def test_usage(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = bucket_name()
    user("storage", "buckets", "create", bucket)
    usage = user.json("storage", "usage")
    assert set(usage) == {"period", "buckets", "totals"}
    assert set(usage["period"]) == {"start", "end"}
    assert [b["bucket"] for b in usage["buckets"]] == [bucket]
    counters = {"data_in_bytes", "data_out_bytes", "operations", "class_a", "class_b"}
    assert set(usage["totals"]) == counters
    assert set(usage["buckets"][0]) == {"bucket", *counters}

    november = user.json("storage", "usage", "--month", "2026-11")
    assert november["period"] == {"start": "2026-11-01", "end": "2026-12-01"}
    table = user("storage", "usage", "--month", "2026-11").stdout
    assert "2026-11-01" in table
    assert bucket in table
    user.fails(6, "storage", "usage", "--month", "November")


def _put(user: Dcp, bucket: str, key: str, body: bytes) -> None:
    url = user.json("storage", "objects", "presign", bucket, key, "--method", "PUT")["url"]
    assert httpx.put(url, content=body).status_code == 200


def test_list_commands_print_json_arrays_of_the_api_shapes(
    user: Dcp, bucket_name: Callable[[], str]
) -> None:
    bucket = bucket_name()
    user("storage", "buckets", "create", bucket)
    user("storage", "keys", "create", "--label", "one")
    shapes = {
        ("storage", "buckets", "list"): BUCKET_FIELDS,
        ("storage", "keys", "list"): {"access_key_id", "label", "buckets", "status", "created_at"},
        ("api-keys", "list"): {
            "id",
            "name",
            "description",
            "scopes",
            "status",
            "created_at",
            "last_used_at",
        },
    }
    for args, fields in shapes.items():
        out = json.loads(user("--output", "json", *args).stdout)
        assert isinstance(out, list), args
        assert len(out) == 1, (args, out)
        assert set(out[0]) == fields, args
