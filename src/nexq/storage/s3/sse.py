"""Server-side encryption headers: SSE-C keys, x-amz-server-side-encryption and SSE-KMS's
key id, bucket key and context, in and out.

S3 compat: the checks, their order, codes and words are AWS's. DSSE-KMS (``aws:kms:dsse``)
is not built and is refused as such (NotImplemented), not taken for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping

from nexq.storage.encryption import (
    ALGORITHM,
    BUCKET_KEY,
    CUSTOMER_ALGORITHM,
    CUSTOMER_KEY_MD5,
    KMS,
    KMS_KEY_ID,
    SSE,
    CustomerKey,
    Requested,
    kms_arn,
)
from nexq.storage.s3.errors import S3Error, invalid_argument
from nexq.storage.s3.http import S3Request

COPY_SOURCE = "x-amz-copy-source-server-side-encryption"
CONTEXT = "x-amz-server-side-encryption-context"
DSSE = "aws:kms:dsse"
_PROVIDE = "Requests specifying Server Side Encryption with Customer provided keys must provide "
_KMS_ONLY = (
    "Server Side Encryption with AWS KMS managed key requires HTTP header "
    "x-amz-server-side-encryption : aws:kms"
)


def dsse_not_implemented(header: str) -> S3Error:
    return S3Error(
        "NotImplemented",
        "Dual-layer server-side encryption with KMS keys (DSSE-KMS, aws:kms:dsse) is not "
        "available on this server: use aws:kms (SSE-KMS), AES256 (SSE-S3) or a "
        "customer-provided key (SSE-C).",
        501,
        {"Header": header},
    )


def signed_v4(req: S3Request) -> bool:
    """Whether the request is signed with SigV4 (header or presigned URL)."""
    if req.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
        return True
    return req.query.get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256"


def sigv4_required() -> S3Error:
    # S3 compat: SigV2 and anonymous requests are refused for SSE-KMS objects, reads too.
    return invalid_argument(
        "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS "
        "Signature Version 4.",
        "Authorization",
        "null",
    )


def check_kms_read(req: S3Request, stored: Mapping[str, str]) -> None:
    """A read of an SSE-KMS object's bytes must be signed with SigV4."""
    if kms_arn(stored) is not None and not signed_v4(req):
        raise sigv4_required()


def refuse_write_headers(req: S3Request) -> None:
    """S3 compat: a GET or HEAD names no encryption to apply (an SSE-C key, which opens
    the object, is not one): ``x-amz-server-side-encryption`` and its KMS companions are a
    400 InvalidArgument, as AWS answers."""
    for header in (SSE, KMS_KEY_ID, CONTEXT, BUCKET_KEY):
        if header in req.headers:
            raise invalid_argument(
                f"{header} header is not supported for this operation.",
                header,
                req.headers[header],
            )


def customer_key(req: S3Request, prefix: str = SSE) -> CustomerKey | None:
    """The SSE-C key the request gives (``prefix`` is ``COPY_SOURCE`` for a copy's source),
    checked as S3 checks it; None if it gives none."""
    return _customer_key(req.headers, req.secure, prefix)


def _customer_key(headers: Mapping[str, str], secure: bool, prefix: str) -> CustomerKey | None:
    """The SSE-C key in ``headers`` (or lowercased form fields), checked."""
    algorithm_name = f"{prefix}-customer-algorithm"
    key_name = f"{prefix}-customer-key"
    md5_name = f"{prefix}-customer-key-md5"
    if not any(name in headers for name in (algorithm_name, key_name, md5_name)):
        return None
    if not secure:
        raise S3Error(
            "InvalidRequest",
            "Requests specifying Server Side Encryption with Customer provided keys must be "
            "made over a secure connection.",
            400,
        )
    algorithm = headers.get(algorithm_name)
    if algorithm is None:
        raise invalid_argument(_PROVIDE + "a valid encryption algorithm.", algorithm_name, "null")
    if algorithm != ALGORITHM:
        raise S3Error(
            "InvalidEncryptionAlgorithmError",
            "The Encryption request you specified is not valid. Supported value: AES256.",
            400,
            {"ArgumentName": algorithm_name, "ArgumentValue": algorithm},
        )
    text = headers.get(key_name)
    if text is None:
        raise invalid_argument(_PROVIDE + "an appropriate secret key.", key_name, "null")
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        # The key itself is never echoed, not even a wrong one.
        raise invalid_argument(
            "The secret key was invalid for the specified algorithm.", key_name, ""
        )
    md5 = headers.get(md5_name)
    if md5 is None:
        raise invalid_argument(
            _PROVIDE + "the client calculated MD5 of the secret key.", md5_name, "null"
        )
    if base64.b64encode(hashlib.md5(key).digest()).decode() != md5.strip():  # noqa: S324 - S3's
        raise invalid_argument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            md5_name,
            md5,
        )
    return CustomerKey(key, md5.strip())


