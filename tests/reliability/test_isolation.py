"""Isolation: every S3 operation x every kind of caller (the REST API's matrix, generated from
its routes, is in test_authorization.py).

Each cell of the tables below is one request whose outcome is asserted on its own. A cell
that should succeed gets a resource of its own (its own key, upload or bucket), so an
operation that wrongly succeeded elsewhere cannot make a later cell pass or fail.

Codes: ``ok`` 2xx; ``hidden`` 200 without the target bucket in the answer; ``AD`` 403
AccessDenied; ``IAK`` 403 InvalidAccessKeyId; ``SIG`` 403 SignatureDoesNotMatch; ``BAE`` 409
BucketAlreadyExists; ``403`` a 403 without a body to name the code (HEAD).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest

from nexq.storage.s3.operations import Operation
from tests.live import REGION, Key, LiveServer, nexq
from tests.reliability.conftest import account_key
from tests.reliability.harness import (
    UNSIGNED,
    RawResponse,
    SignParts,
    amz_now,
    build,
    derived_key,
    exchange,
    signed_headers,
)

CALLERS = [
    "owner",
    "scoped_in",
    "scoped_out",
    "other",
    "revoked",
    "deleted",
    "suspended",
    "anonymous",
    "expired",
    "tampered",
]
# fmt: off
S3_MATRIX = """
# columns: owner scoped_in scoped_out other revoked deleted suspended anonymous expired tampered
ListBuckets             ok     ok     hidden hidden AD     IAK    AD     AD     AD     SIG
CreateBucket            ok     AD     AD     BAE    AD     IAK    AD     AD     AD     SIG
DeleteBucket            ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
HeadBucket              ok     ok     403    403    403    403    403    403    403    403
GetBucketLocation       ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketVersioning     ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketAcl            ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutBucketOwnershipControls ok  ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketOwnershipControls ok  ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteBucketOwnershipControls ok ok   AD     AD     AD     IAK    AD     AD     AD     SIG
PutBucketAcl            ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
ListObjects             ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
ListObjectsV2           ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
ListMultipartUploads    ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteObjects           ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutObject               ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
CopyObject              ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetObject               ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
HeadObject              ok     ok     403    403    403    403    403    403    403    403
GetObjectAttributes     ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteObject            ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetObjectAcl            ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutObjectAcl            ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
CreateMultipartUpload   ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
UploadPart              ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
UploadPartCopy          ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
CompleteMultipartUpload ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
AbortMultipartUpload    ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
ListParts               ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PostObject              ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutBucketVersioning     ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
ListObjectVersions      ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutBucketPolicy         ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketPolicy         ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteBucketPolicy      ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketPolicyStatus   ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutBucketCors           ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketCors           ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteBucketCors        ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutBucketWebsite        ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketWebsite        ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteBucketWebsite     ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutBucketLifecycleConfiguration ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketLifecycleConfiguration ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteBucketLifecycle   ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutBucketTagging        ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketTagging        ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteBucketTagging     ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutBucketEncryption     ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetBucketEncryption     ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteBucketEncryption  ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutPublicAccessBlock    ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetPublicAccessBlock    ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeletePublicAccessBlock ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutObjectTagging        ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetObjectTagging        ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
DeleteObjectTagging     ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutObjectLockConfiguration ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetObjectLockConfiguration ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutObjectRetention      ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetObjectRetention      ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
PutObjectLegalHold      ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
GetObjectLegalHold      ok     ok     AD     AD     AD     IAK    AD     AD     AD     SIG
OptionsObject           ok     ok     403    ok     ok     ok     403    ok     ok     ok
"""
# fmt: on
MiB = 1024 * 1024


def parse_matrix(text: str) -> dict[tuple[str, str], str]:
    lines = [line.split() for line in text.strip().splitlines()]
    header = lines[0][2:]  # "# columns: ..."
    assert header == CALLERS
    return {
        (row[0], caller): cell
        for row in lines[1:]
        for caller, cell in zip(header, row[1:], strict=True)
    }


@dataclass
class Request:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class World:
    """Three accounts, their buckets and keys; A's resources are the targets."""

    live: LiveServer
    owner: Key
    scoped: Key
    other: Key
    revoked: Key
    deleted: Key
    suspended: Key
    target: str = "iso-target"
    outside: str = "iso-outside"  # A's bucket the scoped key may not touch
    suspended_bucket: str = "iso-suspended"

    def key_of(self, caller: str) -> Key | None:
        return {
            "owner": self.owner,
            "scoped_in": self.scoped,
            "scoped_out": self.scoped,
            "other": self.other,
            "revoked": self.revoked,
            "deleted": self.deleted,
            "suspended": self.suspended,
            "expired": self.owner,
            "tampered": self.owner,
        }.get(caller)

    def bucket_for(self, caller: str) -> str:
        if caller == "scoped_out":
            return self.outside
        if caller == "suspended":
            return self.suspended_bucket
        return self.target


