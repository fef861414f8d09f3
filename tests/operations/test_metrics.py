"""The operator's metrics at /metrics and the access log, after known traffic: counts are
exact whichever of the server's two workers served each request, and no secret reaches
the log."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.live import BURST, LiveServer

OPERATOR = "operator@nexq.local"
DASHBOARD = Path(__file__).resolve().parents[2] / "packaging" / "grafana" / "nexq.json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("metrics")
    server = LiveServer(
        folder / "data",
        env={"NEXQ_WORKERS": "2", "NEXQ_ACCESS_LOG": str(folder / "access.log")},
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def operator(live: LiveServer) -> httpx.Client:
    token = live.api_key(OPERATOR, scopes=("admin:read",))
    return httpx.Client(base_url=live.api_url, headers={"Authorization": f"Bearer {token}"})


def scrape(operator: httpx.Client) -> Samples:
    answer = operator.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_known_traffic_is_counted_exactly_across_workers(
    live: LiveServer, operator: httpx.Client
) -> None:
    email = "counted@example.com"
    live.account(email)
    (account_id,) = live.sql("SELECT id FROM accounts WHERE email = ?", email)[0]
    live.raise_limits(email, s3_read_rps=BURST, s3_write_rps=BURST, storage_bytes=12_000)
    s3 = live.client(live.key(email))
    before = scrape(operator)
    # A job's run counts are exported from the server's start, at 0 until it runs: the
    # dashboard's rate of failed runs has its series before any run, not "no data".
    failed = {"job": "flush usage counts", "outcome": "failed"}
    assert ("nexq_job_runs_total", frozenset(failed.items())) in before
    s3.create_bucket(Bucket="counted")
    sizes = [100, 1000, 9000]
    for index, size in enumerate(sizes):
        s3.put_object(Bucket="counted", Key=f"k{index}", Body=b"x" * size)
    for index in (0, 1):
        assert len(s3.get_object(Bucket="counted", Key=f"k{index}")["Body"].read()) == sizes[index]
    with pytest.raises(ClientError, match="NoSuchKey"):
        s3.get_object(Bucket="counted", Key="absent")
    # Over the account's 12,000 bytes: a refusal by quota.
    with pytest.raises(ClientError, match="QuotaExceeded"):
        s3.put_object(Bucket="counted", Key="big", Body=b"x" * 2000)
    after = scrape(operator)

    # Counted in memory, apart from the data disk (a full one must not stop the server).
    assert live.process is not None
    (counts,) = Path("/dev/shm").glob(f"nexq-metrics-{live.process.pid}-*")
    assert counts.stat().st_mode & 0o777 == 0o700 and any(counts.glob("*.db"))

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "nexq_requests_total"
    assert grew(requests, service="s3", operation="CreateBucket", status="200") == 1
    assert grew(requests, service="s3", operation="PutObject", status="200") == 3
    assert grew(requests, service="s3", operation="PutObject", status="403") == 1
    assert grew(requests, service="s3", operation="GetObject", status="200") == 2
    assert grew(requests, service="s3", operation="GetObject", status="404") == 1
    latency = "nexq_request_duration_seconds_count"
    assert grew(latency, service="s3", operation="PutObject") == 4
    assert grew("nexq_refusals_total", service="s3", kind="quota") == 1
    # Body bytes: what boto3 sent (its chunked framing and checksums included) and the two
    # objects and two error documents it got.
    sent_in = grew("nexq_bytes_total", service="s3", direction="in")
    sent_out = grew("nexq_bytes_total", service="s3", direction="out")
    assert sum(sizes) + 2000 <= sent_in < sum(sizes) + 2000 + 4096, sent_in
    assert sizes[0] + sizes[1] < sent_out < sizes[0] + sizes[1] + 2048, sent_out
    # The largest object's blob is a file, made durable before its row committed in some
    # group; the two small ones live in their rows (storage.blobs.inline): nothing to flush.
    assert grew("nexq_blob_sync_seconds_count") == 1
    assert grew("nexq_group_commit_batch_size_count") >= 1
    # What the installation holds, read at the scrape: this server's only bucket.
    assert value(after, "nexq_storage_buckets") == 1
    assert value(after, "nexq_storage_objects") == 3
    assert value(after, "nexq_storage_stored_bytes") == sum(sizes)
    assert value(after, "nexq_accounts", role="customer", status="active") == 1
    assert value(after, "nexq_accounts", role="operator", status="active") == 1

    # The control plane counts by route, and the account is the caller's.
    customer = httpx.Client(
        base_url=live.api_url, headers={"Authorization": f"Bearer {live.api_key(email)}"}
    )
    assert customer.get("/v1/databases/nosuch").status_code == 404
    later = scrape(operator)
    route = {"service": "control-plane", "operation": "/v1/databases/{name}", "status": "404"}
    assert value(later, requests, **route) - value(after, requests, **route) == 1

    # The Grafana dashboard shipped asks only for series the server exports.
    dashboard = json.loads(DASHBOARD.read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"nexq_[a-z_]+", target["expr"])
    }
    exported = {name for name, _ in later}
    assert len(asked) >= 12 and asked <= exported, asked - exported

    # The access log: a JSON line per request, the account and S3's request id in it.
    lines = [json.loads(line) for line in log_lines(live)]
    puts = [e for e in lines if e["operation"] == "PutObject" and e["status"] == 200]
    assert len(puts) == 3
    assert {e["account"] for e in puts} == {account_id}
    assert sorted(e["bytes_in"] for e in puts) >= sizes
    assert all(e["path"].startswith("/counted/k") and e["duration_ms"] > 0 for e in puts)
    assert all(len(e["request_id"]) == 16 for e in puts)
    api_lines = [e for e in lines if e["service"] == "control-plane"]
    assert any(
        e["operation"] == "/v1/databases/{name}" and e["status"] == 404 and e["path"] is None
        for e in api_lines
    )


def log_lines(live: LiveServer) -> list[str]:
    return (live.data_dir.parent / "access.log").read_text().splitlines()


def test_no_secret_reaches_the_access_log(live: LiveServer) -> None:
    email = "secretive@example.com"
    live.account(email)
    key = live.key(email)
    s3 = live.client(key)
    s3.create_bucket(Bucket="quiet")
    s3.put_object(Bucket="quiet", Key="k", Body=b"hello")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "quiet", "Key": "k"})
    assert httpx.get(url).status_code == 200
    token = live.api_key(email)
    assert (
        httpx.get(
            f"{live.api_url}/v1/account", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    text = "\n".join(log_lines(live))
    query = url.partition("?")[2]  # the presigned URL's signature is in it
    assert "Signature=" in query
    for secret in (key.secret_access_key, token, query, "Signature", "Authorization"):
        assert secret not in text


def test_metrics_are_for_operators_only(live: LiveServer, operator: httpx.Client) -> None:
    email = "curious@example.com"
    live.account(email)
    customer = httpx.get(
        f"{live.api_url}/metrics", headers={"Authorization": f"Bearer {live.api_key(email)}"}
    )
    assert customer.status_code == 403 and "admin:read" in customer.json()["detail"]
    anonymous = httpx.get(f"{live.api_url}/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"


def test_metrics_off_counts_nothing_and_serves_no_page(tmp_path: Path) -> None:
    # A killed server may have left a folder named with the pid this one gets (pids wrap).
    before = set(Path("/dev/shm").glob("nexq-metrics-*"))
    server = LiveServer(tmp_path / "data", env={"NEXQ_METRICS": "off"})
    server.start()
    try:
        token = server.api_key(OPERATOR, scopes=("admin:read",))
        answer = httpx.get(
            f"{server.api_url}/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 404
        assert not (server.data_dir / "run" / "metrics").exists()
        made = set(Path("/dev/shm").glob(f"nexq-metrics-{server.process.pid}-*")) - before  # type: ignore[union-attr]
        assert not made
    finally:
        server.stop()
