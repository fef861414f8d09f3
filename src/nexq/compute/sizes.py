"""The sizes an instance can be launched with, from the ``[compute]`` section of the
operator's tiers.toml (the shipped sizes when it has none)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexq.compute.instance import Size
from nexq.core.errors import Invalid
from nexq.core.tiers_file import section_of

DEFAULTS = """
[compute.sizes.nano]
name = "Nano"
vcpus = 1
memory_mib = 256
disk_gib = 1

[compute.sizes.micro]
name = "Micro"
vcpus = 1
memory_mib = 512
disk_gib = 5

[compute.sizes.small]
name = "Small"
vcpus = 2
memory_mib = 1024
disk_gib = 10

[compute.sizes.medium]
name = "Medium"
vcpus = 2
memory_mib = 4096
disk_gib = 40
"""


@dataclass(frozen=True, slots=True)
class SizeCatalog:
    """Every size of the installation, smallest first."""

    sizes: dict[str, Size]

    def get(self, size_id: str) -> Size:
        try:
            return self.sizes[size_id]
        except KeyError:
            raise Invalid(
                f"size: {size_id!r} is not an instance size; choose from {', '.join(self.sizes)}."
            ) from None


def load_sizes(path: Path | None) -> SizeCatalog:
    """The sizes of the operator's tier file, or the shipped ones."""
    section = section_of(path, "compute")
    if not section or not section.get("sizes"):
        return parse_sizes(tomllib.loads(DEFAULTS)["compute"], "the default instance sizes")
    return parse_sizes(section, f"{path} [compute]")


def parse_sizes(section: dict[str, Any], where: str) -> SizeCatalog:
    sizes = []
    for size_id, table in dict(section.get("sizes", {})).items():
        try:
            vcpus, memory, disk = (int(table[k]) for k in ("vcpus", "memory_mib", "disk_gib"))
        except (KeyError, TypeError, ValueError) as exc:
            raise Invalid(
                f"{where}: sizes.{size_id} needs vcpus, memory_mib and disk_gib ({exc})."
            ) from None
        if vcpus < 1 or memory < 128 or disk < 1:
            raise Invalid(
                f"{where}: sizes.{size_id}: at least 1 vCPU, 128 MiB of memory and 1 GiB of disk."
            )
        sizes.append(Size(size_id, str(table.get("name", size_id.title())), vcpus, memory, disk))
    sizes.sort(key=lambda s: (s.vcpus, s.memory_mib, s.disk_gib))
    return SizeCatalog({s.id: s for s in sizes})
