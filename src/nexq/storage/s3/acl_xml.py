"""ACLs and Object Ownership in S3's XML: the AccessControlPolicy document (PutBucketAcl and
PutObjectAcl take it, GetBucketAcl and GetObjectAcl answer it) and OwnershipControls."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from nexq.storage import acl
from nexq.storage.access_control import AclView
from nexq.storage.acl import AclRequest, Grant, Grantee, Ownership
from nexq.storage.s3.document import Fields, root_of
from nexq.storage.s3.errors import S3Error, malformed_xml
from nexq.storage.s3.xml import document, escape, local_name, parse_document

XSI = "http://www.w3.org/2001/XMLSchema-instance"
# xsi:type of a Grantee → (the element naming it, the kind of grantee)
_TYPES = {
    "CanonicalUser": ("ID", "id"),
    "AmazonCustomerByEmail": ("EmailAddress", "email"),
    "Group": ("URI", "uri"),
}
_GRANTEE_FIELDS = frozenset({"ID", "DisplayName", "EmailAddress", "URI"})


def malformed_acl() -> S3Error:
    return S3Error(
        "MalformedACLError",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def parse_policy(body: bytes) -> AclRequest:
    """An AccessControlPolicy document: its Owner ID and grants (MalformedACLError when it
    is not one)."""
    try:
        root = parse_document(body)
        if local_name(root.tag) != "AccessControlPolicy":
            raise malformed_acl()
        fields = Fields(root, frozenset({"Owner", "AccessControlList"}))
        owner = fields.element("Owner")
        listing = fields.element("AccessControlList")
        if owner is None or listing is None:
            raise malformed_acl()
        owner_id = Fields(owner, frozenset({"ID", "DisplayName"})).text("ID")
        if not owner_id:
            raise malformed_acl()
        grants = tuple(
            _grant(element) for element in Fields(listing, frozenset({"Grant"})).many("Grant")
        )
    except S3Error as exc:
        if exc.code == "MalformedXML":
            raise malformed_acl() from None
        raise
    return AclRequest(None, grants, owner_id.strip())


def _grant(element: Element) -> Grant:
    fields = Fields(element, frozenset({"Grantee", "Permission"}))
    grantee, permission = fields.element("Grantee"), fields.text("Permission")
    if grantee is None or permission is None or permission.strip() not in acl.PERMISSIONS:
        raise malformed_acl()
    named = Fields(grantee, _GRANTEE_FIELDS)
    kind_name = grantee.get(f"{{{XSI}}}type")
    if kind_name is None:  # no xsi:type: the one element that names a grantee says which
        kind_name = next((t for t, (tag, _) in _TYPES.items() if named.has(tag)), None)
    if kind_name not in _TYPES:
        raise malformed_acl()
    tag, kind = _TYPES[kind_name]
    value = named.text(tag)
    if not value or not value.strip():
        raise malformed_acl()
    return Grant(Grantee(kind, value.strip()), permission.strip())


def render_policy(view: AclView) -> str:
    """GetBucketAcl's and GetObjectAcl's answer."""
    grants = "".join(
        f'<Grant><Grantee xmlns:xsi="{XSI}" xsi:type="{_type(g)}">{_grantee(g, view)}</Grantee>'
        f"<Permission>{g.permission}</Permission></Grant>"
        for g in view.grants
    )
    owner = _account(view.owner, view)
    return document(
        "AccessControlPolicy",
        f"<Owner>{owner}</Owner><AccessControlList>{grants}</AccessControlList>",
    )


def _type(grant: Grant) -> str:
    return "Group" if grant.grantee.kind == "uri" else "CanonicalUser"


def _grantee(grant: Grant, view: AclView) -> str:
    if grant.grantee.kind == "uri":
        return f"<URI>{escape(grant.grantee.value)}</URI>"
    return _account(grant.grantee.value, view)


def _account(account_id: str, view: AclView) -> str:
    return f"<ID>{escape(account_id)}</ID>"


def parse_ownership(body: bytes) -> Ownership:
    """PutBucketOwnershipControls' document: one rule naming one of the three settings."""
    root = root_of(body, "OwnershipControls")
    rules = Fields(root, frozenset({"Rule"})).many("Rule")
    if len(rules) != 1:
        raise malformed_xml()
    value = Fields(rules[0], frozenset({"ObjectOwnership"})).required_text("ObjectOwnership")
    try:
        return Ownership(value.strip())
    except ValueError:
        raise malformed_xml() from None


def render_ownership(ownership: Ownership) -> str:
    return document(
        "OwnershipControls",
        f"<Rule><ObjectOwnership>{ownership.value}</ObjectOwnership></Rule>",
    )
