"""Object Lock over the REST API: a bucket made with it, its default retention, checked
against what boto3 sees through the S3 endpoint (each side reads what the other wrote)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.conftest import api, assert_problem, fresh_email
from tests.api.test_bucket_settings import fields_of, url
from tests.live import BURST, LiveServer

_n = itertools.count()
NO_LOCK = {"enabled": False, "mode": None, "days": None, "years": None}
LOCK_NO_DEFAULT = {"enabled": True, "mode": None, "days": None, "years": None}


@pytest.fixture(scope="module")
def s3(client: httpx.Client, server: LiveServer) -> Any:
    key = client.post("/v1/storage/access-keys", json={"label": "locks", "buckets": "all"})
    body = key.json()
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=body["access_key_id"],
        aws_secret_access_key=body["secret_access_key"],
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="module")
def stranger(server: LiveServer) -> Iterator[httpx.Client]:
    """Another account, with every scope."""
    email = server.account(fresh_email("stranger"))
    server.raise_limits(email, api_rps=BURST)
    with api(server, server.api_key(email)) as c:
        yield c


def create(client: httpx.Client, object_lock: bool) -> str:
    name = f"lock-{next(_n)}"
    made = client.post("/v1/storage/buckets", json={"name": name, "object_lock": object_lock})
    assert made.status_code == 201, made.text
    return name


@pytest.fixture
def locked(client: httpx.Client) -> str:
    return create(client, True)


@pytest.fixture
def unlocked(client: httpx.Client) -> str:
    return create(client, False)


def s3_code(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call(**params)
    return str(refused.value.response["Error"]["Code"])


def test_a_bucket_made_with_object_lock_is_versioned_for_good(
    client: httpx.Client, s3: Any
) -> None:
    name = f"lock-{next(_n)}"
    made = client.post("/v1/storage/buckets", json={"name": name, "object_lock": True})
    assert made.status_code == 201, made.text
    assert made.json()["object_lock"] == LOCK_NO_DEFAULT
    assert client.get(f"/v1/storage/buckets/{name}").json()["object_lock"] == LOCK_NO_DEFAULT
    listed = {b["name"]: b for b in client.get("/v1/storage/buckets").json()["items"]}
    assert listed[name]["object_lock"] == LOCK_NO_DEFAULT
    config = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
    assert client.get(url(name, "versioning")).json() == {"status": "Enabled"}
    refused = client.put(url(name, "versioning"), json={"status": "Suspended"})
    assert_problem(refused, 409, "conflict")
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"


def test_a_bucket_is_made_without_object_lock_by_default(client: httpx.Client, s3: Any) -> None:
    name = f"lock-{next(_n)}"
    made = client.post("/v1/storage/buckets", json={"name": name})
    assert made.json()["object_lock"] == NO_LOCK
    assert client.get(url(name, "object-lock")).json() == NO_LOCK
    assert s3_code(s3.get_object_lock_configuration, Bucket=name) == (
        "ObjectLockConfigurationNotFoundError"
    )
    not_a_bool = client.post("/v1/storage/buckets", json={"name": f"{name}-x", "object_lock": 1})
    assert fields_of(assert_problem(not_a_bool, 422, "validation")) == {"object_lock"}
    assert client.get(f"/v1/storage/buckets/{name}-x").status_code == 404


def test_the_default_retention_reads_back_through_s3_and_applies(
    client: httpx.Client, s3: Any, locked: str
) -> None:
    answer = client.put(url(locked, "object-lock"), json={"mode": "GOVERNANCE", "days": 30})
    assert answer.status_code == 200, answer.text
    expected = {"enabled": True, "mode": "GOVERNANCE", "days": 30, "years": None}
    assert answer.json() == expected
    assert client.get(url(locked, "object-lock")).json() == expected
    assert client.get(f"/v1/storage/buckets/{locked}").json()["object_lock"] == expected
    rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}

    version = s3.put_object(Bucket=locked, Key="kept", Body=b"kept")["VersionId"]
    head = s3.head_object(Bucket=locked, Key="kept")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    left = head["ObjectLockRetainUntilDate"] - datetime.now(UTC)
    assert timedelta(days=29.9) < left < timedelta(days=30.1)
    gone = client.delete(url(locked, "objects/kept"), params={"version_id": version})
    assert_problem(gone, 403, "forbidden")
    assert s3.get_object(Bucket=locked, Key="kept", VersionId=version)["Body"].read() == b"kept"

    # What an S3 tool sets reads back here.
    s3.put_object_lock_configuration(
        Bucket=locked,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}},
        },
    )
    assert client.get(url(locked, "object-lock")).json() == {
        "enabled": True,
        "mode": "COMPLIANCE",
        "days": None,
        "years": 2,
    }

    # No fields: no default retention; the lock itself stays.
    assert client.put(url(locked, "object-lock"), json={}).json() == LOCK_NO_DEFAULT
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
    s3.put_object(Bucket=locked, Key="free", Body=b"free")
    assert "ObjectLockMode" not in s3.head_object(Bucket=locked, Key="free")


def test_a_bucket_without_object_lock_is_not_locked_by_a_settings_change(
    client: httpx.Client, s3: Any, unlocked: str
) -> None:
    for versioning in (None, "Enabled"):  # versioned or not: the lock comes only at creation
        if versioning:
            client.put(url(unlocked, "versioning"), json={"status": versioning})
        refused = client.put(url(unlocked, "object-lock"), json={"mode": "GOVERNANCE", "days": 1})
        problem = assert_problem(refused, 409, "conflict")
        assert "only be turned on when a bucket is created" in str(problem["detail"])
        assert client.get(url(unlocked, "object-lock")).json() == NO_LOCK
        assert s3_code(s3.get_object_lock_configuration, Bucket=unlocked) == (
            "ObjectLockConfigurationNotFoundError"
        )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"mode": "GOVERNANCE"}, "one period: days or years"),
        ({"mode": "GOVERNANCE", "days": 1, "years": 1}, "one period: days or years"),
        ({"days": 3}, "needs a mode"),
        ({"mode": "COMPLIANCE", "days": 0}, "must be a positive integer"),
        ({"mode": "COMPLIANCE", "years": -1}, "must be a positive integer"),
        ({"mode": "GOVERNANCE", "days": 36_501}, "at most 36500 days"),
        ({"mode": "GOVERNANCE", "years": 101}, "at most 100 years"),
    ],
)
def test_a_retention_s3_would_refuse_is_a_400_that_says_why(
    client: httpx.Client, locked: str, body: dict[str, Any], detail: str
) -> None:
    client.put(url(locked, "object-lock"), json={"mode": "GOVERNANCE", "days": 7})
    problem = assert_problem(client.put(url(locked, "object-lock"), json=body), 400, "invalid")
    assert detail in str(problem["detail"])
    assert client.get(url(locked, "object-lock")).json()["days"] == 7  # nothing changed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "FOREVER", "days": 1}, "mode"),
        ({"mode": "GOVERNANCE", "days": "30"}, "days"),
        ({"mode": "GOVERNANCE", "days": 1, "until": "2030-01-01"}, "until"),
    ],
)
def test_a_retention_of_the_wrong_shape_names_the_field(
    client: httpx.Client, locked: str, body: dict[str, Any], field: str
) -> None:
    answer = client.put(url(locked, "object-lock"), json=body)
    assert fields_of(assert_problem(answer, 422, "validation")) == {field}


def test_another_accounts_bucket_is_not_found_and_writing_needs_storage_write(
    server: LiveServer, user: str, client: httpx.Client, stranger: httpx.Client, locked: str
) -> None:
    for method, body in (("GET", None), ("PUT", {"mode": "COMPLIANCE", "days": 1})):
        answer = stranger.request(method, url(locked, "object-lock"), json=body)
        assert_problem(answer, 404, "not-found")
    with api(server, server.api_key(user, "lock reader", ("storage:read",))) as reader:
        assert reader.get(url(locked, "object-lock")).json() == LOCK_NO_DEFAULT
        refused = reader.put(url(locked, "object-lock"), json={"mode": "COMPLIANCE", "days": 1})
        assert assert_problem(refused, 403, "missing-scope")["scope"] == "storage:write"
        made = reader.post("/v1/storage/buckets", json={"name": "lock-nope", "object_lock": True})
        assert assert_problem(made, 403, "missing-scope")["scope"] == "storage:write"
    assert client.get(url(locked, "object-lock")).json() == LOCK_NO_DEFAULT