def prepare(client: object, bucket: str) -> None:
    """What every cell against ``bucket`` needs: per-caller objects and uploads."""
    s3 = client
    s3.put_object(Bucket=bucket, Key="obj", Body=b"object body")  # type: ignore[attr-defined]
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy source")  # type: ignore[attr-defined]
    for caller in CALLERS:
        for name in (f"del-{caller}", f"dels-{caller}"):
            s3.put_object(Bucket=bucket, Key=name, Body=b"to delete")  # type: ignore[attr-defined]


def new_upload(world: World, bucket: str, name: str, with_part: bool = False) -> tuple[str, str]:
    s3 = world.live.client(world.owner if bucket != world.suspended_bucket else world.suspended)
    upload = s3.create_multipart_upload(Bucket=bucket, Key=name)["UploadId"]
    etag = ""
    if with_part:
        etag = s3.upload_part(Bucket=bucket, Key=name, UploadId=upload, PartNumber=1, Body=b"part")[
            "ETag"
        ]
    return upload, etag


def operation(world: World, op: str, caller: str) -> Request:
    """The request of one cell, addressed to the bucket this caller is tested against."""
    b = world.bucket_for(caller)
    c = caller
    if op == "ListBuckets":
        return Request("GET", "/")
    if op == "CreateBucket":
        name = world.target if caller == "other" else f"iso-new-{c.replace('_', '-')}"
        return Request("PUT", f"/{name}")
    if op == "DeleteBucket":
        return Request("DELETE", f"/iso-del-{c.replace('_', '-')}")
    simple = {
        "HeadBucket": ("HEAD", "", ""),
        "GetBucketLocation": ("GET", "", "location"),
        "GetBucketVersioning": ("GET", "", "versioning"),
        "GetBucketAcl": ("GET", "", "acl"),
        "PutBucketAcl": ("PUT", "", "acl"),
        "ListObjects": ("GET", "", ""),
        "ListObjectsV2": ("GET", "", "list-type=2"),
        "ListMultipartUploads": ("GET", "", "uploads"),
        "GetObject": ("GET", "/obj", ""),
        "HeadObject": ("HEAD", "/obj", ""),
        "GetObjectAttributes": ("GET", "/obj", "attributes"),
        "GetObjectAcl": ("GET", "/obj", "acl"),
        "PutObjectAcl": ("PUT", "/obj", "acl"),
        "DeleteObject": ("DELETE", f"/del-{c}", ""),
        "PutObject": ("PUT", f"/put-{c}", ""),
        "CreateMultipartUpload": ("POST", f"/mpu-{c}", "uploads"),
        "ListObjectVersions": ("GET", "", "versions"),
        "GetBucketPolicy": ("GET", "", "policy"),
        "DeleteBucketPolicy": ("DELETE", "", "policy"),
        "GetBucketPolicyStatus": ("GET", "", "policyStatus"),
        "GetBucketCors": ("GET", "", "cors"),
        "DeleteBucketCors": ("DELETE", "", "cors"),
        "GetBucketWebsite": ("GET", "", "website"),
        "DeleteBucketWebsite": ("DELETE", "", "website"),
        "GetBucketLifecycleConfiguration": ("GET", "", "lifecycle"),
        "DeleteBucketLifecycle": ("DELETE", "", "lifecycle"),
        "GetBucketTagging": ("GET", "", "tagging"),
        "DeleteBucketTagging": ("DELETE", "", "tagging"),
        "GetBucketEncryption": ("GET", "", "encryption"),
        "DeleteBucketEncryption": ("DELETE", "", "encryption"),
        "GetPublicAccessBlock": ("GET", "", "publicAccessBlock"),
        "GetBucketOwnershipControls": ("GET", "", "ownershipControls"),
        "DeleteBucketOwnershipControls": ("DELETE", "", "ownershipControls"),
        "DeletePublicAccessBlock": ("DELETE", "", "publicAccessBlock"),
        "GetObjectTagging": ("GET", "/obj", "tagging"),
        "GetObjectLockConfiguration": ("GET", "", "object-lock"),
        "GetObjectRetention": ("GET", "/obj", "retention"),
        "GetObjectLegalHold": ("GET", "/obj", "legal-hold"),
        "DeleteObjectTagging": ("DELETE", "/obj", "tagging"),
    }
    if op in simple:
        method, suffix, query = simple[op]
        body = b"put body" if op == "PutObject" else b""
        headers = {"x-amz-acl": "private"} if op.startswith("Put") and "Acl" in op else {}
        if op == "GetObjectAttributes":
            headers = {"x-amz-object-attributes": "ETag,ObjectSize"}
        return Request(method, f"/{b}{suffix}", query, headers, body)
    if op in DOCUMENTS:
        query, body = DOCUMENTS[op]
        path = f"/{b}/obj" if op in _ON_OBJECT else f"/{b}"
        return Request("PUT", path, query, body=_filled(body, b))
    if op == "OptionsObject":
        headers = {"origin": "https://iso.example", "access-control-request-method": "GET"}
        return Request("OPTIONS", f"/{b}/obj", "", headers)
    if op == "DeleteObjects":
        body = f"<Delete><Object><Key>dels-{c}</Key></Object></Delete>".encode()
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        return Request("POST", f"/{b}", "delete", {"content-md5": md5}, body)
    if op == "CopyObject":
        return Request("PUT", f"/{b}/copy-{c}", "", {"x-amz-copy-source": f"/{b}/src"})
    if op in ("UploadPart", "UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload"):
        upload, etag = new_upload(world, b, f"{op}-{c}", with_part=op == "CompleteMultipartUpload")
        path = f"/{b}/{op}-{c}"
        if op == "UploadPart":
            return Request("PUT", path, f"partNumber=1&uploadId={upload}", body=b"part body")
        if op == "UploadPartCopy":
            headers = {"x-amz-copy-source": f"/{b}/src"}
            return Request("PUT", path, f"partNumber=1&uploadId={upload}", headers)
        if op == "AbortMultipartUpload":
            return Request("DELETE", path, f"uploadId={upload}")
        body = (
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
            f"<ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
        ).encode()
        return Request("POST", path, f"uploadId={upload}", body=body)
    if op == "ListParts":
        upload, _ = new_upload(world, b, f"parts-{c}")
        return Request("GET", f"/{b}/parts-{c}", f"uploadId={upload}")
    raise AssertionError(op)


