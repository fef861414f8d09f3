"""Limits & quotas: each account's effective limits, usage against them, tier changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nexq.accounts.port import AccountStore
from nexq.accounts.tiers import LIMIT_NAMES, Tier, TierCatalog
from nexq.core.errors import Conflict, Invalid
from nexq.core.identity import Account
from nexq.storage.metadata.port import MetadataStore

# Limits are read on hot paths (every PUT checks storage_bytes, every request its rate), so
# each process keeps them for a moment; an operator's change is seen within this time.
CACHE_SECONDS = 2.0
# Limits whose usage can be measured (rates have no standing usage).
MEASURED = ("buckets", "storage_bytes", "access_keys", "api_keys")


@dataclass(frozen=True, slots=True)
class LimitLine:
    """One row of the Limits & Quotas page."""

    name: str
    limit: int | None  # None = unlimited
    used: int | None  # None for rates
    percent: float | None
    overridden: bool


class Limits:
    """Effective limits (tier defaults with operator overrides), cached briefly per process."""

    def __init__(
        self,
        store: AccountStore,
        catalog: TierCatalog,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.catalog = catalog
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, int | None]]] = {}
        self._lock = threading.Lock()

    def tier(self, account: Account) -> Tier:
        """The account's tier (new accounts have the installation's default)."""
        chosen = self._store.account_tier(account.id)
        if chosen is None or chosen not in self.catalog.tiers:
            chosen = (
                self.catalog.operator_tier
                if account.role == "operator"
                else self.catalog.default_tier
            )
        return self.catalog.tiers[chosen]

    def effective(self, account: Account) -> dict[str, int | None]:
        """Every limit of the account, read now."""
        limits = dict(self.tier(account).limits)
        limits.update(
            {k: v for k, v in self._store.limit_overrides(account.id).items() if k in limits}
        )
        return limits

    def limit(self, account_id: str, name: str) -> int | None:
        """One limit (None = unlimited), from a cache at most CACHE_SECONDS old."""
        now = self._clock()
        cached = self._cache.get(account_id)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            account = self._store.get_account(account_id)
            limits = self.effective(account) if account is not None else {}
            with self._lock:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[account_id] = (now, limits)
            cached = (now, limits)
        return cached[1].get(name)

    def override(self, account: Account, changes: dict[str, str]) -> None:
        """Operator overrides: NAME=<integer>, NAME=unlimited, or NAME=default (tier value)."""
        cleared: list[str] = []
        values: dict[str, int | None] = {}
        for name, raw in changes.items():  # all checked before anything is written
            if name not in LIMIT_NAMES:
                raise Invalid(f"{name}: not a limit; choose from {', '.join(LIMIT_NAMES)}.")
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

    def __init__(self, limits: Limits, accounts: AccountStore, storage: MetadataStore) -> None:
        self._limits = limits
        self._accounts = accounts
        self._storage = storage

    def usage(self, account: Account) -> dict[str, int]:
        """What the account uses of each measured limit."""
        buckets, _objects, stored = self._storage.account_usage(account.id)
        return {
            "buckets": buckets,
            "storage_bytes": stored,
            "access_keys": len(self._storage.list_access_keys(account.id)),
            "api_keys": self._accounts.count_api_keys(account.id),
        }

    def report(self, account: Account) -> list[LimitLine]:
        """Each limit with its usage and percentage."""
        limits = self._limits.effective(account)
        overrides = self._accounts.limit_overrides(account.id)
        used = self.usage(account)
        lines = []
        for name in LIMIT_NAMES:
            limit = limits[name]
            amount = used.get(name)
            percent = None
            if amount is not None and limit is not None:
                percent = round(100.0 * amount / limit, 1) if limit else 100.0
            lines.append(LimitLine(name, limit, amount, percent, name in overrides))
        return lines

    def change_tier(self, account: Account, tier_id: str) -> Tier:
        """Move to another tier; refused, naming the limits, if current usage does not fit."""
        tier = self._limits.catalog.get(tier_id)
        overrides = self._accounts.limit_overrides(account.id)
        used = self.usage(account)
        too_much = [
            f"{name} (using {used[name]}, {tier.name} allows {tier.limits[name]})"
            for name in MEASURED
            if name not in overrides
            and tier.limits[name] is not None
            and used[name] > (tier.limits[name] or 0)
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
