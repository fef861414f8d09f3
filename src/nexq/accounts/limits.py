"""Limits & quotas: each account's effective limits, usage against them, tier changes.

The limits are the ones the services declare (``core.quotas.Limit``): this module names
none of them. Each declared limit says how to read what an account uses of it, from the
declaring service's own tables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nexq.accounts.port import AccountStore, TierChange
from nexq.accounts.tiers import Tier, TierCatalog
from nexq.core.errors import Conflict, Invalid
from nexq.core.generation import GenerationWatch
from nexq.core.identity import Account
from nexq.core.metering import Metered
from nexq.core.quotas import COUNT, PER_SECOND, Limit

# Limits are read on hot paths (every PUT checks storage_bytes, every request its rate), so
# each process keeps them for a moment; an operator's change is seen within this time.
CACHE_SECONDS = 2.0
Declared = Sequence[tuple[str, Limit]]  # (the declaring service's name, its limit)


def _none_declared() -> Declared:
    return ()


def _none_priced() -> Sequence[Metered]:
    return ()


@dataclass(frozen=True, slots=True)
class LimitLine:
    """One row of the Limits & Quotas page."""

    service: str  # the service that declares the limit
    declared: Limit  # its label, unit and description
    limit: int | None  # None = unlimited
    used: int | None  # None for rates
    percent: float | None
    overridden: bool

    @property
    def name(self) -> str:
        return self.declared.name


class Limits:
    """Effective limits (tier defaults with operator overrides), cached briefly per process."""

    def __init__(
        self,
        store: AccountStore,
        catalog: TierCatalog,
        declared: Callable[[], Declared] = _none_declared,
        clock: Callable[[], float] = time.monotonic,
        watch: GenerationWatch | None = None,
    ) -> None:
        self._store = store
        self.catalog = catalog
        # A tier change or override moves the auth generation: a cached entry read under an
        # older one is stale at once, on every process (each request reads the generation).
        self._watch = watch
        # Asked for on each use: the services declaring limits are built after this.
        self._declared = declared
        self._clock = clock
        self._cache: dict[str, tuple[float, int, dict[str, int | None]]] = {}
        self._lock = threading.Lock()

    def tier(self, account: Account) -> Tier:
        """The account's tier (new accounts have the installation's default)."""
        return self.tier_as(account, self._store.account_tier(account.id))

    def tier_changes(self, account: Account, after: float) -> list[TierChange]:
        """The account's tier changes strictly after ``after`` (Unix time), oldest first."""
        return self._store.tier_changes(account.id, after)

    def tier_as(self, account: Account, chosen: str | None) -> Tier:
        """The tier an account has whose chosen tier id is ``chosen``: the installation's
        default for its role when None, or when the operator has since removed that tier."""
        if chosen is None or chosen not in self.catalog.tiers:
            chosen = (
                self.catalog.operator_tier
                if account.role == "operator"
                else self.catalog.default_tier
            )
        return self.catalog.tiers[chosen]

    @property
    def currency(self) -> str:
        return self.catalog.currency

    def declared(self) -> Declared:
        """Every limit the services declare, with the declaring service's name."""
        return self._declared()

    def effective(self, account: Account) -> dict[str, int | None]:
        """Every limit the account's tier sets, with the operator's overrides, read now (a
        limit no tier value or override sets is unlimited)."""
        limits = dict(self.tier(account).limits)
        known = set(limits) | {limit.name for _, limit in self._declared()}
        limits.update(
            {k: v for k, v in self._store.limit_overrides(account.id).items() if k in known}
        )
        return limits

    def limit(self, account_id: str, name: str) -> int | None:
        """One limit (None = unlimited), from a cache at most CACHE_SECONDS old and read
        under the auth generation this process last saw."""
        now = self._clock()
        generation = self._watch.value if self._watch is not None else 0
        cached = self._cache.get(account_id)
        if cached is None or now - cached[0] > CACHE_SECONDS or cached[1] != generation:
            account = self._store.get_account(account_id)
            limits = self.effective(account) if account is not None else {}
            with self._lock:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[account_id] = (now, generation, limits)
            return limits.get(name)
        return cached[2].get(name)

    def override(self, account: Account, changes: dict[str, str]) -> None:
        """Operator overrides: NAME=<integer>, NAME=unlimited, or NAME=default (tier value)."""
        cleared: list[str] = []
        values: dict[str, int | None] = {}
        names = [limit.name for _, limit in self._declared()]
        for name, raw in changes.items():  # all checked before anything is written
            if name not in names:
                raise Invalid(f"{name}: not a limit; choose from {', '.join(names)}.")
            value = raw.strip().lower()
            if value == "default":
                cleared.append(name)
            elif value == "unlimited":
                values[name] = None
            elif value.isdigit():
                values[name] = int(value)
            else:
                raise Invalid(f"{name}: {raw!r} is not a number, 'unlimited' or 'default'.")
        for name in cleared:
            self._store.clear_limit_override(account.id, name)
        for name, number in values.items():
            self._store.set_limit_override(account.id, name, number)
        self.forget(account.id)

    def forget(self, account_id: str) -> None:
        """Drop this process's cached limits of the account (after a change)."""
        self._cache.pop(account_id, None)


