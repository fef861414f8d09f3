"""Server-side encryption of objects: what an object records of it, S3's rules for
customer-provided keys (SSE-C), and a bucket's default encryption.

Every object's bytes are sealed at rest (``storage.blobs.sealed``): with a data key wrapped
by the installation's keys (SSE-S3, S3's ``AES256``: what every object gets, so nothing
is recorded for it), by the key the customer sends with each request (SSE-C), or by the
material of one of the account's KMS keys (SSE-KMS, ``storage.kms``). An SSE-C object
records it in its stored headers: S3's algorithm header (answered by GET and HEAD as
stored) and a salted HMAC of the customer's key, which checks the key of the next request
without keeping it. An SSE-KMS object records S3's headers as GET and HEAD answer them:
``aws:kms``, the key's ARN (which names the key to read it with) and the bucket key flag.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from nexq.storage.errors import AccessDenied, InvalidArgument, InvalidRequest

ALGORITHM = "AES256"
KMS = "aws:kms"
SSE = "x-amz-server-side-encryption"  # answered for SSE-S3 (stored only for SSE-KMS)
KMS_KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"  # stored: the KMS key's ARN
BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"  # stored when "true"
CUSTOMER_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"  # stored: SSE-C
CUSTOMER_KEY_MD5 = "x-amz-server-side-encryption-customer-key-md5"  # answered, never stored
# The salted HMAC of an SSE-C object's key. "x-nexq-" headers are stored, never answered.
KEY_CHECK = "x-nexq-sse-c-key"
_ENCRYPTION = (SSE, CUSTOMER_ALGORITHM, KEY_CHECK, KMS_KEY_ID, BUCKET_KEY)
_SALT_BYTES = 16
SETTING = "encryption"  # the bucket setting holding the default encryption


class CustomerKeyRequired(InvalidRequest):
    """An SSE-C object read without its key."""

    def __init__(self) -> None:
        super().__init__(
            "The object was stored using a form of Server Side Encryption. The correct "
            "parameters must be provided to retrieve the object."
        )


class EncryptionNotApplicable(InvalidRequest):
    """A customer's key given for an object (or upload) stored without one."""

    def __init__(self) -> None:
        super().__init__("The encryption parameters are not applicable to this object.")


class WrongCustomerKey(AccessDenied):
    """A customer's key that is not the one the object was stored with."""

    def __init__(self) -> None:
        super().__init__("Access Denied")  # S3 compat: AWS says no more than that


class PartKeyRequired(InvalidRequest):
    """A part of an SSE-C multipart upload sent without the upload's key."""

    def __init__(self) -> None:
        super().__init__(
            "The multipart upload initiate requested encryption. Subsequent part requests "
            "must include the appropriate encryption parameters."
        )


class PartKeyMismatch(InvalidArgument):
    """A part of an SSE-C multipart upload sent with another key than the upload's."""

    def __init__(self) -> None:
        super().__init__(
            "The provided encryption parameters did not match the ones used originally."
        )


@dataclass(frozen=True, slots=True)
class CustomerKey:
    """An SSE-C key as a request presents it: held for the request, never stored or shown."""

    key: bytes = field(repr=False)
    md5: str  # base64 MD5 of the key, as the request named it (checked) and S3 answers it


@dataclass(frozen=True, slots=True)
class KmsSealing:
    """The KMS key an object is sealed under, as a write or a read resolved it: its ARN
    (recorded) and its material (held for the request, never stored or shown)."""

    arn: str
    key: bytes = field(repr=False)
    bucket_key: bool = False


# The key an object's data key is wrapped by, besides the installation's (SSE-S3).
ObjectKey = CustomerKey | KmsSealing


@dataclass(frozen=True, slots=True)
class Requested:
    """What a write's headers (or form fields) asked for: ``algorithm`` None when they name
    none, so that the bucket's default encryption applies."""

    algorithm: str | None = None  # "AES256" or "aws:kms"
    customer: CustomerKey | None = None
    kms_key_id: str | None = None  # as given: a key id, ARN, alias or alias ARN
    bucket_key: bool | None = None


@dataclass(frozen=True, slots=True)
class Presented:
    """What a read presented of SSE-C: checked against the object (``key`` None: none)."""

    key: CustomerKey | None = None


def stamped(headers: Mapping[str, str], key: ObjectKey | None) -> dict[str, str]:
    """``headers`` with the encryption a new object (or upload) gets, replacing the one it
    was copied from: SSE-C or SSE-KMS with ``key``, else the default, SSE-S3."""
    kept = {name: value for name, value in headers.items() if name not in _ENCRYPTION}
    if isinstance(key, CustomerKey):
        kept[CUSTOMER_ALGORITHM] = ALGORITHM
        kept[KEY_CHECK] = _key_check(key.key)
    elif isinstance(key, KmsSealing):
        kept[SSE] = KMS
        kept[KMS_KEY_ID] = key.arn
        if key.bucket_key:
            kept[BUCKET_KEY] = "true"
    return kept


def kms_arn(headers: Mapping[str, str]) -> str | None:
    """The ARN of the KMS key an object (or upload) is sealed under; None if not SSE-KMS."""
    return headers.get(KMS_KEY_ID) if headers.get(SSE) == KMS else None


