"""A bucket's default encryption on the wire: the ServerSideEncryptionConfiguration document
of PutBucketEncryption and GetBucketEncryption."""

from __future__ import annotations

from nexq.storage.encryption import ALGORITHM, BucketEncryption
from nexq.storage.s3.document import Fields, root_of
from nexq.storage.s3.errors import S3Error, invalid_argument, malformed_xml
from nexq.storage.s3.sse import KMS
from nexq.storage.s3.xml import document

MAX_DOCUMENT_BYTES = 64 * 1024
_RULE = frozenset(
    {"ApplyServerSideEncryptionByDefault", "BucketKeyEnabled", "BlockedEncryptionTypes"}
)
_DEFAULT = frozenset({"SSEAlgorithm", "KMSMasterKeyID"})


def parse_encryption(body: bytes) -> BucketEncryption:
    """PutBucketEncryption's body: one rule, AES256 (SSE-KMS is refused as not built yet)."""
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
    if algorithm in KMS:
        raise S3Error(
            "NotImplemented",
            "Default encryption with KMS keys (SSE-KMS, aws:kms) is not available on this "
            "server yet: use AES256 (SSE-S3).",
            501,
        )
    if algorithm != ALGORITHM:
        raise malformed_xml()
    if fields.has("KMSMasterKeyID"):
        raise invalid_argument(
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms",
            "ApplyServerSideEncryptionByDefault",
        )
    return BucketEncryption(algorithm, bool(rule.boolean("BucketKeyEnabled")))


def render_encryption(config: BucketEncryption) -> str:
    """GetBucketEncryption's answer."""
    return document(
        "ServerSideEncryptionConfiguration",
        "<Rule><ApplyServerSideEncryptionByDefault>"
        f"<SSEAlgorithm>{config.algorithm}</SSEAlgorithm>"
        "</ApplyServerSideEncryptionByDefault>"
        f"<BucketKeyEnabled>{'true' if config.bucket_key_enabled else 'false'}</BucketKeyEnabled>"
        "</Rule>",
    )
