"""S3's XML: documents rendered as strings (fast, escaped) and client XML parsed safely."""

from __future__ import annotations

import datetime as dt
import functools
import time
from urllib.parse import quote
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from nexq.storage.multipart import CompletedPart
from nexq.storage.object_lock import DeleteConditions
from nexq.storage.s3.errors import S3Error, malformed_xml

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_XML_BYTES = 2 * 1024 * 1024


def escape(value: str) -> str:
    """Escape text for an XML element (keys may hold any character, also control ones)."""
    out = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if any(ord(c) < 0x20 for c in out):
        # XML 1.0 cannot carry most control characters literally; S3 writes them as references.
        out = "".join(f"&#x{ord(c):X};" if ord(c) < 0x20 else c for c in out)
    return out


def key_text(key: str, url_encoded: bool) -> str:
    """A key as listings show it: escaped, or URL-encoded when ``encoding-type=url``."""
    return quote(key, safe="/") if url_encoded else escape(key)


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def iso_time(epoch: float) -> str:
    """S3's timestamp of an object, upload, part or bucket: 2009-10-12T17:50:30.000Z, whole
    seconds as S3 writes them (and as ``Last-Modified`` says: a listing and a HEAD agree)."""
    return f"{_iso_second(int(epoch))}.000Z"


def iso_time_millis(epoch: float) -> str:
    """A timestamp a client gave (a retention date), to the millisecond it was given."""
    millis = min(round((epoch - int(epoch)) * 1000), 999)
    return f"{_iso_second(int(epoch))}.{millis:03d}Z"


def document(root: str, inner: str) -> str:
    """A whole response document with S3's namespace."""
    return f'{HEAD}<{root} xmlns="{NS}">{inner}</{root}>'


def parse_document(body: bytes) -> Element:
    if len(body) > MAX_XML_BYTES:
        raise malformed_xml()
    try:
        root: Element = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        raise malformed_xml() from None
    return root


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def children(element: Element, name: str) -> list[Element]:
    return [c for c in element if local_name(c.tag) == name]


def _text(element: Element, name: str) -> str | None:
    for child in element:
        if local_name(child.tag) == name:
            return child.text or ""
    return None


def parse_delete(
    body: bytes,
) -> tuple[list[tuple[str, str | None, DeleteConditions | None]], bool]:
    """DeleteObjects' request: each (key, version id or None, its conditional-delete
    preconditions: ETag, LastModifiedTime, Size) and whether the answer is quiet."""
    root = parse_document(body)
    if local_name(root.tag) != "Delete":
        raise malformed_xml()
    keys = []
    for obj in children(root, "Object"):
        key = _text(obj, "Key")
        if key is None:
            raise malformed_xml()
        keys.append((key, _text(obj, "VersionId"), _delete_conditions(obj)))
    if not keys or len(keys) > 1000:
        raise malformed_xml()
    quiet = (_text(root, "Quiet") or "false").strip().lower() == "true"
    return keys, quiet


def _delete_conditions(obj: Element) -> DeleteConditions | None:
    etag, modified, size = _text(obj, "ETag"), _text(obj, "LastModifiedTime"), _text(obj, "Size")
    if etag is None and modified is None and size is None:
        return None
    try:
        when = (
            dt.datetime.fromisoformat(modified.strip().replace("Z", "+00:00")).timestamp()
            if modified is not None
            else None
        )
        return DeleteConditions(etag, when, int(size) if size is not None else None)
    except ValueError:
        raise malformed_xml() from None


def parse_complete(body: bytes) -> list[CompletedPart]:
    """CompleteMultipartUpload's request: the parts in the order the client gave them."""
    root = parse_document(body)
    if local_name(root.tag) != "CompleteMultipartUpload":
        raise malformed_xml()
    parts = []
    for part in children(root, "Part"):
        number, etag = _text(part, "PartNumber"), _text(part, "ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise malformed_xml()
        checksums = {}
        for child in part:
            name = local_name(child.tag)
            if name.startswith("Checksum") and name != "ChecksumType" and child.text:
                checksums[name.removeprefix("Checksum").upper()] = child.text.strip()
        parts.append(CompletedPart(int(number), etag, checksums))
    return parts


def parse_location(body: bytes) -> str | None:
    """CreateBucket's optional LocationConstraint."""
    if not body.strip():
        return None
    root = parse_document(body)
    return _text(root, "LocationConstraint")


def private_policy(body: bytes) -> bool:
    """Whether an AccessControlPolicy grants nothing beyond the owner's FULL_CONTROL."""
    if not body.strip():
        return True
    root = parse_document(body)
    if local_name(root.tag) != "AccessControlPolicy":
        raise malformed_xml()
    permissions = [
        (_text(grant, "Permission") or "", grant)
        for acl in children(root, "AccessControlList")
        for grant in children(acl, "Grant")
    ]
    owner = next(iter(children(root, "Owner")), None)
    owner_id = _text(owner, "ID") if owner is not None else None
    for permission, grant in permissions:
        grantee = next(iter(children(grant, "Grantee")), None)
        grantee_id = _text(grantee, "ID") if grantee is not None else None
        if permission != "FULL_CONTROL" or grantee_id != owner_id:
            return False
    return True


def invalid_location(region: str, asked: str) -> S3Error:
    return S3Error(
        "IllegalLocationConstraintException",
        f"The {asked} location constraint is incompatible for the region specific endpoint "
        f"this request was sent to ({region}).",
        400,
    )


def parse_versioning(body: bytes) -> tuple[str | None, str | None]:
    """PutBucketVersioning's request: (Status, MfaDelete), each None when absent."""
    root = parse_document(body)
    if local_name(root.tag) != "VersioningConfiguration":
        raise malformed_xml()
    return _text(root, "Status"), _text(root, "MfaDelete")
