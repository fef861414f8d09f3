"""A bucket's Settings page: versioning, bucket policy, CORS, static website, lifecycle
rules, Block Public Access and tags, each a form of its own that posts and comes back to its
section.

A refused draft comes back on the page as it was typed, with the reason next to it (S3's
message where S3 has one) and nothing stored; a destructive change asks first (in a dialog
with script, on a page of its own without).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.core.errors import Conflict, Invalid
from nexq.core.identity import Principal
from nexq.storage.console.bucket_documents import (
    CORS_EXAMPLE,
    LifecycleDraft,
    cors_document,
    cors_json,
    cors_rules,
    lifecycle_rows,
    lifecycle_rules,
    with_rule,
    with_tag,
    without_rule,
    without_tag,
)
from nexq.storage.console.encryption import encryption_view
from nexq.storage.console.links import Connect, bucket_url
from nexq.storage.console.object_lock import UNITS, RetentionDraft
from nexq.storage.console.website import WebsiteView, with_documents
from nexq.storage.emptying import BucketEmptying
from nexq.storage.errors import AccessDenied
from nexq.storage.locks import ObjectLocks
from nexq.storage.policy import MalformedPolicy
from nexq.storage.public_access import SETTING as PUBLIC_ACCESS
from nexq.storage.public_access import PublicAccessBlock
from nexq.storage.service import ObjectStorage
from nexq.storage.tagging import TAGGING_SETTING, TagSet
from nexq.storage.versions import ENABLED, SUSPENDED
from nexq.storage.website import SETTING as WEBSITE
from nexq.web.console.web import Flash, Pages

Text = Annotated[str, Form()]


def router(
    storage: ObjectStorage, pages: Pages, emptying: BucketEmptying, connect: Connect
) -> APIRouter:
    """GET /storage/buckets/{name}/settings and the forms it posts."""
    web = APIRouter(prefix="/storage/buckets/{name}/settings")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias
    locks = ObjectLocks(storage)

    def page(
        request: Request,
        caller: Principal,
        name: str,
        status: int = 200,
        errors: dict[str, str] | None = None,
        drafts: dict[str, str] | None = None,
        rule: LifecycleDraft | None = None,
        retention: RetentionDraft | None = None,
    ) -> Response:
        # The page shows the bucket's versioning state, which its cached entry may predate
        # (this process serves pages only; S3 requests are what refresh it otherwise).
        storage.directory.refresh()
        stats = storage.bucket_stat(caller, name)
        policy = storage.bucket_document(caller, name, "policy")
        cors = cors_rules(storage.bucket_document(caller, name, "cors"))
        lock = storage.lock_configuration(stats.bucket)
        drafts = drafts or {}
        return pages.render(
            request,
            "storage/bucket_settings.html",
            caller,
            status,
            name=name,
            stats=stats,
            crumbs=[(name, bucket_url(name)), ("Settings", bucket_url(name, "/settings"))],
            bucket_url=bucket_url,
            errors=errors or {},
            versioning=stats.bucket.versioning,
            lock=lock,
            retention=retention or RetentionDraft.of(lock),
            retention_units=UNITS,
            has_policy=policy is not None,
            policy_text=drafts.get("policy", policy or ""),
            cors=cors,
            cors_text=drafts.get("cors", cors_json(cors)),
            cors_example=CORS_EXAMPLE,
            website=WebsiteView.of(
                storage.bucket_document(caller, name, WEBSITE), connect.website_url(name), drafts
            ),
            rules=lifecycle_rows(
                lifecycle_rules(storage.bucket_document(caller, name, "lifecycle"))
            ),
            rule=rule or LifecycleDraft(),
            block=PublicAccessBlock.parse(storage.bucket_document(caller, name, PUBLIC_ACCESS)),
            tags=TagSet.from_json(storage.bucket_document(caller, name, TAGGING_SETTING)),
            tag_key=drafts.get("tag_key", ""),
            tag_value=drafts.get("tag_value", ""),
            emptying=emptying.status(caller, name),
            **encryption_view(storage, caller, name),
        )

    def done(request: Request, name: str, section: str, text: str) -> Response:
        return pages.redirect(
            request, bucket_url(name, "/settings") + f"#{section}", Flash("success", text)
        )

    def ask(
        request: Request,
        caller: Principal,
        name: str,
        path: str,
        fields: list[tuple[str, str]],
        title: str,
        message: str,
        button: str,
        style: str = "danger",
    ) -> Response:
        return pages.confirm(
            request,
            caller,
            title=title,
            message=message,
            action=bucket_url(name, "/settings" + path),
            button=button,
            fields=fields,
            back=bucket_url(name, "/settings"),
            style=style,
        )

    def delete_document(
        request: Request,
        caller: Principal,
        name: str,
        confirm: str,
        document: str,
        title: str,
        message: str,
        labels: tuple[str, str],
    ) -> Response:
        """Remove a bucket document (its section is named like it) once confirmed;
        ``labels``: the confirm button's, then what the page says after."""
        if confirm != "yes":
            return ask(request, caller, name, f"/{document}/delete", [], title, message, labels[0])
        storage.set_bucket_document(caller, name, document, None)
        return done(request, name, document, labels[1])

    @web.get("")
    def settings(request: Request, name: str, caller: SignedIn) -> Response:
        return page(request, caller, name)

    # versioning -----------------------------------------------------------------------
    @web.post("/versioning")
    def versioning(
        request: Request, name: str, caller: SignedIn, state: Text = "", confirm: Text = ""
    ) -> Response:
        storage.bucket(caller, name)  # another's bucket is absent, whatever the form says
        if state == SUSPENDED and confirm != "yes":
            return ask(
                request,
                caller,
                name,
                "/versioning",
                [("state", SUSPENDED)],
                f"Suspend versioning of {name}?",
                "New writes then replace an object's null version instead of adding versions. "
                "The versions kept so far stay until you delete them.",
                "Suspend versioning",
                "warning",
            )
        storage.set_versioning(caller, name, state)
        said = "enabled" if state == ENABLED else "suspended"
        return done(request, name, "versioning", f"Versioning is {said} on {name}.")

    # Object Lock: the default retention ---------------------------------------------
    @web.post("/object-lock")
    def save_default_retention(
        request: Request,
        name: str,
        caller: SignedIn,
        mode: Text = "",
        period: Text = "",
        unit: Text = "days",
    ) -> Response:
        storage.bucket(caller, name)
        draft = RetentionDraft(mode, period, unit)
        try:
            config = locks.set_default_retention(caller, name, draft.configuration())
        except (Invalid, Conflict) as exc:  # a wrong retention, or a bucket without the lock
            return page(request, caller, name, 400, {"object-lock": exc.message}, retention=draft)
        said = "removed" if config.mode is None else "saved"
        return done(request, name, "object-lock", f"Default retention {said}.")

    # bucket policy --------------------------------------------------------------------
    @web.post("/policy")
    def save_policy(request: Request, name: str, caller: SignedIn, policy: Text = "") -> Response:
        storage.bucket(caller, name)
        try:
            storage.set_bucket_policy(caller, name, policy.strip())
        except (MalformedPolicy, AccessDenied) as exc:
            return page(request, caller, name, 400, {"policy": exc.message}, {"policy": policy})
        return done(request, name, "policy", "Bucket policy saved.")

    @web.post("/policy/delete")
    def delete_policy(
        request: Request, name: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        return delete_document(
            request,
            caller,
            name,
            confirm,
            "policy",
            f"Delete the bucket policy of {name}?",
            "Every access the policy granted or denied ends at once.",
            ("Delete policy", "Bucket policy deleted."),
        )

    # CORS -----------------------------------------------------------------------------
    @web.post("/cors")
    def save_cors(request: Request, name: str, caller: SignedIn, cors: Text = "") -> Response:
        storage.bucket(caller, name)
        try:
            document = cors_document(cors)
        except Invalid as exc:
            return page(request, caller, name, 400, {"cors": exc.message}, {"cors": cors})
        storage.set_bucket_document(caller, name, "cors", document)
        return done(request, name, "cors", "CORS rules saved.")

    @web.post("/cors/delete")
    def delete_cors(request: Request, name: str, caller: SignedIn, confirm: Text = "") -> Response:
        return delete_document(
            request,
            caller,
            name,
            confirm,
            "cors",
            f"Delete the CORS rules of {name}?",
            "Browsers on other sites can no longer read from or write to this bucket.",
            ("Delete CORS rules", "CORS rules deleted."),
        )

    # static website -------------------------------------------------------------------
    @web.post("/website")
    def save_website(
        request: Request,
        name: str,
        caller: SignedIn,
        index_document: Text = "",
        error_document: Text = "",
    ) -> Response:
        stored = storage.bucket_document(caller, name, WEBSITE)
        try:
            document = with_documents(stored, index_document, error_document)
        except Invalid as exc:
            drafts = {"index_document": index_document, "error_document": error_document}
            return page(request, caller, name, 400, {"website": exc.message}, drafts)
        storage.set_bucket_document(caller, name, WEBSITE, document)
        return done(request, name, "website", f"{name} is served at {connect.website_url(name)}")

    @web.post("/website/delete")
    def delete_website(
        request: Request, name: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        return delete_document(
            request,
            caller,
            name,
            confirm,
            WEBSITE,
            f"Stop serving {name} as a website?",
            "Its website address answers 404 from now on; the objects stay.",
            ("Stop serving", "The website is no longer served."),
        )

    # lifecycle ------------------------------------------------------------------------
    @web.post("/lifecycle")
    def add_rule(
        request: Request,
        name: str,
        caller: SignedIn,
        rule_id: Text = "",
        prefix: Text = "",
        expire_days: Text = "",
        noncurrent_days: Text = "",
        abort_days: Text = "",
    ) -> Response:
        draft = LifecycleDraft(rule_id, prefix, expire_days, noncurrent_days, abort_days)
        rules = lifecycle_rules(storage.bucket_document(caller, name, "lifecycle"))
        try:
            document = with_rule(rules, draft)
        except Invalid as exc:
            return page(request, caller, name, 400, {"lifecycle": exc.message}, rule=draft)
        storage.set_bucket_document(caller, name, "lifecycle", document)
        return done(request, name, "lifecycle", "Lifecycle rule added.")

    @web.post("/lifecycle/remove")
    def remove_rule(
        request: Request, name: str, caller: SignedIn, rule_id: Text = "", confirm: Text = ""
    ) -> Response:
        if confirm != "yes":
            return ask(
                request,
                caller,
                name,
                "/lifecycle/remove",
                [("rule_id", rule_id)],
                f"Remove the lifecycle rule {rule_id}?",
                "Objects it would have expired or deleted are kept from now on.",
                "Remove rule",
            )
        rules = lifecycle_rules(storage.bucket_document(caller, name, "lifecycle"))
        try:
            document = without_rule(rules, rule_id)
        except Invalid as exc:
            return page(request, caller, name, 400, {"lifecycle": exc.message})
        storage.set_bucket_document(caller, name, "lifecycle", document)
        return done(request, name, "lifecycle", f"Lifecycle rule {rule_id} removed.")

    # Block Public Access --------------------------------------------------------------
    @web.post("/public-access")
    def save_public_access(
        request: Request,
        name: str,
        caller: SignedIn,
        block_public_acls: Text = "",
        ignore_public_acls: Text = "",
        block_public_policy: Text = "",
        restrict_public_buckets: Text = "",
    ) -> Response:
        # An unchecked box is not sent at all: absent is off.
        block = PublicAccessBlock(
            block_public_acls=bool(block_public_acls),
            ignore_public_acls=bool(ignore_public_acls),
            block_public_policy=bool(block_public_policy),
            restrict_public_buckets=bool(restrict_public_buckets),
        )
        storage.set_bucket_document(caller, name, PUBLIC_ACCESS, block.to_json())
        return done(request, name, "public-access", "Block Public Access settings saved.")

    # tags -----------------------------------------------------------------------------
    @web.post("/tags")
    def add_tag(
        request: Request, name: str, caller: SignedIn, key: Text = "", value: Text = ""
    ) -> Response:
        try:
            document = with_tag(storage.bucket_document(caller, name, TAGGING_SETTING), key, value)
        except Invalid as exc:
            drafts = {"tag_key": key, "tag_value": value}
            return page(request, caller, name, 400, {"tags": exc.message}, drafts)
        storage.set_bucket_document(caller, name, TAGGING_SETTING, document)
        return done(request, name, "tags", f"Tag {key} saved.")

    @web.post("/tags/remove")
    def remove_tag(request: Request, name: str, caller: SignedIn, key: Text = "") -> Response:
        document = without_tag(storage.bucket_document(caller, name, TAGGING_SETTING), key)
        storage.set_bucket_document(caller, name, TAGGING_SETTING, document)
        return done(request, name, "tags", f"Tag {key} removed.")

    return web
