"""REST routes of a bucket's settings: versioning, policy, CORS, lifecycle, tags and Block
Public Access, under ``/v1/storage/buckets/{name}/…``.

Each document is checked by the code S3's own operations use and kept in the very form they
keep it (docs/api.md, "Bucket settings"), so a setting made here reads back the same
through S3, the console and ``dcp``, and the other way round.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from nexq.core.errors import Invalid, NotFound
from nexq.core.identity import Principal
from nexq.storage.api_cors import CORSDocument, cors_document, cors_rules, stored_cors
from nexq.storage.api_lifecycle import LifecycleDocument, lifecycle_document, lifecycle_rules
from nexq.storage.errors import AccessDenied, NoSuchBucket
from nexq.storage.lifecycle_json import rules_from_json, rules_to_json
from nexq.storage.model import Bucket
from nexq.storage.policy import MalformedPolicy
from nexq.storage.public_access import SETTING as PUBLIC_ACCESS
from nexq.storage.public_access import PublicAccessBlock
from nexq.storage.s3.cors import render_cors
from nexq.storage.service import ObjectStorage
from nexq.storage.tagging import TAGGING_SETTING, InvalidTag, TagSet
from nexq.web.rest.security import Authorizer

BucketName = Annotated[str, Path(min_length=1, max_length=255)]
# Read whole, as S3's PutBucketPolicy reads it: the policy is kept byte for byte.
_POLICY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The policy document (IAM policy language, at most 20 KB).",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_POLICY_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The policy document, byte for byte as it was put.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


class Versioning(BaseModel):
    status: Literal["Enabled", "Suspended"] | None = Field(
        description="null until versioning is first enabled; it can then only be suspended."
    )


class VersioningIn(BaseModel):
    status: Literal["Enabled", "Suspended"]


class BucketTags(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: dict[str, str] = Field(
        description="Up to 50; keys of 1-128 and values of 0-256 characters, "
        "no key starting with aws:."
    )


class PublicAccessBlockSettings(BaseModel):
    """S3's four Block Public Access switches; one left out is off."""

    model_config = ConfigDict(extra="forbid")

    block_public_acls: StrictBool = False
    ignore_public_acls: StrictBool = False
    block_public_policy: StrictBool = Field(
        default=False, description="Refuse a policy that grants public access."
    )
    restrict_public_buckets: StrictBool = Field(
        default=False, description="Only the owner gets what a public policy grants."
    )


