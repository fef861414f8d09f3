"""aws-cli v1 (``aws s3`` and ``aws s3api``) against a live Nexq server."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.tools import (
    MiB,
    assert_same_tree,
    aws_command,
    aws_env,
    make_tree,
    md5,
    random_bytes,
    run,
    write_file,
)
from tests.live import Key, LiveServer, nexq

Aws = Callable[..., Any]


@pytest.fixture
def aws_as(server: LiveServer, tmp_path: Path) -> Callable[[Key], Aws]:
    """``aws_as(key)(*args, check=True)`` runs ``aws --endpoint-url ... *args`` as ``key``."""
    command = aws_command()

    def bind(key: Key) -> Aws:
        env = aws_env(tmp_path, key)

        def aws(
            *args: str, check: bool = True, timeout: float = 120, stdin: Path | None = None
        ) -> Any:
            return run(
                [*command, "--endpoint-url", server.endpoint, *args],
                env,
                check=check,
                timeout=timeout,
                stdin=stdin,
            )

        return aws

    return bind


@pytest.fixture
def aws(aws_as: Callable[[Key], Aws], owner: Key) -> Aws:
    return aws_as(owner)


def api(aws: Aws, *args: str) -> Any:
    """``aws s3api ... --output json``, parsed (None when the command prints nothing)."""
    out = aws("s3api", *args, "--output", "json").stdout
    return json.loads(out) if out.strip() else None


def ls_lines(stdout: str) -> list[tuple[str, str]]:
    """``aws s3 ls`` output as (size-or-PRE, name) pairs."""
    rows = []
    for line in stdout.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "PRE":
            rows.append(("PRE", line.split("PRE", 1)[1].strip()))
        else:
            # "2024-01-01 12:00:00       1234 name with spaces"
            rows.append((parts[2], line.split(None, 3)[3]))
    return rows


def all_keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


# --- aws s3 -----------------------------------------------------------------------------


def test_mb_ls_rb(aws: Aws, s3: Any) -> None:
    name = "awscli-mb-rb"
    aws("s3", "mb", f"s3://{name}")
    s3.head_bucket(Bucket=name)
    assert name in [line.split()[-1] for line in aws("s3", "ls").stdout.splitlines()]

    aws("s3", "rb", f"s3://{name}")
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=name)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert name not in aws("s3", "ls").stdout


def test_rb_non_empty_fails_then_force(aws: Aws, s3: Any) -> None:
    name = "awscli-rb-force"
    aws("s3", "mb", f"s3://{name}")
    s3.put_object(Bucket=name, Key="x/y.txt", Body=b"y")
    proc = aws("s3", "rb", f"s3://{name}", check=False)
    assert proc.returncode != 0
    assert "BucketNotEmpty" in proc.stderr
    s3.head_bucket(Bucket=name)

    aws("s3", "rb", f"s3://{name}", "--force")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


def test_cp_small_up_and_down(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = b"small object \x00\xff binary-safe\n" * 10
    src = write_file(tmp_path / "up.bin", data)
    aws("s3", "cp", str(src), f"s3://{bucket}/dir/up.bin")

    obj = s3.get_object(Bucket=bucket, Key="dir/up.bin")
    assert obj["Body"].read() == data
    assert obj["ETag"] == f'"{md5(data)}"'

    dest = tmp_path / "down.bin"
    aws("s3", "cp", f"s3://{bucket}/dir/up.bin", str(dest))
    assert dest.read_bytes() == data


def test_cp_empty_file(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    src = write_file(tmp_path / "empty", b"")
    aws("s3", "cp", str(src), f"s3://{bucket}/empty")
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0
    dest = tmp_path / "empty-down"
    aws("s3", "cp", f"s3://{bucket}/empty", str(dest))
    assert dest.read_bytes() == b""


def test_cp_20mib_uses_multipart(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = random_bytes(20 * MiB, seed=20)
    src = write_file(tmp_path / "big.bin", data)
    aws("s3", "cp", str(src), f"s3://{bucket}/big.bin", timeout=300)

    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    # aws-cli's default 8 MiB chunks: 8 + 8 + 4 MiB -> a 3-part multipart ETag.
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]

    dest = tmp_path / "big-down.bin"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(dest), timeout=300)
    assert dest.read_bytes() == data

    # S3 to S3 above the threshold: a multipart copy made of UploadPartCopy ranges.
    aws("s3", "cp", f"s3://{bucket}/big.bin", f"s3://{bucket}/copy/big.bin", timeout=300)
    copy_head = s3.head_object(Bucket=bucket, Key="copy/big.bin")
    assert copy_head["ContentLength"] == len(data)
    assert copy_head["ETag"].strip('"').endswith("-3"), copy_head["ETag"]
    assert s3.get_object(Bucket=bucket, Key="copy/big.bin")["Body"].read() == data


def test_cp_from_stdin_streams_multipart(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    """``aws s3 cp - s3://...`` does not know the size up front and streams in parts."""
    data = random_bytes(18 * MiB + 5, seed=21)
    src = write_file(tmp_path / "stream.bin", data)
    aws("s3", "cp", "-", f"s3://{bucket}/stream.bin", stdin=src, timeout=300)
    head = s3.head_object(Bucket=bucket, Key="stream.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    assert s3.get_object(Bucket=bucket, Key="stream.bin")["Body"].read() == data


def test_sync_tree_up_and_back(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src", seed=1)
    # Written a while ago, as files usually are: S3 keeps an object's time to the second, so
    # to aws-cli a file written in the very second of its upload stays newer than its object.
    written = time.time() - 10
    for rel in files:
        os.utime(tmp_path / "src" / rel, (written, written))
    aws("s3", "sync", str(tmp_path / "src"), f"s3://{bucket}/tree")
    assert all_keys(s3, bucket) == sorted(f"tree/{rel}" for rel in files)
    for rel, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"tree/{rel}")["Body"].read() == data

    # Nothing changed: a second sync has nothing to do (sizes and LastModified line up).
    again = aws("s3", "sync", str(tmp_path / "src"), f"s3://{bucket}/tree")
    assert "upload:" not in again.stdout, again.stdout

    aws("s3", "sync", f"s3://{bucket}/tree", str(tmp_path / "back"))
    assert_same_tree(files, tmp_path / "back")

    # --delete removes what is gone locally.
    (tmp_path / "src" / "dir1" / "c.txt").unlink()
    aws("s3", "sync", str(tmp_path / "src"), f"s3://{bucket}/tree", "--delete")
    assert "tree/dir1/c.txt" not in all_keys(s3, bucket)
    assert len(all_keys(s3, bucket)) == len(files) - 1


def test_ls_with_prefixes(aws: Aws, bucket: str, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src", seed=2)
    aws("s3", "sync", str(tmp_path / "src"), f"s3://{bucket}")

    top = ls_lines(aws("s3", "ls", f"s3://{bucket}/").stdout)
    assert sorted(top) == sorted(
        [
            ("PRE", "dir1/"),
            ("PRE", "dir2/"),
            (str(len(files["a.txt"])), "a.txt"),
            ("0", "empty.txt"),
        ]
    )

    dir1 = ls_lines(aws("s3", "ls", f"s3://{bucket}/dir1/").stdout)
    assert sorted(dir1) == sorted([("PRE", "sub/"), ("70000", "b.bin"), ("1000", "c.txt")])

    # A bare prefix (no trailing slash) matches names that start with it.
    partial = ls_lines(aws("s3", "ls", f"s3://{bucket}/dir").stdout)
    assert sorted(partial) == [("PRE", "dir1/"), ("PRE", "dir2/")]

    recursive = ls_lines(aws("s3", "ls", f"s3://{bucket}/dir2/", "--recursive").stdout)
    assert sorted(recursive) == sorted(
        (str(len(data)), rel) for rel, data in files.items() if rel.startswith("dir2/")
    )

    assert aws("s3", "ls", f"s3://{bucket}/nothing-here/", check=False).stdout == ""


def test_rm_recursive(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src", seed=3)
    aws("s3", "sync", str(tmp_path / "src"), f"s3://{bucket}")

    aws("s3", "rm", f"s3://{bucket}/dir2/", "--recursive")
    assert all_keys(s3, bucket) == sorted(rel for rel in files if not rel.startswith("dir2/"))

    aws("s3", "rm", f"s3://{bucket}/a.txt")
    aws("s3", "rm", f"s3://{bucket}", "--recursive")
    assert all_keys(s3, bucket) == []


# --- aws s3api --------------------------------------------------------------------------


def test_put_get_head_with_metadata(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = b'{"hello": "world"}\n'
    body = write_file(tmp_path / "body.json", data)
    put = api(
        aws,
        "put-object",
        "--bucket", bucket,
        "--key", "docs/hello.json",
        "--body", str(body),
        "--content-type", "application/json",
        "--metadata", "color=blue,Owner-Name=Ada",
        "--cache-control", "max-age=60",
    )  # fmt: skip
    assert put["ETag"] == f'"{md5(data)}"'

    head = api(aws, "head-object", "--bucket", bucket, "--key", "docs/hello.json")
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "application/json"
    assert head["ETag"] == f'"{md5(data)}"'
    assert head["Metadata"] == {"color": "blue", "owner-name": "Ada"}
    assert head["CacheControl"] == "max-age=60"

    out = tmp_path / "out.json"
    got = api(aws, "get-object", "--bucket", bucket, "--key", "docs/hello.json", str(out))
    assert out.read_bytes() == data
    assert got["ContentType"] == "application/json"
    assert got["Metadata"] == {"color": "blue", "owner-name": "Ada"}
    assert got["ContentLength"] == len(data)

    ranged = tmp_path / "range.bin"
    part = api(
        aws, "get-object", "--bucket", bucket, "--key", "docs/hello.json",
        "--range", "bytes=2-6", str(ranged),
    )  # fmt: skip
    assert ranged.read_bytes() == data[2:7]
    assert part["ContentRange"] == f"bytes 2-6/{len(data)}"


def test_copy_object(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = random_bytes(100_000, seed=4)
    s3.put_object(
        Bucket=bucket, Key="src.bin", Body=data, ContentType="image/png", Metadata={"k": "v"}
    )

    copied = api(
        aws, "copy-object", "--bucket", bucket, "--key", "dst/copy.bin",
        "--copy-source", f"{bucket}/src.bin",
    )  # fmt: skip
    assert copied["CopyObjectResult"]["ETag"] == f'"{md5(data)}"'
    obj = s3.get_object(Bucket=bucket, Key="dst/copy.bin")
    assert obj["Body"].read() == data
    assert obj["ContentType"] == "image/png"
    assert obj["Metadata"] == {"k": "v"}

    api(
        aws, "copy-object", "--bucket", bucket, "--key", "dst/replaced.bin",
        "--copy-source", f"{bucket}/src.bin", "--metadata-directive", "REPLACE",
        "--content-type", "text/plain", "--metadata", "new=yes",
    )  # fmt: skip
    obj = s3.get_object(Bucket=bucket, Key="dst/replaced.bin")
    assert obj["Body"].read() == data
    assert obj["ContentType"] == "text/plain"
    assert obj["Metadata"] == {"new": "yes"}

    # aws s3 cp between two S3 locations is a server-side copy too.
    aws("s3", "cp", f"s3://{bucket}/src.bin", f"s3://{bucket}/dst/s3cp.bin")
    assert s3.get_object(Bucket=bucket, Key="dst/s3cp.bin")["Body"].read() == data

    # aws s3 mv: a server-side copy, then the source is deleted.
    aws("s3", "mv", f"s3://{bucket}/dst/s3cp.bin", f"s3://{bucket}/dst/moved.bin")
    assert all_keys(s3, bucket) == [
        "dst/copy.bin",
        "dst/moved.bin",
        "dst/replaced.bin",
        "src.bin",
    ]
    assert s3.get_object(Bucket=bucket, Key="dst/moved.bin")["Body"].read() == data


def test_list_objects_v2_delimiter_and_pagination(aws: Aws, s3: Any, bucket: str) -> None:
    keys = ["a/1", "a/2", "b/1", "c", "d", "e", "f/g/h"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    listed = api(aws, "list-objects-v2", "--bucket", bucket, "--delimiter", "/")
    assert [o["Key"] for o in listed["Contents"]] == ["c", "d", "e"]
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["a/", "b/", "f/"]
    sizes = {o["Key"]: o["Size"] for o in listed["Contents"]}
    assert sizes == {"c": 1, "d": 1, "e": 1}

    under_a = api(aws, "list-objects-v2", "--bucket", bucket, "--prefix", "a/")
    assert [o["Key"] for o in under_a["Contents"]] == ["a/1", "a/2"]

    # Client-side pagination: 2 keys per request, 3 items per CLI page.
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        args = ["list-objects-v2", "--bucket", bucket, "--max-items", "3", "--page-size", "2"]
        if token:
            args += ["--starting-token", token]
        page = api(aws, *args)
        pages += 1
        seen += [o["Key"] for o in page.get("Contents", [])]
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 10, "pagination does not terminate"
    assert seen == sorted(keys)
    assert pages == 3

    # The same through ListObjects (V1), whose pages are chained by markers.
    seen = []
    token = None
    while True:
        args = ["list-objects", "--bucket", bucket, "--max-items", "3", "--page-size", "2"]
        if token:
            args += ["--starting-token", token]
        page = api(aws, *args)
        seen += [o["Key"] for o in page.get("Contents", [])]
        token = page.get("NextToken")
        if not token:
            break
        assert len(seen) < 20, "pagination does not terminate"
    assert seen == sorted(keys)

    # V1 with a delimiter: NextMarker may name a common prefix.
    v1 = api(
        aws, "list-objects", "--bucket", bucket, "--delimiter", "/", "--max-keys", "2",
        "--no-paginate",
    )  # fmt: skip
    assert v1["IsTruncated"] is True
    assert [p["Prefix"] for p in v1["CommonPrefixes"]] == ["a/", "b/"]
    assert v1["NextMarker"] == "b/"
    v1_rest = api(
        aws, "list-objects", "--bucket", bucket, "--delimiter", "/", "--no-paginate",
        "--marker", v1["NextMarker"],
    )  # fmt: skip
    assert [o["Key"] for o in v1_rest["Contents"]] == ["c", "d", "e"]
    assert [p["Prefix"] for p in v1_rest["CommonPrefixes"]] == ["f/"]

    # One raw request: the server's own continuation token.
    raw = api(aws, "list-objects-v2", "--bucket", bucket, "--max-keys", "2", "--no-paginate")
    assert raw["IsTruncated"] is True
    assert raw["KeyCount"] == 2
    assert [o["Key"] for o in raw["Contents"]] == ["a/1", "a/2"]
    rest = api(
        aws, "list-objects-v2", "--bucket", bucket, "--no-paginate",
        "--continuation-token", raw["NextContinuationToken"],
    )  # fmt: skip
    assert [o["Key"] for o in rest["Contents"]] == sorted(keys)[2:]
    assert rest["IsTruncated"] is False


def test_delete_objects(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    for key in ["k1", "k2", "k3", "dir/k4"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    request = {
        "Objects": [{"Key": "k1"}, {"Key": "dir/k4"}, {"Key": "never-existed"}],
        "Quiet": False,
    }
    spec = write_file(tmp_path / "delete.json", json.dumps(request).encode())
    out = api(aws, "delete-objects", "--bucket", bucket, "--delete", f"file://{spec}")
    # S3 reports a key that did not exist as deleted, too.
    assert sorted(d["Key"] for d in out["Deleted"]) == ["dir/k4", "k1", "never-existed"]
    assert not out.get("Errors")
    assert all_keys(s3, bucket) == ["k2", "k3"]

    quiet = api(
        aws, "delete-objects", "--bucket", bucket,
        "--delete", '{"Objects":[{"Key":"k2"}],"Quiet":true}',
    )  # fmt: skip
    assert not (quiet or {}).get("Deleted")
    assert all_keys(s3, bucket) == ["k3"]


def test_multipart_upload_via_s3api(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    part1 = random_bytes(5 * MiB, seed=5)
    part2 = random_bytes(123_457, seed=6)
    created = api(
        aws, "create-multipart-upload", "--bucket", bucket, "--key", "mp/obj.bin",
        "--content-type", "application/x-test", "--metadata", "via=s3api",
    )  # fmt: skip
    upload_id = created["UploadId"]
    assert created["Key"] == "mp/obj.bin"

    etags = []
    for number, data in [(1, part1), (2, part2)]:
        body = write_file(tmp_path / f"part{number}", data)
        out = api(
            aws, "upload-part", "--bucket", bucket, "--key", "mp/obj.bin",
            "--upload-id", upload_id, "--part-number", str(number), "--body", str(body),
        )  # fmt: skip
        assert out["ETag"] == f'"{md5(data)}"'
        etags.append(out["ETag"])

    parts = api(
        aws, "list-parts", "--bucket", bucket, "--key", "mp/obj.bin", "--upload-id", upload_id
    )
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [
        (1, len(part1)),
        (2, len(part2)),
    ]

    uploads = api(aws, "list-multipart-uploads", "--bucket", bucket)
    assert [u["UploadId"] for u in uploads["Uploads"]] == [upload_id]

    spec = {"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]}
    spec_file = write_file(tmp_path / "parts.json", json.dumps(spec).encode())
    done = api(
        aws, "complete-multipart-upload", "--bucket", bucket, "--key", "mp/obj.bin",
        "--upload-id", upload_id, "--multipart-upload", f"file://{spec_file}",
    )  # fmt: skip
    assert done["ETag"].strip('"').endswith("-2")
    assert done["Key"] == "mp/obj.bin"

    out = tmp_path / "whole.bin"
    got = api(aws, "get-object", "--bucket", bucket, "--key", "mp/obj.bin", str(out))
    assert out.read_bytes() == part1 + part2
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"via": "s3api"}
    assert got["ETag"] == done["ETag"]


def test_abort_multipart_upload(aws: Aws, bucket: str) -> None:
    created = api(aws, "create-multipart-upload", "--bucket", bucket, "--key", "gone")
    api(
        aws, "abort-multipart-upload", "--bucket", bucket, "--key", "gone",
        "--upload-id", created["UploadId"],
    )  # fmt: skip
    uploads = api(aws, "list-multipart-uploads", "--bucket", bucket)
    assert not uploads.get("Uploads")


@pytest.mark.parametrize("signature", ["default", "s3v4"])
def test_presign(
    aws_as: Callable[[Key], Aws],
    owner: Key,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    signature: str,
) -> None:
    """``aws s3 presign`` URLs fetched with plain urllib.

    aws-cli v1 presigns with SigV2 query auth (``Signature=``/``Expires=``) unless the config
    asks for ``s3v4``; both are exercised.
    """
    data = random_bytes(10_000, seed=7)
    key = "pre signed/obj+1.bin"
    s3.put_object(Bucket=bucket, Key=key, Body=data)

    aws = aws_as(owner)
    if signature != "default":
        # The aws fixture's config file is empty; this variant selects the signer explicitly.
        (tmp_path / "aws-config").write_text(
            f"[default]\ns3 =\n    signature_version = {signature}\n"
        )
    url = aws("s3", "presign", f"s3://{bucket}/{key}", "--expires-in", "60").stdout.strip()
    if signature == "s3v4":
        assert "X-Amz-Signature=" in url
    else:
        assert "Signature=" in url

    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200
        assert resp.read() == data


# --- errors -----------------------------------------------------------------------------


def test_get_missing_key_is_no_such_key(aws: Aws, bucket: str, tmp_path: Path) -> None:
    proc = aws(
        "s3api", "get-object", "--bucket", bucket, "--key", "missing", str(tmp_path / "out"),
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "NoSuchKey" in proc.stderr
    assert not (tmp_path / "out").exists() or (tmp_path / "out").read_bytes() == b""

    head = aws("s3api", "head-object", "--bucket", bucket, "--key", "missing", check=False)
    assert head.returncode != 0
    assert "404" in head.stderr

    cp = aws("s3", "cp", f"s3://{bucket}/missing", str(tmp_path / "cp-out"), check=False)
    assert cp.returncode != 0
    assert "404" in cp.stderr


def test_wrong_content_md5_is_bad_digest(aws: Aws, s3: Any, bucket: str, tmp_path: Path) -> None:
    body = write_file(tmp_path / "body", b"the real body")
    proc = aws(
        "s3api", "put-object", "--bucket", bucket, "--key", "digest", "--body", str(body),
        "--content-md5", "AAAAAAAAAAAAAAAAAAAAAA==", check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "BadDigest" in proc.stderr, proc.stderr
    assert all_keys(s3, bucket) == []


def test_missing_bucket_is_no_such_bucket(aws: Aws) -> None:
    proc = aws("s3api", "list-objects-v2", "--bucket", "no-such-bucket-here", check=False)
    assert proc.returncode != 0
    assert "NoSuchBucket" in proc.stderr


def test_scoped_key_is_denied_on_other_bucket(
    server: LiveServer,
    aws_as: Callable[[Key], Aws],
    owner: Key,
    s3: Any,
    bucket: str,
    tmp_path: Path,
) -> None:
    other = "awscli-other-bucket"
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="secret.txt", Body=b"secret")
    s3.put_object(Bucket=bucket, Key="mine.txt", Body=b"mine")
    scoped = aws_as(server.key(owner.account, label="scoped", buckets=[bucket]))

    # Allowed on its own bucket ...
    assert "mine.txt" in scoped("s3", "ls", f"s3://{bucket}/").stdout
    out = tmp_path / "mine.txt"
    scoped("s3", "cp", f"s3://{bucket}/mine.txt", str(out))
    assert out.read_bytes() == b"mine"

    # ... denied on the other bucket, for reads, listings and writes.
    for args in [
        ["s3api", "get-object", "--bucket", other, "--key", "secret.txt", str(tmp_path / "x")],
        ["s3api", "list-objects-v2", "--bucket", other],
        ["s3api", "put-object", "--bucket", other, "--key", "planted.txt"],
    ]:
        proc = scoped(*args, check=False)
        assert proc.returncode != 0, args
        assert "AccessDenied" in proc.stderr, (args, proc.stderr)
    assert all_keys(s3, other) == ["secret.txt"]


def test_revoked_key_is_denied(
    server: LiveServer, aws_as: Callable[[Key], Aws], owner: Key, bucket: str
) -> None:
    key = server.key(owner.account, label="to-revoke")
    aws = aws_as(key)
    aws("s3api", "list-objects-v2", "--bucket", bucket)

    nexq(
        "admin", "access-key", "revoke", key.access_key_id, "--account", owner.account,
        data_dir=server.data_dir,
    )  # fmt: skip

    proc = aws("s3api", "list-objects-v2", "--bucket", bucket, check=False)
    assert proc.returncode != 0
    assert "AccessDenied" in proc.stderr or "403" in proc.stderr, proc.stderr
    head = aws("s3api", "head-bucket", "--bucket", bucket, check=False)
    assert head.returncode != 0
    assert "403" in head.stderr, head.stderr


def test_wrong_secret_is_signature_mismatch(
    aws_as: Callable[[Key], Aws], owner: Key, bucket: str
) -> None:
    bad = Key(owner.access_key_id, "x" * 40, owner.account)
    proc = aws_as(bad)("s3api", "list-objects-v2", "--bucket", bucket, check=False)
    assert proc.returncode != 0
    assert "SignatureDoesNotMatch" in proc.stderr, proc.stderr
