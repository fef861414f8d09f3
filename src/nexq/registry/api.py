"""REST routes of the Container Registry: /v1/registries, their credentials and content."""

import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from nexq.core.errors import Invalid
from nexq.core.identity import Principal
from nexq.registry.model import Credential, Registry, Repository, Tag
from nexq.registry.registries import Issued, Registries
from nexq.web.rest.formats import iso, iso_or_none
from nexq.web.rest.security import Authorizer

Access = Literal["read", "write"]


class RegistryIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=63, examples=["team-images"])]


class CredentialIn(BaseModel):
    label: Annotated[str, Field(min_length=1, max_length=100)]
    access: Access = Field("write", description="read: pull only; write: pull, push, delete.")
    expires_at: datetime | None = Field(None, description="When it stops working (ISO 8601).")


class CredentialOut(BaseModel):
    id: str
    label: str
    username: str
    access: Access
    status: Literal["active", "revoked", "expired"]
    created_at: str
    expires_at: str | None
    last_used_at: str | None

    @staticmethod
    def of(found: Credential) -> "CredentialOut":
        return CredentialOut(
            id=found.id,
            label=found.label,
            username=found.username,
            access=found.access,  # type: ignore[arg-type]  # checked by the service
            status=found.status(time.time()),  # type: ignore[arg-type]
            created_at=iso(found.created_at),
            expires_at=iso_or_none(found.expires_at),
            last_used_at=iso_or_none(found.last_used_at),
        )


class IssuedOut(CredentialOut):
    token: str = Field(description="Shown this once: Nexq keeps only its hash.")
    docker_login: str = Field(description="The login command, token on standard input.")

    @staticmethod
    def issued(found: Issued, endpoint: str) -> "IssuedOut":
        username = found.credential.username
        return IssuedOut(
            **CredentialOut.of(found.credential).model_dump(),
            token=found.token,
            docker_login=f"docker login {endpoint} --username '{username}' --password-stdin",
        )


class RegistryOut(BaseModel):
    name: str
    endpoint: str = Field(description="Image names start with it: ENDPOINT/NAME/REPO:TAG.")
    created_at: str
    stored_bytes: int

    @staticmethod
    def of(found: Registry, endpoint: str, stored: int) -> "RegistryOut":
        return RegistryOut(
            name=found.name,
            endpoint=f"{endpoint}/{found.name}",
            created_at=iso(found.created_at),
            stored_bytes=stored,
        )


class CreatedOut(RegistryOut):
    credential: IssuedOut


class RepositoryOut(BaseModel):
    name: str
    tags: int
    size: int
    created_at: str
    last_push: str

    @staticmethod
    def of(found: Repository) -> "RepositoryOut":
        return RepositoryOut(
            name=found.name,
            tags=found.tags,
            size=found.size,
            created_at=iso(found.created_at),
            last_push=iso(found.last_push),
        )


class TagOut(BaseModel):
    name: str
    digest: str
    size: int
    pushed_at: str

    @staticmethod
    def of(found: Tag) -> "TagOut":
        return TagOut(
            name=found.name, digest=found.digest, size=found.size, pushed_at=iso(found.updated_at)
        )


