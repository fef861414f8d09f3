"""Object Storage over the REST API, checked against what real S3 clients see."""

from __future__ import annotations

import itertools
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.conftest import api, assert_problem, fresh_email
from tests.live import LiveServer

_n = itertools.count()


def s3_for(server: LiveServer, key_id: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(client: httpx.Client) -> str:
    name = f"api-bucket-{next(_n)}"
    response = client.post("/v1/storage/buckets", json={"name": name})
    assert response.status_code == 201, response.text
    return name


@pytest.fixture(scope="module")
def s3(server: LiveServer, client: httpx.Client) -> Any:
    key = client.post("/v1/storage/access-keys", json={"label": "tests", "buckets": "all"})
    body = key.json()
    return s3_for(server, body["access_key_id"], body["secret_access_key"])


def test_info_names_the_s3_endpoint(server: LiveServer, client: httpx.Client) -> None:
    port = server.endpoint.rsplit(":", 1)[1]
    assert client.get("/v1/storage").json() == {
        "s3_endpoint": server.endpoint,
        "website_endpoint": f"http://{{bucket}}.s3-website.localhost:{port}",
        "region": "nexq-1",
    }


def test_bucket_shows_count_and_bytes(client: httpx.Client, bucket: str, s3: Any) -> None:
    created = client.get(f"/v1/storage/buckets/{bucket}").json()
    assert created["object_count"] == 0 and created["stored_bytes"] == 0
    s3.put_object(Bucket=bucket, Key="a", Body=b"x" * 10)
    s3.put_object(Bucket=bucket, Key="b", Body=b"y" * 5)
    shown = client.get(f"/v1/storage/buckets/{bucket}").json()
    assert (shown["object_count"], shown["stored_bytes"]) == (2, 15)
    listed = {b["name"]: b for b in client.get("/v1/storage/buckets").json()["items"]}
    assert listed[bucket]["stored_bytes"] == 15
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_errors(client: httpx.Client, bucket: str, s3: Any) -> None:
    invalid = client.post("/v1/storage/buckets", json={"name": "Not_Valid"})
    assert_problem(invalid, 400, "invalid")
    assert_problem(client.post("/v1/storage/buckets", json={"name": bucket}), 409, "conflict")
    s3.put_object(Bucket=bucket, Key="keep", Body=b"1")
    body = assert_problem(client.delete(f"/v1/storage/buckets/{bucket}"), 409, "conflict")
    assert "not empty" in str(body["detail"])
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"1"
    assert_problem(client.get("/v1/storage/buckets/no-such-bucket-here"), 404, "not-found")
    missing = client.post("/v1/storage/buckets", json={})
    assert assert_problem(missing, 422, "validation")["errors"] == [
        {"field": "name", "message": "Field required"}
    ]


def test_delete_empty_bucket(client: httpx.Client, bucket: str, s3: Any) -> None:
    assert client.delete(f"/v1/storage/buckets/{bucket}").status_code == 204
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=bucket)


