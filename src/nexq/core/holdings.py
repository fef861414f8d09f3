"""What an account still holds in each service, asked when the account is to be deleted.

Each service answers through its descriptor (``platform.Service.departure``): what blocks the
deletion (buckets, databases … the holder deletes them first, knowing what they lose), and
what goes along with the account without a question (SSH keys, closed support tickets).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nexq.core.identity import Principal

NAMES_SHOWN = 5  # a refusal names this many of a kind, then says how many more


@dataclass(frozen=True, slots=True)
class Held:
    """Resources of one kind the account still holds: they must go before the account."""

    one: str  # "bucket"
    many: str  # "buckets"
    names: tuple[str, ...]

    def __str__(self) -> str:
        count = len(self.names)
        shown = ", ".join(self.names[:NAMES_SHOWN])
        if count > NAMES_SHOWN:
            shown += f" and {count - NAMES_SHOWN} more"
        return f"{count} {self.one if count == 1 else self.many} ({shown})"


def _nothing(_: Principal) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Departure:
    """A service's part in deleting an account, given the account acting as itself."""

    held: Callable[[Principal], Sequence[Held]]
    # What goes along once nothing is held: SSH keys deleted, open tickets closed.
    settle: Callable[[Principal], None] = _nothing


def held_of(kind: str, kinds: str, names: Sequence[str]) -> list[Held]:
    """``names`` as one Held, or none when there are none."""
    return [Held(kind, kinds, tuple(names))] if names else []


def refusal(held: Sequence[Held]) -> str:
    """Why the account cannot be deleted yet, naming what is left."""
    parts = [str(h) for h in held]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"The account still has {listed}; delete them first."