def router(registries: Registries, auth: Authorizer, endpoint: str) -> APIRouter:
    """The Container Registry routes."""
    api = APIRouter(prefix="/v1/registries", tags=["registry"])
    Read = Annotated[Principal, Depends(auth.require("registry:read"))]
    Write = Annotated[Principal, Depends(auth.require("registry:write"))]

    def out(caller: Principal, name: str) -> "RegistryOut":
        found = registries.get(caller, name)
        return RegistryOut.of(found, endpoint, registries.stored_bytes(found))

    @api.get("", summary="The account's registries")
    def list_registries(caller: Read) -> list[RegistryOut]:
        return [
            RegistryOut.of(r, endpoint, registries.stored_bytes(r)) for r in registries.all(caller)
        ]

    @api.post("", status_code=201, summary="Create a registry")
    def create(body: RegistryIn, caller: Write) -> CreatedOut:
        """With a read-write credential named "default", whose token is shown this once."""
        made, issued = registries.create(caller, body.name)
        return CreatedOut(
            **RegistryOut.of(made, endpoint, 0).model_dump(),
            credential=IssuedOut.issued(issued, endpoint),
        )

    @api.get("/{name}", summary="A registry")
    def show(name: str, caller: Read) -> "RegistryOut":
        return out(caller, name)

    @api.delete("/{name}", status_code=204, summary="Delete a registry")
    def delete(name: str, caller: Write) -> Response:
        """With every repository, image and credential in it."""
        registries.delete(caller, name)
        return Response(status_code=204)

    @api.get("/{name}/repositories", summary="Its repositories")
    def repositories(name: str, caller: Read) -> list[RepositoryOut]:
        return [RepositoryOut.of(r) for r in registries.repositories(caller, name)]

    @api.get("/{name}/repositories/{repository:path}/tags", summary="A repository's tags")
    def tags(name: str, repository: str, caller: Read) -> list[TagOut]:
        return [TagOut.of(t) for t in registries.tags(caller, name, repository)]

    @api.delete(
        "/{name}/repositories/{repository:path}/tags/{tag}", status_code=204, summary="Delete a tag"
    )
    def delete_tag(name: str, repository: str, tag: str, caller: Write) -> Response:
        """The manifest stays, reachable by its digest."""
        registries.delete_tag(caller, name, repository, tag)
        return Response(status_code=204)

    @api.delete(
        "/{name}/repositories/{repository:path}/manifests/{digest}",
        status_code=204,
        summary="Delete a manifest",
    )
    def delete_manifest(name: str, repository: str, digest: str, caller: Write) -> Response:
        """With every tag naming it."""
        registries.delete_manifest(caller, name, repository, digest)
        return Response(status_code=204)

    # Declared after the tag and manifest deletes: a repository path may hold slashes, so
    # this route would also match theirs.
    @api.delete(
        "/{name}/repositories/{repository:path}", status_code=204, summary="Delete a repository"
    )
    def delete_repository(name: str, repository: str, caller: Write) -> Response:
        """With every image and tag in it."""
        registries.delete_repository(caller, name, repository)
        return Response(status_code=204)

    @api.get("/{name}/credentials", summary="Its credentials")
    def credentials(name: str, caller: Read) -> list[CredentialOut]:
        return [CredentialOut.of(c) for c in registries.credentials(caller, name)]

    @api.post("/{name}/credentials", status_code=201, summary="Add a credential")
    def add_credential(name: str, body: CredentialIn, caller: Write) -> "IssuedOut":
        """Its token is shown this once."""
        expires = body.expires_at.timestamp() if body.expires_at else None
        if body.expires_at is not None and body.expires_at.tzinfo is None:
            raise Invalid("expires_at: give a time zone (e.g. 2027-01-31T00:00:00Z).")
        issued = registries.add_credential(caller, name, body.label, body.access, expires)
        return IssuedOut.issued(issued, endpoint)

    @api.post("/{name}/credentials/{credential_id}/rotate", summary="Rotate a credential")
    def rotate(name: str, credential_id: str, caller: Write) -> "IssuedOut":
        """A new token; the old one stops working at once."""
        return IssuedOut.issued(registries.rotate(caller, name, credential_id), endpoint)

    @api.post("/{name}/credentials/{credential_id}/revoke", summary="Revoke a credential")
    def revoke(name: str, credential_id: str, caller: Write) -> "CredentialOut":
        return CredentialOut.of(registries.revoke(caller, name, credential_id))

    @api.delete(
        "/{name}/credentials/{credential_id}", status_code=204, summary="Delete a credential"
    )
    def delete_credential(name: str, credential_id: str, caller: Write) -> Response:
        registries.delete_credential(caller, name, credential_id)
        return Response(status_code=204)

    return api
