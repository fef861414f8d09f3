"""Databases' part in deleting an account: databases block it (a Deleting one too, until
the provisioner has removed it)."""

from __future__ import annotations

from nexq.core.holdings import Departure, Held, held_of
from nexq.core.identity import Principal
from nexq.databases.service import Databases


def departure(databases: Databases) -> Departure:
    def held(owner: Principal) -> list[Held]:
        return held_of("database", "databases", [d.name for d in databases.all(owner)])

    return Departure(held)
