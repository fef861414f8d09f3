"""Service tiers, limits and quotas with real clients: refused actions store nothing and the
error names the limit."""

from __future__ import annotations

import itertools
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from nexq.accounts.limits import CACHE_SECONDS
from tests.live import Key, LiveServer, nexq, nexq_json
from tests.signing import authorization, canonical_put, sign_request

_n = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with the tiers Nexq ships (new accounts are Free)."""
    live = LiveServer(tmp_path_factory.mktemp("quotas") / "data")
    live.start()
    yield live
    live.stop()


def fresh(server: LiveServer) -> tuple[str, Key, httpx.Client]:
    email = server.account(f"quota{next(_n)}@example.com")
    api = httpx.Client(
        base_url=server.api_url,
        headers={"Authorization": f"Bearer {server.api_key(email)}"},
    )
    return email, server.key(email), api


def limits(server: LiveServer, email: str, *changes: str) -> dict[str, Any]:
    args = ["admin", "account", "limits", "--account", email]
    for change in changes:
        args += ["--set", change]
    result: dict[str, Any] = nexq_json(*args, data_dir=server.data_dir)
    return result


def code_of(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = error.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_new_accounts_get_the_free_tier(server: LiveServer) -> None:
    email, _, api = fresh(server)
    assert limits(server, email) == {
        "buckets": 10,
        "storage_bytes": 10_000_000_000,
        "access_keys": 10,
        "api_keys": 10,
        # AWS's per-prefix rates: an abuse guard no client at its defaults reaches.
        "s3_read_rps": 5500,
        "s3_write_rps": 3500,
        "api_rps": 20,
        "support_open_tickets": 3,
        "registries": 2,
        "registry_repositories": 50,
        "registry_storage_bytes": 5_000_000_000,
        "registry_rps": 2000,
        "registry_credentials": 10,
        "databases": 1,
        "database_vcpus": 1,
        "database_memory_bytes": 512 * 1024**2,
        "database_storage_bytes": 1024**3,
        "database_replicas": 0,
        "database_backup_days": 7,
        "ssh_keys": 10,
        "instances": 1,
        "instance_vcpus": 1,
        "instance_memory_bytes": 512 * 1024**2,
        "snapshots": 2,
        "backups": 2,
    }
    page = api.get("/v1/account/limits").json()
    assert page["tier"] == {"id": "free", "name": "Free"}
    lines = {line["name"]: line for line in page["limits"]}
    assert lines["access_keys"]["used"] == 1 and lines["access_keys"]["percent"] == 10.0
    assert lines["api_keys"]["used"] == 1
    assert lines["s3_read_rps"]["used"] is None
    tiers = api.get("/v1/tiers").json()
    assert [t["id"] for t in tiers] == ["free", "developer", "professional", "enterprise"]
    assert tiers[0]["prices"]["class_a_million"] == "4.50" and tiers[0]["currency"] == "USD"


def test_operator_overrides_and_defaults(server: LiveServer) -> None:
    email, _, api = fresh(server)
    changed = limits(server, email, "buckets=3", "storage_bytes=unlimited")
    assert changed["buckets"] == 3 and changed["storage_bytes"] is None
    lines = {line["name"]: line for line in api.get("/v1/account/limits").json()["limits"]}
    assert lines["buckets"]["limit"] == 3 and lines["buckets"]["overridden"] is True
    assert limits(server, email, "buckets=default")["buckets"] == 10
    bad = nexq(
        "admin",
        "account",
        "limits",
        "--account",
        email,
        "--set",
        "bucket=3",
        data_dir=server.data_dir,
        check=False,
    )
    assert bad.returncode == 1 and "not a limit" in bad.stderr
    unchanged = nexq(
        "admin",
        "account",
        "limits",
        "--account",
        email,
        "--set",
        "buckets=lots",
        data_dir=server.data_dir,
        check=False,
    )
    assert unchanged.returncode == 1 and "buckets" in unchanged.stderr


def test_bucket_limit(server: LiveServer) -> None:
    email, key, api = fresh(server)
    limits(server, email, "buckets=2")
    s3 = server.client(key)
    names = [f"limited-{next(_n)}" for _ in range(3)]
    s3.create_bucket(Bucket=names[0])
    s3.create_bucket(Bucket=names[1])
    with pytest.raises(ClientError) as refused:
        s3.create_bucket(Bucket=names[2])
    code, status, message = code_of(refused)
    assert (code, status) == ("QuotaExceeded", 403) and "buckets limit" in message
    problem = api.post("/v1/storage/buckets", json={"name": names[2]})
    assert problem.status_code == 403
    assert problem.json()["type"] == "urn:nexq:problem:quota-exceeded"
    assert problem.json()["limit"] == "buckets"
    assert names[2] not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_storage_quota_refuses_writes_and_keeps_what_is_stored(server: LiveServer) -> None:
    email, key, _ = fresh(server)
    limits(server, email, f"storage_bytes={1_000_000}")
    s3 = server.client(key)
    bucket = f"quota-{next(_n)}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="first", Body=b"a" * 600_000)
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="second", Body=b"b" * 600_000)
    code, status, message = code_of(refused)
    assert (code, status) == ("QuotaExceeded", 403)
    assert "storage_bytes limit of 1000000 bytes" in message
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="second")
    # Replacing an object only counts the difference.
    s3.put_object(Bucket=bucket, Key="first", Body=b"c" * 900_000)
    assert s3.get_object(Bucket=bucket, Key="first")["Body"].read() == b"c" * 900_000
    with pytest.raises(ClientError):
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "first"})
    s3.delete_object(Bucket=bucket, Key="first")
    s3.put_object(Bucket=bucket, Key="second", Body=b"b" * 600_000)  # room again
    fsck = nexq("admin", "fsck", data_dir=server.data_dir, check=False)
    assert fsck.returncode == 0, fsck.stdout


MIB = 1024 * 1024


def usage_row(api: httpx.Client, bucket: str) -> dict[str, int]:
    """The bucket's counters this month, as the usage API reports them (None: none yet)."""
    month = datetime.now(UTC).strftime("%Y-%m")
    report = api.get("/v1/storage/usage", params={"month": month}, timeout=30).json()
    found: dict[str, int] = next((b for b in report["buckets"] if b["bucket"] == bucket), {})
    return found


