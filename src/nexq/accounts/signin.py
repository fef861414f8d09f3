"""Account's console pages for getting in and out: sign up, log in, log out."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from nexq.accounts.errors import NoSuchResetLink
from nexq.accounts.model import PASSWORD_RULES
from nexq.accounts.service import Accounts
from nexq.core.errors import DomainError
from nexq.core.identity import AccountSuspended, Principal, TooManyAttempts, Unauthenticated
from nexq.web.console.web import Flash, Pages, status_of

# Why the login page is shown, by the code in its ?reason= (fixed texts: a link cannot make
# the page say something else).
REASONS = {
    "login": "Log in to continue.",
    "expired": "Your session has expired; log in again.",
    "suspended": "The account is suspended; contact the operator.",
    "logged-out": "You have been logged out.",
    "password-reset": "Your password has been set; log in with it.",
    "deleted": "Your account has been deleted.",
}
Text = Annotated[str, Form()]


def client_address(request: Request) -> str | None:
    """The client's address (a trusted proxy's X-Forwarded-For, where one is configured)."""
    return request.client.host if request.client else None


def safe_next(target: str, home: str) -> str:
    """Where to go after login: a path of this site only (no open redirect), else ``home``."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return home


def router(accounts: Accounts, pages: Pages) -> APIRouter:
    """The sign-up, login and logout routes."""
    web = APIRouter()
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def login_page(
        request: Request,
        *,
        email: str = "",
        next_url: str = "",
        error: str = "",
        notice: str = "",
        status: int = 200,
    ) -> HTMLResponse:
        return pages.render(
            request,
            "login.html",
            None,
            status,
            email=email,
            next_url=next_url,
            error=error,
            notice=notice,
        )

    @web.get("/")
    def home(request: Request, reason: str = "", next: str = "") -> Response:
        if pages.optional_principal(request) is not None:
            return pages.redirect(request, pages.layout.home)
        return login_page(request, next_url=next, notice=REASONS.get(reason, ""))

    @web.get("/login")
    def login_form(request: Request, reason: str = "", next: str = "") -> Response:
        return home(request, reason, next)

    @web.post("/login")
    def login(request: Request, email: Text, password: Text, next: Text = "") -> Response:
        try:
            token, session, _ = accounts.login(email, password, client_address(request))
        except (Unauthenticated, AccountSuspended, TooManyAttempts) as exc:
            refused = login_page(
                request, email=email, next_url=next, error=exc.message, status=status_of(exc)
            )
            if isinstance(exc, TooManyAttempts):
                refused.headers["retry-after"] = str(exc.retry_after)
            return refused
        response = pages.redirect(request, safe_next(next, pages.layout.home))
        pages.sign_in(request, response, token, session.expires_at)
        return response

    @web.get("/signup")
    def signup_form(request: Request) -> Response:
        if pages.optional_principal(request) is not None:
            return pages.redirect(request, pages.layout.home)
        return pages.render(
            request, "signup.html", None, email="", error="", password_rules=PASSWORD_RULES
        )

    @web.post("/signup")
    def signup(request: Request, email: Text, password: Text, confirm: Text) -> Response:
        error, status = "", 400
        if password != confirm:
            error = "The two passwords differ; type the same password twice."
        else:
            try:
                accounts.create(email, password)
                token, session, _ = accounts.login(email, password, client_address(request))
            except DomainError as exc:
                error, status = exc.message, status_of(exc)
        if error:
            return pages.render(
                request,
                "signup.html",
                None,
                status,
                email=email,
                error=error,
                password_rules=PASSWORD_RULES,
            )
        welcome = Flash("success", "Welcome to Nexq. Create a bucket to start storing objects.")
        response = pages.redirect(request, pages.layout.home, welcome, session=token)
        pages.sign_in(request, response, token, session.expires_at)
        return response

    def reset_page(
        request: Request,
        token: str,
        *,
        email: str = "",
        error: str = "",
        refused: str = "",
        status: int = 200,
    ) -> Response:
        page = pages.render(
            request,
            "reset_password.html",
            None,
            status,
            token=token,
            email=email,
            error=error,
            refused=refused,
            password_rules=PASSWORD_RULES,
        )
        # The token is in this page's address: no other site may read it from a Referer.
        page.headers["referrer-policy"] = "no-referrer"
        page.headers["cache-control"] = "no-store"
        return page

    @web.get("/reset-password/{token}")
    def reset_form(request: Request, token: str) -> Response:
        try:
            account = accounts.password_reset(token)
        except NoSuchResetLink as exc:
            return reset_page(request, token, refused=exc.message, status=status_of(exc))
        return reset_page(request, token, email=account.email)

    @web.post("/reset-password/{token}")
    def reset_password(request: Request, token: str, password: Text, confirm: Text) -> Response:
        try:
            account = accounts.password_reset(token)
            if password != confirm:
                return reset_page(
                    request,
                    token,
                    email=account.email,
                    error="The two passwords differ; type the same password twice.",
                    status=400,
                )
            accounts.reset_password(token, password)
        except NoSuchResetLink as exc:
            return reset_page(request, token, refused=exc.message, status=status_of(exc))
        except DomainError as exc:  # the password rules: the link stays usable
            return reset_page(
                request, token, email=account.email, error=exc.message, status=status_of(exc)
            )
        # Every session of the account has ended, this browser's too if it had one: the new
        # password is proven by using it once.
        response = pages.redirect(request, "/login?reason=password-reset")
        pages.sign_out(request, response)
        return response

    @web.post("/logout")
    def logout(request: Request, caller: SignedIn) -> Response:
        accounts.logout(caller)
        response = pages.redirect(request, "/login?reason=logged-out")
        pages.sign_out(request, response)
        return response

    return web
