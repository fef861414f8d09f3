"""Support plans and their first-response targets, from the operator's tiers.toml.

Every account has the Standard plan unless the operator assigns another. The targets are
the time to a first answer from support, per severity.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexq.core.errors import Invalid
from nexq.core.tiers_file import section_of
from nexq.support.model import SEVERITIES, Plan

DEFAULTS = """
[support]
default_plan = "standard"

[support.plans.standard]
name = "Standard"
first_response = { critical = "4h", high = "8h", medium = "24h", low = "48h" }

[support.plans.premium]
name = "Premium"
first_response = { critical = "1h", high = "4h", medium = "12h", low = "24h" }

[support.plans.enterprise]
name = "Enterprise"
first_response = { critical = "15m", high = "1h", medium = "4h", low = "12h" }
"""
_DURATION = re.compile(r"^(\d+)\s*([mhd])$")
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def duration(text: str, where: str) -> int:
    """Seconds of ``15m``, ``4h`` or ``2d``."""
    found = _DURATION.match(text.strip())
    if not found or int(found.group(1)) <= 0:
        raise Invalid(f"{where}: {text!r} is not a duration such as 15m, 4h or 2d.")
    return int(found.group(1)) * _SECONDS[found.group(2)]


@dataclass(frozen=True, slots=True)
class PlanCatalog:
    """Every support plan of the installation."""

    default: str
    plans: dict[str, Plan]

    def get(self, plan_id: str) -> Plan:
        try:
            return self.plans[plan_id]
        except KeyError:
            raise Invalid(
                f"plan: {plan_id!r} is not a support plan; choose from {', '.join(self.plans)}."
            ) from None


def load_plans(path: Path | None) -> PlanCatalog:
    """The ``[support]`` section of the operator's tier file, or the shipped plans."""
    section = section_of(path, "support")
    where = f"{path} [support]" if section is not None else "the default support plans"
    return parse_plans(section or tomllib.loads(DEFAULTS)["support"], where)


def parse_plans(section: dict[str, Any], where: str) -> PlanCatalog:
    plans = {}
    for plan_id, table in dict(section.get("plans", {})).items():
        targets = dict(table.get("first_response", {}))
        first = {}
        for severity in SEVERITIES:
            if severity.lower() not in targets:
                raise Invalid(
                    f"{where}: plans.{plan_id}.first_response.{severity.lower()} is missing."
                )
            first[severity] = duration(
                str(targets[severity.lower()]), f"{where}: plans.{plan_id}.first_response"
            )
        plans[plan_id] = Plan(plan_id, str(table.get("name", plan_id.title())), first)
    default = str(section.get("default_plan", "standard"))
    if default not in plans:
        raise Invalid(f"{where}: default_plan {default!r} is not one of the plans.")
    return PlanCatalog(default, plans)