def test_parts_in_progress_count_toward_the_quota(server: LiveServer) -> None:
    email, key, api = fresh(server)
    limits(server, email, f"storage_bytes={12 * MIB}")
    s3 = server.client(key)
    bucket = f"mp-quota-{next(_n)}"
    s3.create_bucket(Bucket=bucket)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]

    def send(number: int, fill: bytes, upload_id: str = upload) -> str:
        sent = s3.upload_part(
            Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=number, Body=fill * (5 * MIB)
        )
        return str(sent["ETag"])

    def held(upload_id: str = upload) -> list[tuple[int, str]]:
        listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id).get("Parts", [])
        return [(p["PartNumber"], p["ETag"]) for p in listed]

    one, two = send(1, b"1"), send(2, b"2")
    # 10 MiB of parts held: a third 5 MiB part cannot fit 12 MiB, and nothing of it is kept.
    with pytest.raises(ClientError) as refused:
        send(3, b"3")
    code, status, message = code_of(refused)
    assert (code, status) == ("QuotaExceeded", 403)
    assert f"storage_bytes limit of {12 * MIB} bytes" in message
    assert held() == [(1, one), (2, two)]
    # A part sent again replaces the one of its number: it counts once.
    again = send(2, b"B")
    assert held() == [(1, one), (2, again)]
    # Single PUTs count the parts too: 3 MiB no longer fit, 2 MiB do, and then the
    # account is at its quota, where no upload starts.
    with pytest.raises(ClientError) as too_big:
        s3.put_object(Bucket=bucket, Key="small", Body=b"s" * (3 * MIB))
    assert code_of(too_big)[:2] == ("QuotaExceeded", 403)
    s3.put_object(Bucket=bucket, Key="small", Body=b"s" * (2 * MIB))
    with pytest.raises(ClientError) as full:
        s3.create_multipart_upload(Bucket=bucket, Key="other")
    assert code_of(full)[:2] == ("QuotaExceeded", 403)
    lines = {line["name"]: line for line in api.get("/v1/account/limits").json()["limits"]}
    assert lines["storage_bytes"]["used"] == 12 * MIB  # what the quota counts, parts included
    # The completion still checks exactly: with the quota lowered, the object does not fit.
    limits(server, email, f"storage_bytes={11 * MIB}")
    named = [{"PartNumber": 1, "ETag": one}, {"PartNumber": 2, "ETag": again}]
    with pytest.raises(ClientError) as late:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": named}
        )
    assert code_of(late)[:2] == ("QuotaExceeded", 403)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="big")
    # Aborting frees its parts: room again for a new upload.
    limits(server, email, f"storage_bytes={12 * MIB}")
    s3.abort_multipart_upload(Bucket=bucket, Key="big", UploadId=upload)
    second = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    last = send(1, b"L", second)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=second,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": last}]},
    )
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == 5 * MIB
    # Data In counts the bodies stored: the three parts of the aborted upload (stored until
    # then), the PUT and the last part; not the refused part nor the refused PUT.
    billed_as_a = [  # every request above but the abort (not billed) and the HEADs
        *("CreateBucket", "CreateMultipartUpload", "UploadPart", "UploadPart"),
        *("UploadPart (refused)", "ListParts", "UploadPart", "ListParts"),
        *("PutObject (refused)", "PutObject", "CreateMultipartUpload (refused)"),
        *("CompleteMultipartUpload (refused)", "CreateMultipartUpload", "UploadPart"),
        "CompleteMultipartUpload",
    ]
    class_a = len(billed_as_a)
    deadline = time.monotonic() + 15
    while usage_row(api, bucket).get("class_a", 0) < class_a:  # flushed every second
        assert time.monotonic() < deadline, usage_row(api, bucket)
        time.sleep(0.2)
    counted = usage_row(api, bucket)
    assert counted["class_a"] == class_a
    assert counted["data_in_bytes"] == 3 * 5 * MIB + 2 * MIB + 5 * MIB
    fsck = nexq("admin", "fsck", data_dir=server.data_dir, check=False)
    assert fsck.returncode == 0, fsck.stdout


