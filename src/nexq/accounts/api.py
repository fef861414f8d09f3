"""REST routes of Account: sign-up, login, the account, API keys, operator administration."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.limits import AccountLimits, Limits
from nexq.accounts.model import DELETED, MAX_DESCRIPTION, MAX_NAME, MAX_PASSWORD, ApiKey
from nexq.accounts.service import Accounts
from nexq.core.identity import Account, Principal
from nexq.web.rest.formats import iso, iso_or_none
from nexq.web.rest.pagination import Cursor, Limit, Page, decode_pair, page_of
from nexq.web.rest.security import Authorizer

Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD)]
Email = Annotated[str, Field(min_length=3, max_length=254)]


class Credentials(BaseModel):
    email: Email
    password: Password


class AccountOut(BaseModel):
    id: str
    email: str
    role: Literal["customer", "operator"]
    status: Literal["active", "suspended", "deleted"]
    created_at: str

    @staticmethod
    def of(account: Account) -> "AccountOut":
        return AccountOut(
            id=account.id,
            email=account.email,
            role="operator" if account.role == "operator" else "customer",
            status="deleted"
            if account.status == DELETED
            else ("active" if account.active else "suspended"),
            created_at=iso(account.created_at),
        )


class SessionOut(BaseModel):
    token: str = Field(description="A session token (nxs_…); send it as a bearer token.")
    expires_at: str
    account: AccountOut


class PasswordChange(BaseModel):
    current_password: Password
    new_password: Password


class PasswordReset(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The token of the operator's reset link (nxr_…, after /reset-password/)."
    )
    new_password: Password


class AccountDeletion(BaseModel):
    password: Password = Field(description="The account's password, to prove it is the holder.")


class ApiKeyIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] = ""
    scopes: list[str] | None = Field(
        default=None, description="Default: every scope of the caller."
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    description: str
    scopes: list[str]
    status: Literal["Active", "Revoked"]
    created_at: str
    last_used_at: str | None

    @staticmethod
    def of(key: ApiKey) -> "ApiKeyOut":
        return ApiKeyOut(
            id=key.id,
            name=key.name,
            description=key.description,
            scopes=sorted(key.scopes),
            status="Active" if key.active else "Revoked",
            created_at=iso(key.created_at),
            last_used_at=iso_or_none(key.last_used_at),
        )


class LimitOut(BaseModel):
    name: str = Field(description="As the service declares it: buckets, storage_bytes, api_rps …")
    limit: int | None = Field(description="null = unlimited")
    used: int | None = Field(description="null for request rates")
    percent: float | None
    overridden: bool = Field(description="Set by the operator for this account.")
    service: str = Field(description="The service that declares the limit: storage, account …")


class TierRef(BaseModel):
    id: str
    name: str


class LimitsOut(BaseModel):
    tier: TierRef
    limits: list[LimitOut]


class TierOut(BaseModel):
    id: str
    name: str
    currency: str
    limits: dict[str, int | None]
    prices: dict[str, str] = Field(
        description="Per unit of each meter of every service, by meter name (unique on the "
        "platform); exact decimals as strings."
    )
    allowances: dict[str, str] = Field(description="Units of each meter included each month.")
    services: dict[str, dict[str, dict[str, str]]] = Field(
        description='The prices and allowances per service: {"storage": {"prices": {…}, '
        '"allowances": {…}}}.'
    )


class TierChange(BaseModel):
    tier: Annotated[str, Field(min_length=1, max_length=64)]


class NewApiKeyOut(ApiKeyOut):
    token: str = Field(description="Shown once: only a hash is kept.")


def router(
    accounts: Accounts,
    api_keys: ApiKeys,
    limits: Limits,
    account_limits: AccountLimits,
    auth: Authorizer,
) -> APIRouter:
    """The Account routes."""
    api = APIRouter(prefix="/v1")
    AccountRead = Annotated[Principal, Depends(auth.require("account:read"))]
    AccountWrite = Annotated[Principal, Depends(auth.require("account:write"))]
    AdminRead = Annotated[Principal, Depends(auth.require("admin:read"))]
    AdminWrite = Annotated[Principal, Depends(auth.require("admin:write"))]
    Anyone = Annotated[Principal, Depends(auth.require())]
    # The tier sets the account's prices, so changing it is a billing write too.
    TierWrite = Annotated[Principal, Depends(auth.require_all("account:write", "billing:write"))]

    @api.post("/signup", status_code=201, tags=["account"], summary="Sign up")
    def sign_up(body: Credentials) -> AccountOut:
        """Create a customer account. Passwords: 10 to 1024 characters, not the email."""
        return AccountOut.of(accounts.create(body.email, body.password))

    @api.post("/login", status_code=201, tags=["account"], summary="Log in")
    def login(body: Credentials, request: Request) -> SessionOut:
        """A session token for the console or for creating a first API key (12 hours).
        After 5 failed logins in a row from one address, that address waits (429)."""
        address = request.client.host if request.client else None
        token, session, account = accounts.login(body.email, body.password, address)
        return SessionOut(
            token=token, expires_at=iso(session.expires_at), account=AccountOut.of(account)
        )

    @api.post("/logout", status_code=204, tags=["account"], summary="Log out")
    def logout(caller: Anyone) -> Response:
        """End the session whose token authenticates this request."""
        accounts.logout(caller)
        return Response(status_code=204)

    @api.get("/account", tags=["account"], summary="The account")
    def account(caller: AccountRead) -> AccountOut:
        return AccountOut.of(caller.account)

    @api.post("/account/password", status_code=204, tags=["account"], summary="Change password")
    def change_password(body: PasswordChange, caller: AccountWrite) -> Response:
        """Replace the password; every other session of the account ends."""
        accounts.change_password(caller, body.current_password, body.new_password)
        return Response(status_code=204)

    @api.post(
        "/account/password-reset", status_code=204, tags=["account"], summary="Reset password"
    )
    def reset_password(body: PasswordReset) -> Response:
        """Set the password with a one-time token from the operator's reset link (``nexq admin
        account reset-password``), without logging in. The token is spent, and every session
        of the account ends; 404 when the token is unknown, used or expired (1 hour)."""
        accounts.reset_password(body.token, body.new_password)
        return Response(status_code=204)

    @api.delete("/account", status_code=204, tags=["account"], summary="Delete the account")
    def delete_account(body: AccountDeletion, caller: AccountWrite) -> Response:
        """Delete the caller's account for good. Refused (409, naming them) while it holds
        resources in any service (buckets, registries, databases, instances, snapshots,
        backups); SSH keys and S3 access keys go along, open support tickets are closed. Its
        API keys, sessions and access keys stop working at once; invoices are kept for the
        operator; the email may sign up again."""
        accounts.delete(caller, body.password)
        return Response(status_code=204)

    def limits_of(account: Account) -> LimitsOut:
        tier = limits.tier(account)
        return LimitsOut(
            tier=TierRef(id=tier.id, name=tier.name),
            limits=[
                LimitOut(
                    name=line.name,
                    limit=line.limit,
                    used=line.used,
                    percent=line.percent,
                    overridden=line.overridden,
                    service=line.service,
                )
                for line in account_limits.report(account)
            ],
        )

    @api.get("/account/limits", tags=["account"], summary="Limits & quotas")
    def account_limits_page(caller: AccountRead) -> LimitsOut:
        """Each limit of the account's tier (with operator overrides), usage and percentage."""
        return limits_of(caller.account)

    @api.put("/account/tier", tags=["account"], summary="Change service tier")
    def change_tier(body: TierChange, caller: TierWrite) -> LimitsOut:
        """Needs account:write and billing:write (the tier sets the prices). Refused (409,
        naming the limits) when current usage does not fit the new tier."""
        account_limits.change_tier(caller.account, body.tier)
        return limits_of(caller.account)

    @api.get("/tiers", tags=["account"], summary="Service tiers")
    def tiers(caller: Anyone) -> list[TierOut]:
        """The installation's tiers with their limits and prices."""
        catalog = limits.catalog
        return [
            TierOut(
                id=t.id,
                name=t.name,
                currency=catalog.currency,
                limits=t.limits,
                prices={k: str(v) for group in t.prices.values() for k, v in group.items()},
                allowances={k: str(v) for group in t.allowances.values() for k, v in group.items()},
                services={
                    service: {
                        "prices": {k: str(v) for k, v in t.prices.get(service, {}).items()},
                        "allowances": {k: str(v) for k, v in t.allowances.get(service, {}).items()},
                    }
                    for service in {**t.prices, **t.allowances}
                },
            )
            for t in catalog.tiers.values()
        ]

    @api.get("/api-keys", tags=["api keys"], summary="List API keys")
    def list_keys(
        caller: AccountRead, limit: Limit = 100, cursor: Cursor = None
    ) -> Page[ApiKeyOut]:
        keys = api_keys.list(caller.account.id, decode_pair(cursor), limit + 1)
        items, after = page_of(keys, limit, lambda k: [k.created_at, k.id])
        return Page(items=[ApiKeyOut.of(k) for k in items], next_cursor=after)

    @api.post("/api-keys", status_code=201, tags=["api keys"], summary="Create an API key")
    def create_key(body: ApiKeyIn, caller: AccountWrite) -> NewApiKeyOut:
        """The token is in this answer only. A key cannot have scopes its creator lacks."""
        key, token = api_keys.create(caller, body.name, body.description, body.scopes)
        return NewApiKeyOut(**ApiKeyOut.of(key).model_dump(), token=token)

    @api.get("/api-keys/{key_id}", tags=["api keys"], summary="Show an API key")
    def get_key(key_id: str, caller: AccountRead) -> ApiKeyOut:
        return ApiKeyOut.of(api_keys.get(caller.account.id, key_id))

    @api.post("/api-keys/{key_id}/revoke", tags=["api keys"], summary="Revoke an API key")
    def revoke_key(key_id: str, caller: AccountWrite) -> ApiKeyOut:
        """The key stops working at once and stays listed as Revoked."""
        return ApiKeyOut.of(api_keys.revoke(caller, key_id))

    @api.post("/api-keys/{key_id}/regenerate", tags=["api keys"], summary="Regenerate")
    def regenerate_key(key_id: str, caller: AccountWrite) -> NewApiKeyOut:
        """A new token for the same key; the old token stops working at once."""
        key, token = api_keys.regenerate(caller, key_id)
        return NewApiKeyOut(**ApiKeyOut.of(key).model_dump(), token=token)

    @api.delete("/api-keys/{key_id}", status_code=204, tags=["api keys"], summary="Delete")
    def delete_key(key_id: str, caller: AccountWrite) -> Response:
        api_keys.delete(caller, key_id)
        return Response(status_code=204)

    @api.get("/admin/accounts", tags=["admin"], summary="List accounts (operators)")
    def list_accounts(
        caller: AdminRead, limit: Limit = 100, cursor: Cursor = None, email: str | None = None
    ) -> Page[AccountOut]:
        if email is not None:
            found = [a for a in [accounts.find(email)] if a is not None]
            return Page(items=[AccountOut.of(a) for a in found], next_cursor=None)
        listed = accounts.list(decode_pair(cursor), limit + 1)
        items, after = page_of(listed, limit, lambda a: [a.created_at, a.id])
        return Page(items=[AccountOut.of(a) for a in items], next_cursor=after)

    @api.post("/admin/accounts/{account_id}/suspend", tags=["admin"], summary="Suspend")
    def suspend(account_id: str, caller: AdminWrite) -> AccountOut:
        """Every API key, session and S3 key of the account is refused at once."""
        return AccountOut.of(accounts.administer(caller, account_id, True))

    @api.post("/admin/accounts/{account_id}/resume", tags=["admin"], summary="Resume")
    def resume(account_id: str, caller: AdminWrite) -> AccountOut:
        return AccountOut.of(accounts.administer(caller, account_id, False))

    return api
