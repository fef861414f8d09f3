"""REST routes of SSE-KMS: the account's KMS keys (``/v1/storage/kms-keys``) and a bucket's
default encryption (``/v1/storage/buckets/{name}/encryption``).

Keys are named in paths by id, ARN or alias, as S3 names them; another account's key is
"not found" (404), so that its existence does not leak. A bucket's default encryption is
the very setting S3's PutBucketEncryption keeps (docs/api.md, "Bucket settings").
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from nexq.core.errors import Invalid
from nexq.core.identity import Principal
from nexq.storage.api_settings import BucketName, owned_bucket
from nexq.storage.encryption import ALGORITHM, KMS, BucketEncryption
from nexq.storage.kms import MAX_DESCRIPTION, KmsKey
from nexq.storage.service import ObjectStorage
from nexq.web.rest.formats import iso
from nexq.web.rest.pagination import Cursor, Limit, Page, decode_pair, page_after
from nexq.web.rest.security import Authorizer

KeyId = Annotated[str, Path(min_length=1, max_length=2048, description="Id, ARN or alias.")]


class KmsKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: str | None = Field(
        default=None,
        max_length=256,
        description="alias/ then letters, digits, '/', '_' or '-'; not alias/aws/…",
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)


class KmsKeyOut(BaseModel):
    id: str
    arn: str = Field(description="What S3's x-amz-server-side-encryption-aws-kms-key-id names.")
    alias: str | None
    description: str
    state: Literal["Enabled", "Disabled"]
    aws_managed: bool = Field(description="The account's aws/s3 key: it cannot be disabled.")
    created_at: str

    @staticmethod
    def of(key: KmsKey) -> "KmsKeyOut":
        return KmsKeyOut(
            id=key.id,
            arn=key.arn,
            alias=key.alias,
            description=key.description,
            state="Enabled" if key.enabled else "Disabled",
            aws_managed=key.managed,
            created_at=iso(key.created_at),
        )


class BucketEncryptionDocument(BaseModel):
    """A bucket's default encryption: what objects written without their own get."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["AES256", "aws:kms"]
    kms_key_id: str | None = Field(
        default=None,
        max_length=2048,
        description="With aws:kms: a key's id, ARN or alias (none: the account's aws/s3 key).",
    )
    bucket_key_enabled: StrictBool = False
    customer_keys_blocked: StrictBool | None = Field(
        default=None,
        description="Writes with SSE-C (a key of the customer's own) are refused: true in "
        "new buckets. Left out of a PUT: the bucket's stays as it is.",
    )

    @staticmethod
    def of(config: BucketEncryption) -> "BucketEncryptionDocument":
        return BucketEncryptionDocument(
            algorithm="aws:kms" if config.algorithm == KMS else "AES256",
            kms_key_id=config.kms_key_id,
            bucket_key_enabled=config.bucket_key_enabled,
            customer_keys_blocked=config.customer_keys_blocked,
        )


def add_routes(api: APIRouter, objects: ObjectStorage, auth: Authorizer) -> None:
    """Add the KMS key and bucket encryption routes to ``api`` (Object Storage's)."""
    Read = Annotated[Principal, Depends(auth.require("storage:read"))]  # noqa: N806 - a type alias
    Write = Annotated[Principal, Depends(auth.require("storage:write"))]  # noqa: N806 - a type alias
    kms = objects.kms

    @api.get("/kms-keys", summary="List KMS keys")
    def list_kms_keys(caller: Read, limit: Limit = 100, cursor: Cursor = None) -> Page[KmsKeyOut]:
        """The account's keys, oldest first (its aws/s3 key once an object needed it)."""
        keys = kms.list(caller)
        items, next_cursor = page_after(
            keys, decode_pair(cursor), limit, lambda k: (k.created_at, k.id)
        )
        return Page(items=[KmsKeyOut.of(k) for k in items], next_cursor=next_cursor)

    @api.post("/kms-keys", status_code=201, summary="Create a KMS key")
    def create_kms_key(body: KmsKeyIn, caller: Write) -> KmsKeyOut:
        """A new key, enabled; its material never leaves the server. 409 if the alias is
        taken."""
        return KmsKeyOut.of(kms.create(caller, body.alias, body.description))

    @api.get("/kms-keys/{key_id:path}", summary="Show a KMS key")
    def get_kms_key(key_id: KeyId, caller: Read) -> KmsKeyOut:
        return KmsKeyOut.of(kms.get(caller, key_id))

    @api.post("/kms-keys/{key_id:path}/disable", summary="Disable a KMS key")
    def disable_kms_key(key_id: KeyId, caller: Write) -> KmsKeyOut:
        """No new object is sealed under it, and the objects sealed under it cannot be read
        (S3 answers KMS.DisabledException) until it is enabled again."""
        return KmsKeyOut.of(kms.disable(caller, key_id))

    @api.post("/kms-keys/{key_id:path}/enable", summary="Enable a KMS key")
    def enable_kms_key(key_id: KeyId, caller: Write) -> KmsKeyOut:
        return KmsKeyOut.of(kms.enable(caller, key_id))

    @api.get("/buckets/{name}/encryption", summary="A bucket's default encryption")
    def get_encryption(name: BucketName, caller: Read) -> BucketEncryptionDocument:
        """AES256 (SSE-S3) when it was never set: every object is encrypted at rest."""
        owned_bucket(objects, caller, name)
        return BucketEncryptionDocument.of(objects.bucket_encryption(caller, name))

    @api.put("/buckets/{name}/encryption", summary="Set a bucket's default encryption")
    def put_encryption(
        name: BucketName, body: BucketEncryptionDocument, caller: Write
    ) -> BucketEncryptionDocument:
        """With aws:kms, the key must be one of the account's (404 if it names none)."""
        owned_bucket(objects, caller, name)
        if body.algorithm == ALGORITHM and body.kms_key_id is not None:
            raise Invalid("kms_key_id: only with the algorithm aws:kms.")
        config = BucketEncryption(
            body.algorithm, body.bucket_key_enabled, body.kms_key_id, body.customer_keys_blocked
        )
        objects.set_bucket_encryption(caller, name, config)
        return BucketEncryptionDocument.of(objects.bucket_encryption(caller, name))

    @api.delete(
        "/buckets/{name}/encryption",
        status_code=204,
        summary="Return a bucket to the default encryption (AES256)",
    )
    def delete_encryption(name: BucketName, caller: Write) -> Response:
        owned_bucket(objects, caller, name)
        objects.set_bucket_encryption(caller, name, None)
        return Response(status_code=204)
