"""A bucket's default encryption on the wire: the ServerSideEncryptionConfiguration document
of PutBucketEncryption and GetBucketEncryption."""

from __future__ import annotations

from nexq.storage.encryption import ALGORITHM, CUSTOMER_KEYS, KMS, BucketEncryption
from nexq.storage.s3.document import Fields, root_of
from nexq.storage.s3.errors import invalid_argument, malformed_xml
from nexq.storage.s3.sse import DSSE, dsse_not_implemented
from nexq.storage.s3.xml import document, escape

MAX_DOCUMENT_BYTES = 64 * 1024
_RULE = frozenset(
    {"ApplyServerSideEncryptionByDefault", "BucketKeyEnabled", "BlockedEncryptionTypes"}
)
_DEFAULT = frozenset({"SSEAlgorithm", "KMSMasterKeyID"})
_BLOCKED = frozenset({"EncryptionType"})
_TYPES = frozenset({CUSTOMER_KEYS, "NONE"})


def parse_encryption(body: bytes) -> BucketEncryption:
    """PutBucketEncryption's body: one rule, AES256 or aws:kms (with a KMSMasterKeyID, or
    none for the account's aws/s3 key; the key is looked up by the service)."""
    root = root_of(body, "ServerSideEncryptionConfiguration", MAX_DOCUMENT_BYTES)
    rules = Fields(root, frozenset({"Rule"})).many("Rule")
    if len(rules) != 1:
        raise malformed_xml()
    rule = Fields(rules[0], _RULE)
    default = rule.element("ApplyServerSideEncryptionByDefault")
    if default is None:
        raise malformed_xml()
    fields = Fields(default, _DEFAULT)
    algorithm = fields.required_text("SSEAlgorithm").strip()
    if algorithm == DSSE:
        raise dsse_not_implemented("SSEAlgorithm")
    if algorithm not in (ALGORITHM, KMS):
        raise malformed_xml()
    key_id = None
    if fields.has("KMSMasterKeyID"):
        if algorithm != KMS:
            raise invalid_argument(
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms "
                "or aws:kms:dsse",
                "ApplyServerSideEncryptionByDefault",
            )
        key_id = fields.required_text("KMSMasterKeyID").strip() or None
    return BucketEncryption(
        algorithm, bool(rule.boolean("BucketKeyEnabled")), key_id, _blocked(rule)
    )


def _blocked(rule: Fields) -> bool | None:
    """Whether the rule blocks SSE-C; None when it has no BlockedEncryptionTypes (the
    bucket's stays as it is)."""
    element = rule.element("BlockedEncryptionTypes")
    if element is None:
        return None
    named = {text.strip() for text in Fields(element, _BLOCKED).texts("EncryptionType")}
    if not named <= _TYPES or named == _TYPES:
        raise malformed_xml()  # an unknown type, or SSE-C both blocked and not
    return CUSTOMER_KEYS in named


def render_encryption(config: BucketEncryption) -> str:
    """GetBucketEncryption's answer."""
    return document(
        "ServerSideEncryptionConfiguration",
        "<Rule><ApplyServerSideEncryptionByDefault>"
        f"<SSEAlgorithm>{config.algorithm}</SSEAlgorithm>"
        + (
            f"<KMSMasterKeyID>{escape(config.kms_key_id)}</KMSMasterKeyID>"
            if config.kms_key_id is not None
            else ""
        )
        + "</ApplyServerSideEncryptionByDefault>"
        f"<BucketKeyEnabled>{'true' if config.bucket_key_enabled else 'false'}</BucketKeyEnabled>"
        + (
            "<BlockedEncryptionTypes>"
            f"<EncryptionType>{CUSTOMER_KEYS}</EncryptionType>"
            "</BlockedEncryptionTypes>"
            if config.customer_keys_blocked
            else ""
        )
        + "</Rule>",
    )
