"""Console pages of Account: API keys (token shown once), limits & quotas with the service
tier, and the password."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.limits import AccountLimits, Limits
from nexq.accounts.model import PASSWORD_RULES, ApiKey
from nexq.accounts.service import Accounts
from nexq.accounts.tiers import Tier
from nexq.core.errors import DomainError
from nexq.core.identity import Principal, ScopeCatalog
from nexq.web.console.web import Flash, Pages, status_of

KEYS = "/account/api-keys"
LIMITS = "/account/limits"
LIST_LIMIT = 1000
Text = Annotated[str, Form()]
Texts = Annotated[list[str], Form()]


def router(
    accounts: Accounts,
    api_keys: ApiKeys,
    limits: Limits,
    account_limits: AccountLimits,
    pages: Pages,
    scopes: ScopeCatalog,
) -> APIRouter:
    """/account/api-keys, /account/limits and /account/password; ``scopes`` are every
    service's, for the API key form."""
    web = APIRouter(prefix="/account")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def scopes_of(caller: Principal) -> list[tuple[str, str]]:
        return [(s, scopes.about(s)) for s in scopes.of_role(caller.account.role)]

    def new_key_page(
        request: Request,
        caller: Principal,
        name: str = "",
        description: str = "",
        chosen: list[str] | None = None,
        error: str = "",
    ) -> Response:
        return pages.render(
            request,
            "account/api_key_new.html",
            caller,
            400 if error else 200,
            name=name,
            description=description,
            scopes=scopes_of(caller),
            chosen=chosen if chosen is not None else list(scopes.of_role(caller.account.role)),
            error=error,
        )

    def token_page(
        request: Request, caller: Principal, key: ApiKey, token: str, regenerated: bool
    ) -> Response:
        # The token is in this answer only: rendered here, never stored, never redirected to.
        return pages.render(
            request,
            "account/api_key_created.html",
            caller,
            key=key,
            token=token,
            regenerated=regenerated,
        )

    @web.get("")
    def account_home(request: Request) -> Response:
        return pages.redirect(request, KEYS)

    @web.get("/api-keys")
    def list_keys(request: Request, caller: SignedIn) -> Response:
        keys = api_keys.list(caller.account.id, None, LIST_LIMIT)
        return pages.render(request, "account/api_keys.html", caller, keys=keys)

    @web.get("/api-keys/new")
    def new_key(request: Request, caller: SignedIn) -> Response:
        return new_key_page(request, caller)

    @web.post("/api-keys")
    def create_key(
        request: Request,
        caller: SignedIn,
        name: Text = "",
        description: Text = "",
        scopes: Texts = [],  # noqa: B006 - FastAPI copies defaults; no scope is a real (refused) case
    ) -> Response:
        try:
            key, token = api_keys.create(caller, name, description, scopes)
        except DomainError as exc:
            return new_key_page(request, caller, name, description, scopes, exc.message)
        return token_page(request, caller, key, token, regenerated=False)

    @web.post("/api-keys/{key_id}/revoke")
    def revoke_key(request: Request, key_id: str, caller: SignedIn, confirm: Text = "") -> Response:
        key = api_keys.get(caller.account.id, key_id)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Revoke the API key {key.name}?",
                message="It stops working at once and stays listed as Revoked.",
                action=f"{KEYS}/{key_id}/revoke",
                button="Revoke",
                back=KEYS,
                style="warning",
            )
        api_keys.revoke(caller, key_id)
        return pages.redirect(request, KEYS, Flash("success", f"API key {key.name} revoked."))

    @web.post("/api-keys/{key_id}/regenerate")
    def regenerate_key(
        request: Request, key_id: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        key = api_keys.get(caller.account.id, key_id)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Regenerate the API key {key.name}?",
                message="A new token replaces the current one, which stops working at once.",
                action=f"{KEYS}/{key_id}/regenerate",
                button="Regenerate",
                back=KEYS,
                style="primary",
            )
        key, token = api_keys.regenerate(caller, key_id)
        return token_page(request, caller, key, token, regenerated=True)

    @web.post("/api-keys/{key_id}/delete")
    def delete_key(request: Request, key_id: str, caller: SignedIn, confirm: Text = "") -> Response:
        key = api_keys.get(caller.account.id, key_id)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Delete the API key {key.name}?",
                message="It is removed permanently; anything using it stops working.",
                action=f"{KEYS}/{key_id}/delete",
                button="Delete",
                back=KEYS,
            )
        api_keys.delete(caller, key_id)
        return pages.redirect(request, KEYS, Flash("success", f"API key {key.name} deleted."))

    def limits_page(
        request: Request, caller: Principal, error: str = "", status: int = 200
    ) -> Response:
        tier = limits.tier(caller.account)
        tiers: list[Tier] = list(limits.catalog.tiers.values())
        return pages.render(
            request,
            "account/limits.html",
            caller,
            status,
            tier=tier,
            lines=account_limits.report(caller.account),
            declared=[limit for _, limit in limits.declared()],
            meters=account_limits.priced(),
            tiers=tiers,
            currency=limits.catalog.currency,
            error=error,
        )

    @web.get("/limits")
    def limits_view(request: Request, caller: SignedIn) -> Response:
        return limits_page(request, caller)

    @web.post("/tier")
    def change_tier(request: Request, caller: SignedIn, tier: Text = "") -> Response:
        try:
            # The same rule as PUT /v1/account/tier: refused, naming every limit, if the
            # account's usage does not fit the chosen tier.
            chosen = account_limits.change_tier(caller.account, tier)
        except DomainError as exc:
            return limits_page(request, caller, exc.message, status_of(exc))
        moved = Flash("success", f"Your service tier is now {chosen.name}.")
        return pages.redirect(request, LIMITS, moved)

    def password_page(
        request: Request,
        caller: Principal,
        error: str = "",
        delete_error: str = "",
        status: int | None = None,
    ) -> Response:
        return pages.render(
            request,
            "account/password.html",
            caller,
            status or (400 if error else 200),
            error=error,
            delete_error=delete_error,
            password_rules=PASSWORD_RULES,
        )

    @web.get("/password")
    def password_form(request: Request, caller: SignedIn) -> Response:
        return password_page(request, caller)

    @web.post("/password")
    def change_password(
        request: Request, caller: SignedIn, current: Text, new: Text, confirm: Text
    ) -> Response:
        if new != confirm:
            return password_page(request, caller, "The two new passwords differ; type it twice.")
        try:
            accounts.change_password(caller, current, new)
        except DomainError as exc:
            return password_page(request, caller, exc.message)
        changed = Flash("success", "Password changed. Your other sessions have been logged out.")
        return pages.redirect(request, "/account/password", changed)

    @web.post("/delete")
    def delete_account(
        request: Request, caller: SignedIn, email: Text = "", password: Text = ""
    ) -> Response:
        if email.strip().lower() != caller.account.email.lower():
            typed = "The email typed is not this account's; nothing was deleted."
            return password_page(request, caller, delete_error=typed, status=400)
        try:
            accounts.delete(caller, password)
        except DomainError as exc:
            return password_page(request, caller, delete_error=exc.message, status=status_of(exc))
        response = pages.redirect(request, "/login?reason=deleted")
        pages.sign_out(request, response)
        return response

    return web
