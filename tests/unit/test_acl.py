"""The one ACL rule (s3/acl.py): only the owner's full control passes, however it is asked."""

from __future__ import annotations

import pytest

from nexq.storage.s3.acl import check_acl_change, check_bucket_acl, check_form_acl, owner_only
from nexq.storage.s3.errors import S3Error

OWNER = "a1b2c3"


@pytest.mark.parametrize(
    ("canned", "grants"),
    [
        (None, {}),
        ("private", {}),
        ("bucket-owner-full-control", {}),
        (" private ", {}),
        (None, {"x-amz-grant-full-control": f'id="{OWNER}"'}),
        (None, {"x-amz-grant-full-control": f"id={OWNER}, id={OWNER}"}),
    ],
)
def test_the_owners_full_control_passes(canned: str | None, grants: dict[str, str]) -> None:
    assert owner_only(canned, grants, OWNER)


@pytest.mark.parametrize(
    ("canned", "grants"),
    [
        ("public-read", {}),
        ("Private", {}),
        ("", {}),
        (None, {"x-amz-grant-read": f'id="{OWNER}"'}),
        (None, {"x-amz-grant-full-control": f'id="{OWNER}", id="someone-else"'}),
        (None, {"x-amz-grant-full-control": 'emailAddress="owner@example.com"'}),
        (None, {"x-amz-grant-full-control": ""}),
        ("private", {"x-amz-grant-write": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'}),
    ],
)
def test_anything_else_is_refused(canned: str | None, grants: dict[str, str]) -> None:
    assert not owner_only(canned, grants, OWNER)


def test_each_request_gets_its_s3_error() -> None:
    with pytest.raises(S3Error) as bucket:
        check_bucket_acl({"x-amz-acl": "public-read"}, OWNER)
    assert (bucket.value.code, bucket.value.status) == ("InvalidBucketAclWithObjectOwnership", 400)
    with pytest.raises(S3Error) as form:
        check_form_acl({"ACL": "public-read"}, OWNER)  # form field names in any case
    assert (form.value.code, form.value.status) == ("AccessControlListNotSupported", 400)
    with pytest.raises(S3Error) as misspelt:
        check_acl_change({"x-amz-grant-everything": f'id="{OWNER}"'}, b"", OWNER)
    assert misspelt.value.code == "AccessControlListNotSupported"
    check_form_acl({"acl": "bucket-owner-full-control"}, OWNER)
    check_acl_change({}, b"", OWNER)
