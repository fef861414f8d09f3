"""Container Registry's part in deleting an account: registries block it."""

from __future__ import annotations

from nexq.core.holdings import Departure, Held, held_of
from nexq.core.identity import Principal
from nexq.registry.registries import Registries


def departure(registries: Registries) -> Departure:
    """A registry's credentials go with the registry, which its holder deletes."""

    def held(owner: Principal) -> list[Held]:
        return held_of("registry", "registries", [r.name for r in registries.all(owner)])

    return Departure(held)
