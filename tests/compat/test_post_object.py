"""Browser-form uploads (PostObject) with policies made by boto3's generate_presigned_post."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from defusedxml import ElementTree

from tests.live import Key, LiveServer


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_form_upload(
    server: LiveServer, owner: Key, s3: Any, bucket: str, signature_version: str
) -> None:
    client = server.client(owner, signature_version=signature_version)
    post = client.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "form"},
        Conditions=[
            ["starts-with", "$key", "uploads/"],
            {"Content-Type": "text/plain"},
            {"x-amz-meta-origin": "form"},
            ["content-length-range", 1, 1000],
        ],
        ExpiresIn=600,
    )
    response = httpx.post(
        post["url"],
        data=post["fields"],
        files={"file": ("hello.txt", b"from a browser", "text/plain")},
    )
    assert response.status_code == 204, response.text
    got = s3.get_object(Bucket=bucket, Key="uploads/hello.txt")
    assert got["Body"].read() == b"from a browser"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"origin": "form"}


def test_form_policy_is_enforced(server: LiveServer, owner: Key, s3: Any, bucket: str) -> None:
    client = server.client(owner, signature_version="s3v4")
    post = client.generate_presigned_post(
        bucket,
        "fixed-key",
        Conditions=[["content-length-range", 1, 10], {"success_action_status": "201"}],
        Fields={"success_action_status": "201"},
    )
    too_big = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"x" * 11)})
    assert too_big.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in too_big.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="fixed-key")
    other_key = {**post["fields"], "key": "elsewhere"}
    assert httpx.post(post["url"], data=other_key, files={"file": ("f", b"x")}).status_code == 403
    extra = {**post["fields"], "x-amz-meta-sneaky": "1"}
    assert httpx.post(post["url"], data=extra, files={"file": ("f", b"x")}).status_code == 403
    forged = {**post["fields"], "x-amz-signature": "0" * 64}
    answer = httpx.post(post["url"], data=forged, files={"file": ("f", b"x")})
    assert answer.status_code == 403
    ok = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"fits")})
    assert ok.status_code == 201
    assert "<Key>fixed-key</Key>" in ok.text


def test_expired_form(server: LiveServer, owner: Key, bucket: str) -> None:
    client = server.client(owner, signature_version="s3v4")
    post = client.generate_presigned_post(bucket, "late", ExpiresIn=-10)
    response = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"x")})
    assert response.status_code == 403
    assert "expired" in response.text


def test_form_without_policy_is_refused(server: LiveServer, bucket: str) -> None:
    response = httpx.post(
        f"{server.endpoint}/{bucket}", data={"key": "anon"}, files={"file": ("f", b"x")}
    )
    assert response.status_code == 403


# --- policies written by hand (SigV2-signed, as ceph's s3-tests do) ---------------------


def in_an_hour() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_form(signer: Key, document: Any, **fields: str) -> dict[str, str]:
    """``fields``, then the policy ``document`` and its SigV2 signature."""
    policy = base64.b64encode(json.dumps(document).encode()).decode()
    digest = hmac.new(signer.secret_access_key.encode(), policy.encode(), hashlib.sha1).digest()
    return {
        **fields,
        "AWSAccessKeyId": signer.access_key_id,
        "policy": policy,
        "signature": base64.b64encode(digest).decode(),
    }


def upload(
    server: LiveServer, bucket: str, fields: dict[str, str], content: bytes = b"bar"
) -> httpx.Response:
    return httpx.post(
        f"{server.endpoint}/{bucket}", data=fields, files={"file": ("foo.txt", content)}
    )


def base_conditions(bucket: str) -> list[Any]:
    return [
        {"bucket": bucket},
        ["starts-with", "$key", "foo"],
        ["starts-with", "$Content-Type", "text/plain"],
        ["content-length-range", 0, 1024],
    ]


def error_of(response: httpx.Response) -> dict[str, str]:
    root = ElementTree.fromstring(response.content)
    return {child.tag: child.text or "" for child in root}


def test_field_and_condition_names_and_operations_match_whatever_their_case(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    document = {
        "expiration": in_an_hour(),
        "conditions": [
            {"bUcKeT": bucket},
            ["StArTs-WiTh", "$KeY", "foo"],
            {"AcL": "private"},
            ["StArTs-WiTh", "$CoNtEnT-TyPe", "text/plain"],
            ["content-length-range", 0, 1024],
        ],
    }
    fields = signed_form(owner, document, kEy="foo.txt", aCl="private")
    fields["Content-Type"] = "text/plain"
    fields["pOLICy"] = fields.pop("policy")
    response = upload(server, bucket, fields)
    assert response.status_code == 204, response.text
    assert s3.get_object(Bucket=bucket, Key="foo.txt")["Body"].read() == b"bar"


def test_success_action_status_and_the_post_response(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    def post(status: str, key: str) -> httpx.Response:
        conditions = [*base_conditions(bucket), ["starts-with", "$success_action_status", ""]]
        fields = signed_form(
            owner,
            {"expiration": in_an_hour(), "conditions": conditions},
            key=key,
            success_action_status=status,
        )
        fields["Content-Type"] = "text/plain"
        return upload(server, bucket, fields)

    created = post("201", "foo/a b.txt")
    assert created.status_code == 201, created.text
    document = ElementTree.fromstring(created.content)
    assert document.tag == "PostResponse"  # no namespace, as S3's
    location = f"{server.endpoint}/{bucket}/foo%2Fa%20b.txt"
    assert document.find("Location").text == location  # type: ignore[union-attr]
    assert document.find("Bucket").text == bucket  # type: ignore[union-attr]
    assert document.find("Key").text == "foo/a b.txt"  # type: ignore[union-attr]
    etag = s3.head_object(Bucket=bucket, Key="foo/a b.txt")["ETag"]
    assert document.find("ETag").text == etag  # type: ignore[union-attr]
    assert created.headers["etag"] == etag and created.headers["location"] == location
    ok = post("200", "foo-200")
    assert (ok.status_code, ok.content) == (200, b"")
    for status in ("204", "404", "created"):
        answer = post(status, f"foo-{status}")
        assert (answer.status_code, answer.content) == (204, b""), status
        assert answer.headers["location"] == f"{server.endpoint}/{bucket}/foo-{status}"


def test_success_action_redirect(server: LiveServer, owner: Key, s3: Any, bucket: str) -> None:
    def post(redirect: str, key: str) -> httpx.Response:
        conditions = [*base_conditions(bucket), ["eq", "$success_action_redirect", redirect]]
        fields = signed_form(
            owner,
            {"expiration": in_an_hour(), "conditions": conditions},
            key=key,
            success_action_redirect=redirect,
        )
        fields["Content-Type"] = "text/plain"
        return upload(server, bucket, fields)

    answer = post("https://example.com/done", "foo/up loaded.txt")
    assert answer.status_code == 303, answer.text
    etag = s3.head_object(Bucket=bucket, Key="foo/up loaded.txt")["ETag"].strip('"')
    assert answer.headers["location"] == (
        f"https://example.com/done?bucket={bucket}&key=foo%2Fup+loaded.txt&etag=%22{etag}%22"
    )
    kept_query = post("https://example.com/done?from=form", "foo-q")
    assert kept_query.headers["location"].startswith(
        f"https://example.com/done?from=form&bucket={bucket}&key=foo-q&etag=%22"
    )
    # S3 compat: a redirect that is no absolute URL is as if the field were not there.
    assert post("/relative/page", "foo-relative").status_code == 204


def test_filename_is_expanded_in_every_field_before_the_policy_is_checked(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    conditions = [
        *base_conditions(bucket)[:2],
        {"x-amz-meta-name": "photo.jpg"},
        ["content-length-range", 0, 1024],
    ]
    fields = signed_form(
        owner,
        {"expiration": in_an_hour(), "conditions": conditions},
        key="foo/${filename}",
        **{"x-amz-meta-name": "${filename}"},
    )
    # A browser may send the path of the file: only the name after the last (back)slash.
    response = httpx.post(
        f"{server.endpoint}/{bucket}",
        data=fields,
        files={"file": ("C:\\Users\\me\\photo.jpg", b"jpeg")},
    )
    assert response.status_code == 204, response.text
    assert s3.head_object(Bucket=bucket, Key="foo/photo.jpg")["Metadata"] == {"name": "photo.jpg"}


MISSING_FIELD = (
    "Bucket POST must contain a field named '{}'.  "
    "If it is specified, please check the order of the fields."
)


def test_missing_key_and_signature_fields(server: LiveServer, owner: Key, bucket: str) -> None:
    document = {"expiration": in_an_hour(), "conditions": base_conditions(bucket)}
    fields = signed_form(owner, document, key="foo.txt")
    no_key = {name: value for name, value in fields.items() if name != "key"}
    no_signature = {name: value for name, value in fields.items() if name != "signature"}
    for form, name in ((no_key, "key"), (no_signature, "Signature")):
        response = upload(server, bucket, form)
        assert response.status_code == 400, response.text
        error = error_of(response)
        assert error["Code"] == "InvalidArgument"
        assert error["Message"] == MISSING_FIELD.format(name)
        assert (error["ArgumentName"], error["ArgumentValue"]) == (name, "")
    v4 = {
        "key": "foo.txt",
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": f"{owner.access_key_id}/20300101/us-east-1/s3/aws4_request",
        "x-amz-date": "20300101T000000Z",
        "policy": fields["policy"],
    }
    response = upload(server, bucket, v4)
    assert (response.status_code, error_of(response)["ArgumentName"]) == (400, "X-Amz-Signature")
    # Neither signature: an anonymous upload, which a private bucket refuses.
    anonymous = upload(server, bucket, {"key": "foo.txt", "policy": fields["policy"]})
    assert (anonymous.status_code, error_of(anonymous)["Code"]) == (403, "AccessDenied")


def test_a_form_that_is_not_multipart(server: LiveServer, bucket: str) -> None:
    response = httpx.post(
        f"{server.endpoint}/{bucket}", content=b"key=x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 412
    error = error_of(response)
    assert error["Code"] == "PreconditionFailed"
    assert error["Condition"] == "Bucket POST must be of the enclosure-type multipart/form-data"


def _document(bucket: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"expiration": in_an_hour(), "conditions": base_conditions(bucket)}
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"expiration": None}, "Invalid Policy: Policy missing expiration."),
        ({"conditions": None}, "Invalid Policy: Policy missing conditions."),
        (
            {"conditions": {"bucket": "b"}},
            "Invalid Policy: Invalid 'conditions' value: must be a List.",
        ),
        (
            {"EXPIRATION": "2030-01-01T00:00:00Z", "expiration": None},
            "Invalid Policy: Unexpected: 'expiration'",
        ),
        (
            {"expiration": "2030-01-01 00:00:00+00:00"},
            "Invalid Policy: Invalid 'expiration' value: '2030-01-01 00:00:00+00:00'",
        ),
        (
            {"conditions": [{}]},
            "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one "
            "property specified.",
        ),
        (
            {"conditions": [{"key": 5}]},
            "Invalid Policy: Invalid Simple-Condition: value must be a string.",
        ),
        ({"conditions": [[]]}, "Invalid Policy: Invalid Condition: missing operation identifier."),
        (
            {"conditions": [["content-length-range", 0]]},
            "Invalid Policy: Invalid content-length-range: wrong number of arguments.",
        ),
        (
            {"conditions": [["content-length-range", -1, 0]]},
            "Invalid Policy: Invalid content-length-range: the bounds cannot be negative.",
        ),
        ({"conditions": [["content-length-range", 0, 512.0]]}, "Invalid Policy: Invalid JSON."),
        (
            {"conditions": [["ends-with", "$key", "x"]]},
            "Invalid Policy: Invalid Condition: unknown operation 'ends-with'.",
        ),
        (
            {"conditions": ["key"]},
            "Invalid Policy: Invalid condition test: must be a List or Object.",
        ),
    ],
)
def test_a_malformed_policy_is_400_invalid_policy_document(
    server: LiveServer, owner: Key, bucket: str, changes: dict[str, Any], message: str
) -> None:
    fields = signed_form(owner, _document(bucket, **changes), key="foo.txt")
    fields["Content-Type"] = "text/plain"
    response = upload(server, bucket, fields)
    assert response.status_code == 400, response.text
    assert (error_of(response)["Code"], error_of(response)["Message"]) == (
        "InvalidPolicyDocument",
        message,
    )


@pytest.mark.parametrize(
    ("conditions", "fields", "message"),
    [
        (
            [["eq", "$x-amz-meta-foo", ""]],
            {"x-amz-meta-foo": "barclamp"},
            'Policy Condition failed: ["eq", "$x-amz-meta-foo", ""]',
        ),
        (  # a field the form lacks fails even starts-with ""
            [["starts-with", "$x-amz-meta-foo", ""]],
            {},
            'Policy Condition failed: ["starts-with", "$x-amz-meta-foo", ""]',
        ),
        (
            [{"x-amz-meta-foo": "bar"}],
            {"x-amz-meta-foo": "BAR"},
            'Policy Condition failed: ["eq", "$x-amz-meta-foo", "bar"]',
        ),
        (  # without "$" a condition names no field
            [["eq", "x-amz-meta-foo", "bar"]],
            {"x-amz-meta-foo": "bar"},
            'Policy Condition failed: ["eq", "x-amz-meta-foo", "bar"]',
        ),
        ([], {"X-Amz-Meta-Extra": "1"}, "Extra input fields: X-Amz-Meta-Extra"),
        (
            [["content-length-range", "test", "10"]],
            {},
            'Policy Condition failed: ["content-length-range", "test", "10"]',
        ),
    ],
)
def test_a_form_the_policy_does_not_allow_is_403(
    server: LiveServer,
    owner: Key,
    bucket: str,
    conditions: list[Any],
    fields: dict[str, str],
    message: str,
) -> None:
    document = _document(bucket, conditions=[*base_conditions(bucket), *conditions])
    form = signed_form(owner, document, key="foo.txt", **fields)
    form["Content-Type"] = "text/plain"
    response = upload(server, bucket, form)
    assert response.status_code == 403, response.text
    assert error_of(response)["Message"] == f"Invalid according to Policy: {message}"


def test_content_length_range_bounds_are_inclusive(
    server: LiveServer, owner: Key, bucket: str
) -> None:
    def post(content: bytes, low: Any = 5, high: Any = 10) -> httpx.Response:
        conditions = [*base_conditions(bucket)[:3], ["content-length-range", low, high]]
        fields = signed_form(owner, _document(bucket, conditions=conditions), key="foo.txt")
        fields["Content-Type"] = "text/plain"
        return upload(server, bucket, fields, content)

    large = post(b"x" * 12)
    assert large.status_code == 400
    assert error_of(large) | {"RequestId": "", "Resource": "", "HostId": ""} == {
        "Code": "EntityTooLarge",
        "Message": "Your proposed upload exceeds the maximum allowed size",
        "ProposedSize": "12",
        "MaxSizeAllowed": "10",
        "RequestId": "",
        "Resource": "",
        "HostId": "",
    }
    small = post(b"x")
    assert (small.status_code, error_of(small)["Code"]) == (400, "EntityTooSmall")
    assert error_of(small)["MinSizeAllowed"] == "5"
    assert post(b"x" * 5).status_code == 204
    assert post(b"x" * 10).status_code == 204
    assert post(b"x" * 7, "5", "10").status_code == 204  # S3 takes numbers written as strings


def test_form_metadata_is_utf8_and_answered_encoded(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    conditions = [*base_conditions(bucket), ["starts-with", "$x-amz-meta-name", ""]]
    fields = signed_form(
        owner,
        _document(bucket, conditions=conditions),
        key="foo.txt",
        **{"x-amz-meta-name": "ÄMÄZÕÑ S3"},
    )
    fields["Content-Type"] = "text/plain"
    assert upload(server, bucket, fields).status_code == 204
    head = s3.head_object(Bucket=bucket, Key="foo.txt")["ResponseMetadata"]["HTTPHeaders"]
    # The answer S3 gave for this value.
    assert head["x-amz-meta-name"] == "=?UTF-8?Q?=C3=84M=C3=84Z=C3=95=C3=91_S3?="


def test_a_form_tags_its_object(server: LiveServer, owner: Key, s3: Any, bucket: str) -> None:
    """The ``tagging`` field, a Tagging document as PutObjectTagging takes; a tag S3 refuses
    refuses the upload (nothing stored)."""

    def tagging(*pairs: tuple[str, str]) -> str:
        tags = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in pairs)
        return f"<Tagging><TagSet>{tags}</TagSet></Tagging>"

    conditions = [*base_conditions(bucket), ["starts-with", "$tagging", ""]]
    document = _document(bucket, conditions=conditions)
    fields = signed_form(
        owner, document, key="foo-tagged", tagging=tagging(("team", "web"), ("tier", "gold"))
    )
    fields["Content-Type"] = "text/plain"
    assert upload(server, bucket, fields).status_code == 204
    tags = s3.get_object_tagging(Bucket=bucket, Key="foo-tagged")["TagSet"]
    assert tags == [{"Key": "team", "Value": "web"}, {"Key": "tier", "Value": "gold"}]
    assert (
        s3.head_object(Bucket=bucket, Key="foo-tagged")["ResponseMetadata"]["HTTPHeaders"][
            "x-amz-tagging-count"
        ]
        == "2"
    )
    fields = signed_form(owner, document, key="foo-refused", tagging=tagging(("aws:x", "y")))
    fields["Content-Type"] = "text/plain"
    refused = upload(server, bucket, fields)
    assert refused.status_code == 400 and error_of(refused)["Code"] == "InvalidTag"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="foo-refused")["KeyCount"] == 0


def test_a_form_for_another_bucket_is_refused(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    other = f"{bucket}-other"
    s3.create_bucket(Bucket=other)
    fields = signed_form(owner, _document(bucket), key="foo.txt", bucket=bucket)
    fields["Content-Type"] = "text/plain"
    response = upload(server, other, fields)
    assert response.status_code == 403
    assert error_of(response)["Message"].startswith(
        'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket"'
    )
