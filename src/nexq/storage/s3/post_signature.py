"""Which signature a browser form carries, and S3's answers when it is incomplete or wrong.

A form signs its policy with SigV4 (``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date``,
``x-amz-signature``) or SigV2 (``AWSAccessKeyId``, ``signature``); field names match whatever
their case. One field of a kind asks for all of them; none at all is an anonymous upload.
"""

from __future__ import annotations

import re
from typing import Literal

from nexq.storage.s3.errors import S3Error

_V4 = (
    ("x-amz-algorithm", "X-Amz-Algorithm"),
    ("x-amz-credential", "X-Amz-Credential"),
    ("x-amz-date", "X-Amz-Date"),
    ("x-amz-signature", "X-Amz-Signature"),
)
_V2 = (("awsaccesskeyid", "AWSAccessKeyId"), ("signature", "Signature"))
_POLICY = ("policy", "Policy")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")


def missing_field(name: str) -> S3Error:
    """S3's answer to a form without ``name`` (or with it after the file, where S3 stops)."""
    return S3Error(
        "InvalidArgument",
        f"Bucket POST must contain a field named '{name}'.  "
        "If it is specified, please check the order of the fields.",
        400,
        {"ArgumentName": name, "ArgumentValue": ""},
    )


def signature_version(lower: dict[str, str]) -> Literal["v4", "v2", "anonymous"]:
    """The signature the form carries, every field of it present; raises S3's error.
    A form without any is anonymous: what the bucket's policy or ACL lets anyone do."""
    for version, names in (("v4", _V4), ("v2", _V2)):
        if any(name in lower for name, _shown in names):
            for name, shown in (*names, _POLICY):
                if not lower.get(name):
                    raise missing_field(shown)
            if version == "v4" and not _AMZ_DATE.fullmatch(lower["x-amz-date"]):
                raise S3Error(
                    "InvalidArgument",
                    "X-Amz-Date must be formated via ISO8601 Long format",  # sic, as S3
                    400,
                    {"ArgumentName": "X-Amz-Date", "ArgumentValue": lower["x-amz-date"]},
                )
            return "v4" if version == "v4" else "v2"
    return "anonymous"


def wrong_region(credential: str, region: str, expected: str) -> S3Error:
    """S3's answer to a form credential scoped to another region."""
    return S3Error(
        "InvalidArgument",
        f"the region '{region}' is wrong; expecting '{expected}'",
        400,
        {"ArgumentName": "X-Amz-Credential", "ArgumentValue": credential, "Region": expected},
    )


def signature_mismatch(key_id: str, policy: str, provided: str) -> S3Error:
    """S3's answer to a form whose signature is not the policy's: what it signed, shown."""
    return S3Error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        403,
        {
            "AWSAccessKeyId": key_id,
            "StringToSign": policy,
            "SignatureProvided": provided,
            "StringToSignBytes": " ".join(f"{b:02x}" for b in policy.encode()),
        },
    )
