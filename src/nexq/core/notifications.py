"""Telling an account something: a console notification (with the unread badge), and an
email when the operator configured SMTP. One service keeps the inbox; any may write to it."""

from __future__ import annotations

from typing import Protocol


class Notifier(Protocol):
    """Where a service sends what an account should hear about."""

    def notify(self, account_id: str, kind: str, subject: str, message: str) -> None:
        """A notification of ``kind`` (budget, support …); emailed too where SMTP is set.
        Delivery failures of the email are logged, never raised: the notification stays."""
