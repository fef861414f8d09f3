"""When the supervisor of a highly available database starts a dead node again: at once,
unless it was the primary and a replica may be taking over (``cluster.Cluster.start``). A
pure decision on what Patroni reports, kept apart so that each case is tested alone
(tests/unit/test_takeover.py)."""

from __future__ import annotations

from dataclasses import dataclass

from nexq.databases.cluster_config import LOOP, TTL


@dataclass(frozen=True, slots=True)
class Member:
    """One node as Patroni reports it."""

    name: str
    role: str  # leader | replica | sync_standby
    state: str  # running | streaming | starting | stopped | …
    lag: int | None


def awaits_takeover(
    name: str,
    members: list[Member],
    synchronous: bool,
    down: float,
    others_run: bool = False,
    last_leader: str | None = None,
) -> bool:
    """Whether the dead node ``name`` is left down for now: it was primary, and a running
    replica can take over once its lock lapses, so that starting it again at once would
    undo the failover (a primary back within the lock's lifetime still holds it; one back
    once it lapsed, before a replica took it, wins the race for it: it has every commit).
    So the dead node waits while it still holds the lock, or no node holds it and it was
    the last seen to (``last_leader``; unknown counts as maybe). In synchronous mode only
    the synchronous standby can take over (Patroni promotes no node that may lack
    acknowledged commits): a replica that has just rejoined and is not synchronous yet
    cannot, and waiting would only lengthen the outage, so the old primary is started again
    at once. Should the takeover not come, it is started once the lock would have passed
    twice.

    When no Patroni answered (``members`` empty) though another node's runs
    (``others_run``), that one is busy, not gone, and may be taking over right now: the
    dead node waits as for a takeover."""
    if down >= 2 * TTL + LOOP:
        return False
    if not members:
        return others_run
    leader = next((m.name for m in members if m.role == "leader"), None)
    if leader is not None and leader != name:
        return False  # taken over, or it never led
    if leader is None and last_leader not in (name, None):
        return False
    able = ("sync_standby",) if synchronous else ("sync_standby", "replica")
    return any(
        m.name != name and m.role in able and m.state in ("running", "streaming") for m in members
    )