def test_a_part_copy_over_the_quota_is_refused(server: LiveServer) -> None:
    email, key, _ = fresh(server)
    limits(server, email, f"storage_bytes={1_000_000}")
    s3 = server.client(key)
    bucket = f"copy-quota-{next(_n)}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="source", Body=b"c" * 400_000)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="copy")["UploadId"]
    source = {"Bucket": bucket, "Key": "source"}
    s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=upload, PartNumber=1, CopySource=source)
    with pytest.raises(ClientError) as refused:  # 400,000 stored + 400,000 held + 400,000
        s3.upload_part_copy(
            Bucket=bucket, Key="copy", UploadId=upload, PartNumber=2, CopySource=source
        )
    assert code_of(refused)[:2] == ("QuotaExceeded", 403)
    listed = s3.list_parts(Bucket=bucket, Key="copy", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 400_000)]
    s3.upload_part_copy(  # a range that fits
        Bucket=bucket,
        Key="copy",
        UploadId=upload,
        PartNumber=2,
        CopySource=source,
        CopySourceRange="bytes=0-199999",
    )


def test_an_oversized_put_is_refused_before_its_body_is_sent(server: LiveServer) -> None:
    email, key, _ = fresh(server)
    limits(server, email, f"storage_bytes={1_000_000}")
    bucket = f"early-{next(_n)}"
    server.client(key).create_bucket(Bucket=bucket)
    amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    host = f"127.0.0.1:{server.s3_port}"
    headers = {
        "host": host,
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "x-amz-date": amz_date,
    }
    canonical, signed = canonical_put(f"/{bucket}/huge", headers, "UNSIGNED-PAYLOAD")
    signature = sign_request(key.secret_access_key, amz_date, canonical)
    request = (
        f"PUT /{bucket}/huge HTTP/1.1\r\nHost: {host}\r\n"
        f"x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nx-amz-date: {amz_date}\r\n"
        f"Authorization: {authorization(key.access_key_id, amz_date, signed, signature)}\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.s3_port), timeout=10) as conn:
        conn.sendall(request.encode())  # and not one byte of the 100 MiB body
        answer = b""
        while b"</Error>" not in answer:
            chunk = conn.recv(65536)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 403") and b"<Code>QuotaExceeded</Code>" in answer


def test_key_limits(server: LiveServer) -> None:
    email, _, api = fresh(server)
    limits(server, email, "access_keys=2", "api_keys=2")  # one of each exists already
    assert api.post("/v1/storage/access-keys", json={"label": "second"}).status_code == 201
    third = api.post("/v1/storage/access-keys", json={"label": "third"})
    assert third.status_code == 403 and third.json()["limit"] == "access_keys"
    refused = nexq(
        "admin",
        "access-key",
        "create",
        "--account",
        email,
        "--label",
        "cli",
        data_dir=server.data_dir,
        check=False,
    )
    assert refused.returncode == 1 and "access_keys limit" in refused.stderr
    assert api.post("/v1/api-keys", json={"name": "second"}).status_code == 201
    too_many = api.post("/v1/api-keys", json={"name": "third"})
    assert too_many.status_code == 403 and too_many.json()["limit"] == "api_keys"
    assert len(api.get("/v1/api-keys").json()["items"]) == 2


def test_request_rates(server: LiveServer) -> None:
    email, key, api = fresh(server)
    bucket = f"rated-{next(_n)}"
    s3 = server.client(key)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    limits(server, email, "s3_read_rps=2", "api_rps=2")

    def read(_: int) -> ClientError | None:
        try:
            s3.get_object(Bucket=bucket, Key="k")["Body"].read()
        except ClientError as exc:
            return exc
        return None

    # Bursts of 40 GETs from 8 threads, far above 2 per second however slow this machine
    # is; servers cache limits for up to 2 s, so the new limit may need a moment.
    deadline = time.monotonic() + 15
    refused: list[ClientError] = []
    while not refused and time.monotonic() < deadline:
        with ThreadPoolExecutor(8) as pool:
            refused = [e for e in pool.map(read, range(40)) if e is not None]
    assert refused, "bursts of concurrent GETs at 2 requests/s were all served"
    response = refused[0].response
    assert response["Error"]["Code"] == "SlowDown"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert int(response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
    # ListBuckets is a read: the same spent budget refuses it (it used to take from writes).
    with pytest.raises(ClientError, match="SlowDown"):
        for _ in range(40):
            s3.list_buckets()
    limited: list[httpx.Response] = []
    while not limited and time.monotonic() < deadline + 15:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: api.get("/v1/account"), range(40)))
        limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    assert limited[0].json()["limit"] == "api_rps"
    assert int(limited[0].headers["retry-after"]) >= 1


