"""Client methods of Compute's instances (``/v1/compute/instances``); ``NexqClient`` has them.

The answers are the REST shapes as they are: dcp prints them unchanged with ``-o json``.
"""

from __future__ import annotations

from typing import TypedDict, cast

from nexq.client.paths import Plumbing, segment


class InstanceSize(TypedDict):
    id: str
    name: str
    vcpus: int
    memory_mib: int
    disk_gib: int


class InstanceImage(TypedDict):
    id: str
    title: str
    user: str
    ready: bool  # false until the operator builds it on the host


class SshKeyRef(TypedDict):
    id: str
    name: str


class SshEndpoint(TypedDict):
    host: str
    port: int
    user: str
    command: str  # ssh -p PORT USER@HOST


class Instance(TypedDict):
    id: str
    name: str
    image: str
    size: InstanceSize
    status: str
    reason: str
    ssh_key: SshKeyRef
    ssh: SshEndpoint | None  # null until the instance is placed on the host
    created_at: str


class InstancesClient(Plumbing):
    """What ``NexqClient`` adds for instances."""

    def instance_sizes(self) -> list[InstanceSize]:
        return cast(list[InstanceSize], self._request("GET", "/compute/sizes"))

    def instance_images(self) -> list[InstanceImage]:
        return cast(list[InstanceImage], self._request("GET", "/compute/images"))

    def list_instances(self) -> list[Instance]:
        """The account's instances, oldest first."""
        return cast(list[Instance], self._request("GET", "/compute/instances"))

    def launch_instance(
        self, name: str, size: str, image: str = "tiny", ssh_key: str | None = None
    ) -> Instance:
        body: dict[str, str] = {"name": name, "size": size, "image": image}
        if ssh_key is not None:
            body["ssh_key"] = ssh_key
        return cast(Instance, self._request("POST", "/compute/instances", body=body))

    def get_instance(self, name: str) -> Instance:
        return cast(Instance, self._request("GET", f"/compute/instances/{segment(name)}"))

    def instance_action(self, name: str, action: str) -> Instance:
        """``stop``, ``start`` or ``reboot``."""
        path = f"/compute/instances/{segment(name)}/{action}"
        return cast(Instance, self._request("POST", path))

    def delete_instance(self, name: str) -> Instance:
        return cast(Instance, self._request("DELETE", f"/compute/instances/{segment(name)}"))

    def instance_console(self, name: str, lines: int = 100) -> list[str]:
        path = f"/compute/instances/{segment(name)}/console"
        answer = cast(dict[str, list[str]], self._request("GET", path, params={"lines": lines}))
        return answer["lines"]
