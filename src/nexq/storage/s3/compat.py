"""Prints docs/s3-compatibility.md from the routing table, so the document cannot drift.

Run ``python -m nexq.storage.s3.compat > docs/s3-compatibility.md`` (``make compat-doc``).
"""

from __future__ import annotations

from nexq.storage.s3.operations import ROUTES, UNSUPPORTED, Operation

# Operations that work but leave out part of what AWS offers: what is missing.
PARTIAL: dict[Operation, str] = {
    Operation.GET_BUCKET_ACL: "answers the owner's FULL_CONTROL; ACLs cannot be changed",
    Operation.GET_OBJECT_ACL: "answers the owner's FULL_CONTROL; ACLs cannot be changed",
    Operation.PUT_BUCKET_ACL: "accepts only the private ACL (owner FULL_CONTROL); see ACLs",
    Operation.PUT_OBJECT_ACL: "accepts only the private ACL (owner FULL_CONTROL); see ACLs",
    Operation.DELETE_OBJECTS: "a bucket policy is checked once for the request's bucket, not key "
    "by key (see Bucket policies)",
    Operation.GET_OBJECT_ATTRIBUTES: "ObjectParts numbers the parts 1 to N in object order (as "
    "GetObject's partNumber does)",
}

NOTES: dict[Operation, str] = {
    Operation.PUT_OBJECT: "SigV4/SigV2, aws-chunked (signed, unsigned + trailer), checksums, "
    "Content-MD5, If-None-Match: * and If-Match; ACL headers: see ACLs",
    Operation.POST_OBJECT: "browser form upload, SigV4 and SigV2 policies; `acl` field: see ACLs",
    Operation.CREATE_BUCKET: "re-creating a bucket one owns: 200 if the region is us-east-1, "
    "else 409 BucketAlreadyOwnedByYou; ACL headers: see ACLs",
    Operation.LIST_BUCKETS: "max-buckets, continuation-token, prefix, bucket-region",
    Operation.GET_OBJECT: "versionId; one range per request (as S3)",
    Operation.COPY_OBJECT: "source versionId; sources up to 5 GiB (as S3); ACL headers: see ACLs",
    Operation.LIST_OBJECT_VERSIONS: "prefix, delimiter, key-marker / version-id-marker, "
    "max-keys, encoding-type=url; every object of a never-versioned bucket as version null",
    Operation.PUT_BUCKET_POLICY: "the IAM policy language; see Bucket policies",
    Operation.CREATE_MULTIPART_UPLOAD: "ACL headers: see ACLs",
    Operation.COMPLETE_MULTIPART_UPLOAD: "parts stitched without copying; If-Match / "
    "If-None-Match; sent again with the same parts within 24 h of succeeding, answered as it was",
    Operation.LIST_OBJECTS_V2: "prefix, delimiter, start-after, continuation, fetch-owner, "
    "encoding-type=url",
    Operation.OPTIONS_OBJECT: "a browser's CORS preflight, unsigned, any query; see CORS",
    Operation.PUT_BUCKET_ENCRYPTION: "AES256 (SSE-S3); aws:kms is 501 NotImplemented; see "
    "Encryption",
}


