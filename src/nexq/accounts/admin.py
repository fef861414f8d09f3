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


class Installation(Protocol):
    """What the commands need of a built installation."""

    accounts: Accounts
    api_keys: ApiKeys
    limits: Limits

    @property
    def account_store(self) -> AccountStore:
        """Where accounts are kept (a tier is set there without a usage check)."""
        ...


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
