"""Use cases of billing: statements (month-to-date estimates), invoices, gauge samples.

Billing prices whatever the services it is given meter (``core.metering``): it asks each
one's provider what it counted and samples its gauges into billing's own table; it never
reads a service's tables and never names a service.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from nexq.accounts.port import AccountStore
from nexq.billing.model import Invoice, Statement, Usage
from nexq.billing.payments import OperatorMarksPaid, PaymentProvider
from nexq.billing.port import BillingStore, Tiers
from nexq.billing.pricing import PriceList, TierPeriod, price_periods, total
from nexq.core.errors import Invalid, NotFound
from nexq.core.identity import Account
from nexq.core.ids import new_id
from nexq.core.metering import Metered, MeterKind


def first_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def hour_of(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) // 3600


def day_of(hour: int) -> date:
    return datetime.fromtimestamp(hour * 3600, UTC).date()


def _no_services() -> Sequence[Metered]:
    return ()


def parse_month(text: str) -> date:
    """``YYYY-MM`` → its first day; Invalid naming the field otherwise."""
    try:
        return datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC).date()
    except ValueError:
        raise Invalid(f"month: {text!r} is not of the form YYYY-MM.") from None


class NoSuchInvoice(NotFound):
    """The specified invoice does not exist."""


class Billing:
    """Charges computed from metered usage and the account's tier prices."""

    def __init__(
        self,
        store: BillingStore,
        accounts: AccountStore,
        tiers: Tiers,
        services: Callable[[], Sequence[Metered]] = _no_services,
        payments: PaymentProvider | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._tiers = tiers
        # Asked for on each use: the composition root hands over services built after billing.
        self._services = services
        self._payments = payments or OperatorMarksPaid()
        self._clock = clock
        self._sampled_hour = -1

    def today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    def metered(self) -> Sequence[Metered]:
        """The services billing prices, with their meters."""
        return self._services()

    # gauge samples ------------------------------------------------------------------------
    def sample_gauges(self) -> None:
        """Record every service's gauges (stored bytes …) for the current hour, once per hour
        and process (a second process's sample of the same hour is ignored)."""
        hour = int(self._clock()) // 3600
        if hour == self._sampled_hour:
            return
        for service in self._services():
            gauges = {m.name for m in service.meters if m.kind is MeterKind.GAUGE}
            if gauges:
                self._store.add_samples(
                    r for r in service.provider.gauges(hour) if r.meter in gauges
                )
        self._sampled_hour = hour

    def _periods(self, account: Account, month: date) -> list[TierPeriod]:
        """The month's hours cut where the account changed tier, one period per tier.

        Usage is counted by the hour, so a change takes effect from the start of the hour
        it was made in: what was used in that hour is priced at the tier chosen in it (one
        moves up to use more, and a new account's first move is at once). Before a change
        the account had the tier it changed from; after the last one, the tier it has now
        (with no change recorded: that tier all month, as for a tier chosen before changes
        were recorded).
        """
        start, end = hour_of(month), hour_of(next_month(month))
        cuts: list[tuple[int, PriceList]] = []  # (hour it ended, the tier until then)
        last = None
        for change in self._tiers.tier_changes(account, start * 3600.0):
            before = self._tiers.tier_as(account, change.from_tier)
            effective = int(change.at // 3600)
            if effective >= end:
                last = before
                break
            cuts.append((effective, before))
        periods: list[TierPeriod] = []
        since = start
        for until, tier in [*cuts, (end, last or self._tiers.tier(account))]:
            if until <= since:
                continue  # left within the hour it was chosen in: it priced nothing
            if periods and periods[-1].tier == tier:
                periods[-1] = TierPeriod(tier, periods[-1].start_hour, until)
            else:
                periods.append(TierPeriod(tier, since, until))
            since = until
        return periods

    def _daily(
        self,
        account_id: str,
        services: Sequence[Metered],
        periods: Sequence[TierPeriod],
        to_hour: int,
    ) -> dict[date, dict[int, Usage]]:
        """What the account used on each UTC day that has any, per period (its index in
        ``periods``) and (service, meter): the services' counters, and the gauge samples
        billing keeps."""
        days: dict[date, dict[int, Usage]] = {}
        from_hour = periods[0].start_hour
        starts = [p.start_hour for p in periods]

        def add(hour: int, service: str, meter: str, quantity: int) -> None:
            period = max(bisect_right(starts, hour) - 1, 0)
            used = days.setdefault(day_of(hour), {}).setdefault(period, {})
            used[service, meter] = used.get((service, meter), 0) + quantity

        for service in services:
            counters = {m.name for m in service.meters if m.kind is MeterKind.COUNTER}
            for record in service.provider.counted(account_id, from_hour, to_hour):
                if record.meter in counters:
                    add(record.hour, service.service, record.meter, record.quantity)
        for sample in self._store.sampled(account_id, from_hour, to_hour):
            add(sample.hour, sample.service, sample.meter, sample.quantity)
        return dict(sorted(days.items()))

    # statements ---------------------------------------------------------------------------
    def statement(self, account: Account, month: date | None = None) -> Statement:
        """The month's charges so far (default: this month), with the charge of each day."""
        month = first_of(month or self.today())
        if month > self.today():
            raise Invalid(f"month: {month:%Y-%m} has not begun.")
        end = next_month(month)
        now_hour = int(self._clock()) // 3600 + 1
        to_hour = min(hour_of(end), now_hour)
        services = self._services()
        periods = self._periods(account, month)
        days = self._daily(account.id, services, periods, to_hour)
        running: list[Usage] = [{} for _ in periods]
        before = Decimal("0.00")
        daily: list[tuple[date, Decimal]] = []
        day = month
        while day < end and hour_of(day) < to_hour:
            for period, used in days.get(day, {}).items():
                for key, quantity in used.items():
                    running[period][key] = running[period].get(key, 0) + quantity
            so_far = total(price_periods(periods, month, services, running))
            daily.append((day, so_far - before))
            before = so_far
            day += timedelta(days=1)
        lines = price_periods(periods, month, services, running)
        # The tier it ended the period with (this month's: the tier it has now).
        tier = periods[-1].tier.name
        return Statement(account.id, month, self._tiers.currency, tier, lines, total(lines), daily)

    def accounts_with_usage(self, month: date) -> list[str]:
        """Every account any service counted something for in ``month``, or that had a gauge
        above 0 then."""
        start, end = hour_of(month), hour_of(next_month(month))
        found = set(self._store.sampled_accounts(start, end))
        for service in self._services():
            found.update(service.provider.accounts(start, end))
        return sorted(found)

    # invoices -----------------------------------------------------------------------------
    def close_month(self, month: date) -> list[Invoice]:
        """Invoice every account with usage in ``month`` (a past month); idempotent."""
        month = first_of(month)
        if next_month(month) > self.today():
            raise Invalid(f"month: {month:%Y-%m} has not ended; only past months are invoiced.")
        made = []
        for account_id in self.accounts_with_usage(month):
            account = self._accounts.get_account(account_id)
            if account is None:
                continue
            statement = self.statement(account, month)
            invoice_id = new_id()
            invoice = Invoice(
                id=invoice_id,
                number=f"NQ-{month:%Y%m}-{invoice_id[:8].upper()}",
                account_id=account_id,
                month=f"{month:%Y-%m}",
                status="open",
                currency=statement.currency,
                total=statement.total,
                lines=statement.lines,
                created_at=self._clock(),
            )
            if self._store.add_invoice(invoice):
                made.append(invoice)
                self._collect(invoice)
        self._store.close_month(f"{month:%Y-%m}", self._clock())
        return made

    def close_due_months(self) -> int:
        """Close last month once a new month has begun (run by every process; idempotent)."""
        last = first_of(first_of(self.today()) - timedelta(days=1))
        if self._store.month_closed(f"{last:%Y-%m}"):
            return 0
        return len(self.close_month(last))

    def _collect(self, invoice: Invoice) -> None:
        methods = self._store.list_payment_methods(invoice.account_id)
        default = next((m for m in methods if m.is_default), None)
        if self._payments.charge(invoice, default).paid:
            self._store.set_invoice_status(invoice.id, "paid", self._clock())

    def invoices(self, account: Account) -> list[Invoice]:
        return self._store.list_invoices(account.id)

    def invoice(self, account: Account | None, invoice_ref: str) -> Invoice:
        """An invoice by id or number (of ``account`` unless an operator asks: None)."""
        found = self._store.get_invoice(invoice_ref)
        if found is None or (account is not None and found.account_id != account.id):
            raise NoSuchInvoice(f"No invoice {invoice_ref} in this account.")
        return found

    def set_status(self, invoice: Invoice, status: str) -> Invoice:
        """Operator: record a payment (paid), cancel (void) or reopen (open)."""
        if status not in ("open", "paid", "void"):
            raise Invalid("status: one of open, paid, void.")
        self._store.set_invoice_status(
            invoice.id, status, self._clock() if status == "paid" else None
        )
        return self.invoice(None, invoice.id)