def render() -> str:
    """The compatibility table in Markdown."""
    rows: dict[Operation, list[str]] = {}
    for (method, target, sub, copy), (operation, _access) in ROUTES.items():
        shape = f"{method} {_target(target)}"
        if sub:
            shape += f"?{sub}"
        if copy:
            shape += " + x-amz-copy-source"
        rows.setdefault(operation, []).append(shape)
    lines = [
        "# S3 compatibility",
        "",
        "Generated from the routing table (`src/nexq/storage/s3/operations.py`) by",
        "`make compat-doc`; do not edit by hand.",
        "",
        "| Operation | Status | Request | Notes |",
        "|---|---|---|---|",
    ]
    for operation in Operation:
        status = "partial" if operation in PARTIAL else "supported"
        note = PARTIAL.get(operation) or NOTES.get(operation, "")
        lines.append(f"| {operation.value} | {status} | {'<br>'.join(rows[operation])} | {note} |")
    lines += [
        "",
        "## ACLs",
        "",
        "Buckets and objects are private to their account: every bucket behaves as an S3 bucket",
        "with Object Ownership *bucket owner enforced* (ACLs disabled, AWS's default for new",
        "buckets since April 2023). GetBucketAcl and GetObjectAcl answer the owner's",
        "FULL_CONTROL. An ACL that keeps the owner's full control and grants nobody anything is",
        "accepted: no ACL, `x-amz-acl: private` or `bucket-owner-full-control`,",
        "`x-amz-grant-full-control` naming only the owner's id, an AccessControlPolicy of the",
        "same. Any other `x-amz-acl` value or `x-amz-grant-*` header (read, write, read-acp,",
        "write-acp, full-control), or PostObject `acl` field, is refused and nothing is stored:",
        "",
        "| Request | Answer |",
        "|---|---|",
        "| CreateBucket | `400 InvalidBucketAclWithObjectOwnership` |",
        "| PutObject, CopyObject, CreateMultipartUpload, PostObject, PutBucketAcl, PutObjectAcl "
        "| `400 AccessControlListNotSupported` |",
        "",
        "## Versioning",
        "",
        "As AWS: a bucket is never versioned until PutBucketVersioning, then Enabled or",
        "Suspended (never back). Enabled: every write is a new version with its own 32-character",
        "id and a DELETE stacks a delete marker; Suspended: writes and deletes make the `null`",
        "version, replacing the previous null version. A `versionId` names a version on GET,",
        "HEAD, DELETE (removes it for good), tagging and copy sources; the null version is",
        "`versionId=null`. Every version's bytes count in the bucket's stored bytes, the",
        "account's quota and its bill. A bucket that holds versions or delete markers is not",
        "empty; unfinished multipart uploads never keep a bucket (DeleteBucket discards them).",
        "",
        "## Object Lock",
        "",
        "As AWS: CreateBucket with `x-amz-bucket-object-lock-enabled: true` (or",
        "PutObjectLockConfiguration on a versioned bucket) makes a bucket lockable for good, and",
        "its versioning can no longer be suspended. A version's retention (GOVERNANCE or",
        "COMPLIANCE until a date: `x-amz-object-lock-*` on PUT, copy and",
        "CreateMultipartUpload, PutObjectRetention, or the bucket's default retention) and",
        "its legal hold keep it from being removed for good (DELETE with its versionId,",
        "DeleteObjects, lifecycle rules) until the date, by anyone, the operator included.",
        "GOVERNANCE gives way to `x-amz-bypass-governance-retention: true` from the bucket",
        "owner's keys (a bucket",
        "policy opens no bypass to other accounts). COMPLIANCE can be extended, never",
        "shortened. A DELETE without a versionId only adds a delete marker, so it is allowed.",
        "A default retention is a mode with 1-36500 days or 1-100 years (a longer one is",
        "`400 InvalidArgument`). The console, the REST API and `dcp` create lock-enabled",
        'buckets and set their default retention (docs/api.md, "Object Lock"). restic keeps',
        "a repository in such a bucket unchanged: `forget --prune` only stacks delete markers",
        "over retained versions; rclone's `--s3-versions` and `--s3-version-at` read old",
        "versions (tests/compat/test_tools.py).",
        "",
        "## Conditional deletes",
        "",
        "DeleteObject with `If-Match` (an ETag or `*`), `x-amz-if-match-last-modified-time` and",
        "`x-amz-if-match-size`, and DeleteObjects with `ETag`, `LastModifiedTime` and `Size` per",
        "object: a mismatch is `412 PreconditionFailed`, no object (or a delete marker) is",
        "`404 NoSuchKey`. With a versionId, the preconditions apply to that version.",
        "",
        "## Encryption",
        "",
        "As AWS since January 2023, every object is encrypted at rest with SSE-S3: PutObject,",
        "PostObject, CopyObject, CreateMultipartUpload, UploadPart(Copy),",
        "CompleteMultipartUpload, GetObject and HeadObject answer",
        "`x-amz-server-side-encryption: AES256` (`x-amz-server-side-encryption: AES256` on a",
        "write is accepted). Each blob has a data key of its own (AES-256-GCM, in 64 KiB",
        "chunks that cannot be changed, moved, cut or mixed unnoticed), wrapped by keys that",
        "the master key protects; a master-key rotation keeps every blob readable.",
        "",
        "- **SSE-C** (`x-amz-server-side-encryption-customer-algorithm`, `-key`, `-key-MD5`)",
        "  on PutObject, GetObject, HeadObject, GetObjectAttributes, CreateMultipartUpload,",
        "  UploadPart, UploadPartCopy and CopyObject's target, and",
        "  `x-amz-copy-source-server-side-encryption-customer-*` for a copy's source: the",
        "  object is sealed with the customer's key, which is never stored (a salted HMAC",
        "  checks the next request's key). Over plain HTTP: `400 InvalidRequest`; a bad",
        "  algorithm `400 InvalidEncryptionAlgorithmError`; a missing or malformed key or MD5,",
        "  or an MD5 that is not the key's: `400 InvalidArgument` naming the header; reading",
        "  an SSE-C object without its key `400 InvalidRequest`, with another key",
        "  `403 AccessDenied`; a key for an object stored without one `400 InvalidRequest`.",
        "  A part sent without its upload's key is `400 InvalidRequest`, with another key",
        "  `400 InvalidArgument`. An SSE-C object's ETag is not the MD5 of its bytes (as AWS).",
        "  PostObject with SSE-C fields: `501 NotImplemented`.",
        "- **Default encryption**: PutBucketEncryption takes AES256 (with BucketKeyEnabled,",
        "  kept and answered); GetBucketEncryption answers AES256 for a bucket never",
        "  configured, and DeleteBucketEncryption restores that.",
        "- **SSE-KMS** (`aws:kms`, `aws:kms:dsse`, in a header or a bucket's configuration) is",
        "  not built yet: `501 NotImplemented` naming it, and nothing is stored.",
        "",
        "## Bucket policies",
        "",
        "A bucket policy (the IAM policy language: Principal, Action, Resource, their Not-",
        "forms, and Conditions with the String, Numeric, Date, Bool, IpAddress, Null and Arn",
        "operators, IfExists, ForAnyValue/ForAllValues) is evaluated on every request to its",
        "bucket, with Nexq's access keys:",
        "",
        "- an explicit Deny refuses the request, the owner's too, except the owner's own",
        "  Get/Put/DeleteBucketPolicy (a policy never locks its owner out);",
        '- an Allow lets in another account (Principal `{"AWS": "<account id>"}` or',
        "  `arn:aws:iam::<account id>:root`; the id is the Owner ID that ListBuckets shows) or",
        '  anyone (`"*"`, unsigned requests included); what they do is billed to the bucket\'s',
        "  owner, as on AWS without Requester Pays;",
        "- an access key limited to some buckets stays limited, whatever a policy allows;",
        "- with no statement that applies, only the owner's keys get in.",
        "",
        "Condition keys a request provides: `aws:SourceIp` (the peer's address: behind a load",
        "balancer, the balancer's), `aws:SecureTransport`, `aws:CurrentTime`, `aws:EpochTime`,",
        "`aws:UserAgent`, `aws:Referer`, `aws:PrincipalAccount`, `s3:prefix`, `s3:delimiter`,",
        "`s3:max-keys`, `s3:VersionId`, `s3:x-amz-acl`, `s3:x-amz-server-side-encryption`,",
        "`s3:x-amz-content-sha256`, `s3:signatureversion`, `s3:authType`. Block Public Access:",
        "BlockPublicPolicy refuses a public policy (403), RestrictPublicBuckets limits a public",
        "policy's grants to the owner; the ACL switches are kept (ACLs grant nobody anything).",
        "",
        "## CORS",
        "",
        "A bucket's CORS rules (PutBucketCors) answer browsers as S3 does (the first rule whose",
        "AllowedOrigin, AllowedMethod and AllowedHeader patterns match wins; one `*` in a",
        "pattern stands for any run of characters):",
        "",
        "- **Preflight** (`OPTIONS` to a bucket or object URL, path-style or virtual-hosted,",
        "  with any query): answered without authentication, before any presigned signature",
        "  is looked at. 200 with `Access-Control-Allow-Origin` (the origin, with",
        "  `Access-Control-Allow-Credentials: true`; `*` for a rule open to every origin),",
        "  `-Allow-Methods` (all of the rule's), `-Allow-Headers` (the requested names,",
        "  lowercased), `-Expose-Headers`, `-Max-Age` and `Vary`. Refusals, in S3's XML:",
        "  no `Origin` `400 BadRequest`; a bucket that does not exist",
        '  `403 AccessForbidden` "CORSResponse: Bucket not found"; no configuration',
        '  `403 AccessForbidden` "CORSResponse: CORS is not enabled for this bucket.";',
        "  no `Access-Control-Request-Method` `400 BadRequest`; no matching rule",
        '  `403 AccessForbidden` "CORSResponse: This CORS request is not allowed. …". The',
        "  403s name the `Method` and the `ResourceType` (`BUCKET` or `OBJECT`).",
        "- **Actual requests** with an `Origin` header: their answer, success or error (a 404,",
        "  a refused signature), carries the same headers when a rule matches the origin and",
        "  the method (or the `Access-Control-Request-Method` the request carries); otherwise",
        "  none. The request is served either way: it is the browser that withholds the",
        "  answer. A request without `Origin` costs nothing more.",
        "- A configuration change applies to the next request, on every process and node.",
        "- Metering (docs/metering.md): an allowed preflight is a Class B request of the",
        "  bucket's owner, a refused one is counted under Operations and not billed.",
        "- The console needs no rule: its uploads and downloads go through the console's own",
        "  origin, never from the browser to this endpoint, and its share links are plain",
        "  links. The endpoint grants the console's origin nothing a bucket's rules do not.",
        "",
        "## User metadata",
        "",
        "As S3: an `x-amz-meta-*` value made of US-ASCII comes back as it was sent. Any other",
        "value comes back as RFC 2047 encoded-words (`=?UTF-8?Q?...?=` when most of it is ASCII,",
        "`=?UTF-8?B?...?=` otherwise), and encoded-words sent are decoded before the value is",
        "stored. Header bytes are read as ISO-8859-1, as S3 reads them: raw UTF-8 (what boto3",
        "sends once its own ASCII check is off) is signed over the bytes sent and comes back as",
        "its ISO-8859-1 reading, encoded. To get non-ASCII back as written, send it as",
        "encoded-words, or in a PostObject form (UTF-8).",
        "",
        "## Not yet",
        "",
        "Requests for these sub-resources answer `501 NotImplemented`:",
        "",
        ", ".join(f"`?{word}`" for word in UNSUPPORTED) + ".",
        "",
    ]
    return "\n".join(lines)


def _target(target: str) -> str:
    return {"service": "/", "bucket": "/{bucket}", "object": "/{bucket}/{key}"}[target]


if __name__ == "__main__":
    print(render(), end="")
