"""dcp storage buckets versioning/policy/cors/lifecycle/tags/public-access-block and object
versions, run as a real process against a live server."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.cli.conftest import Dcp

CORS = {
    "CORSRules": [
        {
            "ID": "browser uploads",
            "AllowedHeaders": ["*"],
            "AllowedMethods": ["PUT", "POST"],
            "AllowedOrigins": ["https://app.example.com"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        }
    ]
}
LIFECYCLE = {
    "Rules": [
        {
            "ID": "logs",
            "Filter": {"Prefix": "logs/"},
            "Status": "Enabled",
            "Expiration": {"Days": 30},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2},
        },
        {
            "ID": "uploads",
            "Filter": {},
            "Status": "Disabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
        },
    ]
}


def _bucket(user: Dcp, bucket_name: Callable[[], str]) -> str:
    name = bucket_name()
    user("storage", "buckets", "create", name)
    return name


def _file(user: Dcp, name: str, content: Any) -> str:
    path = user.tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _put(user: Dcp, bucket: str, key: str, body: bytes) -> None:
    url = user.json("storage", "objects", "presign", bucket, key, "--method", "PUT")["url"]
    assert httpx.put(url, content=body).status_code == 200


def _get(user: Dcp, bucket: str, key: str) -> bytes:
    return httpx.get(user.json("storage", "objects", "presign", bucket, key)["url"]).content


def test_versioning(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = _bucket(user, bucket_name)
    said = user("storage", "buckets", "versioning", bucket).stdout
    assert said == f"Versioning of {bucket}: off (never enabled)\n"
    assert user.json("storage", "buckets", "versioning", bucket) == {"status": None}
    said = user("storage", "buckets", "versioning", bucket, "--enable").stdout
    assert said == f"Versioning of {bucket}: Enabled\n"
    assert user.json("storage", "buckets", "versioning", bucket, "--suspend") == {
        "status": "Suspended"
    }
    assert user.json("storage", "buckets", "versioning", bucket) == {"status": "Suspended"}
    user.fails(2, "storage", "buckets", "versioning", bucket, "--enable", "--suspend")
    user.fails(4, "storage", "buckets", "versioning", bucket_name(), "--enable")


def test_versions_restore_and_delete(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = _bucket(user, bucket_name)
    user("storage", "buckets", "versioning", bucket, "--enable")
    _put(user, bucket, "notes.txt", b"first draft")
    _put(user, bucket, "notes.txt", b"second draft")
    _put(user, bucket, "other.txt", b"o")

    versions = user.json("storage", "objects", "versions", bucket, "--prefix", "notes")
    assert [(v["key"], v["is_latest"], v["size"]) for v in versions] == [
        ("notes.txt", True, 12),
        ("notes.txt", False, 11),
    ]
    first, second = versions[1]["version_id"], versions[0]["version_id"]
    table = user("storage", "objects", "versions", bucket).stdout.splitlines()
    assert table[0].split()[:3] == ["KEY", "VERSION", "ID"]
    assert [line.split()[:2] for line in table[1:]] == [
        ["notes.txt", second],
        ["notes.txt", first],
        ["other.txt", user.json("storage", "objects", "versions", bucket)[2]["version_id"]],
    ]

    restored = user.json(
        "storage", "objects", "restore", bucket, "notes.txt", "--version-id", first
    )
    assert restored["is_latest"] and restored["version_id"] not in (first, second)
    assert _get(user, bucket, "notes.txt") == b"first draft"
    said = user("storage", "objects", "restore", bucket, "notes.txt", "--version-id", second).stdout
    assert said.startswith(f"Restored {bucket}/notes.txt from version {second}: ")
    assert _get(user, bucket, "notes.txt") == b"second draft"
    assert len(user.json("storage", "objects", "versions", bucket, "--prefix", "notes")) == 4

    said = user("storage", "objects", "delete", bucket, "notes.txt", "--version-id", first).stdout
    assert said == f"Deleted version {first} of {bucket}/notes.txt\n"
    left = user.json("storage", "objects", "versions", bucket, "--prefix", "notes")
    assert first not in [v["version_id"] for v in left] and len(left) == 3
    user.fails(4, "storage", "objects", "delete", bucket, "notes.txt", "--version-id", first)
    user.fails(6, "storage", "objects", "delete", bucket, "notes.txt", "--version-id", "bad")
    user.fails(2, "storage", "objects", "restore", bucket, "notes.txt")

    # Without a version: a delete marker on top, every version kept.
    user("storage", "objects", "delete", bucket, "notes.txt")
    top = user.json("storage", "objects", "versions", bucket, "--prefix", "notes")[0]
    assert (top["delete_marker"], top["is_latest"], top["etag"]) == (True, True, None)
    assert "delete marker" in user("storage", "objects", "versions", bucket).stdout
    refused = user.fails(
        6, "storage", "objects", "restore", bucket, "notes.txt", "--version-id", top["version_id"]
    )
    assert "delete marker" in refused


def test_policy(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = _bucket(user, bucket_name)
    assert "no policy" in user.fails(4, "storage", "buckets", "policy", bucket)
    # The policy opens objects to anyone: a new bucket's Block Public Access refuses it.
    user("storage", "buckets", "public-access-block", bucket, "--delete")
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/public/*",
            }
        ],
    }
    path = _file(user, "policy.json", document)
    said = user("storage", "buckets", "policy", bucket, "--set", path).stdout
    assert said == f"Policy of bucket {bucket} set\n"
    assert user.json("storage", "buckets", "policy", bucket) == document
    assert json.loads(user("storage", "buckets", "policy", bucket).stdout) == document
    # aws-cli's file:// form and standard input work too.
    put = user.json("storage", "buckets", "policy", bucket, "--set", f"file://{path}")
    assert put == document
    args = ("--output", "json", "storage", "buckets", "policy", bucket, "--set", "-")
    piped = user(*args, stdin=json.dumps(document))
    assert json.loads(piped.stdout) == document

    statement = {**document["Statement"][0], "Action": "s3:Fly"}
    bad = _file(user, "bad.json", {"Statement": [statement]})
    assert "Policy has invalid action" in user.fails(
        6, "storage", "buckets", "policy", bucket, "--set", bad
    )
    assert user.json("storage", "buckets", "policy", bucket) == document
    user.fails(2, "storage", "buckets", "policy", bucket, "--set", str(user.tmp_path / "none"))
    user.fails(2, "storage", "buckets", "policy", bucket, "--set", path, "--delete")

    said = user("storage", "buckets", "policy", bucket, "--delete").stdout
    assert said == f"Deleted the policy of bucket {bucket}\n"
    user.fails(4, "storage", "buckets", "policy", bucket)


def test_cors_file_works_with_aws_cli_too(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = _bucket(user, bucket_name)
    user("storage", "keys", "create", "--label", "cli", "--aws-profile", "nexq-cors")
    path = _file(user, "cors.json", CORS)

    table = user("storage", "buckets", "cors", bucket, "--set", path).stdout.splitlines()
    assert table[0].split() == ["ID", "ORIGINS", "METHODS", "HEADERS", "EXPOSE", "MAX", "AGE"]
    assert "https://app.example.com" in table[1] and "PUT,POST" in table[1]
    assert user.json("storage", "buckets", "cors", bucket) == CORS
    got = user.aws("--profile", "nexq-cors", "s3api", "get-bucket-cors", "--bucket", bucket)
    assert json.loads(got.stdout) == CORS

    # The same file shape, put by aws-cli, reads back through dcp.
    other = {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}
    other_path = _file(user, "other.json", other)
    put = ["s3api", "put-bucket-cors", "--bucket", bucket, "--cors-configuration"]
    user.aws("--profile", "nexq-cors", *put, f"file://{other_path}")
    assert user.json("storage", "buckets", "cors", bucket) == other

    patch = {"CORSRules": [{"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}]}
    refused = user.fails(6, "storage", "buckets", "cors", bucket, "--set", _file(user, "p", patch))
    assert "CORSRules[0]: Found unsupported HTTP method" in refused
    not_json = _file(user, "broken.json", '{"CORSRules": [')
    assert "is not JSON" in user.fails(6, "storage", "buckets", "cors", bucket, "--set", not_json)
    assert user.json("storage", "buckets", "cors", bucket) == other
    user("storage", "buckets", "cors", bucket, "--delete")
    user.fails(4, "storage", "buckets", "cors", bucket)


def test_lifecycle(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = _bucket(user, bucket_name)
    path = _file(user, "lifecycle.json", LIFECYCLE)
    assert user.json("storage", "buckets", "lifecycle", bucket, "--set", path) == LIFECYCLE
    table = user("storage", "buckets", "lifecycle", bucket).stdout.splitlines()
    assert table[0].split() == ["ID", "STATUS", "APPLIES", "TO", "ACTIONS"]
    assert table[1].split(maxsplit=4) == [
        "logs",
        "Enabled",
        "prefix",
        "logs/",
        "expire after 30 days; delete noncurrent versions after 7 days (keep the 2 newest)",
    ]
    assert table[2].split(maxsplit=4) == [
        "uploads",
        "Disabled",
        "every",
        "object",
        "abort uploads after 3 days",
    ]
    zero = {"Rules": [{"Filter": {}, "Status": "Enabled", "Expiration": {"Days": 0}}]}
    refused = user.fails(
        6, "storage", "buckets", "lifecycle", bucket, "--set", _file(user, "z", zero)
    )
    assert "'Days' for Expiration action must be a positive integer" in refused
    assert user.json("storage", "buckets", "lifecycle", bucket) == LIFECYCLE
    said = user("storage", "buckets", "lifecycle", bucket, "--delete").stdout
    assert said == f"Deleted the lifecycle rules of bucket {bucket}\n"
    user.fails(4, "storage", "buckets", "lifecycle", bucket)


def test_tags(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = _bucket(user, bucket_name)
    assert user.json("storage", "buckets", "tags", bucket) == {"tags": {}}
    set_ = ["--set", "team=storage", "--set", "env=prod", "--set", "note=a=b"]
    table = user("storage", "buckets", "tags", bucket, *set_).stdout.splitlines()
    assert [line.split() for line in table] == [
        ["KEY", "VALUE"],
        ["env", "prod"],
        ["note", "a=b"],
        ["team", "storage"],
    ]
    expected = {"tags": {"env": "prod", "note": "a=b", "team": "storage"}}
    assert user.json("storage", "buckets", "tags", bucket) == expected
    user.fails(2, "storage", "buckets", "tags", bucket, "--set", "novalue")
    user.fails(2, "storage", "buckets", "tags", bucket, "--set", "k=1", "--set", "k=2")
    assert "aws:x" in user.fails(6, "storage", "buckets", "tags", bucket, "--set", "aws:x=1")
    assert user.json("storage", "buckets", "tags", bucket, "--set", "only=one") == {
        "tags": {"only": "one"}
    }
    assert user("--output", "json", "storage", "buckets", "tags", bucket, "--delete").stdout == ""
    assert user.json("storage", "buckets", "tags", bucket) == {"tags": {}}


def test_public_access_block(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = _bucket(user, bucket_name)
    off = {
        "block_public_acls": False,
        "ignore_public_acls": False,
        "block_public_policy": False,
        "restrict_public_buckets": False,
    }
    # A new bucket blocks public access: all four switches on (AWS's default since 2023).
    on = dict.fromkeys(off, True)
    assert user.json("storage", "buckets", "public-access-block", bucket) == on
    user("storage", "buckets", "public-access-block", bucket, "--delete")
    assert user.json("storage", "buckets", "public-access-block", bucket) == off
    shown = user(
        "storage", "buckets", "public-access-block", bucket, "--set", "block-public-policy"
    )
    assert shown.stdout.splitlines() == [
        "block-public-acls:       off",
        "ignore-public-acls:      off",
        "block-public-policy:     on",
        "restrict-public-buckets: off",
    ]
    # The switches not named keep their state.
    more = user.json(
        "storage", "buckets", "public-access-block", bucket, "--set", "restrict-public-buckets=true"
    )
    assert more == {**off, "block_public_policy": True, "restrict_public_buckets": True}
    every = ["--set", "all=false", "--set", "ignore-public-acls"]
    assert user.json("storage", "buckets", "public-access-block", bucket, *every) == {
        **off,
        "ignore_public_acls": True,
    }
    user.fails(2, "storage", "buckets", "public-access-block", bucket, "--set", "block-all")
    user.fails(2, "storage", "buckets", "public-access-block", bucket, "--set", "all=maybe")
    user("storage", "buckets", "public-access-block", bucket, "--delete")
    assert user.json("storage", "buckets", "public-access-block", bucket) == off


def test_settings_of_a_missing_bucket(user: Dcp, bucket_name: Callable[[], str]) -> None:
    missing = bucket_name()
    for command in ("versioning", "policy", "cors", "lifecycle", "tags", "public-access-block"):
        assert "No bucket named" in user.fails(4, "storage", "buckets", command, missing)
    user.fails(4, "storage", "objects", "versions", missing)