def customer_keyed(headers: Mapping[str, str]) -> bool:
    """Whether an object (or upload) is encrypted with a customer's key."""
    return KEY_CHECK in headers


def check_read(headers: Mapping[str, str], customer: CustomerKey | None) -> None:
    """S3's SSE-C rules for a read of an object's bytes or metadata (GET, HEAD, a copy's
    source): an SSE-C object wants its key, and only its key; another wants none."""
    stored = headers.get(KEY_CHECK)
    if stored is None:
        if customer is not None:
            raise EncryptionNotApplicable()
        return
    if customer is None:
        raise CustomerKeyRequired()
    if not _matches(stored, customer.key):
        raise WrongCustomerKey()


def check_part(headers: Mapping[str, str], customer: CustomerKey | None) -> None:
    """S3's SSE-C rules for a part of the upload whose headers are ``headers``."""
    stored = headers.get(KEY_CHECK)
    if stored is None:
        if customer is not None:
            raise EncryptionNotApplicable()
        return
    if customer is None:
        raise PartKeyRequired()
    if not _matches(stored, customer.key):
        raise PartKeyMismatch()


def etag(md5_hex: str, key: ObjectKey | None) -> str:
    """The ETag of bytes whose MD5 is ``md5_hex``. S3 compat: an SSE-C or SSE-KMS object's
    ETag is not the MD5 of its data (which would tell who reads a listing what the object
    holds); here an HMAC of that MD5 under the customer's key or the KMS key's material, so
    the same bytes and key give the same."""
    if key is None:
        return md5_hex
    label = b"nexq sse-c etag\0" if isinstance(key, CustomerKey) else b"nexq sse-kms etag\0"
    mac = hmac.new(key.key, label + bytes.fromhex(md5_hex), hashlib.sha256)
    return mac.hexdigest()[:32]


def same_key(one: ObjectKey | None, other: ObjectKey | None) -> bool:
    """Whether two objects sealed so are sealed alike (same key, same kind of ETag)."""
    if one is None or other is None:
        return one is other
    return type(one) is type(other) and hmac.compare_digest(one.key, other.key)


def _key_check(key: bytes) -> str:
    salt = os.urandom(_SALT_BYTES)
    mac = hmac.new(salt, key, hashlib.sha256).digest()
    return f"{base64.b64encode(salt).decode()}:{base64.b64encode(mac).decode()}"


def _matches(stored: str, key: bytes) -> bool:
    salt, _, mac = stored.partition(":")
    expected = hmac.new(base64.b64decode(salt), key, hashlib.sha256).digest()
    return hmac.compare_digest(expected, base64.b64decode(mac))


@dataclass(frozen=True, slots=True)
class BucketEncryption:
    """A bucket's default encryption (PutBucketEncryption). S3 compat: a bucket that was
    never configured answers SSE-S3, which every object gets anyway. With ``aws:kms``,
    ``kms_key_id`` is the key as it was given (None: the account's ``aws/s3`` key).

    ``customer_keys_blocked``: writes with SSE-C are refused (S3's BlockedEncryptionTypes),
    as AWS does on every bucket made since April 2026 (:data:`NEW_BUCKET`); buckets made
    before that here keep SSE-C allowed. None only in a change that does not say, which
    keeps the bucket's."""

    algorithm: str = ALGORITHM
    bucket_key_enabled: bool = False
    kms_key_id: str | None = None
    customer_keys_blocked: bool | None = None

    def to_json(self) -> str:
        found: dict[str, object] = {
            "algorithm": self.algorithm,
            "bucket_key": self.bucket_key_enabled,
        }
        if self.kms_key_id is not None:
            found["kms_key_id"] = self.kms_key_id
        if self.customer_keys_blocked:
            found["blocked"] = [CUSTOMER_KEYS]
        return json.dumps(found)

    @classmethod
    def from_json(cls, text: str | None) -> BucketEncryption:
        if text is None:
            return cls(customer_keys_blocked=False)
        found = json.loads(text)
        key_id = found.get("kms_key_id")
        return cls(
            str(found["algorithm"]),
            bool(found["bucket_key"]),
            None if key_id is None else str(key_id),
            CUSTOMER_KEYS in found.get("blocked", ()),
        )

    def keeping_block_of(self, current: BucketEncryption) -> BucketEncryption:
        """This change, with ``current``'s SSE-C block when the change does not name one."""
        if self.customer_keys_blocked is not None:
            return self
        return replace(self, customer_keys_blocked=current.customer_keys_blocked)


CUSTOMER_KEYS = "SSE-C"  # S3's name of the encryption type a bucket can block
# What a bucket made today starts with: SSE-S3, and SSE-C blocked (AWS since April 2026).
NEW_BUCKET = BucketEncryption(customer_keys_blocked=True)


class CustomerKeysBlocked(AccessDenied):
    """An SSE-C write to a bucket that blocks SSE-C."""

    def __init__(self) -> None:
        super().__init__(
            "Requests specifying Server Side Encryption with Customer provided keys (SSE-C) "
            "are blocked for this bucket: its default encryption configuration lists SSE-C "
            "in BlockedEncryptionTypes (PutBucketEncryption can allow it)."
        )
