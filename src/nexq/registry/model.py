"""The Container Registry's types and naming rules.

An image is addressed ``<registry host>/<registry>/<repository path>:<tag>``: the first
component of the OCI name is the registry (an account's), the rest the repository in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nexq.registry.errors import DigestInvalid, NameInvalid, TagInvalid

# A registry's name: lowercase letters, digits and hyphens, unique per installation.
REGISTRY_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# OCI distribution: one path component of a repository name.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
MAX_NAME = 255  # registry and repository, as the Docker and OCI clients bound it
DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

READ = "read"  # a credential's access: pull
WRITE = "write"  # pull, push, delete
ACCESS = (READ, WRITE)


def check_registry_name(name: str) -> str:
    if not REGISTRY_NAME.match(name):
        raise NameInvalid(
            f"registry name {name!r}: 1 to 63 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit."
        )
    return name


def split_name(name: str) -> tuple[str, str]:
    """(registry, repository) of an OCI name ``registry/repository/path``."""
    if len(name) > MAX_NAME:
        raise NameInvalid(f"name {name[:64]!r}...: longer than {MAX_NAME} characters.")
    registry, _, repository = name.partition("/")
    if not REGISTRY_NAME.match(registry) or not repository:
        raise NameInvalid(
            f"name {name!r}: images are named <registry>/<repository>, the first component "
            "being the registry's name."
        )
    if not REPOSITORY_NAME.match(repository):
        raise NameInvalid(
            f"repository {repository!r}: lowercase path components of letters and digits, "
            "separated by '.', '_', '__' or '-'."
        )
    return registry, repository


def check_tag(tag: str) -> str:
    if not TAG.match(tag):
        raise TagInvalid(
            f"tag {tag!r}: 1 to 128 letters, digits, '_', '.' and '-', not starting with "
            "'.' or '-'."
        )
    return tag


def check_digest(digest: str) -> str:
    if not DIGEST.match(digest):
        raise DigestInvalid(f"digest {digest!r}: sha256:<64 hex> or sha512:<128 hex>.")
    return digest


def is_digest(reference: str) -> bool:
    return ":" in reference


@dataclass(frozen=True, slots=True)
class Registry:
    """A private registry of one account."""

    id: str
    account_id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Credential:
    """A username and token that reach one registry (the token stored hashed only)."""

    id: str
    registry_id: str
    label: str
    username: str
    token_hash: str
    access: str  # READ or WRITE
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def status(self, now: float) -> str:
        """active, revoked, or expired (past its expiry date)."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.usable(now) else "expired"


@dataclass(frozen=True, slots=True)
class Repository:
    """A repository, as its first push made it, with what the console lists of it."""

    registry_id: str
    name: str
    created_at: float
    last_push: float
    tags: int = 0
    size: int = 0  # bytes of the distinct blobs its manifests name


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest as pushed: its bytes are a blob of the account, named by ``digest``."""

    registry_id: str
    repository: str
    digest: str
    media_type: str
    size: int
    created_at: float
    artifact_type: str | None = None
    subject: str | None = None  # the digest of the manifest it refers to (referrers API)
    annotations: str | None = None  # JSON of the manifest's annotations, for referrers


@dataclass(frozen=True, slots=True)
class Tag:
    registry_id: str
    repository: str
    name: str
    digest: str
    updated_at: float
    size: int = 0  # the manifest's and its blobs' bytes, for listings


@dataclass(frozen=True, slots=True)
class Blob:
    """Content of an account, stored once however many repositories hold it."""

    account_id: str
    digest: str
    size: int
    path: str  # in the registry's blob store
    created_at: float


@dataclass(frozen=True, slots=True)
class Upload:
    """A blob upload session; its received chunks are blobs of their own until it ends."""

    id: str
    registry_id: str
    repository: str
    account_id: str
    size: int  # bytes received so far
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Chunk:
    """One received piece of an upload: its bytes, where it starts, its own sha256."""

    upload_id: str
    offset: int
    size: int
    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Bounds:
    """The account's limits a push is checked against, in the transaction that stores it."""

    repositories: int | None = None  # per registry
    stored_bytes: int | None = None  # the account's distinct layers and manifests
