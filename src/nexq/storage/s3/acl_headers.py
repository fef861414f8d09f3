"""The ACL a request asks for in its headers: ``x-amz-acl`` (a canned ACL) or the
``x-amz-grant-*`` headers, each a comma-separated list of grantees::

    x-amz-grant-read: id="<account id>", emailAddress="a@example.com",
                      uri="http://acs.amazonaws.com/groups/global/AllUsers"

Only the shape is checked here; whether the accounts exist is the use case's question.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from nexq.storage import acl
from nexq.storage.acl import AclRequest, Grant, Grantee
from nexq.storage.s3.errors import S3Error, invalid_argument

GRANT_HEADERS = {
    "x-amz-grant-read": acl.READ,
    "x-amz-grant-write": acl.WRITE,
    "x-amz-grant-read-acp": acl.READ_ACP,
    "x-amz-grant-write-acp": acl.WRITE_ACP,
    "x-amz-grant-full-control": acl.FULL_CONTROL,
}
_KINDS = {"id": "id", "emailaddress": "email", "uri": "uri"}
# One grantee: a type, "=", and a value, quoted or not, then a comma or the end.
_GRANTEE = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,"\s]+))\s*(,|$)')


def parse_grantees(header: str, value: str) -> tuple[Grantee, ...]:
    """The grantees of one ``x-amz-grant-*`` header; InvalidArgument naming the header when
    it is not a list of ``id=``, ``emailAddress=`` and ``uri=`` grantees."""
    grantees: list[Grantee] = []
    position = 0
    while position < len(value) or not grantees:
        match = _GRANTEE.match(value, position)
        kind = _KINDS.get(match.group(1).lower()) if match else None
        if match is None or kind is None:
            raise invalid_argument("Invalid grant header value", header, value)
        text = match.group(2) if match.group(2) is not None else match.group(3)
        if not text or (match.group(4) == "," and match.end() == len(value)):
            raise invalid_argument("Invalid grant header value", header, value)
        grantees.append(Grantee(kind, text))
        position = match.end()
    return tuple(grantees)


def acl_request(headers: Mapping[str, str], canned_name: str = "x-amz-acl") -> AclRequest:
    """The canned ACL or the grants a request's headers (or a form's fields, whose canned
    ACL is ``acl``) ask for; lowercase names."""
    canned = headers.get(canned_name)
    grants: list[Grant] = []
    for name, value in headers.items():
        if not name.startswith("x-amz-grant-"):
            continue
        permission = GRANT_HEADERS.get(name)
        if permission is None:
            raise invalid_argument("Unknown grant header", name, value)
        grants += [Grant(grantee, permission) for grantee in parse_grantees(name, value)]
    if canned is not None and grants:
        raise S3Error(
            "InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed", 400
        )
    return AclRequest(canned.strip() if canned is not None else None, tuple(grants))


def asks_for_acl(headers: Mapping[str, str]) -> bool:
    """Whether the headers ask for an ACL at all (PutBucketAcl/PutObjectAcl then take no
    document)."""
    return "x-amz-acl" in headers or any(name.startswith("x-amz-grant-") for name in headers)
