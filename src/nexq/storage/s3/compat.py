"""Prints docs/s3-compatibility.md from the routing table, so the document cannot drift.

Run ``python -m nexq.storage.s3.compat > docs/s3-compatibility.md`` (``make compat-doc``).
"""

from __future__ import annotations

from nexq.storage.s3.operations import ROUTES, UNSUPPORTED, Operation

# Operations that work but leave out part of what AWS offers: what is missing.
PARTIAL: dict[Operation, str] = {
    Operation.GET_BUCKET_VERSIONING: "always answers 'never enabled'; versioning is not built",
    Operation.GET_BUCKET_ACL: "answers the owner's FULL_CONTROL; ACLs cannot be changed",
    Operation.GET_OBJECT_ACL: "answers the owner's FULL_CONTROL; ACLs cannot be changed",
    Operation.PUT_BUCKET_ACL: "accepts only the private ACL (owner FULL_CONTROL); see ACLs",
    Operation.PUT_OBJECT_ACL: "accepts only the private ACL (owner FULL_CONTROL); see ACLs",
    Operation.GET_OBJECT: "no versionId; one range per request (as S3)",
    Operation.COPY_OBJECT: "no versionId; sources up to 5 GiB (as S3); ACL headers: see ACLs",
    Operation.LIST_BUCKETS: "no pagination parameters (every bucket in one page)",
    Operation.GET_OBJECT_ATTRIBUTES: "no versionId; ObjectParts numbers the parts 1 to N in "
    "object order (as GetObject's partNumber does)",
}

NOTES: dict[Operation, str] = {
    Operation.PUT_OBJECT: "SigV4/SigV2, aws-chunked (signed, unsigned + trailer), checksums, "
    "Content-MD5, If-None-Match: * and If-Match; ACL headers: see ACLs",
    Operation.POST_OBJECT: "browser form upload, SigV4 and SigV2 policies; `acl` field: see ACLs",
    Operation.CREATE_BUCKET: "ACL headers: see ACLs",
    Operation.CREATE_MULTIPART_UPLOAD: "ACL headers: see ACLs",
    Operation.COMPLETE_MULTIPART_UPLOAD: "parts stitched without copying; If-Match / If-None-Match",
    Operation.LIST_OBJECTS_V2: "prefix, delimiter, start-after, continuation, fetch-owner, "
    "encoding-type=url",
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
