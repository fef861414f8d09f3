"""S3 versioning with boto3 and aws-cli against a live server, checked against AWS's rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.compat.tools import aws_command, aws_env, run
from tests.live import Key, LiveServer


def enable(s3: Any, bucket: str, state: str = "Enabled") -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": state})


def versions(s3: Any, bucket: str, **extra: Any) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is delete marker) in S3's order (key, newest first)."""
    page = s3.list_object_versions(Bucket=bucket, **extra)
    rows = [(v["Key"], v["VersionId"], v["IsLatest"], False, v) for v in page.get("Versions", [])]
    rows += [
        (m["Key"], m["VersionId"], m["IsLatest"], True, m) for m in page.get("DeleteMarkers", [])
    ]
    # boto3 splits the two kinds; S3 interleaves them by key then age (the ids sort by time).
    rows.sort(key=lambda r: (r[0].encode(), r[4]["LastModified"], r[1]), reverse=False)
    ordered: list[tuple[str, str, bool, bool]] = []
    for key in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == key]
        latest = [r for r in mine if r[2]]
        rest = [r for r in mine if not r[2]]
        rest.sort(key=lambda r: r[1], reverse=True)
        ordered += [(k, v, i, d) for k, v, i, d, _ in latest + rest]
    return ordered


def test_a_new_bucket_has_no_versioning_status(s3: Any, bucket: str) -> None:
    got = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in got
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    # As AWS: a Status S3's schema does not list is MalformedXML (its case too); a
    # configuration without one, IllegalVersioningConfigurationException.
    for wrong in ("Off", "enabled"):
        with pytest.raises(ClientError) as refused:
            enable(s3, bucket, wrong)
        assert (code(refused), status(refused)) == ("MalformedXML", 400)
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={})
    assert (code(refused), status(refused)) == ("IllegalVersioningConfigurationException", 400)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_every_write_is_a_version_and_each_reads_back(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    ids = [
        s3.put_object(Bucket=bucket, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(3)
    ]
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    for number, version in enumerate(ids):
        got = s3.get_object(Bucket=bucket, Key="k", VersionId=version)
        assert got["Body"].read() == f"v{number}".encode()
        assert got["VersionId"] == version
        assert s3.head_object(Bucket=bucket, Key="k", VersionId=version)["ContentLength"] == 2
    assert versions(s3, bucket) == [
        ("k", ids[2], True, False),
        ("k", ids[1], False, False),
        ("k", ids[0], False, False),
    ]


def test_delete_stacks_a_marker_and_deleting_the_marker_restores(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as hidden:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(hidden) == "NoSuchKey"
    headers = hidden.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as at_marker:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert status(at_marker) == 405
    refused = at_marker.value.response["Error"]
    assert (refused["Code"], refused["Method"], refused["ResourceType"]) == (
        "MethodNotAllowed",
        "GET",
        "DeleteMarker",
    )
    with pytest.raises(ClientError) as tagging_marker:  # the 405 names the request's method
        s3.put_object_tagging(
            Bucket=bucket,
            Key="k",
            VersionId=marker,
            Tagging={"TagSet": [{"Key": "a", "Value": "b"}]},
        )
    assert (status(tagging_marker), tagging_marker.value.response["Error"]["Method"]) == (
        405,
        "PUT",
    )
    # Tagging the latest version when it is a delete marker is 405 too (AWS), not NoSuchKey.
    for call, method in (
        (lambda: s3.get_object_tagging(Bucket=bucket, Key="k"), "GET"),
        (lambda: s3.delete_object_tagging(Bucket=bucket, Key="k"), "DELETE"),
    ):
        with pytest.raises(ClientError) as latest:
            call()
        refused = latest.value.response["Error"]
        assert (status(latest), refused["Code"], refused["Method"]) == (
            405,
            "MethodNotAllowed",
            method,
        )
        assert (
            latest.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-version-id"] == marker
        )
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert versions(s3, bucket) == [("k", marker, True, True), ("k", first, False, False)]
    removed = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"


def test_deleting_a_version_removes_it_for_good(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"new")["VersionId"]
    assert s3.delete_object(Bucket=bucket, Key="k", VersionId=new)["VersionId"] == new
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    with pytest.raises(ClientError) as gone:
        s3.get_object(Bucket=bucket, Key="k", VersionId=new)
    assert code(gone) == "NoSuchVersion" and status(gone) == 404
    with pytest.raises(ClientError) as malformed:
        s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-version")
    assert code(malformed) == "InvalidArgument"
    assert versions(s3, bucket) == [("k", old, True, False)]


def test_suspended_writes_the_null_version(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")  # the null version
    # As AWS: a never-versioned bucket names no version, even the null one asked for.
    assert "VersionId" not in s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert "VersionId" not in s3.head_object(Bucket=bucket, Key="k")
    enable(s3, bucket)
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")["VersionId"]
    enable(s3, bucket, "Suspended")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"suspended")
    assert "VersionId" not in put or put["VersionId"] == "null"
    assert versions(s3, bucket) == [("k", "null", True, False), ("k", kept, False, False)]
    got = s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert got["Body"].read() == b"suspended" and got["VersionId"] == "null"
    # ... and a bucket that has had versioning names it on every read, asked for or not.
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    assert versions(s3, bucket) == [("k", "null", True, True), ("k", kept, False, False)]


def test_unversioned_buckets_list_every_object_as_null(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.put_object(Bucket=bucket, Key="b", Body=b"22")
    page = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in page["Versions"]] == [
        ("a", "null", True, 1),
        ("b", "null", True, 2),
    ]
    assert "DeleteMarkers" not in page


def test_versions_page_with_markers_and_prefixes(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    for key in ("a", "a", "dir/x", "dir/y", "b", "b", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.delete_object(Bucket=bucket, Key="a")
    every = versions(s3, bucket)
    assert len(every) == 8
    seen: list[tuple[str, str]] = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}):
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        assert len(entries) <= 3
        seen += [(e["Key"], e["VersionId"]) for e in entries]
    assert sorted(seen) == sorted((k, v) for k, v, _, _ in every)
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["dir/"]
    assert {v["Key"] for v in rolled["Versions"]} == {"a", "b"}
    with pytest.raises(ClientError) as refused:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker=every[0][1])
    assert code(refused) == "InvalidArgument"
    assert refused.value.response["Error"]["ArgumentName"] == "version-id-marker"
    assert refused.value.response["Error"]["ArgumentValue"] == every[0][1]


def test_a_page_resumes_after_its_marker_deleted_meanwhile(
    s3: Any, bucket: str, owner: Key
) -> None:
    """A client that deletes each page of versions as it lists them (boto3's batch delete,
    cleanup scripts) resumes after a marker that no longer exists, with the key's older
    versions, as on AWS; none is left behind."""
    enable(s3, bucket)
    for n in range(5):
        s3.put_object(Bucket=bucket, Key="prefixed_key", Body=f"v{n}".encode())
    first = s3.list_object_versions(Bucket=bucket, Prefix="prefix", MaxKeys=3)
    gone = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in first["Versions"]]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": gone})
    rest = s3.list_object_versions(
        Bucket=bucket,
        Prefix="prefix",
        MaxKeys=5,
        KeyMarker=first["NextKeyMarker"],
        VersionIdMarker=first["NextVersionIdMarker"],
    )
    assert not rest["IsTruncated"]
    assert [v["IsLatest"] for v in rest["Versions"]] == [True, False]
    body = s3.get_object(
        Bucket=bucket, Key="prefixed_key", VersionId=rest["Versions"][1]["VersionId"]
    )
    assert body["Body"].read() == b"v0"
    # Two keys, and boto3's own page-by-page delete of every version: nothing is left.
    for key in ("k1", "k2", "k1", "k2", "k1"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k2")
    resource = boto3.resource(
        "s3",
        endpoint_url=s3.meta.endpoint_url,
        region_name=s3.meta.region_name,
        config=s3.meta.config,
        aws_access_key_id=owner.access_key_id,
        aws_secret_access_key=owner.secret_access_key,
    )
    resource.Bucket(bucket).object_versions.page_size(3).delete()
    left = s3.list_object_versions(Bucket=bucket)
    assert left.get("Versions", []) == [] and left.get("DeleteMarkers", []) == []


def test_delete_objects_with_versions(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2")["VersionId"]
    done = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "k", "VersionId": v1}, {"Key": "other"}]},
    )
    by_key = {d["Key"]: d for d in done["Deleted"]}
    assert by_key["k"]["VersionId"] == v1
    assert by_key["other"]["DeleteMarker"] is True and by_key["other"]["DeleteMarkerVersionId"]
    assert [v for _, v, _, _ in versions(s3, bucket, Prefix="k")] == [v2]
    # As AWS: a marker removed by its version id is named as one; a version id that cannot
    # be one is that key's NoSuchVersion, and the other keys go ahead.
    marker = by_key["other"]["DeleteMarkerVersionId"]
    again = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "other", "VersionId": marker}, {"Key": "k", "VersionId": "x"}]},
    )
    assert again["Deleted"] == [
        {
            "Key": "other",
            "VersionId": marker,
            "DeleteMarker": True,
            "DeleteMarkerVersionId": marker,
        }
    ]
    assert [(e["Key"], e["Code"]) for e in again["Errors"]] == [("k", "NoSuchVersion")]


