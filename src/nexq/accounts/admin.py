"""``nexq admin account …`` and ``nexq admin api-key …``: accounts from the server's command
line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Protocol

import typer

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.limits import Limits
from nexq.accounts.port import AccountStore
from nexq.accounts.service import Accounts
from nexq.adminkit import Commands, DataDir, Opener, emit, fail
from nexq.core.run_dir import RunDir


class Listening(Protocol):
    """What the reset command needs of the settings: where the console is reached."""

    @property
    def public_url(self) -> str | None: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def tls_cert(self) -> Path | None: ...
    @property
    def host(self) -> str: ...
    @property
    def api_port(self) -> int: ...


class Installation(Protocol):
    """What the commands need of a built installation."""

    accounts: Accounts
    api_keys: ApiKeys
    limits: Limits

    @property
    def settings(self) -> Listening:
        """The installation's settings."""
        ...

    @property
    def account_store(self) -> AccountStore:
        """Where accounts are kept (a tier is set there without a usage check)."""
        ...


def control_plane_url(settings: Listening) -> str:
    """Where users reach the console: the public URL, else the running server's listener
    (its real port), else the configured one."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    server = RunDir(settings.data_dir / "run").server()
    listen = server.get("listen", {}) if server is not None else {}
    scheme = listen.get("scheme") or ("https" if settings.tls_cert else "http")
    host = listen.get("host") or settings.host
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard listener is reached by name
        host = "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{listen.get('api') or settings.api_port}"


def commands(open_installation: Opener[Installation]) -> Commands:
    """The ``account`` and ``api-key`` groups of ``nexq admin``; each prints JSON."""
    account_cli = typer.Typer(help="Accounts.", no_args_is_help=True)
    api_key_cli = typer.Typer(help="Platform API keys.", no_args_is_help=True)

    @account_cli.command("create")
    def account_create(
        email: Annotated[str, typer.Option(help="The account's email.")],
        password: Annotated[str, typer.Option(help="The account's password (10+ characters).")],
        data_dir: DataDir = None,
        operator: Annotated[bool, typer.Option(help="Make it an operator account.")] = False,
    ) -> None:
        """Create an account; prints {"id", "email"}."""
        with open_installation(data_dir) as nexq:
            account = nexq.accounts.create(email, password, "operator" if operator else "customer")
        emit({"id": account.id, "email": account.email})

    @account_cli.command("list")
    def account_list(data_dir: DataDir = None) -> None:
        """Every account, oldest first: [{"id", "email", "role", "status", "created"}]."""
        with open_installation(data_dir) as nexq:
            listed, after = [], None
            while batch := nexq.accounts.list(after, 1000):
                listed.extend(batch)
                after = (batch[-1].created_at, batch[-1].id)
        emit(
            [
                {
                    "id": a.id,
                    "email": a.email,
                    "role": a.role,
                    "status": a.status,
                    "created": datetime.fromtimestamp(a.created_at, UTC).isoformat(
                        timespec="seconds"
                    ),
                }
                for a in listed
            ]
        )

    @account_cli.command("limits")
    def account_limits(
        account: Annotated[str, typer.Option(help="The account's email.")],
        set_: Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                help="NAME=VALUE override (repeatable): a number, 'unlimited' or 'default'.",
            ),
        ] = None,
        tier: Annotated[
            str | None, typer.Option(help="Move the account to this tier (no usage check).")
        ] = None,
        data_dir: DataDir = None,
    ) -> None:
        """Print the account's effective limits as JSON (null = unlimited); change them first."""
        changes: dict[str, str] = {}
        for item in set_ or []:
            name, sep, value = item.partition("=")
            if not sep:
                fail(f"--set {item!r}: use NAME=VALUE, e.g. buckets=50.")
            changes[name.strip()] = value
        with open_installation(data_dir) as nexq:
            owner = nexq.accounts.get(account)
            if tier is not None:
                nexq.account_store.set_account_tier(owner.id, nexq.limits.catalog.get(tier).id)
            nexq.limits.override(owner, changes)
            limits = nexq.limits.effective(owner)
        emit(limits)

    @account_cli.command("suspend")
    def account_suspend(email: str, data_dir: DataDir = None) -> None:
        """Suspend an account: its keys get 403 at once, nothing is deleted."""
        set_suspended(email, True, data_dir)

    @account_cli.command("resume")
    def account_resume(email: str, data_dir: DataDir = None) -> None:
        """Resume a suspended account."""
        set_suspended(email, False, data_dir)

    @account_cli.command("reset-password")
    def account_reset_password(email: str, data_dir: DataDir = None) -> None:
        """A one-time password reset link for the account (1 hour); hand it to its holder.
        Prints {"email", "link", "expires"}; the link is shown once and never again."""
        with open_installation(data_dir) as nexq:
            account = nexq.accounts.get(email)
            token, reset = nexq.accounts.issue_password_reset(account)
            base = control_plane_url(nexq.settings)
        emit(
            {
                "email": account.email,
                "link": f"{base}/reset-password/{token}",
                "expires": datetime.fromtimestamp(reset.expires_at, UTC).isoformat(
                    timespec="seconds"
                ),
            }
        )

    @account_cli.command("delete")
    def account_delete(email: str, data_dir: DataDir = None) -> None:
        """Delete an account for good: refused, naming them, while it holds resources (its
        holder deletes them first). Its keys stop working at once; its invoices stay.
        Prints {"id", "email", "status"}."""
        with open_installation(data_dir) as nexq:
            account = nexq.accounts.get(email)
            nexq.accounts.remove(account)
        emit({"id": account.id, "email": account.email, "status": "deleted"})

    def set_suspended(email: str, suspended: bool, data_dir: Path | None) -> None:
        with open_installation(data_dir) as nexq:
            account = nexq.accounts.set_suspended(nexq.accounts.get(email), suspended)
        emit({"id": account.id, "email": account.email, "status": account.status})

    @api_key_cli.command("create")
    def api_key_create(
        account: Annotated[str, typer.Option(help="The owning account's email.")],
        name: Annotated[str, typer.Option(help='What the key is for, e.g. "CI".')],
        scope: Annotated[
            list[str] | None,
            typer.Option(help="A scope such as storage:read (repeatable); default: every scope."),
        ] = None,
        description: Annotated[str, typer.Option(help="A longer note.")] = "",
        data_dir: DataDir = None,
    ) -> None:
        """Create an API key; prints {"id", "token", "scopes"}, the token once and never again."""
        with open_installation(data_dir) as nexq:
            principal = nexq.accounts.principal(nexq.accounts.get(account))
            key, token = nexq.api_keys.create(principal, name, description, scope or None)
        emit({"id": key.id, "token": token, "scopes": sorted(key.scopes)})

    return {"account": account_cli, "api-key": api_key_cli}
