"""REST routes of Billing: estimates, cost analysis, invoices (PDF), payment methods, budget."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from nexq.billing import pdf
from nexq.billing.budgets import Budgets
from nexq.billing.model import Budget, Invoice, LineItem, PaymentMethod, Statement
from nexq.billing.payment_methods import PaymentMethods
from nexq.billing.pricing import breakdown
from nexq.billing.service import Billing, parse_month
from nexq.core.identity import Principal
from nexq.web.rest.formats import iso, iso_or_none
from nexq.web.rest.security import Authorizer

Month = Annotated[str | None, Query(description="YYYY-MM; default this month")]


class LineOut(BaseModel):
    service: str
    resource: str
    unit: str
    quantity: str = Field(description="Exact decimal")
    included: str = Field(description="Covered by the tier's monthly allowance")
    unit_price: str
    amount: str
    tier: str | None = Field(
        None,
        description="When the account changed tier in the month: the tier this line prices "
        "at (a line per meter and tier; the allowance is the month's, less what earlier "
        "periods took); null otherwise",
    )
    period_start: str | None = Field(None, description="With tier: from (UTC, a whole hour)")
    period_end: str | None = Field(None, description="With tier: until (UTC, excluded)")

    @staticmethod
    def of(line: LineItem) -> "LineOut":
        return LineOut(
            service=line.service,
            resource=line.resource,
            unit=line.unit,
            quantity=str(line.quantity),
            included=str(line.included),
            unit_price=str(line.unit_price),
            amount=str(line.amount),
            tier=line.tier or None,
            period_start=iso_or_none(line.period_start),
            period_end=iso_or_none(line.period_end),
        )


class DayOut(BaseModel):
    day: str
    amount: str


class EstimateOut(BaseModel):
    month: str
    currency: str
    tier: str
    lines: list[LineOut]
    total: str
    daily: list[DayOut]


class CostsOut(BaseModel):
    month: str
    currency: str
    total: str
    by_service: dict[str, str]
    by_resource: dict[str, str]
    by_day: list[DayOut]


class InvoiceOut(BaseModel):
    id: str
    number: str
    month: str
    status: Literal["open", "paid", "void"]
    currency: str
    total: str
    lines: list[LineOut]
    created_at: str
    paid_at: str | None

    @staticmethod
    def of(invoice: Invoice) -> "InvoiceOut":
        return InvoiceOut(
            id=invoice.id,
            number=invoice.number,
            month=invoice.month,
            status="paid"
            if invoice.status == "paid"
            else "void"
            if invoice.status == "void"
            else "open",
            currency=invoice.currency,
            total=str(invoice.total),
            lines=[LineOut.of(line) for line in invoice.lines],
            created_at=iso(invoice.created_at),
            paid_at=iso_or_none(invoice.paid_at),
        )


class CardIn(BaseModel):
    number: Annotated[str, Field(min_length=12, max_length=23, description="Never stored.")]
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: Annotated[int, Field(ge=2000, le=2100)]
    holder: Annotated[str, Field(min_length=1, max_length=100)]


class CardEdit(BaseModel):
    exp_month: Annotated[int, Field(ge=1, le=12)] | None = None
    exp_year: Annotated[int, Field(ge=2000, le=2100)] | None = None
    holder: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class CardOut(BaseModel):
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder: str
    is_default: bool
    created_at: str

    @staticmethod
    def of(method: PaymentMethod) -> "CardOut":
        return CardOut(
            id=method.id,
            brand=method.brand,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
            holder=method.holder,
            is_default=method.is_default,
            created_at=iso(method.created_at),
        )


class BudgetIn(BaseModel):
    amount: Annotated[str, Field(min_length=1, max_length=32, description="e.g. 25.00")]
    thresholds: Annotated[list[int], Field(min_length=1, max_length=10)] | None = Field(
        default=None, description="Percentages; default 50, 80, 100."
    )
    email: Annotated[str, Field(max_length=254)] | None = None
    webhook_url: Annotated[str, Field(max_length=2048)] | None = None


class BudgetOut(BaseModel):
    amount: str
    thresholds: list[int]
    email: str | None
    webhook_url: str | None

    @staticmethod
    def of(budget: Budget) -> "BudgetOut":
        return BudgetOut(
            amount=str(budget.amount),
            thresholds=budget.thresholds,
            email=budget.email,
            webhook_url=budget.webhook_url,
        )


class NotificationOut(BaseModel):
    id: str
    created_at: str
    kind: str
    message: str
    read: bool


def _days(statement: Statement) -> list[DayOut]:
    return [DayOut(day=d.isoformat(), amount=str(a)) for d, a in statement.daily]


def router(
    billing: Billing, methods: PaymentMethods, budgets: Budgets, auth: Authorizer
) -> APIRouter:
    """The Billing routes."""
    api = APIRouter(prefix="/v1", tags=["billing"])
    Read = Annotated[Principal, Depends(auth.require("billing:read"))]
    Write = Annotated[Principal, Depends(auth.require("billing:write"))]
    Reader = Annotated[Principal, Depends(auth.require("account:read", "billing:read"))]
    # Marking notifications read changes state: a read-only key may see them, not dismiss them.
    Writer = Annotated[Principal, Depends(auth.require("account:write", "billing:write"))]

    def month_of(text: str | None) -> date | None:
        return parse_month(text) if text is not None else None

    @api.get("/billing/estimate", summary="Charges so far this month")
    def estimate(caller: Read, month: Month = None) -> EstimateOut:
        """Month-to-date (or a past month's) charges from the tier's price list."""
        statement = billing.statement(caller.account, month_of(month))
        return EstimateOut(
            month=f"{statement.month:%Y-%m}",
            currency=statement.currency,
            tier=statement.tier,
            lines=[LineOut.of(line) for line in statement.lines],
            total=str(statement.total),
            daily=_days(statement),
        )

    @api.get("/billing/costs", summary="Cost analysis")
    def costs(caller: Read, month: Month = None) -> CostsOut:
        """Charges by service, by resource type and by day."""
        statement = billing.statement(caller.account, month_of(month))
        by_service = breakdown(statement.lines, "service")
        by_resource = breakdown(statement.lines, "resource")
        return CostsOut(
            month=f"{statement.month:%Y-%m}",
            currency=statement.currency,
            total=str(statement.total),
            by_service={k: str(v) for k, v in by_service.items()},
            by_resource={k: str(v) for k, v in by_resource.items()},
            by_day=_days(statement),
        )

    @api.get("/billing/invoices", summary="Invoices")
    def invoices(caller: Read) -> list[InvoiceOut]:
        """Every invoice of the account, newest first (one per month, at most 12 a year)."""
        return [InvoiceOut.of(i) for i in billing.invoices(caller.account)]

    @api.get("/billing/invoices/{invoice_id}", summary="One invoice")
    def invoice(invoice_id: str, caller: Read) -> InvoiceOut:
        return InvoiceOut.of(billing.invoice(caller.account, invoice_id))

    @api.get(
        "/billing/invoices/{invoice_id}/pdf",
        summary="Invoice as PDF",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}, "description": "The PDF"}},
    )
    def invoice_pdf(invoice_id: str, caller: Read) -> Response:
        found = billing.invoice(caller.account, invoice_id)
        return Response(
            pdf.render(found, caller.account.email),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{found.number}.pdf"'},
        )

    @api.get("/billing/payment-methods", summary="Payment methods")
    def list_methods(caller: Read) -> list[CardOut]:
        return [CardOut.of(m) for m in methods.list(caller.account.id)]

    @api.post("/billing/payment-methods", status_code=201, summary="Add a card")
    def add_method(body: CardIn, caller: Write) -> CardOut:
        """Only brand, last four digits, expiry and holder are kept; the first card is the
        default."""
        return CardOut.of(
            methods.add(caller.account.id, body.number, body.exp_month, body.exp_year, body.holder)
        )

    @api.patch("/billing/payment-methods/{method_id}", summary="Edit a card")
    def edit_method(method_id: str, body: CardEdit, caller: Write) -> CardOut:
        return CardOut.of(
            methods.edit(caller.account.id, method_id, body.exp_month, body.exp_year, body.holder)
        )

    @api.post("/billing/payment-methods/{method_id}/default", summary="Make default")
    def default_method(method_id: str, caller: Write) -> CardOut:
        return CardOut.of(methods.make_default(caller.account.id, method_id))

    @api.delete("/billing/payment-methods/{method_id}", status_code=204, summary="Remove")
    def remove_method(method_id: str, caller: Write) -> Response:
        methods.remove(caller.account.id, method_id)
        return Response(status_code=204)

    @api.get("/billing/budget", summary="The monthly budget")
    def get_budget(caller: Read) -> BudgetOut | None:
        found = budgets.get(caller.account.id)
        return BudgetOut.of(found) if found else None

    @api.put("/billing/budget", summary="Set the monthly budget")
    def set_budget(body: BudgetIn, caller: Write) -> BudgetOut:
        """Crossing a threshold creates a notification, emails (when the operator configured
        SMTP) and posts to the webhook, once per threshold and month."""
        return BudgetOut.of(
            budgets.set(
                caller.account.id, body.amount, body.thresholds, body.email, body.webhook_url
            )
        )

    @api.delete("/billing/budget", status_code=204, summary="Remove the budget")
    def remove_budget(caller: Write) -> Response:
        budgets.remove(caller.account.id)
        return Response(status_code=204)

    @api.get("/notifications", tags=["account"], summary="Notifications")
    def notifications(caller: Reader) -> list[NotificationOut]:
        return [
            NotificationOut(
                id=n.id, created_at=iso(n.created_at), kind=n.kind, message=n.message, read=n.read
            )
            for n in budgets.notifications(caller.account.id)
        ]

    @api.post("/notifications/read", status_code=204, tags=["account"], summary="Mark read")
    def mark_read(caller: Writer) -> Response:
        budgets.mark_read(caller.account.id)
        return Response(status_code=204)

    return api
