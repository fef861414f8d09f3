"""Client methods of the Container Registry (``/v1/registries``); ``NexqClient`` has them.

The answers are the REST shapes as they are: dcp prints them unchanged with ``-o json``.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, cast

from nexq.client.paths import Plumbing, segment

Access = Literal["read", "write"]


class Registry(TypedDict):
    name: str
    endpoint: str  # host[:port]/name: image names start with it
    created_at: str
    stored_bytes: int


class RegistryCredential(TypedDict):
    id: str
    label: str
    username: str
    access: Access
    status: Literal["active", "revoked"]
    created_at: str
    expires_at: str | None
    last_used_at: str | None


class IssuedCredential(RegistryCredential):
    """A credential with its token, which the API shows this once."""

    token: str
    docker_login: str


class CreatedRegistry(Registry):
    credential: IssuedCredential


class Repository(TypedDict):
    name: str
    tags: int
    size: int
    created_at: str
    last_push: str


class ImageTag(TypedDict):
    name: str
    digest: str
    size: int
    pushed_at: str


def registry_host(registry: Registry) -> str:
    """The host (and port) that ``docker login`` and pull secrets name: the endpoint
    without the registry's own path component."""
    return registry["endpoint"].removesuffix("/" + registry["name"])


def _repository(repository: str) -> str:
    # A repository is a path (team/web): each component is one segment, so that a ``..``
    # or ``?`` in an argument cannot move the request to another route.
    return "/".join(segment(part) for part in repository.split("/"))


class RegistryClient(Plumbing):
    """What ``NexqClient`` adds for the Container Registry."""

    # -- registries ------------------------------------------------------------------------

    def list_registries(self) -> list[Registry]:
        return cast(list[Registry], self._request("GET", "/registries"))

    def create_registry(self, name: str) -> CreatedRegistry:
        return cast(CreatedRegistry, self._request("POST", "/registries", body={"name": name}))

    def registry(self, name: str) -> Registry:
        return cast(Registry, self._request("GET", f"/registries/{segment(name)}"))

    def delete_registry(self, name: str) -> None:
        self._request("DELETE", f"/registries/{segment(name)}")

    # -- content ---------------------------------------------------------------------------

    def repositories(self, name: str) -> list[Repository]:
        path = f"/registries/{segment(name)}/repositories"
        return cast(list[Repository], self._request("GET", path))

    def image_tags(self, name: str, repository: str) -> list[ImageTag]:
        path = f"/registries/{segment(name)}/repositories/{_repository(repository)}/tags"
        return cast(list[ImageTag], self._request("GET", path))

    def delete_image_tag(self, name: str, repository: str, tag: str) -> None:
        path = f"/registries/{segment(name)}/repositories/{_repository(repository)}"
        self._request("DELETE", f"{path}/tags/{segment(tag)}")

    def delete_repository(self, name: str, repository: str) -> None:
        """The repository with every image and tag in it."""
        path = f"/registries/{segment(name)}/repositories/{_repository(repository)}"
        self._request("DELETE", path)

    def delete_manifest(self, name: str, repository: str, digest: str) -> None:
        """The manifest ``digest`` with every tag naming it."""
        path = f"/registries/{segment(name)}/repositories/{_repository(repository)}"
        self._request("DELETE", f"{path}/manifests/{segment(digest)}")

    # -- credentials -----------------------------------------------------------------------

    def registry_credentials(self, name: str) -> list[RegistryCredential]:
        path = f"/registries/{segment(name)}/credentials"
        return cast(list[RegistryCredential], self._request("GET", path))

    def create_registry_credential(
        self, name: str, label: str, access: Access = "write", expires_at: str | None = None
    ) -> IssuedCredential:
        """``expires_at``: an ISO 8601 time with its zone, or None for no expiry."""
        body: dict[str, Any] = {"label": label, "access": access}
        if expires_at is not None:
            body["expires_at"] = expires_at
        path = f"/registries/{segment(name)}/credentials"
        return cast(IssuedCredential, self._request("POST", path, body=body))

    def rotate_registry_credential(self, name: str, credential_id: str) -> IssuedCredential:
        path = f"/registries/{segment(name)}/credentials/{segment(credential_id)}/rotate"
        return cast(IssuedCredential, self._request("POST", path))

    def revoke_registry_credential(self, name: str, credential_id: str) -> RegistryCredential:
        path = f"/registries/{segment(name)}/credentials/{segment(credential_id)}/revoke"
        return cast(RegistryCredential, self._request("POST", path))

    def delete_registry_credential(self, name: str, credential_id: str) -> None:
        path = f"/registries/{segment(name)}/credentials/{segment(credential_id)}"
        self._request("DELETE", path)