def test_tier_change_refused_when_usage_does_not_fit(server: LiveServer) -> None:
    _, key, api = fresh(server)
    moved = api.put("/v1/account/tier", json={"tier": "developer"})
    assert moved.status_code == 200 and moved.json()["tier"]["id"] == "developer"
    s3 = server.client(key)
    for _ in range(11):
        s3.create_bucket(Bucket=f"many-{next(_n)}")
    down = api.put("/v1/account/tier", json={"tier": "free"})
    assert down.status_code == 409
    assert "buckets (using 11, Free allows 10)" in down.json()["detail"]
    assert api.get("/v1/account/limits").json()["tier"]["id"] == "developer"
    unknown = api.put("/v1/account/tier", json={"tier": "platinum"})
    assert unknown.status_code == 400 and "platinum" in unknown.json()["detail"]


def test_concurrent_writers_fill_the_quota_exactly_and_counters_follow(
    server: LiveServer,
) -> None:
    email, key, api = fresh(server)
    limits(server, email, f"storage_bytes={10 * 1000}", "s3_write_rps=100000")
    s3 = server.client(key, max_pool_connections=16)
    one, two = f"exact-{next(_n)}", f"exact-{next(_n)}"
    s3.create_bucket(Bucket=one)
    s3.create_bucket(Bucket=two)

    def put(i: int) -> bool:
        try:
            s3.put_object(Bucket=(one, two)[i % 2], Key=f"k{i}", Body=b"x" * 1000)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "QuotaExceeded"
            return False
        return True

    # 40 writers race for room for 10: the check inside the commit is exact.
    with ThreadPoolExecutor(16) as pool:
        stored = [i for i, ok in zip(range(40), pool.map(put, range(40)), strict=True) if ok]
    assert len(stored) == 10

    def used() -> int:
        lines = {line["name"]: line for line in api.get("/v1/account/limits").json()["limits"]}
        buckets = api.get("/v1/storage/buckets").json()["items"]
        assert lines["storage_bytes"]["used"] == sum(b["stored_bytes"] for b in buckets)
        return int(lines["storage_bytes"]["used"])

    assert used() == 10_000
    # DeleteObjects frees, a copy and a multipart completion take room, an overwrite only
    # its difference; the account's figure is the sum of its buckets' after each.
    gone = [f"k{i}" for i in stored if i % 2 == 0][:3]
    s3.delete_objects(Bucket=one, Delete={"Objects": [{"Key": k} for k in gone]})
    assert used() == 10_000 - 1000 * len(gone)
    # Any object still there, from whichever bucket holds it (which writers won is chance).
    kept = next(i for i in stored if f"k{i}" not in gone)
    s3.copy_object(
        Bucket=two, Key="copied", CopySource={"Bucket": (one, two)[kept % 2], "Key": f"k{kept}"}
    )
    assert used() == 11_000 - 1000 * len(gone)
    upload = s3.create_multipart_upload(Bucket=one, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=one, Key="mp", UploadId=upload, PartNumber=1, Body=b"m" * 500)
    s3.complete_multipart_upload(
        Bucket=one,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag["ETag"]}]},
    )
    assert used() == 11_500 - 1000 * len(gone)
    s3.put_object(Bucket=two, Key="copied", Body=b"y" * 10)
    assert used() == 10_510 - 1000 * len(gone)
    fsck = nexq("admin", "fsck", data_dir=server.data_dir, check=False)
    assert fsck.returncode == 0, fsck.stdout


