"""What every console page shares: templates, the signed-in caller, CSRF tokens, flashes.

The session cookie holds the session token of ``Accounts.login`` (HttpOnly, SameSite=Lax,
Secure over TLS). CSRF tokens are HMACs keyed by that token, so they need no server state
and die with the session; before login, a random HttpOnly cookie plays the same role for the
login and sign-up forms (forged logins are an attack too).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from nexq.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    Unavailable,
)
from nexq.core.identity import (
    AccountSuspended,
    Authenticator,
    Principal,
    TooManyAttempts,
    Unauthenticated,
)
from nexq.web.console import formats
from nexq.web.console.layout import Layout

if TYPE_CHECKING:
    from jinja2 import Environment

SESSION_COOKIE = "nexq_session"
ANONYMOUS_COOKIE = "nexq_anonymous"
FLASH_COOKIE = "nexq_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ANONYMOUS_FORMS = frozenset({"/", "/login", "/signup"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginRequired(Exception):
    """No usable session: pages send the browser to log in, scripts get a 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # a key of the login page's reasons (accounts.signin.REASONS)


class CsrfRejected(Exception):
    """A state-changing request without this session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Flash:
    """A one-time message shown on the next page: ``kind`` is success, error or info."""

    kind: str
    text: str


def environment(packages: tuple[str, ...] = ()) -> Environment:
    """The console's templates: the kit's layout, then each service package's ``templates``
    folder (its pages live with its code). Autoescape is on for everything."""
    from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("nexq.web.console", "templates"),
                *(PackageLoader(package, "templates") for package in packages),
            ]
        ),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        size=formats.size,
        binary_size=formats.binary_size,
        decimal_size=formats.decimal_size,
        size_as_set=formats.size_as_set,
        price=formats.price,
        number=formats.count,
        when=formats.when,
        iso=formats.iso,
        money=formats.money,
        quantity=formats.quantity,
        exact=formats.exact,
        month=formats.month,
        duration=formats.duration,
    )
    return env


def status_of(exc: DomainError) -> int:
    """The HTTP status a domain error is answered with in the console."""
    if isinstance(exc, TooManyAttempts | RateLimited):
        return 429
    if isinstance(exc, Unauthenticated):
        return 401
    if isinstance(exc, Unavailable):
        return 503
    for cls, status in ((NotFound, 404), (Conflict, 409), (Forbidden, 403)):
        if isinstance(exc, cls):
            return status
    return 400


def wants_json(request: Request) -> bool:
    """Whether the caller is the console's own script rather than a page load."""
    return "application/json" in request.headers.get("accept", "")


def json_error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _mac(key: str, label: str) -> str:
    return hmac.new(key.encode(), label.encode(), hashlib.sha256).hexdigest()


def _new_anonymous(request: Request) -> str:
    """A fresh anonymous CSRF key, remembered so that the response sets its cookie."""
    value: str | None = getattr(request.state, "new_anonymous", None)
    if value is None:
        value = secrets.token_hex(16)
        request.state.new_anonymous = value
    return value


