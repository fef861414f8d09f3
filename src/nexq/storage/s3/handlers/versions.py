"""Versioning: Put/GetBucketVersioning and ListObjectVersions."""

from __future__ import annotations

from nexq.storage.s3.body import read_small
from nexq.storage.s3.errors import S3Error, invalid_argument, malformed_xml, missing_content_length
from nexq.storage.s3.handlers.common import (
    Services,
    empty,
    int_param,
    listed_checksum,
    listed_owner,
    quoted,
)
from nexq.storage.s3.handlers.listing import MAX_KEYS, url_encoded
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.xml import document, escape, iso_time, key_text, parse_versioning
from nexq.storage.versions import VersionListing, shown


async def put_bucket_versioning(req: S3Request, s: Services) -> Response:
    body = await read_small(req, 64 * 1024)
    if body is None:
        raise missing_content_length()

    def configure() -> None:
        status, mfa_delete = parse_versioning(body)
        # S3 compat: a Status S3's schema does not list is MalformedXML, a configuration that
        # says nothing is IllegalVersioningConfigurationException, as AWS answers.
        if status is None and mfa_delete is None:
            raise S3Error(
                "IllegalVersioningConfigurationException",
                "The Versioning element must be specified",
                400,
            )
        if status not in (None, "Enabled", "Suspended"):
            raise malformed_xml()
        if mfa_delete not in (None, "Disabled"):
            # MFA Delete needs MFA devices, which Nexq accounts do not have.
            raise invalid_argument(
                "MFA Delete is not supported by this server.", "MfaDelete", mfa_delete or ""
            )
        if status is None:
            s.objects.bucket(req.caller, req.bucket or "")  # nothing to change
            return
        s.objects.set_versioning(req.caller, req.bucket or "", status)

    await req.run(configure)
    return empty(200)


async def get_bucket_versioning(req: S3Request, s: Services) -> Response:
    state = await req.run(lambda: s.objects.versioning(req.caller, req.bucket or ""))
    # A bucket whose versioning was never configured answers an empty configuration.
    inner = f"<Status>{state}</Status>" if state is not None else ""
    return Response.xml(document("VersioningConfiguration", inner))


def _entries(req: S3Request, s: Services, listing: VersionListing, url: bool) -> str:
    owner = listed_owner(req, s)
    out = []
    for v in listing.versions:
        common = (
            f"<Key>{key_text(v.key, url)}</Key><VersionId>{shown(v.version_id)}</VersionId>"
            f"<IsLatest>{'true' if v.is_latest else 'false'}</IsLatest>"
            f"<LastModified>{iso_time(v.last_modified)}</LastModified>"
        )
        if v.delete_marker:
            out.append(f"<DeleteMarker>{common}{owner}</DeleteMarker>")
        else:
            out.append(
                f"<Version>{common}<ETag>{escape(quoted(v.etag))}</ETag>"
                f"{listed_checksum(v.checksum_algorithms, v.checksum_type)}<Size>{v.size}</Size>"
                f"<StorageClass>STANDARD</StorageClass>{owner}</Version>"
            )
    out += [
        f"<CommonPrefixes><Prefix>{key_text(p, url)}</Prefix></CommonPrefixes>"
        for p in listing.common_prefixes
    ]
    return "".join(out)


async def list_object_versions(req: S3Request, s: Services) -> Response:
    url = url_encoded(req)
    max_keys = int_param(req, "max-keys", MAX_KEYS, MAX_KEYS)
    prefix = req.query.get("prefix", "")
    delimiter = req.query.get("delimiter", "")
    key_marker = req.query.get("key-marker", "")
    version_marker = req.query.get("version-id-marker")
    if version_marker is not None and not key_marker:
        raise invalid_argument(
            "A version-id marker cannot be specified without a key marker.",
            "version-id-marker",
            version_marker,
        )
    listing = await req.run(
        lambda: s.objects.list_versions(
            req.caller,
            req.bucket or "",
            prefix,
            delimiter,
            (key_marker or None, version_marker if version_marker != "" else None),
            max_keys,
        )
    )
    inner = (
        f"<Name>{req.bucket}</Name><Prefix>{key_text(prefix, url)}</Prefix>"
        f"<KeyMarker>{key_text(key_marker, url)}</KeyMarker>"
        f"<VersionIdMarker>{escape(version_marker or '')}</VersionIdMarker>"
        f"<MaxKeys>{max_keys}</MaxKeys>"
    )
    if delimiter:
        inner += f"<Delimiter>{key_text(delimiter, url)}</Delimiter>"
    inner += f"<IsTruncated>{'true' if listing.is_truncated else 'false'}</IsTruncated>"
    if listing.is_truncated and listing.next_key_marker is not None:
        inner += f"<NextKeyMarker>{key_text(listing.next_key_marker, url)}</NextKeyMarker>"
        if listing.next_version_id_marker is not None:
            inner += f"<NextVersionIdMarker>{listing.next_version_id_marker}</NextVersionIdMarker>"
    if url:
        inner += "<EncodingType>url</EncodingType>"
    inner += _entries(req, s, listing, url)
    return Response.xml(document("ListVersionsResult", inner))
