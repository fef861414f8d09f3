"""Budget alerts: crossing a threshold of the monthly budget notifies the account once."""

from __future__ import annotations

import logging
import re
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from email.message import EmailMessage

from nexq.accounts.model import check_email
from nexq.accounts.port import AccountStore
from nexq.billing.model import Budget, Notification
from nexq.billing.port import BillingStore
from nexq.billing.service import Billing
from nexq.core.egress import Egress, Refused, Undelivered
from nexq.core.errors import Invalid
from nexq.core.ids import new_id

log = logging.getLogger("nexq.billing")
DEFAULT_THRESHOLDS = [50, 80, 100]
# Money as people write it. Decimal takes "1E+999999999" too: a billion digits on a page, and
# an Overflow in every later comparison with the month's charges.
PLAIN_AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")
MAX_URL_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class Mailer:
    """Where budget alerts are emailed (none configured: notifications only)."""

    host: str
    port: int
    sender: str

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(message)


class Budgets:
    """Set budgets; check them against month-to-date charges."""

    def __init__(
        self,
        store: BillingStore,
        accounts: AccountStore,
        billing: Billing,
        mailer: Mailer | None = None,
        post: Callable[[str, dict[str, object]], None] | None = None,
        egress: Egress | None = None,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._billing = billing
        self._mailer = mailer
        # No operator choice given: public destinations only (core/egress.py).
        self._egress = egress or Egress()
        self._post = post or self._egress.post_json

    def set(
        self,
        account_id: str,
        amount: str,
        thresholds: list[int] | None,
        email: str | None,
        webhook_url: str | None,
    ) -> Budget:
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise Invalid("amount: a decimal number such as 25.00.") from None
        if not value.is_finite() or value <= 0:
            raise Invalid("amount: more than 0.")
        if not PLAIN_AMOUNT.fullmatch(amount.strip()):
            raise Invalid(
                "amount: write it out, such as 25.00, "
                "with at most 12 digits before the point and 6 after."
            )
        marks = sorted(set(thresholds or DEFAULT_THRESHOLDS))
        if not marks or any(not 1 <= t <= 1000 for t in marks):
            raise Invalid("thresholds: percentages from 1 to 1000.")
        if email is not None:
            email = check_email(email)
        if webhook_url is not None:
            self._check_webhook(webhook_url)
        budget = Budget(account_id, value, marks, email, webhook_url)
        self._store.set_budget(budget)
        return budget

    def _check_webhook(self, url: str) -> None:
        """Refuse a URL the server must not post to (loopback, private …) when it is set;
        the send checks again, on the addresses the name then resolves to."""
        if len(url) > MAX_URL_LENGTH:
            raise Invalid(f"webhook_url: at most {MAX_URL_LENGTH} characters.")
        try:
            self._egress.check(url)
        except Refused as exc:
            raise Invalid(f"webhook_url: {exc.reason}.") from None

    def get(self, account_id: str) -> Budget | None:
        return self._store.get_budget(account_id)

    def remove(self, account_id: str) -> None:
        self._store.remove_budget(account_id)

    def check(self) -> int:
        """Notify every budget whose thresholds the month-to-date charges crossed; how many."""
        sent = 0
        for budget in self._store.budgeted_accounts():
            account = self._accounts.get_account(budget.account_id)
            if account is None:
                continue
            statement = self._billing.statement(account)
            spent = statement.total
            month = f"{statement.month:%Y-%m}"
            for threshold in budget.thresholds:
                if spent * 100 < budget.amount * threshold:
                    continue
                if not self._store.record_alert(account.id, month, threshold):
                    continue  # already told
                message = (
                    f"Your charges for {month} reached {threshold}% of your budget: "
                    f"{spent} of {budget.amount} {statement.currency}."
                )
                self._store.add_notification(
                    Notification(new_id(), account.id, time.time(), "budget", message, False)
                )
                self._deliver(budget, account.email, message, threshold, spent, month)
                sent += 1
        return sent

    def _deliver(
        self, budget: Budget, email: str, message: str, threshold: int, spent: Decimal, month: str
    ) -> None:
        # Delivery failures are logged and not retried: the console notification stays.
        if self._mailer is not None:
            try:
                self._mailer.send(
                    budget.email or email, f"Nexq budget: {threshold}% reached", message
                )
            except (OSError, smtplib.SMTPException):
                log.exception("budget alert email to the account could not be sent")
        if budget.webhook_url:
            payload: dict[str, object] = {
                "event": "budget.threshold_crossed",
                "month": month,
                "threshold_percent": threshold,
                "spent": str(spent),
                "budget": str(budget.amount),
                "message": message,
            }
            try:
                self._post(budget.webhook_url, payload)
            except (Refused, Undelivered) as exc:
                # The URL is not logged: its path or query often carries the receiver's token.
                log.warning(
                    "budget alert webhook of account %s not delivered: %s",
                    budget.account_id,
                    exc.reason,
                )

    def notifications(self, account_id: str, limit: int = 50) -> list[Notification]:
        return self._store.list_notifications(account_id, limit)

    def unread_count(self, account_id: str) -> int:
        return self._store.count_unread(account_id)

    def mark_read(self, account_id: str) -> None:
        self._store.mark_notifications_read(account_id)
