"""Server-side encryption headers: SSE-C keys and x-amz-server-side-encryption, in and out.

S3 compat: the checks, their order, codes and words are AWS's. SSE-KMS (``aws:kms``) is
not built yet and is refused as such (NotImplemented), not taken for SSE-S3.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from nexq.storage.encryption import (
    ALGORITHM,
    CUSTOMER_ALGORITHM,
    CUSTOMER_KEY_MD5,
    SSE,
    CustomerKey,
)
from nexq.storage.s3.errors import S3Error, invalid_argument
from nexq.storage.s3.http import S3Request

COPY_SOURCE = "x-amz-copy-source-server-side-encryption"
KMS_KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"
KMS = ("aws:kms", "aws:kms:dsse")
_PROVIDE = "Requests specifying Server Side Encryption with Customer provided keys must provide "


def kms_not_implemented(header: str) -> S3Error:
    return S3Error(
        "NotImplemented",
        "Server-side encryption with KMS keys (SSE-KMS, aws:kms) is not available on this "
        "server yet: use AES256 (SSE-S3, what every object gets by default) or a "
        "customer-provided key (SSE-C).",
        501,
        {"Header": header},
    )


def customer_key(req: S3Request, prefix: str = SSE) -> CustomerKey | None:
    """The SSE-C key the request gives (``prefix`` is ``COPY_SOURCE`` for a copy's source),
    checked as S3 checks it; None if it gives none."""
    algorithm_name = f"{prefix}-customer-algorithm"
    key_name = f"{prefix}-customer-key"
    md5_name = f"{prefix}-customer-key-md5"
    headers = req.headers
    if not any(name in headers for name in (algorithm_name, key_name, md5_name)):
        return None
    if not req.secure:
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


def write_key(req: S3Request) -> CustomerKey | None:
    """What a write (PutObject, CopyObject's target, CreateMultipartUpload) asks for: its
    SSE-C key, or None for SSE-S3 (x-amz-server-side-encryption absent or AES256)."""
    customer = customer_key(req)
    asked = req.headers.get(SSE)
    if asked is not None and customer is not None:
        raise invalid_argument(
            "Server Side Encryption with Customer provided key is incompatible with the "
            "encryption method specified",
            SSE,
            asked,
        )
    if asked is not None and asked in KMS:
        raise kms_not_implemented(SSE)
    if asked is not None and asked != ALGORITHM:
        raise invalid_argument("The encryption method specified is not supported", SSE, asked)
    kms_key = req.headers.get(KMS_KEY_ID)
    if kms_key is not None:
        raise invalid_argument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header "
            "x-amz-server-side-encryption : aws:kms",
            KMS_KEY_ID,
            kms_key,
        )
    return customer


def changes_encryption(req: S3Request) -> bool:
    """Whether a copy asks for an encryption of its own (S3 lets an object be copied onto
    itself to change it)."""
    return SSE in req.headers or f"{SSE}-customer-algorithm" in req.headers


def response_headers(
    stored: Mapping[str, str], customer: CustomerKey | None, at_rest: bool
) -> dict[str, str]:
    """The encryption headers S3 answers about an object (or upload) with ``stored``
    headers: SSE-C's algorithm and the MD5 of the key the request gave, else SSE-S3's
    algorithm when objects are sealed at rest (``at_rest``; always, but in a benchmark)."""
    if CUSTOMER_ALGORITHM in stored:
        answer = {CUSTOMER_ALGORITHM: ALGORITHM}
        if customer is not None:
            answer[CUSTOMER_KEY_MD5] = customer.md5
        return answer
    return {SSE: ALGORITHM} if at_rest else {}


def part_headers(customer: CustomerKey | None, at_rest: bool) -> dict[str, str]:
    """The encryption headers of UploadPart and UploadPartCopy: the part is sealed as its
    upload asked (the key was checked against the upload's)."""
    if customer is not None:
        return {CUSTOMER_ALGORITHM: ALGORITHM, CUSTOMER_KEY_MD5: customer.md5}
    return {SSE: ALGORITHM} if at_rest else {}


def check_form(fields: Mapping[str, str]) -> None:
    """PostObject's encryption fields: SSE-S3 only (as for a PUT without SSE-C)."""
    lower = {name.lower(): value for name, value in fields.items()}
    if any(name.startswith(f"{SSE}-customer-") for name in lower):
        raise S3Error(
            "NotImplemented",
            "PostObject with a customer-provided key (SSE-C) is not available on this server: "
            "upload with PutObject over HTTPS instead.",
            501,
        )
    asked = lower.get(SSE)
    if asked is not None and asked in KMS:
        raise kms_not_implemented(SSE)
    if asked is not None and asked != ALGORITHM:
        raise invalid_argument("The encryption method specified is not supported", SSE, asked)
