"""ListObjects v1 and v2 with boto3: prefixes, delimiters, pagination, encoding, order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from tests.live import Key, LiveServer

KEYS = [
    "a.txt",
    "b/1.txt",
    "b/2.txt",
    "b/c/3.txt",
    "d/4.txt",
    "e",
    "e/5",
    "z\u00e9",
    "\u00e9t\u00e9",
    "~tilde",
]


@pytest.fixture
def filled(s3: Any, bucket: str) -> str:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), KEYS))
    return bucket


def byte_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


def test_v2_lists_everything_in_byte_order(s3: Any, filled: str) -> None:
    out = s3.list_objects_v2(Bucket=filled)
    assert [o["Key"] for o in out["Contents"]] == byte_order(KEYS)
    assert out["KeyCount"] == len(KEYS)
    assert out["IsTruncated"] is False
    first = out["Contents"][0]
    assert first["Size"] == len(first["Key"].encode())
    assert first["ETag"].startswith('"')


def test_v2_delimiter_and_prefix(s3: Any, filled: str) -> None:
    out = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/", "d/", "e/"]
    assert [o["Key"] for o in out["Contents"]] == byte_order(
        ["a.txt", "e", "z\u00e9", "\u00e9t\u00e9", "~tilde"]
    )
    out = s3.list_objects_v2(Bucket=filled, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["b/1.txt", "b/2.txt"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/c/"]


def test_v2_pagination_with_delimiter_counts_prefixes(s3: Any, filled: str) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"Bucket": filled, "Delimiter": "/", "MaxKeys": 2}
        if token:
            kwargs["ContinuationToken"] = token
        out = s3.list_objects_v2(**kwargs)
        pages += 1
        entries = [o["Key"] for o in out.get("Contents", [])] + [
            p["Prefix"] for p in out.get("CommonPrefixes", [])
        ]
        assert len(entries) <= 2
        seen += entries
        if not out["IsTruncated"]:
            break
        token = out["NextContinuationToken"]
    assert sorted(seen, key=lambda k: k.encode()) == byte_order(
        ["a.txt", "b/", "d/", "e", "e/", "z\u00e9", "\u00e9t\u00e9", "~tilde"]
    )
    assert len(seen) == len(set(seen))
    assert pages == 4


def test_v2_start_after_and_paginator(s3: Any, filled: str) -> None:
    out = s3.list_objects_v2(Bucket=filled, StartAfter="d/4.txt")
    assert [o["Key"] for o in out["Contents"]] == byte_order(KEYS)[5:]
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=filled, PaginationConfig={"PageSize": 3}
        )
        for o in page.get("Contents", [])
    ]
    assert keys == byte_order(KEYS)
    # With a token, the token says where: StartAfter is not echoed (as AWS).
    first = s3.list_objects_v2(Bucket=filled, MaxKeys=2)
    resumed = s3.list_objects_v2(
        Bucket=filled, StartAfter="d/4.txt", ContinuationToken=first["NextContinuationToken"]
    )
    assert resumed["Contents"][0]["Key"] == byte_order(KEYS)[2]
    assert "StartAfter" not in resumed


def test_listed_times_are_whole_seconds_as_head_says(s3: Any, filled: str) -> None:
    raw = s3.list_objects_v2(Bucket=filled, MaxKeys=1)["Contents"][0]
    head = s3.head_object(Bucket=filled, Key=raw["Key"])
    # S3 writes listings' times to the second (.000Z): the same instant HEAD names.
    assert raw["LastModified"].microsecond == 0
    assert raw["LastModified"] == head["LastModified"]


def test_v1_marker_pagination(s3: Any, filled: str) -> None:
    out = s3.list_objects(Bucket=filled, MaxKeys=4)
    assert out["IsTruncated"] is True
    assert "NextMarker" not in out
    rest = s3.list_objects(Bucket=filled, Marker=out["Contents"][-1]["Key"])
    assert [o["Key"] for o in out["Contents"] + rest["Contents"]] == byte_order(KEYS)
    out = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=2)
    assert out["NextMarker"] == "b/"
    after = s3.list_objects(Bucket=filled, Delimiter="/", Marker="b/")
    prefixes = [p["Prefix"] for p in after.get("CommonPrefixes", [])]
    assert "b/" not in prefixes


def test_v1_paginator_with_delimiter(s3: Any, filled: str) -> None:
    prefixes = [
        p["Prefix"]
        for page in s3.get_paginator("list_objects").paginate(
            Bucket=filled, Delimiter="/", PaginationConfig={"PageSize": 1}
        )
        for p in page.get("CommonPrefixes", [])
    ]
    assert prefixes == ["b/", "d/", "e/"]


def test_encoding_type_url(s3: Any, filled: str) -> None:
    # boto3 asks for url encoding on its own and decodes; asked explicitly, it hands the
    # encoded form back untouched, so this sees exactly what the server sent.
    out = s3.list_objects_v2(Bucket=filled, EncodingType="url")
    assert [unquote_plus(o["Key"]) for o in out["Contents"]] == byte_order(KEYS)
    assert "z%C3%A9" in [o["Key"] for o in out["Contents"]]
    out = s3.list_objects(Bucket=filled, EncodingType="url", Delimiter="/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/", "d/", "e/"]


def test_fetch_owner(s3: Any, filled: str) -> None:
    assert "Owner" not in s3.list_objects_v2(Bucket=filled)["Contents"][0]
    assert s3.list_objects_v2(Bucket=filled, FetchOwner=True)["Contents"][0]["Owner"]["ID"]


def test_max_keys_zero_and_bad_token(s3: Any, filled: str) -> None:
    out = s3.list_objects_v2(Bucket=filled, MaxKeys=0)
    assert out["KeyCount"] == 0
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=filled, ContinuationToken="%%%not-a-token")
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=filled, ContinuationToken="!!!")
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError) as exc:  # as AWS: an empty token is no token either
        s3.list_objects_v2(Bucket=filled, ContinuationToken="")
    error = exc.value.response["Error"]
    assert (error["Code"], error["Message"], error["ArgumentName"]) == (
        "InvalidArgument",
        "The continuation token provided is incorrect",
        "continuation-token",
    )


def test_every_listing_checks_its_encoding_type(s3: Any, filled: str) -> None:
    """ListObjects, ListObjectsV2, ListObjectVersions and ListMultipartUploads take
    encoding-type=url alone, as AWS does (it refuses an empty one too)."""

    def refuse(request: Any, **_: Any) -> None:
        request.url = request.url.replace("encoding-type=url", "encoding-type=value")

    for operation, call in (
        ("ListObjects", lambda: s3.list_objects(Bucket=filled, EncodingType="url")),
        ("ListObjectsV2", lambda: s3.list_objects_v2(Bucket=filled, EncodingType="url")),
        ("ListObjectVersions", lambda: s3.list_object_versions(Bucket=filled, EncodingType="url")),
        (
            "ListMultipartUploads",
            lambda: s3.list_multipart_uploads(Bucket=filled, EncodingType="url"),
        ),
    ):
        s3.meta.events.register(f"before-sign.s3.{operation}", refuse)
        try:
            with pytest.raises(ClientError) as exc:
                call()
        finally:
            s3.meta.events.unregister(f"before-sign.s3.{operation}", refuse)
        error = exc.value.response["Error"]
        assert (error["Code"], error["Message"], error["ArgumentValue"]) == (
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            "value",
        ), operation


def test_many_keys_paginate_exactly(s3: Any, bucket: str) -> None:
    keys = [f"many/{i:05d}" for i in range(1100)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    listed = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    assert listed == keys


def test_max_zero_is_an_empty_page_that_is_not_truncated(s3: Any, filled: str) -> None:
    # S3 compat: max-keys=0 (max-uploads=0, max-parts=0) answers an empty, complete page
    # with MaxKeys 0: no entry, IsTruncated false, nothing to continue from.
    for delimiter in ({}, {"Delimiter": "/"}):
        v2 = s3.list_objects_v2(Bucket=filled, MaxKeys=0, **delimiter)
        assert (v2["MaxKeys"], v2["KeyCount"], v2["IsTruncated"]) == (0, 0, False)
        assert not {"Contents", "CommonPrefixes", "NextContinuationToken"} & set(v2)
        v1 = s3.list_objects(Bucket=filled, MaxKeys=0, **delimiter)
        assert (v1["MaxKeys"], v1["IsTruncated"]) == (0, False)
        assert not {"Contents", "CommonPrefixes", "NextMarker"} & set(v1)
    upload = s3.create_multipart_upload(Bucket=filled, Key="pending")["UploadId"]
    s3.upload_part(Bucket=filled, Key="pending", UploadId=upload, PartNumber=1, Body=b"x")
    uploads = s3.list_multipart_uploads(Bucket=filled, MaxUploads=0)
    assert (uploads["MaxUploads"], uploads["IsTruncated"], uploads.get("Uploads")) == (
        0,
        False,
        None,
    )
    parts = s3.list_parts(Bucket=filled, Key="pending", UploadId=upload, MaxParts=0)
    assert (parts["MaxParts"], parts["IsTruncated"], parts.get("Parts")) == (0, False, None)
    assert len(s3.list_parts(Bucket=filled, Key="pending", UploadId=upload)["Parts"]) == 1


def test_listings_name_each_objects_checksum(server: LiveServer, owner: Key, bucket: str) -> None:
    """S3 compat: an object's checksum algorithm and type in ListObjects(V2) and
    ListObjectVersions, as AWS lists them: the default CRC64NVME for an upload without one."""
    plain = server.client(owner, request_checksum_calculation="when_required")
    plain.put_object(Bucket=bucket, Key="default", Body=b"x")
    plain.put_object(Bucket=bucket, Key="sha", Body=b"y", ChecksumAlgorithm="SHA256")
    upload = plain.create_multipart_upload(Bucket=bucket, Key="parts", ChecksumAlgorithm="SHA1")
    part = plain.upload_part(
        Bucket=bucket, Key="parts", UploadId=upload["UploadId"], PartNumber=1, Body=b"z",
        ChecksumAlgorithm="SHA1",
    )  # fmt: skip
    plain.complete_multipart_upload(
        Bucket=bucket, Key="parts", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"],
                                    "ChecksumSHA1": part["ChecksumSHA1"]}]},
    )  # fmt: skip
    expected = {
        "default": (["CRC64NVME"], "FULL_OBJECT"),
        "parts": (["SHA1"], "COMPOSITE"),
        "sha": (["SHA256"], "FULL_OBJECT"),
    }
    for listed in (
        plain.list_objects_v2(Bucket=bucket)["Contents"],
        plain.list_objects(Bucket=bucket)["Contents"],
        plain.list_object_versions(Bucket=bucket)["Versions"],
    ):
        got = {o["Key"]: (o["ChecksumAlgorithm"], o["ChecksumType"]) for o in listed}
        assert got == expected


def test_listings_name_the_buckets_region(s3: Any, filled: str) -> None:
    region = s3.head_bucket(Bucket=filled)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"]
    for listed in (s3.list_objects_v2(Bucket=filled), s3.list_objects(Bucket=filled)):
        assert listed["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == region
