"""ListBuckets' pages (max-buckets, continuation-token, prefix, bucket-region) and CreateBucket
of a bucket the caller owns, by region, with boto3 and raw signed requests."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.live import REGION, Key, LiveServer
from tests.signing import authorization, sign_request

_names = itertools.count()
NAMES = ["pg-alpha", "pg-bravo", "pg-charlie", "pg-delta", "pg-echo", "other-foxtrot"]


@pytest.fixture(scope="module")
def lister(server: LiveServer) -> Key:
    """An account of its own, so that its bucket list is exactly NAMES."""
    email = server.account(f"lister{next(_names)}@example.com")
    key = server.key(email)
    s3 = server.client(key)
    for name in NAMES:
        s3.create_bucket(Bucket=f"{name}-{key.access_key_id[-6:]}")
    return key


def names_of(key: Key) -> list[str]:
    return sorted(f"{name}-{key.access_key_id[-6:]}" for name in NAMES)


def unvalidated(server: LiveServer, key: Key) -> Any:
    """A client that sends what it is given: botocore refuses MaxBuckets below 1 itself."""
    return server.client(key, parameter_validation=False)


def test_without_parameters_every_bucket_in_one_page(server: LiveServer, lister: Key) -> None:
    answer = server.client(lister).list_buckets()
    assert [b["Name"] for b in answer["Buckets"]] == names_of(lister)
    assert "ContinuationToken" not in answer and "Prefix" not in answer


def test_max_buckets_pages_in_name_order_with_an_opaque_token(
    server: LiveServer, lister: Key
) -> None:
    s3 = server.client(lister)
    names = names_of(lister)
    first = s3.list_buckets(MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    token = first["ContinuationToken"]
    assert names[1] not in token and names[2] not in token  # opaque, not a bucket name
    second = s3.list_buckets(MaxBuckets=2, ContinuationToken=token)
    assert [b["Name"] for b in second["Buckets"]] == names[2:4]
    third = s3.list_buckets(MaxBuckets=2, ContinuationToken=second["ContinuationToken"])
    assert [b["Name"] for b in third["Buckets"]] == names[4:6]
    assert "ContinuationToken" not in third
    # A page that ends exactly at the last bucket has no token either.
    assert "ContinuationToken" not in s3.list_buckets(MaxBuckets=6)


def test_the_paginator_walks_every_page(server: LiveServer, lister: Key) -> None:
    pages = list(
        server.client(lister)
        .get_paginator("list_buckets")
        .paginate(PaginationConfig={"PageSize": 4})
    )
    assert [len(page["Buckets"]) for page in pages] == [4, 2]
    assert [b["Name"] for page in pages for b in page["Buckets"]] == names_of(lister)


def test_prefix_filters_and_is_echoed(server: LiveServer, lister: Key) -> None:
    s3 = server.client(lister)
    answer = s3.list_buckets(Prefix="pg-")
    assert [b["Name"] for b in answer["Buckets"]] == names_of(lister)[1:]
    assert answer["Prefix"] == "pg-"
    paged = s3.list_buckets(Prefix="pg-", MaxBuckets=3)
    assert [b["Name"] for b in paged["Buckets"]] == names_of(lister)[1:4]
    rest = s3.list_buckets(Prefix="pg-", ContinuationToken=paged["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names_of(lister)[4:]
    assert s3.list_buckets(Prefix="nothing-")["Buckets"] == []


def test_bucket_region(server: LiveServer, lister: Key) -> None:
    s3 = server.client(lister)
    here = s3.list_buckets(BucketRegion="nexq-1")["Buckets"]
    assert [b["Name"] for b in here] == names_of(lister)
    assert {b["BucketRegion"] for b in here} == {"nexq-1"}
    assert s3.list_buckets(BucketRegion="eu-west-3")["Buckets"] == []
    with pytest.raises(ClientError) as exc:  # a region AWS does not have
        s3.list_buckets(BucketRegion="eu-east-1")
    error = exc.value.response["Error"]
    assert (code(exc), status(exc)) == ("InvalidArgument", 400)
    assert error["Message"] == "Argument value eu-east-1 is not a valid AWS Region"
    assert error["ArgumentName"] == "bucket-region" and "ArgumentValue" not in error


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "Argument max-buckets must be an integer between 1 and 10000."),
        (10001, "Argument max-buckets must be an integer between 1 and 10000."),
        (-1, "Argument max-buckets must be an integer between 1 and 10000."),
    ],
)
def test_max_buckets_out_of_range(
    server: LiveServer, lister: Key, value: int, message: str
) -> None:
    with pytest.raises(ClientError) as exc:
        unvalidated(server, lister).list_buckets(MaxBuckets=value)
    assert (code(exc), status(exc)) == ("InvalidArgument", 400)
    error = exc.value.response["Error"]
    assert error["Message"] == message
    assert (error["ArgumentName"], error["ArgumentValue"]) == ("max-buckets", str(value))


def signed_get(server: LiveServer, key: Key, query: str) -> httpx.Response:
    """GET / with ``query`` (already in canonical order), signed by hand."""
    amz_date = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    host = urlsplit(server.endpoint).netloc
    payload = hashlib.sha256(b"").hexdigest()
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join(
        [
            "GET",
            "/",
            query,
            f"host:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n",
            signed,
            payload,
        ]
    )
    signature = sign_request(key.secret_access_key, amz_date, canonical)
    return httpx.get(
        f"{server.endpoint}/?{query}",
        headers={
            "x-amz-date": amz_date,
            "x-amz-content-sha256": payload,
            "authorization": authorization(key.access_key_id, amz_date, signed, signature),
        },
    )


def test_max_buckets_that_is_no_integer(server: LiveServer, lister: Key) -> None:
    answer = signed_get(server, lister, "max-buckets=ten")
    assert answer.status_code == 400
    assert "<Code>InvalidArgument</Code>" in answer.text
    assert "Provided max-buckets not an integer or within integer range" in answer.text
    assert signed_get(server, lister, "max-buckets=5").status_code == 200


def test_a_forged_token_is_refused(server: LiveServer, lister: Key) -> None:
    s3 = server.client(lister)
    for token in ("not-a-token", names_of(lister)[0], "%%%"):
        with pytest.raises(ClientError) as exc:
            s3.list_buckets(ContinuationToken=token)
        assert (code(exc), status(exc)) == ("InvalidArgument", 400)


def test_a_key_limited_to_buckets_pages_through_those_only(server: LiveServer, lister: Key) -> None:
    names = names_of(lister)
    limited = server.key(lister.account, label="limited", buckets=[names[0], names[3]])
    pages = list(
        server.client(limited)
        .get_paginator("list_buckets")
        .paginate(PaginationConfig={"PageSize": 1})
    )
    assert [b["Name"] for page in pages for b in page["Buckets"]] == [names[0], names[3]]


# --- CreateBucket of a bucket the caller owns ------------------------------------------


def test_outside_us_east_1_it_is_409_bucket_already_owned_by_you(s3: Any) -> None:
    s3.create_bucket(Bucket="owned-twice")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="owned-twice")
    assert (code(exc), status(exc)) == ("BucketAlreadyOwnedByYou", 409)


def test_in_us_east_1_it_is_200_and_changes_nothing(tmp_path: Path) -> None:
    # S3 compat: AWS's legacy answer in North Virginia.
    live = LiveServer(tmp_path / "data", extra=("--region", "us-east-1"))
    live.start()
    try:
        email = live.account("virginia@example.com")
        owner = live.key(email)
        s3 = boto3.client(
            "s3",
            endpoint_url=live.endpoint,
            aws_access_key_id=owner.access_key_id,
            aws_secret_access_key=owner.secret_access_key,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        s3.create_bucket(Bucket="legacy-bucket")
        s3.put_object(Bucket="legacy-bucket", Key="kept", Body=b"still here")
        again = s3.create_bucket(Bucket="legacy-bucket")
        assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert again["Location"] == "/legacy-bucket"
        assert s3.get_object(Bucket="legacy-bucket", Key="kept")["Body"].read() == b"still here"
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["legacy-bucket"]
        # A re-creation naming tags would drop them unsaid: 409, as in every other region;
        # naming none (or an empty set) is still 200.
        tagged = {"Tags": [{"Key": "team", "Value": "web"}]}
        with pytest.raises(ClientError) as exc:
            s3.create_bucket(Bucket="legacy-bucket", CreateBucketConfiguration=tagged)
        assert (code(exc), status(exc)) == ("BucketAlreadyOwnedByYou", 409)
        empty = s3.create_bucket(Bucket="legacy-bucket", CreateBucketConfiguration={"Tags": []})
        assert empty["ResponseMetadata"]["HTTPStatusCode"] == 200
        rival = live.client(live.key(live.account("rival@example.com")))
        with pytest.raises(ClientError) as exc:
            rival.create_bucket(Bucket="legacy-bucket")
        assert (code(exc), status(exc)) == ("BucketAlreadyExists", 409)
    finally:
        live.stop()