# The bodies of the Put requests of a bucket's (or an object's) documents; a bucket's
# documents are set up front (``configure``) so that the Get cells find them.
DOCUMENTS = {
    "PutBucketVersioning": (
        "versioning",
        "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
    ),
    "PutBucketPolicy": (
        "policy",
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", '
        '"Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/never-requested"}]}',
    ),
    "PutBucketCors": (
        "cors",
        "<CORSConfiguration><CORSRule><AllowedOrigin>https://iso.example</AllowedOrigin>"
        "<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    ),
    "PutBucketWebsite": (
        "website",
        "<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument>"
        "</WebsiteConfiguration>",
    ),
    "PutBucketLifecycleConfiguration": (
        "lifecycle",
        "<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>never/</Prefix></Filter>"
        "<Status>Enabled</Status><Expiration><Days>3650</Days></Expiration></Rule>"
        "</LifecycleConfiguration>",
    ),
    "PutBucketTagging": (
        "tagging",
        "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
    ),
    "PutBucketEncryption": (
        "encryption",
        "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
        "<SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>"
        "<BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>",
    ),
    "PutPublicAccessBlock": (
        "publicAccessBlock",
        "<PublicAccessBlockConfiguration><BlockPublicAcls>false</BlockPublicAcls>"
        "</PublicAccessBlockConfiguration>",
    ),
    "PutBucketOwnershipControls": (
        "ownershipControls",
        "<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership>"
        "</Rule></OwnershipControls>",
    ),
    "PutObjectTagging": (
        "tagging",
        "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
    ),
    "PutObjectLockConfiguration": (
        "object-lock",
        "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
        "</ObjectLockConfiguration>",
    ),
    "PutObjectRetention": (
        "retention",
        "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>UNTIL</RetainUntilDate></Retention>",
    ),
    "PutObjectLegalHold": ("legal-hold", "<LegalHold><Status>OFF</Status></LegalHold>"),
}
_ON_OBJECT = {"PutObjectTagging", "PutObjectRetention", "PutObjectLegalHold"}
# Sent last: they remove what the Get cells read.
_REMOVALS = {
    "DeleteBucketPolicy",
    "DeleteBucketCors",
    "DeleteBucketWebsite",
    "DeleteBucketLifecycle",
    "DeleteBucketTagging",
    "DeleteBucketEncryption",
    "DeletePublicAccessBlock",
    "DeleteBucketOwnershipControls",
}


def _filled(body: str, bucket: str) -> bytes:
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return body.replace("BUCKET", bucket).replace("UNTIL", until).encode()


def configure(world: World, bucket: str) -> None:
    """Every document (of the bucket, and of its object ``obj``), so that each Get cell has
    one to read; versioning first, as Object Lock needs it."""
    first = ["PutBucketVersioning", "PutObjectLockConfiguration"]
    for op in first + [op for op in DOCUMENTS if op not in first]:
        query, body = DOCUMENTS[op]
        path = f"/{bucket}/obj" if op in _ON_OBJECT else f"/{bucket}"
        answer = send(world, Request("PUT", path, query, body=_filled(body, bucket)), "owner")
        assert 200 <= answer.status < 300, (op, answer.status, answer.body)


def send(world: World, request: Request, caller: str) -> RawResponse:
    live = world.live
    host = f"127.0.0.1:{live.s3_port}"
    key = world.key_of(caller)
    target = request.path + (f"?{request.query}" if request.query else "")
    if caller in ("expired", "tampered"):
        assert key is not None
        signed_at = amz_now(-7200) if caller == "expired" else amz_now()
        url = presigned(key, request, host, signed_at)
        if caller == "tampered":
            url = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=604800")
            assert "604800" in url
        headers = {"host": host, **request.headers}
        data = build(request.method, url, headers.items(), request.body)
    elif key is None:
        data = build(
            request.method, target, {"host": host, **request.headers}.items(), request.body
        )
    else:
        payload = hashlib.sha256(request.body).hexdigest()
        headers = signed_headers(
            key,
            request.method,
            request.path.encode(),
            request.query.encode(),
            host,
            payload,
            request.headers,
        )
        data = build(request.method, target, headers.items(), request.body)
    answer = exchange(live.s3_port, data)
    assert answer is not None
    return answer


def presigned(key: Key, request: Request, host: str, amz_date: str) -> str:
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{key.access_key_id}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": "3600",
        "X-Amz-SignedHeaders": "host",
    }
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    if request.query:
        query = f"{request.query}&{query}"
    parts = SignParts(
        request.method, request.path.encode(), query.encode(), {"host": host}, UNSIGNED, amz_date
    )
    return f"{request.path}?{query}&X-Amz-Signature={parts.signature(key.secret_access_key)}"


