"""Account's use cases on the in-memory account store: no database, no server."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.memory import MemoryAccounts
from nexq.accounts.model import SCOPES
from nexq.accounts.service import Accounts
from nexq.core.identity import Account, Scope, ScopeCatalog
from tests.unit.quotas import TierLimits

# Account's own scopes and those of one other service, as app.py gathers every service's.
CATALOG = ScopeCatalog(
    (*SCOPES, Scope("storage:read", "Read objects."), Scope("storage:write", "Write objects."))
)


@dataclass
class AccountService:
    """The Account service, wired as app.py wires it."""

    store: MemoryAccounts
    limits: TierLimits
    accounts: Accounts
    api_keys: ApiKeys

    def account(self, name: str, role: str = "customer") -> Account:
        """An account added to the store directly (no password hashing: API key tests)."""
        made = Account(f"acc-{name}", f"{name}@example.com", role, "active", 0.0)
        self.store.add_account(made, "not a hash: nobody logs in")
        return made


@pytest.fixture
def service() -> AccountService:
    store = MemoryAccounts()
    limits = TierLimits()
    return AccountService(store, limits, Accounts(store, CATALOG), ApiKeys(store, limits, CATALOG))