class Pages:
    """Renders pages and knows who is signed in (one per console, built in its app).

    The layout's header counts (unread notifications …) are one cheap query each per page;
    pages are rendered in worker threads, never on the event loop.
    """

    def __init__(
        self,
        sessions: Authenticator,
        templates: Callable[[], Environment],
        layout: Layout,
        always_secure: bool = False,
    ) -> None:
        """``templates`` makes the environment (:func:`environment`), once, when the first
        page is rendered: Jinja and its compiler are about 2 MiB of a control plane that may
        serve only the REST API."""
        self._sessions = sessions
        self._templates = templates
        self._made: Environment | None = None
        self._making = threading.Lock()
        self.layout = layout
        self._always_secure = always_secure

    @property
    def _env(self) -> Environment:
        if self._made is None:
            with self._making:
                if self._made is None:
                    self._made = self._templates()
        return self._made

    def _secure(self, request: Request) -> bool:
        """Whether cookies get the Secure flag: always when the console's public URL is
        HTTPS (a TLS-terminating proxy talks plain HTTP to Nexq), else when this request
        came over TLS (directly, or as a trusted proxy's X-Forwarded-Proto says)."""
        return self._always_secure or request.url.scheme == "https"

    # who is calling ---------------------------------------------------------------------
    def principal(self, request: Request) -> Principal:
        """The signed-in caller (a dependency; blocking, so FastAPI runs it in a thread)."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise LoginRequired("login")
        try:
            return self._sessions.principal(token)
        except Unauthenticated:
            raise LoginRequired("expired") from None
        except AccountSuspended:
            raise LoginRequired("suspended") from None

    def optional_principal(self, request: Request) -> Principal | None:
        try:
            return self.principal(request)
        except LoginRequired:
            return None

    # sessions ---------------------------------------------------------------------------
    def sign_in(self, request: Request, response: Response, token: str, expires_at: float) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=max(int(expires_at - time.time()), 0),
            path="/",
            httponly=True,
            samesite="lax",
            secure=self._secure(request),
        )

    def sign_out(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self._secure(request)
        )

    # CSRF -------------------------------------------------------------------------------
    def csrf_token(self, request: Request) -> str:
        """The token forms and scripts must send back with every state-changing request."""
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            return _mac(session, "csrf")
        anonymous = request.cookies.get(ANONYMOUS_COOKIE) or _new_anonymous(request)
        return _mac(anonymous, "csrf")

    async def check_csrf(self, request: Request) -> None:
        """A dependency of every console route: 403 for an unsafe request without the token."""
        if request.method in SAFE_METHODS:
            return
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.headers.get("content-type", "").startswith(_FORMS):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        expected = []
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            expected.append(_mac(session, "csrf"))
        anonymous = request.cookies.get(ANONYMOUS_COOKIE)
        # The anonymous token is good only for logging in: a cookie planted by a sibling
        # domain must not let a forged form act inside someone's session.
        if anonymous and (not session or request.url.path in ANONYMOUS_FORMS):
            expected.append(_mac(anonymous, "csrf"))
        if not sent or not any(hmac.compare_digest(sent.encode(), e.encode()) for e in expected):
            raise CsrfRejected()

    # flash messages ---------------------------------------------------------------------
    def _take_flash(self, request: Request) -> Flash | None:
        raw, session = request.cookies.get(FLASH_COOKIE), request.cookies.get(SESSION_COOKIE)
        if not raw or not session or "." not in raw:
            return None
        payload, mac = raw.rsplit(".", 1)
        if not hmac.compare_digest(mac.encode(), _mac(session, "flash:" + payload).encode()):
            return None
        try:
            kind, text = json.loads(base64.urlsafe_b64decode(payload))
        except (ValueError, TypeError, binascii.Error):
            return None
        return Flash(str(kind), str(text))

    def redirect(
        self, request: Request, url: str, flash: Flash | None = None, session: str | None = None
    ) -> RedirectResponse:
        """A 303 to ``url``; ``flash`` is shown there once (signed with the session)."""
        response = RedirectResponse(url, status_code=303)
        key = session or request.cookies.get(SESSION_COOKIE)
        if flash is not None and key:
            data = json.dumps([flash.kind, flash.text[:600]]).encode()
            payload = base64.urlsafe_b64encode(data).decode()
            response.set_cookie(
                FLASH_COOKIE,
                f"{payload}.{_mac(key, 'flash:' + payload)}",
                max_age=120,
                path="/",
                httponly=True,
                samesite="lax",
                secure=self._secure(request),
            )
        return response

    # rendering --------------------------------------------------------------------------
    def render(
        self,
        request: Request,
        template: str,
        caller: Principal | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """A page; the layout shows navigation and the account when ``caller`` is signed in
        (a page that shows to anyone, such as the guide's, renders with no caller)."""
        flash = self._take_flash(request)
        html = self._env.get_template(template).render(
            principal=caller,
            csrf_token=self.csrf_token(request),
            flash=flash,
            path=request.url.path,
            page_help=self.layout.help_for(request.url.path),
            **self._frame(caller),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if FLASH_COOKIE in request.cookies:
            response.delete_cookie(FLASH_COOKIE, path="/")
        new_anonymous: str | None = getattr(request.state, "new_anonymous", None)
        if new_anonymous:
            response.set_cookie(
                ANONYMOUS_COOKIE,
                new_anonymous,
                path="/",
                httponly=True,
                samesite="lax",
                secure=self._secure(request),
            )
        return response

    def _frame(self, caller: Principal | None) -> dict[str, Any]:
        layout = self.layout
        counts = [
            (link, link.count(caller) if caller is not None and link.count else 0)
            for link in layout.header_links
        ]
        return {
            "home": layout.home,
            "navigation": layout.navigation,
            "header_links": counts,
            "upcoming": layout.upcoming,
            "guide_url": layout.guide,
        }

    def error(
        self,
        request: Request,
        caller: Principal | None,
        status: int,
        title: str,
        message: str,
        back: str = "/",
    ) -> HTMLResponse:
        return self.render(
            request, "error.html", caller, status, title=title, message=message, back=back
        )

    def confirm(
        self,
        request: Request,
        caller: Principal,
        *,
        title: str,
        message: str,
        action: str,
        button: str,
        fields: list[tuple[str, str]] | None = None,
        back: str,
        style: str = "danger",
    ) -> HTMLResponse:
        """The confirmation step of a destructive form when no script asked already."""
        return self.render(
            request,
            "confirm.html",
            caller,
            title=title,
            message=message,
            action=action,
            button=button,
            fields=fields or [],
            back=back,
            style=style,
        )

    def internal_error_page(self, request_id: str) -> str:
        """The page of an unexpected error (rendered without a request: nothing can fail)."""
        return self._env.get_template("error.html").render(
            principal=None,
            csrf_token="",
            flash=None,
            path="",
            page_help=None,
            **self._frame(None),
            title="Something went wrong",
            message=f"Something went wrong on our side; quote request id {request_id}.",
            back="/",
        )
