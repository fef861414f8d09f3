"""Use cases of accounts: create, find, suspend."""

from __future__ import annotations

import re
import time

from nexq.core.crypto import hash_password
from nexq.core.errors import Conflict, Invalid
from nexq.core.ids import new_id
from nexq.storage.errors import NoSuchAccount
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import Account

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10


class Accounts:
    """Create and look up accounts."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def create(self, email: str, password: str, role: str = "customer") -> Account:
        """A new account; the email is unique regardless of case."""
        email = email.strip()
        if not _EMAIL.match(email):
            raise Invalid(f"{email!r} is not an email address.")
        if len(password) < MIN_PASSWORD:
            raise Invalid(f"The password must be at least {MIN_PASSWORD} characters long.")
        if self._store.find_account(email) is not None:
            raise Conflict(f"An account with the email {email} already exists.")
        account = Account(new_id(), email, role, "active", time.time())
        self._store.add_account(account, hash_password(password))
        return account

    def get(self, email: str) -> Account:
        """The account with ``email``."""
        account = self._store.find_account(email.strip())
        if account is None:
            raise NoSuchAccount(f"No account with the email {email}.")
        return account

    def set_suspended(self, email: str, suspended: bool) -> Account:
        """Suspend or resume an account: its keys get 403 at once while suspended."""
        account = self.get(email)
        self._store.set_account_status(account.id, "suspended" if suspended else "active")
        return self.get(email)