def owned_bucket(objects: ObjectStorage, caller: Principal, name: str) -> Bucket:
    """The caller's bucket ``name``; another account's is "not found", so that its existence
    does not leak."""
    # The cached bucket (its versioning state) may predate a change made through another
    # process: S3 requests refresh the cache, and this one may have served none since.
    objects.directory.refresh()
    try:
        return objects.bucket(caller, name)
    except (NoSuchBucket, AccessDenied):
        raise NoSuchBucket(f"No bucket named {name!r} in this account.") from None


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def add_routes(api: APIRouter, objects: ObjectStorage, auth: Authorizer) -> None:
    """Add the bucket settings routes to ``api`` (Object Storage's, under ``/v1/storage``): on
    it, not on a router of their own, so that each is an operation the OpenAPI document
    states the scopes of."""
    Read = Annotated[Principal, Depends(auth.require("storage:read"))]  # noqa: N806 - a type alias
    Write = Annotated[Principal, Depends(auth.require("storage:write"))]  # noqa: N806 - a type alias

    def stored(caller: Principal, name: str, setting: str, missing: str) -> str:
        owned_bucket(objects, caller, name)
        text = objects.bucket_document(caller, name, setting)
        if text is None:
            raise NotFound(f"The bucket {name!r} has no {missing}.")
        return text

    def store(caller: Principal, name: str, setting: str, text: str | None) -> None:
        owned_bucket(objects, caller, name)
        objects.set_bucket_document(caller, name, setting, text)

    # versioning ---------------------------------------------------------------------------
    @api.get("/buckets/{name}/versioning", summary="A bucket's versioning state")
    def get_versioning(name: BucketName, caller: Read) -> Versioning:
        owned_bucket(objects, caller, name)
        return Versioning.model_validate({"status": objects.versioning(caller, name)})

    @api.put("/buckets/{name}/versioning", summary="Enable or suspend versioning")
    def put_versioning(name: BucketName, body: VersioningIn, caller: Write) -> Versioning:
        """Once enabled, versioning can be suspended (new writes replace the null version)
        but never turned off: the versions kept stay."""
        owned_bucket(objects, caller, name)
        objects.set_versioning(caller, name, body.status)
        return Versioning(status=body.status)

    # policy -------------------------------------------------------------------------------
    @api.get(
        "/buckets/{name}/policy",
        summary="A bucket's policy",
        response_class=Response,
        responses=_POLICY_ANSWER,
    )
    def get_policy(name: BucketName, caller: Read) -> Response:
        """404 when the bucket has no policy."""
        return Response(stored(caller, name, "policy", "policy"), media_type="application/json")

    @api.put(
        "/buckets/{name}/policy",
        summary="Set a bucket's policy",
        response_class=Response,
        responses=_POLICY_ANSWER,
        openapi_extra=_POLICY_BODY,
    )
    def put_policy(
        name: BucketName, body: Annotated[bytes, Depends(_raw_body)], caller: Write
    ) -> Response:
        """Checked as S3's PutBucketPolicy checks it: 400 naming what is wrong (S3's
        MalformedPolicy messages); 403 if Block Public Access refuses a public policy."""
        owned_bucket(objects, caller, name)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise MalformedPolicy("Policies must be valid UTF-8") from None
        policy = objects.set_bucket_policy(caller, name, text)
        return Response(policy.text, media_type="application/json")

    @api.delete("/buckets/{name}/policy", status_code=204, summary="Remove a bucket's policy")
    def delete_policy(name: BucketName, caller: Write) -> Response:
        store(caller, name, "policy", None)
        return Response(status_code=204)

    # CORS ---------------------------------------------------------------------------------
    @api.get(
        "/buckets/{name}/cors", summary="A bucket's CORS rules", response_model_exclude_none=True
    )
    def get_cors(name: BucketName, caller: Read) -> CORSDocument:
        """aws-cli's shape (get-bucket-cors); 404 when the bucket has none."""
        return cors_document(stored_cors(stored(caller, name, "cors", "CORS configuration")))

    @api.put(
        "/buckets/{name}/cors",
        summary="Set a bucket's CORS rules",
        response_model_exclude_none=True,
    )
    def put_cors(name: BucketName, body: CORSDocument, caller: Write) -> CORSDocument:
        """aws-cli's shape (put-bucket-cors --cors-configuration), checked as PutBucketCors
        checks it; replaces every rule."""
        rules = cors_rules(body)
        store(caller, name, "cors", render_cors(rules))
        return cors_document(rules)

    @api.delete("/buckets/{name}/cors", status_code=204, summary="Remove a bucket's CORS rules")
    def delete_cors(name: BucketName, caller: Write) -> Response:
        store(caller, name, "cors", None)
        return Response(status_code=204)

    # lifecycle ----------------------------------------------------------------------------
    @api.get(
        "/buckets/{name}/lifecycle",
        summary="A bucket's lifecycle rules",
        response_model_exclude_none=True,
    )
    def get_lifecycle(name: BucketName, caller: Read) -> LifecycleDocument:
        """aws-cli's shape (get-bucket-lifecycle-configuration); 404 when there is none."""
        text = stored(caller, name, "lifecycle", "lifecycle configuration")
        return lifecycle_document(rules_from_json(text))

    @api.put(
        "/buckets/{name}/lifecycle",
        summary="Set a bucket's lifecycle rules",
        response_model_exclude_none=True,
    )
    def put_lifecycle(
        name: BucketName, body: LifecycleDocument, caller: Write
    ) -> LifecycleDocument:
        """aws-cli's shape (put-bucket-lifecycle-configuration), checked as S3 checks it;
        replaces every rule. A rule without an ID is given one (in the answer)."""
        rules = lifecycle_rules(body)
        store(caller, name, "lifecycle", rules_to_json(rules))
        return lifecycle_document(rules)

    @api.delete(
        "/buckets/{name}/lifecycle", status_code=204, summary="Remove a bucket's lifecycle rules"
    )
    def delete_lifecycle(name: BucketName, caller: Write) -> Response:
        store(caller, name, "lifecycle", None)
        return Response(status_code=204)

    # tags ---------------------------------------------------------------------------------
    @api.get("/buckets/{name}/tags", summary="A bucket's tags")
    def get_tags(name: BucketName, caller: Read) -> BucketTags:
        owned_bucket(objects, caller, name)
        text = objects.bucket_document(caller, name, TAGGING_SETTING)
        return BucketTags(tags=TagSet.from_json(text).as_dict())

    @api.put("/buckets/{name}/tags", summary="Replace a bucket's tags")
    def put_tags(name: BucketName, body: BucketTags, caller: Write) -> BucketTags:
        """Checked as S3's PutBucketTagging checks them; an empty set removes every tag."""
        try:
            tags = TagSet.for_bucket(body.tags.items())
        except InvalidTag as exc:
            raise Invalid(f"tags: {exc.message} (key {exc.key!r})") from None
        store(caller, name, TAGGING_SETTING, tags.to_json() if len(tags) else None)
        return BucketTags(tags=tags.as_dict())

    @api.delete("/buckets/{name}/tags", status_code=204, summary="Remove a bucket's tags")
    def delete_tags(name: BucketName, caller: Write) -> Response:
        store(caller, name, TAGGING_SETTING, None)
        return Response(status_code=204)

    # Block Public Access ------------------------------------------------------------------
    @api.get(
        "/buckets/{name}/public-access-block", summary="A bucket's Block Public Access switches"
    )
    def get_public_access_block(name: BucketName, caller: Read) -> PublicAccessBlockSettings:
        """Every switch off when none was ever set."""
        owned_bucket(objects, caller, name)
        block = PublicAccessBlock.parse(objects.bucket_document(caller, name, PUBLIC_ACCESS))
        return PublicAccessBlockSettings(**_switches(block))

    @api.put(
        "/buckets/{name}/public-access-block", summary="Set a bucket's Block Public Access switches"
    )
    def put_public_access_block(
        name: BucketName, body: PublicAccessBlockSettings, caller: Write
    ) -> PublicAccessBlockSettings:
        block = PublicAccessBlock(**body.model_dump())
        store(caller, name, PUBLIC_ACCESS, block.to_json())
        return body

    @api.delete(
        "/buckets/{name}/public-access-block",
        status_code=204,
        summary="Turn every Block Public Access switch off",
    )
    def delete_public_access_block(name: BucketName, caller: Write) -> Response:
        store(caller, name, PUBLIC_ACCESS, None)
        return Response(status_code=204)


def _switches(block: PublicAccessBlock) -> dict[str, bool]:
    return {
        "block_public_acls": block.block_public_acls,
        "ignore_public_acls": block.ignore_public_acls,
        "block_public_policy": block.block_public_policy,
        "restrict_public_buckets": block.restrict_public_buckets,
    }
