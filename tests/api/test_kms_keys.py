"""KMS keys and a bucket's default encryption over the REST API, checked against what boto3
sees through the S3 endpoint."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.conftest import api, assert_problem, fresh_email
from tests.live import BURST, LiveServer

_n = itertools.count()


@pytest.fixture(scope="module")
def s3(client: httpx.Client, server: LiveServer) -> Any:
    key = client.post("/v1/storage/access-keys", json={"label": "kms", "buckets": "all"}).json()
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=key["access_key_id"],
        aws_secret_access_key=key["secret_access_key"],
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(client: httpx.Client) -> str:
    name = f"kms-{next(_n)}"
    assert client.post("/v1/storage/buckets", json={"name": name}).status_code == 201
    return name


@pytest.fixture(scope="module")
def stranger(server: LiveServer) -> Iterator[httpx.Client]:
    email = server.account(fresh_email("kms-stranger"))
    server.raise_limits(email, api_rps=BURST)
    with api(server, server.api_key(email)) as c:
        yield c


def test_key_life_cycle(client: httpx.Client, stranger: httpx.Client) -> None:
    made = client.post(
        "/v1/storage/kms-keys", json={"alias": "alias/app/prod", "description": "the app's"}
    )
    assert made.status_code == 201
    key = made.json()
    assert set(key) == {"id", "arn", "alias", "description", "state", "aws_managed", "created_at"}
    assert key["arn"].endswith(f":key/{key['id']}") and key["arn"].startswith("arn:aws:kms:")
    assert (key["alias"], key["state"], key["aws_managed"]) == ("alias/app/prod", "Enabled", False)
    for named in (key["id"], key["arn"], "alias/app/prod"):
        assert client.get(f"/v1/storage/kms-keys/{named}").json() == key
    assert key in client.get("/v1/storage/kms-keys").json()["items"]
    off = client.post("/v1/storage/kms-keys/alias/app/prod/disable")
    assert off.status_code == 200 and off.json()["state"] == "Disabled"
    assert client.get(f"/v1/storage/kms-keys/{key['id']}").json()["state"] == "Disabled"
    assert client.post(f"/v1/storage/kms-keys/{key['id']}/enable").json()["state"] == "Enabled"
    # Another account sees nothing of it; its list is its own.
    for call in (
        lambda: stranger.get(f"/v1/storage/kms-keys/{key['id']}"),
        lambda: stranger.get(f"/v1/storage/kms-keys/{key['arn']}"),
        lambda: stranger.post(f"/v1/storage/kms-keys/{key['id']}/disable"),
        lambda: stranger.post(f"/v1/storage/kms-keys/{key['id']}/enable"),
    ):
        assert_problem(call(), 404, "not-found")
    assert key not in stranger.get("/v1/storage/kms-keys").json()["items"]
    assert client.get(f"/v1/storage/kms-keys/{key['id']}").json()["state"] == "Enabled"


def test_keys_are_checked(client: httpx.Client) -> None:
    client.post("/v1/storage/kms-keys", json={"alias": "alias/taken"}).raise_for_status()
    taken = assert_problem(
        client.post("/v1/storage/kms-keys", json={"alias": "alias/taken"}), 409, "conflict"
    )
    assert "alias/taken" in str(taken["detail"])
    for alias in ("no-prefix", "alias/", "alias/with space", "alias/aws/mine"):
        answer = client.post("/v1/storage/kms-keys", json={"alias": alias})
        assert_problem(answer, 400, "invalid")
    assert_problem(client.get("/v1/storage/kms-keys/alias/none"), 404, "not-found")
    assert_problem(client.get("/v1/storage/kms-keys/not-a-key"), 404, "not-found")
    assert client.post("/v1/storage/kms-keys", json={"color": "red"}).status_code == 422


def test_bucket_default_encryption(client: httpx.Client, s3: Any, bucket: str) -> None:
    url = f"/v1/storage/buckets/{bucket}/encryption"
    default = {
        "algorithm": "AES256",
        "kms_key_id": None,
        "bucket_key_enabled": False,
        "customer_keys_blocked": True,  # a new bucket blocks SSE-C, as on AWS
    }
    assert client.get(url).json() == default
    key = client.post("/v1/storage/kms-keys", json={"alias": f"alias/b{next(_n)}"}).json()
    wanted = {"algorithm": "aws:kms", "kms_key_id": key["alias"], "bucket_key_enabled": True}
    # A change that does not name the SSE-C block keeps the bucket's.
    assert client.put(url, json=wanted).json() == {**wanted, "customer_keys_blocked": True}
    allowed = {**wanted, "customer_keys_blocked": False}
    assert client.put(url, json=allowed).json() == allowed
    assert client.get(url).json() == allowed
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert "BlockedEncryptionTypes" not in rule[0]
    client.put(url, json={**wanted, "customer_keys_blocked": True}).raise_for_status()
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule[0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key["alias"]
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"by default")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", key["arn"])
    # The account's aws/s3 key when none is named.
    client.put(url, json={"algorithm": "aws:kms"}).raise_for_status()
    other = s3.put_object(Bucket=bucket, Key="k2", Body=b"by default")["SSEKMSKeyId"]
    managed = [k for k in client.get("/v1/storage/kms-keys").json()["items"] if k["aws_managed"]]
    assert [k["arn"] for k in managed] == [other]
    assert_problem(
        client.put(url, json={"algorithm": "aws:kms", "kms_key_id": "alias/none"}), 404, "not-found"
    )
    assert_problem(
        client.put(url, json={"algorithm": "AES256", "kms_key_id": key["id"]}), 400, "invalid"
    )
    assert client.delete(url).status_code == 204
    assert client.get(url).json() == default
    assert s3.put_object(Bucket=bucket, Key="k3", Body=b"x")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"by default"


def test_disabled_key_through_the_api(client: httpx.Client, s3: Any, bucket: str) -> None:
    key = client.post("/v1/storage/kms-keys", json={}).json()
    kms = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key["id"]}
    s3.put_object(Bucket=bucket, Key="k", Body=b"sealed", **kms)
    client.post(f"/v1/storage/kms-keys/{key['id']}/disable").raise_for_status()
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="k")
    assert caught.value.response["Error"]["Code"] == "KMS.DisabledException"
    client.post(f"/v1/storage/kms-keys/{key['id']}/enable").raise_for_status()
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"sealed"


def test_another_accounts_bucket_is_not_found(stranger: httpx.Client, bucket: str) -> None:
    url = f"/v1/storage/buckets/{bucket}/encryption"
    assert_problem(stranger.get(url), 404, "not-found")
    assert_problem(stranger.put(url, json={"algorithm": "AES256"}), 404, "not-found")
    assert_problem(stranger.delete(url), 404, "not-found")