class AccountLimits:
    """Usage against limits, and tier changes that must fit the usage."""

    def __init__(
        self,
        limits: Limits,
        accounts: AccountStore,
        priced: Callable[[], Sequence[Metered]] = _none_priced,
    ) -> None:
        self._limits = limits
        self._accounts = accounts
        self._priced = priced  # asked for on each use, as Limits' declarations

    def own(self) -> tuple[Limit, ...]:
        """The limits the Account service itself declares: API keys and the API's rate."""
        return (
            Limit(
                "api_keys",
                "API keys",
                COUNT,
                "REST API keys; revoked ones count until deleted",
                self._accounts.count_api_keys,
            ),
            Limit("api_rps", "API requests", PER_SECOND, "REST API requests per second"),
        )

    def priced(self) -> Sequence[Metered]:
        """Every service's meters, whose prices the tiers set (shown beside the limits)."""
        return self._priced()

    def _measured(self) -> list[tuple[str, Limit]]:
        # Counted limits first, rates after (a rate has no usage to show), each in the order
        # of the services and of their declarations.
        declared = self._limits.declared()
        counted = [(s, limit) for s, limit in declared if limit.usage is not None]
        return counted + [(s, limit) for s, limit in declared if limit.usage is None]

    def usage(self, account: Account) -> dict[str, int]:
        """What the account uses of each measured limit, as the declaring service counts."""
        return {
            limit.name: limit.usage(account.id)
            for _, limit in self._limits.declared()
            if limit.usage is not None
        }

    def report(self, account: Account) -> list[LimitLine]:
        """Each limit of every service, with its usage and percentage."""
        limits = self._limits.effective(account)
        overrides = self._accounts.limit_overrides(account.id)
        lines = []
        for service, declared in self._measured():
            limit = limits.get(declared.name)
            amount = declared.usage(account.id) if declared.usage is not None else None
            percent = None
            if amount is not None and limit is not None:
                percent = round(100.0 * amount / limit, 1) if limit else 100.0
            lines.append(
                LimitLine(service, declared, limit, amount, percent, declared.name in overrides)
            )
        return lines

    def change_tier(self, account: Account, tier_id: str) -> Tier:
        """Move to another tier; refused, naming the limits, if current usage does not fit."""
        tier = self._limits.catalog.get(tier_id)
        overrides = self._accounts.limit_overrides(account.id)
        used = self.usage(account)
        too_much = [
            f"{name} (using {used[name]}, {tier.name} allows {allowed})"
            for name in used
            if name not in overrides
            and (allowed := tier.limits.get(name)) is not None
            and used[name] > allowed
        ]
        if too_much:
            raise Conflict(
                f"Cannot move to {tier.name}: current usage is above its limits: "
                + "; ".join(too_much)
                + "."
            )
        self._accounts.set_account_tier(account.id, tier.id)
        self._limits.forget(account.id)
        return tier
