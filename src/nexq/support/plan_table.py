"""The operator's support plans as a Markdown table, for the user guide's Support page
(``<!-- fragment: plans -->`` in src/nexq/support/guide/overview.md), made at each request
from the plans ``nexq serve`` read from tiers.toml at its start."""

from __future__ import annotations

import re

from nexq.support.model import SEVERITIES
from nexq.support.plans import PlanCatalog
from nexq.web.console.formats import duration

# What Markdown would read as markup in a cell: plan names are the operator's words.
_MARKUP = re.compile(r"([\\`*_\[\]<>|#])")


def plan_table(catalog: PlanCatalog) -> str:
    """Each plan's time to a first answer, per severity; the default plan marked."""
    rows = [
        "| plan | " + " | ".join(SEVERITIES) + " |",
        "|---|" + "---|" * len(SEVERITIES),
    ]
    for plan in catalog.plans.values():
        name = _MARKUP.sub(r"\\\1", " ".join(plan.name.split()))
        if plan.id == catalog.default:
            name += " (every account's, unless your operator gives it another)"
        targets = [duration(plan.first_response[severity]) for severity in SEVERITIES]
        rows.append("| " + " | ".join([name, *targets]) + " |")
    return "\n".join(rows)