def test_buckets_paginate(client: httpx.Client) -> None:
    names = [f"page-{next(_n)}" for _ in range(3)]
    for name in names:
        client.post("/v1/storage/buckets", json={"name": name})
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get(
            "/v1/storage/buckets", params={"limit": 1} | ({"cursor": cursor} if cursor else {})
        ).json()
        seen += [b["name"] for b in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and set(names) <= set(seen)


def test_objects_list_by_prefix_and_delimiter(client: httpx.Client, bucket: str, s3: Any) -> None:
    for key in ("docs/a.txt", "docs/b.txt", "docs/deep/c.txt", "img/x.png", "top.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    url = f"/v1/storage/buckets/{bucket}/objects"
    root = client.get(url, params={"delimiter": "/"}).json()
    assert [o["key"] for o in root["items"]] == ["top.txt"]
    assert root["prefixes"] == ["docs/", "img/"]
    docs = client.get(url, params={"prefix": "docs/", "delimiter": "/"}).json()
    assert [o["key"] for o in docs["items"]] == ["docs/a.txt", "docs/b.txt"]
    assert docs["prefixes"] == ["docs/deep/"]
    head = s3.head_object(Bucket=bucket, Key="docs/a.txt")
    assert docs["items"][0]["etag"] == head["ETag"] and docs["items"][0]["size"] == 10
    keys, cursor = [], None
    while True:
        page = client.get(url, params={"limit": 2} | ({"cursor": cursor} if cursor else {}))
        keys += [o["key"] for o in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert keys == ["docs/a.txt", "docs/b.txt", "docs/deep/c.txt", "img/x.png", "top.txt"]


def test_delete_object(client: httpx.Client, bucket: str, s3: Any) -> None:
    s3.put_object(Bucket=bucket, Key="dir/with space.txt", Body=b"bye")
    url = f"/v1/storage/buckets/{bucket}/objects/dir/with%20space.txt"
    assert client.delete(url).status_code == 204
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dir/with space.txt")
    assert_problem(client.delete(url), 404, "not-found")


def test_presigned_put_then_get(client: httpx.Client, bucket: str) -> None:
    url = f"/v1/storage/buckets/{bucket}/presign"
    put = client.post(url, json={"key": "up/loaded file.bin", "method": "PUT", "expires_in": 60})
    assert put.status_code == 200 and put.json()["method"] == "PUT"
    payload = bytes(range(256)) * 100
    assert httpx.put(put.json()["url"], content=payload).status_code == 200
    get = client.post(url, json={"key": "up/loaded file.bin"}).json()
    assert httpx.get(get["url"]).content == payload
    # The signature covers the method: a GET URL cannot be used to overwrite.
    assert httpx.put(get["url"], content=b"evil").status_code == 403
    assert httpx.get(get["url"]).content == payload


def test_presign_rules(server: LiveServer, client: httpx.Client, bucket: str, user: str) -> None:
    url = f"/v1/storage/buckets/{bucket}/presign"
    too_long = client.post(url, json={"key": "k", "expires_in": 7 * 24 * 3600 + 1})
    assert assert_problem(too_long, 422, "validation")["errors"][0]["field"] == "expires_in"  # type: ignore[index]
    with api(server, server.api_key(user, scopes=("storage:read",))) as reader:
        assert reader.post(url, json={"key": "k"}).status_code == 200
        denied = reader.post(url, json={"key": "k", "method": "PUT"})
        assert assert_problem(denied, 403, "missing-scope")["scope"] == "storage:write"


def test_access_keys_lifecycle_with_boto3(
    server: LiveServer, client: httpx.Client, bucket: str
) -> None:
    created = client.post("/v1/storage/access-keys", json={"label": "scoped", "buckets": [bucket]})
    assert created.status_code == 201
    key = created.json()
    assert key["access_key_id"].startswith("NQAK") and len(key["access_key_id"]) == 20
    assert len(key["secret_access_key"]) == 40 and key["buckets"] == [bucket]
    scoped = s3_for(server, key["access_key_id"], key["secret_access_key"])
    scoped.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert [b["Name"] for b in scoped.list_buckets()["Buckets"]] == [bucket]
    listed = client.get("/v1/storage/access-keys")
    assert key["secret_access_key"] not in listed.text
    mine = [k for k in listed.json()["items"] if k["access_key_id"] == key["access_key_id"]]
    assert mine[0]["status"] == "Active" and mine[0]["label"] == "scoped"
    revoked = client.post(f"/v1/storage/access-keys/{key['access_key_id']}/revoke")
    assert revoked.json()["status"] == "Revoked"
    with pytest.raises(ClientError) as refused:
        scoped.get_object(Bucket=bucket, Key="k")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert client.delete(f"/v1/storage/access-keys/{key['access_key_id']}").status_code == 204
    assert key["access_key_id"] not in client.get("/v1/storage/access-keys").text


def test_access_key_input_errors(client: httpx.Client) -> None:
    unknown = client.post(
        "/v1/storage/access-keys", json={"label": "x", "buckets": ["no-such-bucket-zz"]}
    )
    assert "no-such-bucket-zz" in str(assert_problem(unknown, 404, "not-found")["detail"])
    empty = client.post("/v1/storage/access-keys", json={"label": "x", "buckets": []})
    assert_problem(empty, 422, "validation")
    assert_problem(client.post("/v1/storage/access-keys/NQAKnope/revoke"), 404, "not-found")


def test_presign_key_is_not_an_access_key_of_the_account(client: httpx.Client, bucket: str) -> None:
    url = client.post(f"/v1/storage/buckets/{bucket}/presign", json={"key": "k"}).json()["url"]
    internal = url.split("X-Amz-Credential=")[1].split("%2F")[0]
    assert internal not in client.get("/v1/storage/access-keys").text
    assert_problem(client.post(f"/v1/storage/access-keys/{internal}/revoke"), 404, "not-found")
    assert_problem(client.delete(f"/v1/storage/access-keys/{internal}"), 404, "not-found")


def test_other_accounts_resources_are_not_found(
    server: LiveServer, client: httpx.Client, bucket: str, s3: Any
) -> None:
    s3.put_object(Bucket=bucket, Key="secret", Body=b"mine")
    mine = client.post("/v1/storage/access-keys", json={"label": "mine"}).json()
    other = server.account(fresh_email("stranger"))
    with api(server, server.api_key(other)) as stranger:
        base = f"/v1/storage/buckets/{bucket}"
        for response in (
            stranger.get(base),
            stranger.delete(base),
            stranger.get(f"{base}/objects"),
            stranger.delete(f"{base}/objects/secret"),
            stranger.post(f"{base}/presign", json={"key": "secret"}),
            stranger.post(f"/v1/storage/access-keys/{mine['access_key_id']}/revoke"),
            stranger.delete(f"/v1/storage/access-keys/{mine['access_key_id']}"),
        ):
            assert_problem(response, 404, "not-found")
        assert bucket not in stranger.get("/v1/storage/buckets").text
        assert_problem(stranger.post("/v1/storage/buckets", json={"name": bucket}), 409, "conflict")
    assert s3.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"mine"
    assert client.get("/v1/storage/access-keys").text.count(mine["access_key_id"]) == 1


def test_usage_has_its_final_shape(client: httpx.Client, bucket: str) -> None:
    usage = client.get("/v1/storage/usage", params={"month": "2026-02"}).json()
    assert usage["period"] == {"start": "2026-02-01", "end": "2026-03-01"}
    counters = {"data_in_bytes", "data_out_bytes", "operations", "class_a", "class_b"}
    assert set(usage["totals"]) == counters
    row = next(b for b in usage["buckets"] if b["bucket"] == bucket)
    assert set(row) == counters | {"bucket"}
    december = client.get("/v1/storage/usage", params={"month": "2026-12"}).json()
    assert december["period"] == {"start": "2026-12-01", "end": "2027-01-01"}
    assert_problem(client.get("/v1/storage/usage", params={"month": "2026-13"}), 400, "invalid")


def test_usage_is_readable_with_billing_read(server: LiveServer, user: str) -> None:
    with api(server, server.api_key(user, scopes=("billing:read",))) as billing:
        assert billing.get("/v1/storage/usage").status_code == 200
        assert_problem(billing.get("/v1/storage/buckets"), 403, "missing-scope")


def test_share_links_can_be_revoked_all_at_once(
    server: LiveServer, client: httpx.Client, bucket: str, user: str
) -> None:
    """A leaked 7-day link used to live 7 days: its signing key could not be revoked."""
    url = f"/v1/storage/buckets/{bucket}/presign"
    client.post(url, json={"key": "shared.txt", "method": "PUT"}).json()
    put = client.post(url, json={"key": "shared.txt", "method": "PUT"}).json()["url"]
    assert httpx.put(put, content=b"shared body").status_code == 200
    week = client.post(url, json={"key": "shared.txt", "expires_in": 604800}).json()["url"]
    assert httpx.get(week).content == b"shared body"
    with api(server, server.api_key(user, scopes=("storage:read",))) as reader:
        denied = reader.post("/v1/storage/share-links/revoke")
        assert assert_problem(denied, 403, "missing-scope")["scope"] == "storage:write"
    assert client.post("/v1/storage/share-links/revoke").status_code == 204
    for link in (week, put):
        gone = httpx.request("GET" if link == week else "PUT", link, content=b"x" * (link == put))
        assert gone.status_code == 403 and b"InvalidAccessKeyId" in gone.content
    fresh = client.post(url, json={"key": "shared.txt"}).json()["url"]
    assert fresh != week and httpx.get(fresh).content == b"shared body"