def post_object(world: World, caller: str) -> RawResponse:
    """A browser-form upload whose policy is signed by the caller's key (or not at all)."""
    live = world.live
    bucket = world.bucket_for(caller)
    key = world.key_of(caller)
    now = dt.datetime.now(dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    expiration = now + dt.timedelta(hours=-1 if caller == "expired" else 1)
    fields = {"key": f"post-{caller}"}
    if key is not None:
        credential = f"{key.access_key_id}/{amz_date[:8]}/{REGION}/s3/aws4_request"
        policy = {
            "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conditions": [
                {"bucket": bucket},
                ["starts-with", "$key", "post-"],
                {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                {"x-amz-credential": credential},
                {"x-amz-date": amz_date},
            ],
        }
        encoded = base64.b64encode(json.dumps(policy).encode()).decode()
        signature = hmac.new(
            derived_key(key.secret_access_key, amz_date[:8]), encoded.encode(), hashlib.sha256
        ).hexdigest()
        if caller == "tampered":
            policy["conditions"][1] = ["starts-with", "$key", ""]  # type: ignore[index]
            encoded = base64.b64encode(json.dumps(policy).encode()).decode()
        fields |= {
            "policy": encoded,
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": credential,
            "x-amz-date": amz_date,
            "x-amz-signature": signature,
        }
    boundary = "isolationboundary"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n'
        "Content-Type: text/plain\r\n\r\nform file\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    headers = {
        "host": f"127.0.0.1:{live.s3_port}",
        "content-type": f"multipart/form-data; boundary={boundary}",
    }
    answer = exchange(live.s3_port, build("POST", f"/{bucket}", headers.items(), body))
    assert answer is not None
    return answer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    live = LiveServer(tmp_path_factory.mktemp("iso") / "data")
    live.data_dir.mkdir()
    live.start()
    try:
        owner = account_key(live, "iso-a@example.com")
        live.raise_limits("iso-a@example.com", buckets=20)  # 11: one per caller + 3 shared
        a = live.client(owner)
        for bucket in ("iso-target", "iso-outside", "iso-del-scoped-in"):
            a.create_bucket(Bucket=bucket)
        for caller in CALLERS:
            if caller not in ("scoped_in", "suspended"):
                a.create_bucket(Bucket=f"iso-del-{caller.replace('_', '-')}")
        prepare(a, "iso-target")
        prepare(a, "iso-outside")
        scoped = live.key("iso-a@example.com", "scoped", ["iso-target", "iso-del-scoped-in"])
        revoked = live.key("iso-a@example.com", "revoked")
        deleted = live.key("iso-a@example.com", "deleted")
        other = account_key(live, "iso-b@example.com")
        suspended = account_key(live, "iso-c@example.com")
        c = live.client(suspended)
        c.create_bucket(Bucket="iso-suspended")
        c.create_bucket(Bucket="iso-del-suspended")
        prepare(c, "iso-suspended")
        world = World(live, owner, scoped, other, revoked, deleted, suspended)
        for verb, key in (("revoke", revoked), ("delete", deleted)):
            nexq(
                "admin",
                "access-key",
                verb,
                "--account",
                "iso-a@example.com",
                key.access_key_id,
                data_dir=live.data_dir,
            )
        yield world
    finally:
        live.stop()


def suspend(world: World, yes: bool) -> None:
    nexq(
        "admin",
        "account",
        "suspend" if yes else "resume",
        "iso-c@example.com",
        data_dir=world.live.data_dir,
    )


S3_CELLS = parse_matrix(S3_MATRIX)


def test_s3_isolation_matrix(world: World) -> None:
    configure(world, world.target)
    ops = sorted({op for op, _ in S3_CELLS}, key=lambda op: (op in _REMOVALS, op))
    # Every request is made first (uploads created while every account is active), then
    # sent; the suspended account's cells are sent together while it is suspended.
    prepared = {
        (op, caller): None if op == "PostObject" else operation(world, op, caller)
        for op in ops
        for caller in CALLERS
    }
    answers: dict[tuple[str, str], RawResponse] = {}
    for (op, caller), request in prepared.items():
        if caller != "suspended":
            answers[(op, caller)] = (
                post_object(world, caller) if request is None else send(world, request, caller)
            )
    suspend(world, True)
    try:
        for (op, caller), request in prepared.items():
            if caller == "suspended":
                answers[(op, caller)] = (
                    post_object(world, caller) if request is None else send(world, request, caller)
                )
    finally:
        suspend(world, False)
    failures = [
        f"{op} x {caller}: expected {S3_CELLS[(op, caller)]}, got {answer.status} "
        f"{answer.code} {answer.body[:200]!r}"
        for (op, caller), answer in sorted(answers.items())
        if not matches(S3_CELLS[(op, caller)], answer, world.bucket_for(caller))
    ]
    assert len(answers) == len(S3_CELLS)
    assert not failures, "\n".join(failures)


def matches(expected: str, answer: RawResponse, bucket: str) -> bool:
    if expected == "ok":
        return 200 <= answer.status < 300
    if expected == "hidden":
        return answer.status == 200 and f"<Name>{bucket}</Name>".encode() not in answer.body
    if expected.isdigit():
        return answer.status == int(expected)
    code = {
        "AD": (403, "AccessDenied"),
        "IAK": (403, "InvalidAccessKeyId"),
        "SIG": (403, "SignatureDoesNotMatch"),
        "BAE": (409, "BucketAlreadyExists"),
    }[expected]
    return (answer.status, answer.code) == code


def test_scoped_key_lists_only_its_buckets(world: World) -> None:
    listed = send(world, Request("GET", "/"), "scoped_in")
    assert b"<Name>iso-target</Name>" in listed.body
    assert b"<Name>iso-outside</Name>" not in listed.body
    other = send(world, Request("GET", "/"), "other")
    assert b"<Name>iso-" not in other.body


# The REST API's matrix is generated from the app's routes: test_authorization.py.


def test_the_s3_matrix_covers_every_operation_of_the_routing_table() -> None:
    ops = {op for op, _ in S3_CELLS}
    assert ops == {operation.value for operation in Operation}, "add a row for each operation"
    assert len(S3_CELLS) == len(ops) * len(CALLERS)
