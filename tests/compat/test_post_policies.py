"""PostObject meets bucket policies and ACLs as PutObject does: an anonymous form where the
bucket lets anyone write (public upload forms), a form another account signed where the
bucket grants it, and an explicit Deny refusing even the owner's own signed form."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from tests.compat.test_policies import account_id, policy
from tests.compat.test_post_object import base_conditions, error_of, in_an_hour, signed_form
from tests.live import Key, LiveServer

_names = itertools.count()


@pytest.fixture(scope="module")
def grantee(server: LiveServer) -> tuple[Key, Any]:
    """A second account, with an All Buckets key and its client."""
    key = server.key(server.account(f"poster{next(_names)}@example.com"))
    return key, server.client(key)


def _post(server: LiveServer, bucket: str, fields: dict[str, str], body: bytes = b"bar") -> Any:
    return httpx.post(
        f"{server.endpoint}/{bucket}", data=fields, files={"file": ("foo.txt", body)}, timeout=30
    )


def _form(signer: Key, bucket: str, key: str) -> dict[str, str]:
    document = {"expiration": in_an_hour(), "conditions": base_conditions(bucket)}
    return signed_form(signer, document, key=key, **{"Content-Type": "text/plain"})


def test_anonymous_form_uploads_go_where_a_policy_lets_anyone_write(
    server: LiveServer, s3: Any, bucket: str
) -> None:
    anonymous = {"key": "uploads/hello.txt", "Content-Type": "text/plain"}
    refused = _post(server, bucket, anonymous)
    assert refused.status_code == 403, refused.text  # private: no policy opens it
    assert error_of(refused)["Code"] == "AccessDenied"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)

    s3.delete_public_access_block(Bucket=bucket)  # a new bucket refuses public policies
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/uploads/*",
            },
        ),
    )
    stored = _post(server, bucket, anonymous, b"from a public form")
    assert stored.status_code == 204, stored.text
    got = s3.get_object(Bucket=bucket, Key="uploads/hello.txt")
    assert got["Body"].read() == b"from a public form"
    assert got["ContentType"] == "text/plain"

    # Outside the prefix the policy names, the same form is refused, and nothing is stored.
    elsewhere = _post(server, bucket, {"key": "private/x.txt"})
    assert elsewhere.status_code == 403
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["uploads/hello.txt"]


def test_a_form_another_account_signs_needs_the_bucket_s_grant(
    server: LiveServer, s3: Any, bucket: str, grantee: tuple[Key, Any]
) -> None:
    other_key, other_s3 = grantee
    refused = _post(server, bucket, _form(other_key, bucket, "foo/theirs.txt"))
    assert refused.status_code == 403, refused.text

    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": {"AWS": account_id(other_s3)},
                "Action": "s3:PutObject",
            },
        ),
    )
    stored = _post(server, bucket, _form(other_key, bucket, "foo/theirs.txt"), b"theirs")
    assert stored.status_code == 204, stored.text
    assert s3.get_object(Bucket=bucket, Key="foo/theirs.txt")["Body"].read() == b"theirs"


def test_an_explicit_deny_refuses_the_owner_s_own_signed_form(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/foo/locked/*",
            },
        ),
    )
    denied = _post(server, bucket, _form(owner, bucket, "foo/locked/x.txt"))
    assert denied.status_code == 403, denied.text
    assert _post(server, bucket, _form(owner, bucket, "foo/open.txt")).status_code == 204
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["foo/open.txt"]