def test_fsck_finds_and_recounts_wrong_counters(server: LiveServer) -> None:
    email, key, api = fresh(server)
    s3 = server.client(key)
    bucket = f"recount-{next(_n)}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a", Body=b"a" * 300)
    conn = sqlite3.connect(server.data_dir / "meta.db", timeout=30)
    try:
        with conn:  # damage both counters, as a bug or a hand edit could
            conn.execute(
                "UPDATE buckets SET stored_bytes = 5, object_count = 9 WHERE name = ?", (bucket,)
            )
            conn.execute(
                "UPDATE account_storage SET stored_bytes = 7 WHERE account_id = "
                "(SELECT account_id FROM buckets WHERE name = ?)",
                (bucket,),
            )
    finally:
        conn.close()
    found = nexq("admin", "fsck", data_dir=server.data_dir, check=False)
    report = json.loads(found.stdout)
    assert found.returncode == 1 and report["clean"] is False
    assert report["counters"] == [
        f"bucket {bucket}: counted 9 objects, 5 bytes; holds 1 objects, 300 bytes",
        f"account {email}: counted 7 bytes; holds 300 bytes",
    ]
    repaired = nexq("admin", "fsck", "--repair", data_dir=server.data_dir, check=False)
    assert repaired.returncode == 0 and json.loads(repaired.stdout)["recounted"] == 2
    assert json.loads(nexq("admin", "fsck", data_dir=server.data_dir).stdout)["clean"] is True
    lines = {line["name"]: line for line in api.get("/v1/account/limits").json()["limits"]}
    assert lines["storage_bytes"]["used"] == 300


def test_limits_below_the_worker_count_hold_across_workers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Four workers, limits of 2 API and 3 S3 reads per second: requests are served at those
    rates in total (a per-worker share of them used to refuse every request)."""
    live = LiveServer(tmp_path_factory.mktemp("rates") / "data", extra=("--workers", "4"))
    live.start()
    try:
        email = live.account("rates@example.com")
        key = live.key(email)
        token = live.api_key(email)
        s3 = live.client(key)
        s3.create_bucket(Bucket="rated")
        s3.put_object(Bucket="rated", Key="k", Body=b"v")
        limits(live, email, "api_rps=2", "s3_read_rps=3")
        # Every worker holds the new limits once its cache (CACHE_SECONDS) has been renewed.
        everywhere = time.monotonic() + CACHE_SECONDS + 0.5
        auth = {"Authorization": f"Bearer {token}"}

        def get_account() -> int:
            # A fresh connection each time, so that the kernel spreads them over the workers.
            return httpx.get(f"{live.api_url}/v1/account", headers=auth).status_code

        deadline = time.monotonic() + 10  # workers cache limits for up to 2 s
        while get_account() != 429:
            assert time.monotonic() < deadline, "api_rps=2 never refused a request"
        # Then the bucket refills: 2 requests per second, at most 2 kept.
        time.sleep(max(0.0, everywhere - time.monotonic()) + 1.0)
        started = time.monotonic()
        api_codes = []
        while time.monotonic() - started < 3.0:
            api_codes.append(get_account())
        elapsed = time.monotonic() - started
        served = api_codes.count(200)
        assert set(api_codes) <= {200, 429}
        # A full bucket (2) plus 2 per second, whichever workers answered.
        assert min(len(api_codes), 2 + 2 * (elapsed - 1.5)) <= served <= 2 + 2 * elapsed + 1, (
            api_codes
        )

        def read() -> bool:
            try:
                s3.get_object(Bucket="rated", Key="k")["Body"].read()
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "SlowDown"
                return False
            return True

        deadline = time.monotonic() + 10
        # In bursts of 8 at once: one at a time, a loaded machine can answer slower than
        # the bucket refills (3 per second), and the limit would never be met.
        with ThreadPoolExecutor(8) as pool:
            while all(pool.map(lambda _: read(), range(8))):
                assert time.monotonic() < deadline, "s3_read_rps=3 never refused a request"
        time.sleep(max(0.0, everywhere - time.monotonic()) + 1.0)
        started = time.monotonic()
        answers = []
        while time.monotonic() - started < 2.0:
            answers.append(read())
        elapsed = time.monotonic() - started
        # One keep-alive connection reaches one worker, and still gets the whole rate
        # (a worker's share of it would serve at most 3 / 4 per second).
        assert min(len(answers), 5) <= sum(answers) <= 3 + 3 * elapsed + 1, answers
    finally:
        live.stop()
