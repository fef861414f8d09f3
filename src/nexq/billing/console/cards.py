"""Billing → Payment methods: cards as far as it is safe to keep them (brand, last four
digits, expiry, holder). A card number passes through to ``PaymentMethods.add`` and is never
rendered back, not even into the form after a mistake."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.billing.model import PaymentMethod
from nexq.billing.payment_methods import PaymentMethods
from nexq.core.errors import DomainError, Invalid
from nexq.core.identity import Principal
from nexq.web.console.web import Flash, Pages, status_of

CARDS = "/billing/payment-methods"
Text = Annotated[str, Form()]


def whole(text: str, field: str, example: str) -> int:
    """A form's number field as the integer the service takes."""
    try:
        return int(text.strip())
    except ValueError:
        raise Invalid(f"{field}: a whole number such as {example}.") from None


def card_name(method: PaymentMethod) -> str:
    return f"{method.brand} •••• {method.last4}"


def router(methods: PaymentMethods, pages: Pages) -> APIRouter:
    """/billing/payment-methods and its forms."""
    web = APIRouter(prefix=CARDS)
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def new_card_page(
        request: Request,
        caller: Principal,
        exp_month: str = "",
        exp_year: str = "",
        holder: str = "",
        error: str = "",
        status: int = 200,
    ) -> Response:
        # No ``number`` here on purpose: the template has no value to put in its field.
        return pages.render(
            request,
            "billing/card_new.html",
            caller,
            status,
            exp_month=exp_month,
            exp_year=exp_year,
            holder=holder,
            error=error,
        )

    def edit_card_page(
        request: Request,
        caller: Principal,
        method: PaymentMethod,
        exp_month: str,
        exp_year: str,
        holder: str,
        error: str = "",
        status: int = 200,
    ) -> Response:
        return pages.render(
            request,
            "billing/card_edit.html",
            caller,
            status,
            method=method,
            name=card_name(method),
            exp_month=exp_month,
            exp_year=exp_year,
            holder=holder,
            error=error,
        )

    @web.get("")
    def list_cards(request: Request, caller: SignedIn) -> Response:
        cards = methods.list(caller.account.id)
        return pages.render(request, "billing/cards.html", caller, cards=cards)

    @web.get("/new")
    def new_card(request: Request, caller: SignedIn) -> Response:
        return new_card_page(request, caller)

    @web.post("")
    def add_card(
        request: Request,
        caller: SignedIn,
        number: Text = "",
        exp_month: Text = "",
        exp_year: Text = "",
        holder: Text = "",
    ) -> Response:
        try:
            method = methods.add(
                caller.account.id,
                number,
                whole(exp_month, "exp_month", "12"),
                whole(exp_year, "exp_year", "2030"),
                holder,
            )
        except DomainError as exc:
            return new_card_page(
                request, caller, exp_month, exp_year, holder, exc.message, status_of(exc)
            )
        default = " It is your default payment method." if method.is_default else ""
        added = Flash("success", f"{card_name(method)} added.{default}")
        return pages.redirect(request, CARDS, added)

    @web.get("/{method_id}/edit")
    def edit_card(request: Request, method_id: str, caller: SignedIn) -> Response:
        method = methods.get(caller.account.id, method_id)
        return edit_card_page(
            request, caller, method, str(method.exp_month), str(method.exp_year), method.holder
        )

    @web.post("/{method_id}/edit")
    def save_card(
        request: Request,
        method_id: str,
        caller: SignedIn,
        exp_month: Text = "",
        exp_year: Text = "",
        holder: Text = "",
    ) -> Response:
        method = methods.get(caller.account.id, method_id)
        try:
            method = methods.edit(
                caller.account.id,
                method_id,
                whole(exp_month, "exp_month", "12"),
                whole(exp_year, "exp_year", "2030"),
                holder,
            )
        except DomainError as exc:
            return edit_card_page(
                request,
                caller,
                method,
                exp_month,
                exp_year,
                holder,
                exc.message,
                status_of(exc),
            )
        return pages.redirect(request, CARDS, Flash("success", f"{card_name(method)} updated."))

    @web.post("/{method_id}/default")
    def make_default(request: Request, method_id: str, caller: SignedIn) -> Response:
        method = methods.make_default(caller.account.id, method_id)
        chosen = Flash("success", f"{card_name(method)} is now your default payment method.")
        return pages.redirect(request, CARDS, chosen)

    @web.post("/{method_id}/delete")
    def remove_card(
        request: Request, method_id: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        method = methods.get(caller.account.id, method_id)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Remove {card_name(method)}?",
                message="Invoices are no longer charged to this card.",
                action=f"{CARDS}/{method_id}/delete",
                button="Remove",
                back=CARDS,
            )
        methods.remove(caller.account.id, method_id)
        return pages.redirect(request, CARDS, Flash("success", f"{card_name(method)} removed."))

    return web
