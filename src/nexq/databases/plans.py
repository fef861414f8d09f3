"""The sizes a database can be created with, from the ``[databases]`` section of the
operator's tiers.toml (the shipped plans when it has none)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexq.core.errors import Invalid
from nexq.core.tiers_file import section_of
from nexq.databases.model import Database, Plan

DEFAULTS = """
[databases]
[databases.plans.micro]
name = "Micro"
vcpus = 1
memory_mib = 512
storage_gib = 1

[databases.plans.small]
name = "Small"
vcpus = 1
memory_mib = 1024
storage_gib = 10

[databases.plans.medium]
name = "Medium"
vcpus = 2
memory_mib = 4096
storage_gib = 50

[databases.plans.large]
name = "Large"
vcpus = 4
memory_mib = 8192
storage_gib = 100
"""


@dataclass(frozen=True, slots=True)
class PlanCatalog:
    """Every plan of the installation, smallest first."""

    plans: dict[str, Plan]

    def get(self, plan_id: str) -> Plan:
        try:
            return self.plans[plan_id]
        except KeyError:
            raise Invalid(
                f"plan: {plan_id!r} is not a database plan; choose from {', '.join(self.plans)}."
            ) from None


def load_plans(path: Path | None) -> PlanCatalog:
    """The plans of the operator's tier file, or the shipped ones."""
    section = section_of(path, "databases")
    if not section or not section.get("plans"):
        return parse_plans(tomllib.loads(DEFAULTS)["databases"], "the default database plans")
    return parse_plans(section, f"{path} [databases]")


def parse_plans(section: dict[str, Any], where: str) -> PlanCatalog:
    plans = []
    for plan_id, table in dict(section.get("plans", {})).items():
        try:
            vcpus = int(table["vcpus"])
            memory = int(table["memory_mib"])
            storage = int(float(table["storage_gib"]) * 1024)
        except (KeyError, TypeError, ValueError) as exc:
            raise Invalid(
                f"{where}: plans.{plan_id} needs vcpus, memory_mib and storage_gib ({exc})."
            ) from None
        if vcpus < 1 or memory < 128 or storage < 64:
            raise Invalid(
                f"{where}: plans.{plan_id}: at least 1 vCPU, 128 MiB of memory and 64 MiB of "
                "storage (storage_gib = 0.0625)."
            )
        plans.append(Plan(plan_id, str(table.get("name", plan_id.title())), vcpus, memory, storage))
    plans.sort(key=lambda p: (p.vcpus, p.memory_mib, p.storage_mib))
    return PlanCatalog({p.id: p for p in plans})


def plan_of(catalog: PlanCatalog, database: Database) -> Plan:
    """A database's plan as it was made (its sizes), named as the plan is named today."""
    found = catalog.plans.get(database.plan)
    return database.sizes(found.name if found else database.plan)
