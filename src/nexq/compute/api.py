"""REST routes of Compute: /v1/compute/ssh-keys."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from nexq.compute.model import MAX_NAME, SshKey
from nexq.compute.ssh_keys import SshKeys
from nexq.core.identity import Principal
from nexq.web.rest.formats import iso
from nexq.web.rest.security import Authorizer

# Longer than any public key, so that a pasted private key reaches the check that says
# what it is (and a long text is refused by Compute with a sentence, not by the parser).
MAX_PASTE = 65_536


class SshKeyIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME, examples=["laptop"])]
    public_key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_PASTE,
            description="One line of a .pub file: ssh-ed25519, ssh-rsa (2048 bits or more) "
            "or ecdsa-sha2-nistp256/384/521. A private key is refused.",
            examples=[
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFH+90wAdMgZy3orq0qavKcSTmoErLVPyU5ZFcwGScE "
                "ada@laptop"
            ],
        ),
    ]


class SshKeyChange(BaseModel):
    name: Annotated[str | None, Field(min_length=1, max_length=MAX_NAME)] = None
    default: bool | None = Field(
        None, description="true: make it the account's default key (the previous one stays)."
    )


class SshKeyOut(BaseModel):
    id: str
    name: str
    fingerprint: str = Field(description="SHA256:…, as ssh-keygen -lf prints it.")
    type: Literal["ED25519", "RSA", "ECDSA"] = Field(description="As ssh-keygen -lf names it.")
    bits: int
    comment: str
    public_key: str
    default: bool = Field(description="Preselected at launch; exactly one key is.")
    created_at: str

    @staticmethod
    def of(key: SshKey) -> "SshKeyOut":
        return SshKeyOut(
            id=key.id,
            name=key.name,
            fingerprint=key.fingerprint,
            type=key.kind,  # type: ignore[arg-type]  # checked by public_keys
            bits=key.bits,
            comment=key.comment,
            public_key=key.public_key,
            default=key.default,
            created_at=iso(key.created_at),
        )


class SshKeyDeletedOut(BaseModel):
    id: str
    name: str
    new_default: SshKeyOut | None = Field(
        description="The key that became the default in the deleted one's place (the oldest "
        "remaining); null when the deleted key was not the default or was the last."
    )


def router(ssh_keys: SshKeys, auth: Authorizer) -> APIRouter:
    """The Compute routes."""
    api = APIRouter(prefix="/v1/compute", tags=["compute"])
    Read = Annotated[Principal, Depends(auth.require("compute:read"))]
    Write = Annotated[Principal, Depends(auth.require("compute:write"))]

    @api.get("/ssh-keys", summary="The account's SSH keys")
    def list_keys(caller: Read) -> list[SshKeyOut]:
        """Oldest first."""
        return [SshKeyOut.of(k) for k in ssh_keys.all(caller)]

    @api.post("/ssh-keys", status_code=201, summary="Add an SSH key")
    def add_key(body: SshKeyIn, caller: Write) -> SshKeyOut:
        """The account's first key becomes its default. 400 naming what is wrong with the
        key (a private key is refused and not kept); 409 for a name or a key the account
        has; 403 quota-exceeded past the account's ssh_keys limit."""
        return SshKeyOut.of(ssh_keys.add(caller, body.name, body.public_key))

    @api.get("/ssh-keys/{key_id}", summary="An SSH key")
    def show_key(key_id: str, caller: Read) -> SshKeyOut:
        return SshKeyOut.of(ssh_keys.get(caller, key_id))

    @api.patch("/ssh-keys/{key_id}", summary="Rename an SSH key or make it the default")
    def change_key(key_id: str, body: SshKeyChange, caller: Write) -> SshKeyOut:
        """``default`` can only be set to true: the previous default stays a key."""
        return SshKeyOut.of(ssh_keys.change(caller, key_id, body.name, body.default))

    @api.delete("/ssh-keys/{key_id}", summary="Delete an SSH key")
    def delete_key(key_id: str, caller: Write) -> SshKeyDeletedOut:
        """When it was the default, the oldest remaining key becomes the default."""
        gone = ssh_keys.delete(caller, key_id)
        return SshKeyDeletedOut(
            id=gone.key.id,
            name=gone.key.name,
            new_default=SshKeyOut.of(gone.new_default) if gone.new_default else None,
        )

    return api