def test_copy_from_an_older_version(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="src", Body=b"old bytes")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"new bytes")
    copied = s3.copy_object(
        Bucket=bucket, Key="restored", CopySource={"Bucket": bucket, "Key": "src", "VersionId": old}
    )
    assert copied["CopySourceVersionId"] == old and copied["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="restored")["Body"].read() == b"old bytes"


def test_multipart_completion_is_a_version(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    first = s3.put_object(Bucket=bucket, Key="mp", Body=b"small")["VersionId"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 10)
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert done["VersionId"] and done["VersionId"] != first
    assert s3.get_object(Bucket=bucket, Key="mp", VersionId=first)["Body"].read() == b"small"


def test_a_bucket_with_versions_or_markers_is_not_empty(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_bucket(Bucket=bucket)
    assert code(refused) == "BucketNotEmpty"
    assert refused.value.response["Error"]["Message"] == (
        "The bucket you tried to delete is not empty. You must delete all versions in the bucket."
    )
    s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "k", "VersionId": version}, {"Key": "k", "VersionId": marker}]},
    )
    s3.delete_bucket(Bucket=bucket)


def test_every_version_counts_toward_stored_bytes(s3: Any, bucket: str, server: LiveServer) -> None:
    enable(s3, bucket)
    for _ in range(3):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 1000)
    s3.delete_object(Bucket=bucket, Key="k")
    assert server.sql("SELECT stored_bytes FROM buckets WHERE name = ?", bucket) == [(3000,)]


def test_aws_cli_lists_and_fetches_versions(
    s3: Any, bucket: str, server: LiveServer, owner: Key, tmp_path: Path
) -> None:
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"first")["VersionId"]
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"second")
    env = aws_env(tmp_path, owner)
    endpoint = ["--endpoint-url", server.endpoint]
    listed = run(
        [*aws_command(), "s3api", "list-object-versions", "--bucket", bucket, *endpoint], env
    )
    ids = [v["VersionId"] for v in json.loads(listed.stdout)["Versions"]]
    assert old in ids and len(ids) == 2
    target = tmp_path / "old.txt"
    run(
        [
            *aws_command(),
            "s3api",
            "get-object",
            "--bucket",
            bucket,
            "--key",
            "doc.txt",
            "--version-id",
            old,
            str(target),
            *endpoint,
        ],
        env,
    )
    assert target.read_bytes() == b"first"
