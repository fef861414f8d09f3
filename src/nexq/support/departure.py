"""Support's part in deleting an account: nothing blocks it; open tickets are closed (and
kept, with their conversation, for the operator)."""

from __future__ import annotations

from nexq.core.holdings import Departure, Held
from nexq.core.identity import Principal
from nexq.support.service import Support


def departure(support: Support) -> Departure:
    def held(_: Principal) -> list[Held]:
        return []

    def settle(owner: Principal) -> None:
        for ticket in support.tickets(owner):
            if ticket.status != "Closed":
                support.close(owner, ticket.id)

    return Departure(held, settle)
