"""ACLs on the wire (s3/acl_headers.py, s3/acl_xml.py): grant headers, canned ACLs and
AccessControlPolicy documents as requests send them, and what S3 answers when they are
broken."""

from __future__ import annotations

import pytest

from nexq.storage import acl
from nexq.storage.access_control import AclView
from nexq.storage.acl import AclRequest, Grant, Grantee, Ownership
from nexq.storage.s3.acl_headers import acl_request, parse_grantees
from nexq.storage.s3.acl_xml import parse_ownership, parse_policy, render_policy
from nexq.storage.s3.errors import S3Error

ALL_USERS = acl.ALL_USERS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('id="abc"', (Grantee("id", "abc"),)),
        ("id=abc", (Grantee("id", "abc"),)),
        (
            f'emailAddress="a@example.com", uri="{ALL_USERS}",id=x',
            (Grantee("email", "a@example.com"), Grantee("uri", ALL_USERS), Grantee("id", "x")),
        ),
        ('  ID = "abc" ', (Grantee("id", "abc"),)),
    ],
)
def test_grantees_of_a_grant_header(value: str, expected: tuple[Grantee, ...]) -> None:
    assert parse_grantees("x-amz-grant-read", value) == expected


@pytest.mark.parametrize(
    "value", ["", "nobody", 'id=""', "id=a,", 'name="x"', 'id="a" id="b"', "id=a,,id=b"]
)
def test_a_broken_grant_header_is_invalid_argument(value: str) -> None:
    with pytest.raises(S3Error) as exc:
        parse_grantees("x-amz-grant-read", value)
    assert exc.value.code == "InvalidArgument"
    # S3 compat: no ArgumentValue when the header is empty.
    named = {"ArgumentValue": value} if value else {}
    assert exc.value.extra == {"ArgumentName": "x-amz-grant-read", **named}


def test_headers_make_one_request() -> None:
    asked = acl_request(
        {"x-amz-grant-read": 'id="a", id="b"', "x-amz-grant-full-control": 'id="o"', "x": "y"}
    )
    assert asked == AclRequest(
        None,
        (
            Grant(Grantee("id", "a"), acl.READ),
            Grant(Grantee("id", "b"), acl.READ),
            Grant(Grantee("id", "o"), acl.FULL_CONTROL),
        ),
    )
    assert acl_request({"x-amz-acl": " public-read "}) == AclRequest("public-read")
    assert acl_request({"acl": "private"}, "acl") == AclRequest("private")
    assert acl_request({}).empty


def test_canned_and_grants_together_are_refused() -> None:
    with pytest.raises(S3Error) as both:
        acl_request({"x-amz-acl": "private", "x-amz-grant-read": 'id="a"'})
    assert both.value.code == "InvalidRequest"
    with pytest.raises(S3Error) as unknown:
        acl_request({"x-amz-grant-everything": 'id="a"'})
    assert unknown.value.code == "InvalidArgument"


def test_an_access_control_policy_is_read_with_its_owner() -> None:
    body = f"""<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Owner><ID>owner</ID><DisplayName>o@example.com</DisplayName></Owner>
      <AccessControlList>
        <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
          xsi:type="CanonicalUser"><ID>owner</ID></Grantee>
          <Permission>FULL_CONTROL</Permission></Grant>
        <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
          xsi:type="Group"><URI>{ALL_USERS}</URI></Grantee><Permission>READ</Permission></Grant>
        <Grant><Grantee><EmailAddress>b@example.com</EmailAddress></Grantee>
          <Permission>WRITE_ACP</Permission></Grant>
      </AccessControlList>
    </AccessControlPolicy>""".encode()
    assert parse_policy(body) == AclRequest(
        None,
        (
            Grant(Grantee("id", "owner"), acl.FULL_CONTROL),
            Grant(Grantee("uri", ALL_USERS), acl.READ),
            Grant(Grantee("email", "b@example.com"), acl.WRITE_ACP),
        ),
        "owner",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<Other/>",
        b"<AccessControlPolicy><AccessControlList/></AccessControlPolicy>",  # no Owner
        b"<AccessControlPolicy><Owner><ID>o</ID></Owner></AccessControlPolicy>",  # no list
        b"<AccessControlPolicy><Owner><ID>o</ID></Owner><AccessControlList><Grant>"
        b"<Grantee><ID>o</ID></Grantee><Permission>ALL</Permission></Grant>"
        b"</AccessControlList></AccessControlPolicy>",
        b"<AccessControlPolicy><Owner><ID>o</ID></Owner><AccessControlList><Grant>"
        b"<Grantee><DisplayName>x</DisplayName></Grantee><Permission>READ</Permission></Grant>"
        b"</AccessControlList></AccessControlPolicy>",
        b"<AccessControlPolicy><Owner><ID>o</ID></Owner><AccessControlList><Grant>"
        b"<Grantee><ID>o</ID></Grantee><Permission>READ</Permission><Extra/></Grant>"
        b"</AccessControlList></AccessControlPolicy>",
    ],
)
def test_anything_else_is_malformed_acl(body: bytes) -> None:
    with pytest.raises(S3Error) as exc:
        parse_policy(body)
    assert (exc.value.code, exc.value.status) == ("MalformedACLError", 400)


def test_an_answer_reads_back_as_the_same_grants() -> None:
    grants = (Grant(Grantee("id", "o"), acl.FULL_CONTROL), Grant(Grantee("uri", ALL_USERS), "READ"))
    text = render_policy(AclView("o", grants))
    assert "DisplayName" not in text  # AWS's answers have had none since November 2025
    assert parse_policy(text.encode()) == AclRequest(None, grants, "o")


def test_ownership_controls_name_one_of_three_settings() -> None:
    body = (
        b"<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>"
        b"</OwnershipControls>"
    )
    assert parse_ownership(body) is Ownership.OBJECT_WRITER
    for broken in (
        b"<OwnershipControls/>",
        b"<OwnershipControls><Rule><ObjectOwnership>Me</ObjectOwnership></Rule></OwnershipControls>",
        b"<OwnershipControls><Rule/></OwnershipControls>",
    ):
        with pytest.raises(S3Error) as exc:
            parse_ownership(broken)
        assert exc.value.code == "MalformedXML"
