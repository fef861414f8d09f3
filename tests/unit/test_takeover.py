"""When the supervisor starts a dead primary of a highly available database again: only
while no other node can take over, for a failover must not be undone, and an outage must not
be lengthened waiting for a takeover that Patroni will refuse."""

from __future__ import annotations

from nexq.databases.cluster_config import LOOP, TTL
from nexq.databases.takeover import Member, awaits_takeover

DEAD = Member("node-1", "leader", "stopped", None)


def test_a_synchronous_standby_takes_over_so_the_dead_primary_waits() -> None:
    members = [DEAD, Member("node-2", "sync_standby", "running", 0)]
    assert awaits_takeover("node-1", members, synchronous=True, down=1)
    # ... but not for ever: once the lock would have passed twice, it is started again.
    assert not awaits_takeover("node-1", members, synchronous=True, down=2 * TTL + LOOP)


def test_a_replica_not_yet_synchronous_cannot_so_the_primary_starts_at_once() -> None:
    # Just rejoined: Patroni promotes no node that may lack acknowledged commits.
    members = [DEAD, Member("node-2", "replica", "running", 0)]
    assert not awaits_takeover("node-1", members, synchronous=True, down=1)
    # With asynchronous commits a running replica may be promoted.
    assert awaits_takeover("node-1", members, synchronous=False, down=1)


def test_a_stopped_replica_cannot_and_a_node_that_was_no_primary_never_waits() -> None:
    members = [DEAD, Member("node-2", "sync_standby", "stopped", None)]
    assert not awaits_takeover("node-1", members, synchronous=True, down=1)
    assert not awaits_takeover("node-2", members, synchronous=True, down=1)
    assert not awaits_takeover("node-1", [], synchronous=True, down=1)  # nobody answers


def test_a_survivor_too_busy_to_answer_is_waited_for_as_for_a_takeover() -> None:
    # No Patroni answered, but another node's runs: it may be promoting itself right now.
    assert awaits_takeover("node-1", [], synchronous=True, down=1, others_run=True)
    assert not awaits_takeover("node-1", [], synchronous=True, down=2 * TTL + LOOP, others_run=True)
    # Every node down (the host restarted): all start at once.
    assert not awaits_takeover("node-1", [], synchronous=True, down=1, others_run=False)


def test_while_no_node_holds_the_lock_the_last_primary_waits_for_a_replica_to_take_it() -> None:
    # The dead primary's lock lapsed and no replica took it yet: started now, the old
    # primary (which has every commit) would win the lock back and undo the failover.
    replicas = [
        Member("node-2", "replica", "running", 0),
        Member("node-3", "replica", "running", 0),
    ]
    assert awaits_takeover("node-1", replicas, synchronous=False, down=16, last_leader="node-1")
    assert awaits_takeover("node-1", replicas, synchronous=False, down=16, last_leader=None)
    # A node that was not the primary has nothing to undo: it starts at once.
    assert not awaits_takeover(
        "node-3", replicas[:1], synchronous=False, down=1, last_leader="node-1"
    )
    # In synchronous mode a replica that is not the synchronous standby cannot take it.
    assert not awaits_takeover("node-1", replicas, synchronous=True, down=16, last_leader="node-1")
    # Once a replica holds the lock, the old primary starts and rejoins as a replica.
    taken = [Member("node-2", "leader", "running", None), replicas[1]]
    assert not awaits_takeover("node-1", taken, synchronous=False, down=16, last_leader="node-1")
