"""The account's inbox, kept with billing's notifications (the budget alerts were its first
writers): any service notifies through it, and email follows when SMTP is configured."""

from __future__ import annotations

import logging
import smtplib
import time

from nexq.accounts.port import AccountStore
from nexq.billing.budgets import Mailer
from nexq.billing.model import Notification
from nexq.billing.port import BillingStore
from nexq.core.ids import new_id

log = logging.getLogger("nexq.billing")


class Inbox:
    """:class:`core.notifications.Notifier` on billing's notifications table."""

    def __init__(
        self, store: BillingStore, accounts: AccountStore, mailer: Mailer | None = None
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._mailer = mailer

    def notify(self, account_id: str, kind: str, subject: str, message: str) -> None:
        self._store.add_notification(
            Notification(new_id(), account_id, time.time(), kind, message, False)
        )
        account = self._accounts.get_account(account_id)
        if self._mailer is None or account is None:
            return
        try:
            self._mailer.send(account.email, subject, message)
        except (OSError, smtplib.SMTPException):
            log.warning("a %s notification could not be emailed to account %s", kind, account_id)
