"""The "Default encryption" form of a bucket's Settings page: AES256 (SSE-S3) or aws:kms
with one of the account's KMS keys (or its aws/s3 key), S3's bucket key flag, and whether
SSE-C is blocked. A plain form: it works without JavaScript, like the page's others."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.storage.console.links import bucket_url
from nexq.storage.encryption import ALGORITHM, KMS, BucketEncryption
from nexq.storage.service import ObjectStorage
from nexq.web.console.web import Flash, Pages

Text = Annotated[str, Form()]
SECTION = "encryption"


def router(storage: ObjectStorage, pages: Pages) -> APIRouter:
    """POST /storage/buckets/{name}/settings/encryption."""
    web = APIRouter(prefix="/storage/buckets/{name}/settings")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    @web.post("/encryption")
    def save_encryption(
        request: Request,
        name: str,
        caller: SignedIn,
        algorithm: Text = ALGORITHM,
        kms_key_id: Text = "",
        bucket_key: Text = "",
        block_sse_c: Text = "",
    ) -> Response:
        storage.bucket(caller, name)  # another's bucket is absent, whatever the form says
        back = bucket_url(name, "/settings") + f"#{SECTION}"
        if algorithm not in (ALGORITHM, KMS):
            return pages.redirect(request, back, Flash("error", "Choose AES256 or aws:kms."))
        key_id = (kms_key_id or None) if algorithm == KMS else None
        config = BucketEncryption(algorithm, bool(bucket_key), key_id, bool(block_sse_c))
        try:
            storage.set_bucket_encryption(caller, name, config)
        except DomainError as exc:
            return pages.redirect(request, back, Flash("error", exc.message))
        said = "AES256 (SSE-S3)" if algorithm == ALGORITHM else "aws:kms (SSE-KMS)"
        return pages.redirect(request, back, Flash("success", f"Default encryption: {said}."))

    return web


def encryption_view(storage: ObjectStorage, caller: Principal, name: str) -> dict[str, object]:
    """What the page shows of the bucket's default encryption: the setting and the keys the
    select offers (the aws/s3 key is offered whether it was made yet or not)."""
    return {
        "encryption": storage.bucket_encryption(caller, name),
        "kms_keys": [k for k in storage.kms.list(caller) if not k.managed],
    }