def write_key(req: S3Request) -> Requested:
    """What a write (PutObject, CopyObject's target, CreateMultipartUpload) asks for: its
    SSE-C key, SSE-KMS (a key, or None for the account's aws/s3), SSE-S3, or nothing (the
    bucket's default encryption applies)."""
    found = _asked(req.headers, customer_key(req))
    if found.algorithm == KMS and not signed_v4(req):
        raise sigv4_required()
    return found


def _asked(given: Mapping[str, str], customer: CustomerKey | None) -> Requested:
    asked = given.get(SSE)
    if asked is not None and customer is not None:
        raise invalid_argument(
            "Server Side Encryption with Customer provided key is incompatible with the "
            "encryption method specified",
            SSE,
            asked,
        )
    return _requested(given, customer)


def _requested(given: Mapping[str, str], customer: CustomerKey | None) -> Requested:
    """The encryption headers (or lowercased form fields) ``given`` ask for."""
    asked = given.get(SSE)
    if asked == DSSE:
        raise dsse_not_implemented(SSE)
    if asked is not None and asked not in (ALGORITHM, KMS):
        raise invalid_argument("The encryption method specified is not supported", SSE, asked)
    for name in (KMS_KEY_ID, CONTEXT):
        if name in given and asked != KMS:
            raise invalid_argument(_KMS_ONLY, name, given[name])
    if CONTEXT in given:
        _check_context(given[CONTEXT])
    bucket_key = given.get(BUCKET_KEY)
    if bucket_key is not None and bucket_key.strip().lower() not in ("true", "false"):
        raise invalid_argument(
            "The value of x-amz-server-side-encryption-bucket-key-enabled must be true or false",
            BUCKET_KEY,
            bucket_key,
        )
    key_id = given.get(KMS_KEY_ID)
    if key_id is not None and not key_id.strip():
        raise invalid_argument("KMS key ID cannot be empty", KMS_KEY_ID, key_id)
    return Requested(
        asked,
        customer,
        key_id.strip() if key_id is not None else None,
        None if bucket_key is None or asked != KMS else bucket_key.strip().lower() == "true",
    )


def _check_context(text: str) -> None:
    """S3's rule for an encryption context: base64 of a JSON object of strings."""
    try:
        found = json.loads(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError):
        found = None
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise invalid_argument(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 "
            "string holding JSON which represents a string-string map",
            CONTEXT,
            text,
        )


def context_header(req: S3Request) -> dict[str, str]:
    """The encryption context a write gave, answered as given (checked by write_key)."""
    found = req.headers.get(CONTEXT)
    return {} if found is None else {CONTEXT: found.strip()}


def changes_encryption(req: S3Request) -> bool:
    """Whether a copy asks for an encryption of its own (S3 lets an object be copied onto
    itself to change it)."""
    return SSE in req.headers or f"{SSE}-customer-algorithm" in req.headers


def response_headers(
    stored: Mapping[str, str], customer: CustomerKey | None, at_rest: bool
) -> dict[str, str]:
    """The encryption headers S3 answers about an object (or upload) with ``stored``
    headers: SSE-C's algorithm and the MD5 of the key the request gave, SSE-KMS's algorithm,
    key ARN and bucket key flag, else SSE-S3's algorithm when objects are sealed at rest
    (``at_rest``; always, but in a benchmark)."""
    arn = kms_arn(stored)
    if arn is not None:
        answer = {SSE: KMS, KMS_KEY_ID: arn}
        if stored.get(BUCKET_KEY) == "true":
            answer[BUCKET_KEY] = "true"
        return answer
    if CUSTOMER_ALGORITHM in stored:
        answer = {CUSTOMER_ALGORITHM: ALGORITHM}
        if customer is not None:
            answer[CUSTOMER_KEY_MD5] = customer.md5
        return answer
    return {SSE: ALGORITHM} if at_rest else {}


def part_headers(
    upload: Mapping[str, str], customer: CustomerKey | None, at_rest: bool
) -> dict[str, str]:
    """The encryption headers of UploadPart and UploadPartCopy: the part is sealed as its
    upload (whose headers are ``upload``) asked (an SSE-C key was checked against it)."""
    if kms_arn(upload) is not None:
        return response_headers(upload, None, at_rest)
    if customer is not None:
        return {CUSTOMER_ALGORITHM: ALGORITHM, CUSTOMER_KEY_MD5: customer.md5}
    return {SSE: ALGORITHM} if at_rest else {}


def check_form(fields: Mapping[str, str], secure: bool) -> Requested:
    """PostObject's encryption fields: SSE-S3, SSE-KMS or SSE-C (its three fields, checked
    as a PutObject's headers are, over HTTPS only)."""
    lower = {name.lower(): value for name, value in fields.items()}
    found = _asked(lower, _customer_key(lower, secure, SSE))
    if found.algorithm == KMS and lower.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        raise sigv4_required()
    return found
