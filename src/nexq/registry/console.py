"""The Container Registry's console pages: registries (create, delete after typing the name),
a registry's repositories and credentials, a repository's tags.

A token is shown once, in the answer to the POST that made it (a new registry, a new or
rotated credential): rendered there, never stored, never redirected to.
"""

import time
from datetime import UTC, date, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.core.errors import DomainError, Invalid
from nexq.core.identity import Principal
from nexq.registry.connect import Connect
from nexq.registry.model import READ, Credential
from nexq.registry.registries import Issued, NoSuchCredential, Registries
from nexq.web.console.web import Flash, Pages, status_of

Text = Annotated[str, Form()]
LIST = "/registries"
ROTATED = "Token rotated"


def registry_url(name: str, tail: str = "") -> str:
    return f"{LIST}/{quote(name, safe='')}{tail}"


def repository_url(name: str, repository: str, tail: str = "") -> str:
    return registry_url(name, f"/repositories/{quote(repository, safe='/')}{tail}")


def _expiry(text: str) -> float | None:
    """The form's optional date: the credential stops working at 00:00 UTC that day."""
    if not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"Expires: {text.strip()!r} is not a date such as 2027-01-31.") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def router(registries: Registries, pages: Pages, endpoint: str) -> APIRouter:
    """Every Container Registry page, under /registries; ``endpoint`` is the host clients
    push to (``host:port``)."""
    web = APIRouter(prefix=LIST)
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def list_page(
        request: Request, caller: Principal, name: str = "", error: str = "", status: int = 200
    ) -> Response:
        found = registries.all(caller)
        return pages.render(
            request,
            "registry/registries.html",
            caller,
            status,
            registries=[(r, registries.stored_bytes(r)) for r in found],
            name=name,
            error=error,
            connect=Connect(endpoint, "<registry>"),
            registry_url=registry_url,
        )

    def token_page(
        request: Request, caller: Principal, name: str, issued: Issued, heading: str
    ) -> Response:
        credential = issued.credential
        return pages.render(
            request,
            "registry/token.html",
            caller,
            heading=heading,
            rotated=heading == ROTATED,
            name=name,
            credential=credential,
            token=issued.token,
            connect=Connect(endpoint, name, credential.username, issued.token),
            registry_url=registry_url,
        )

    def credentials_page(
        request: Request,
        caller: Principal,
        name: str,
        form: dict[str, str] | None = None,
        error: str = "",
        status: int = 200,
    ) -> Response:
        registry = registries.get(caller, name)
        return pages.render(
            request,
            "registry/credentials.html",
            caller,
            status,
            registry=registry,
            credentials=registries.credentials(caller, name),
            form=form or {"label": "", "access": READ, "expires": ""},
            error=error,
            now=time.time(),
            connect=Connect(endpoint, name),
            registry_url=registry_url,
        )

    def credential(caller: Principal, name: str, credential_id: str) -> Credential:
        for found in registries.credentials(caller, name):
            if found.id == credential_id:
                return found
        raise NoSuchCredential(f"No credential {credential_id} in registry {name}.")

    # registries ----------------------------------------------------------------------------

    @web.get("")
    def list_registries(request: Request, caller: SignedIn) -> Response:
        return list_page(request, caller)

    @web.post("")
    def create_registry(request: Request, caller: SignedIn, name: Text = "") -> Response:
        name = name.strip()
        try:
            made, issued = registries.create(caller, name)
        except DomainError as exc:
            return list_page(request, caller, name, exc.message, status_of(exc))
        return token_page(request, caller, made.name, issued, "Registry created")

    @web.get("/{name}")
    def repositories(request: Request, name: str, caller: SignedIn) -> Response:
        registry = registries.get(caller, name)
        return pages.render(
            request,
            "registry/registry.html",
            caller,
            registry=registry,
            stored=registries.stored_bytes(registry),
            repositories=registries.repositories(caller, name),
            connect=Connect(endpoint, name),
            registry_url=registry_url,
            repository_url=repository_url,
        )

    @web.get("/{name}/delete")
    def delete_page(request: Request, name: str, caller: SignedIn) -> Response:
        registry = registries.get(caller, name)
        return pages.render(
            request, "registry/delete.html", caller, registry=registry, typed="", error=""
        )

    @web.post("/{name}/delete")
    def delete_registry(
        request: Request, name: str, caller: SignedIn, confirm_name: Text = ""
    ) -> Response:
        registry = registries.get(caller, name)
        if confirm_name.strip() != registry.name:
            error = f"Type {registry.name} exactly to delete it." if confirm_name else ""
            return pages.render(
                request,
                "registry/delete.html",
                caller,
                400 if error else 200,
                registry=registry,
                typed=confirm_name,
                error=error,
            )
        registries.delete(caller, name)
        done = Flash(
            "success",
            f"Registry {name} deleted, with its images and credentials; the name is free.",
        )
        return pages.redirect(request, LIST, done)

    # repositories and tags -----------------------------------------------------------------

    @web.get("/{name}/repositories/{repository:path}")
    def repository(request: Request, name: str, repository: str, caller: SignedIn) -> Response:
        tags = registries.tags(caller, name, repository)
        return pages.render(
            request,
            "registry/repository.html",
            caller,
            name=name,
            repository=repository,
            tags=tags,
            connect=Connect(endpoint, name),
            registry_url=registry_url,
            repository_url=repository_url,
        )

    @web.post("/{name}/repositories/{repository:path}/tags/{tag}/delete")
    def delete_tag(
        request: Request,
        name: str,
        repository: str,
        tag: str,
        caller: SignedIn,
        confirm: Text = "",
    ) -> Response:
        back = repository_url(name, repository)
        if confirm != "yes":
            registries.tags(caller, name, repository)  # a page of its own: 404 when not
            return pages.confirm(
                request,
                caller,
                title=f"Delete the tag {tag}?",
                message=f"{name}/{repository}:{tag} stops resolving; the image stays, "
                "reachable by its digest and any other tag.",
                action=repository_url(name, repository, f"/tags/{quote(tag, safe='')}/delete"),
                button="Delete tag",
                back=back,
            )
        registries.delete_tag(caller, name, repository, tag)
        return pages.redirect(request, back, Flash("success", f"Tag {tag} deleted."))

    @web.post("/{name}/repositories/{repository:path}/manifests/{digest}/delete")
    def delete_manifest(
        request: Request,
        name: str,
        repository: str,
        digest: str,
        caller: SignedIn,
        confirm: Text = "",
    ) -> Response:
        back = repository_url(name, repository)
        if confirm != "yes":
            registries.tags(caller, name, repository)
            return pages.confirm(
                request,
                caller,
                title="Delete this image?",
                message=f"The manifest {digest} is deleted from {name}/{repository}, with every "
                "tag naming it; pulls of it fail from now on.",
                action=repository_url(name, repository, f"/manifests/{quote(digest)}/delete"),
                button="Delete image",
                back=back,
            )
        registries.delete_manifest(caller, name, repository, digest)
        done = Flash("success", f"Image {digest} deleted, with its tags.")
        return pages.redirect(request, back, done)

    # After the tag and manifest deletes, whose paths this one would also match.
    @web.post("/{name}/repositories/{repository:path}/delete")
    def delete_repository(
        request: Request, name: str, repository: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        if confirm != "yes":
            registries.tags(caller, name, repository)  # a page of its own: 404 when not
            return pages.confirm(
                request,
                caller,
                title=f"Delete the repository {repository}?",
                message=f"{name}/{repository} is deleted with every image and tag in it; "
                "pulls of them fail from now on.",
                action=repository_url(name, repository, "/delete"),
                button="Delete repository",
                back=repository_url(name, repository),
            )
        registries.delete_repository(caller, name, repository)
        done = Flash("success", f"Repository {repository} deleted, with its images.")
        return pages.redirect(request, registry_url(name), done)

    # credentials ---------------------------------------------------------------------------

    @web.get("/{name}/credentials")
    def credentials(request: Request, name: str, caller: SignedIn) -> Response:
        return credentials_page(request, caller, name)

    @web.post("/{name}/credentials")
    def add_credential(
        request: Request,
        name: str,
        caller: SignedIn,
        label: Text = "",
        access: Text = READ,
        expires: Text = "",
    ) -> Response:
        form = {"label": label, "access": access, "expires": expires}
        try:
            issued = registries.add_credential(caller, name, label, access, _expiry(expires))
        except DomainError as exc:
            return credentials_page(request, caller, name, form, exc.message, status_of(exc))
        return token_page(request, caller, name, issued, "Credential created")

    @web.post("/{name}/credentials/{credential_id}/rotate")
    def rotate(
        request: Request, name: str, credential_id: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        found = credential(caller, name, credential_id)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Rotate the credential {found.label}?",
                message=f"{found.username} gets a new token, shown once; the current token "
                "stops working at once, so update every place that uses it.",
                action=registry_url(name, f"/credentials/{credential_id}/rotate"),
                button="Rotate token",
                back=registry_url(name, "/credentials"),
                style="warning",
            )
        issued = registries.rotate(caller, name, credential_id)
        return token_page(request, caller, name, issued, ROTATED)

    @web.post("/{name}/credentials/{credential_id}/revoke")
    def revoke(
        request: Request, name: str, credential_id: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        found = credential(caller, name, credential_id)
        back = registry_url(name, "/credentials")
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Revoke the credential {found.label}?",
                message=f"{found.username} stops working at once (docker logins with it are "
                "refused); it stays listed, and rotating it gives it a working token again.",
                action=registry_url(name, f"/credentials/{credential_id}/revoke"),
                button="Revoke",
                back=back,
                style="warning",
            )
        registries.revoke(caller, name, credential_id)
        done = Flash("success", f"Credential {found.label} ({found.username}) revoked.")
        return pages.redirect(request, back, done)

    @web.post("/{name}/credentials/{credential_id}/delete")
    def delete_credential(
        request: Request, name: str, credential_id: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        found = credential(caller, name, credential_id)
        back = registry_url(name, "/credentials")
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Delete the credential {found.label}?",
                message=f"{found.username} is removed permanently; tools that use it stop working.",
                action=registry_url(name, f"/credentials/{credential_id}/delete"),
                button="Delete",
                back=back,
            )
        registries.delete_credential(caller, name, credential_id)
        done = Flash("success", f"Credential {found.label} ({found.username}) deleted.")
        return pages.redirect(request, back, done)

    return web
