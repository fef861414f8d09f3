"""``nexq``: run the server and administer an installation (JSON on stdout for scripts)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from nexq.app import (
    ADMIN_COMMANDS,
    SCOPE_CATALOG,
    Nexq,
    api_app,
    build,
    recover,
    s3_app,
    services,
    start_jobs,
)
from nexq.billing.model import Invoice
from nexq.billing.service import parse_month
from nexq.cli.master_key import master_key_cli
from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.core.ratelimit import RateLimiter
from nexq.settings import Settings
from nexq.storage.access_keys import AccessKeyView
from nexq.storage.fsck import check

cli = typer.Typer(help="Nexq: a self-hosted cloud platform.", no_args_is_help=True)
admin = typer.Typer(help="Operator commands (work while the server runs).", no_args_is_help=True)
account_cli = typer.Typer(help="Accounts.", no_args_is_help=True)
key_cli = typer.Typer(help="S3 access keys.", no_args_is_help=True)
api_key_cli = typer.Typer(help="Platform API keys.", no_args_is_help=True)
cli.add_typer(admin, name="admin")
admin.add_typer(account_cli, name="account")
admin.add_typer(key_cli, name="access-key")
admin.add_typer(api_key_cli, name="api-key")
billing_cli = typer.Typer(help="Invoices and payments.", no_args_is_help=True)
admin.add_typer(billing_cli, name="billing")
admin.add_typer(master_key_cli, name="master-key")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory [env NEXQ_DATA_DIR].")
]


@contextlib.contextmanager
def _installation(data_dir: Path | None) -> Iterator[Nexq]:
    """The installation's services; a domain error ends the command with its message."""
    nexq = build(Settings.from_env(data_dir=data_dir))
    try:
        yield nexq
    except DomainError as exc:
        _fail(exc.message)
    finally:
        nexq.close()


for _name, _commands in ADMIN_COMMANDS.items():
    admin.add_typer(_commands(_installation), name=_name)


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _key_json(view: AccessKeyView) -> dict[str, Any]:
    key = view.key
    return {
        "access_key_id": key.id,
        "label": key.label,
        "buckets": "all" if view.bucket_names is None else view.bucket_names,
        "status": "Active" if key.active else "Revoked",
        "created": datetime.fromtimestamp(key.created_at, UTC).isoformat(timespec="seconds"),
    }


@account_cli.command("create")
def account_create(
    email: Annotated[str, typer.Option(help="The account's email.")],
    password: Annotated[str, typer.Option(help="The account's password (10+ characters).")],
    data_dir: DataDir = None,
    operator: Annotated[bool, typer.Option(help="Make it an operator account.")] = False,
) -> None:
    """Create an account; prints {"id", "email"}."""
    with _installation(data_dir) as nexq:
        account = nexq.accounts.create(email, password, "operator" if operator else "customer")
    _print({"id": account.id, "email": account.email})


@account_cli.command("list")
def account_list(data_dir: DataDir = None) -> None:
    """Every account, oldest first: [{"id", "email", "role", "status", "created"}]."""
    with _installation(data_dir) as nexq:
        listed, after = [], None
        while batch := nexq.accounts.list(after, 1000):
            listed.extend(batch)
            after = (batch[-1].created_at, batch[-1].id)
    _print(
        [
            {
                "id": a.id,
                "email": a.email,
                "role": a.role,
                "status": a.status,
                "created": datetime.fromtimestamp(a.created_at, UTC).isoformat(timespec="seconds"),
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
            _fail(f"--set {item!r}: use NAME=VALUE, e.g. buckets=50.")
        changes[name.strip()] = value
    with _installation(data_dir) as nexq:
        owner = nexq.accounts.get(account)
        if tier is not None:
            nexq.account_store.set_account_tier(owner.id, nexq.limits.catalog.get(tier).id)
        nexq.limits.override(owner, changes)
        limits = nexq.limits.effective(owner)
    _print(limits)


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
    with _installation(data_dir) as nexq:
        owner = nexq.accounts.get(account)
        principal = Principal(owner, frozenset(SCOPE_CATALOG.of_role(owner.role)))
        key, token = nexq.api_keys.create(principal, name, description, scope or None)
    _print({"id": key.id, "token": token, "scopes": sorted(key.scopes)})


def _invoice_json(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "account_id": invoice.account_id,
        "month": invoice.month,
        "status": invoice.status,
        "currency": invoice.currency,
        "total": str(invoice.total),
    }


@billing_cli.command("close-month")
def billing_close_month(
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM (a past month); default: last month.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Invoice every account that used something in the month (runs itself when a month
    begins; running it again makes no second invoice). Prints the new invoices."""
    with _installation(data_dir) as nexq:
        if month is None:
            last = nexq.billing.today().replace(day=1) - timedelta(days=1)
            month = f"{last:%Y-%m}"
        made = nexq.billing.close_month(parse_month(month))
    _print([_invoice_json(i) for i in made])


@billing_cli.command("invoices")
def billing_invoices(
    account: Annotated[str, typer.Option(help="The account's email.")],
    data_dir: DataDir = None,
) -> None:
    """The account's invoices, newest first."""
    with _installation(data_dir) as nexq:
        found = nexq.billing.invoices(nexq.accounts.get(account))
    _print([_invoice_json(i) for i in found])


@billing_cli.command("set-status")
def billing_set_status(
    invoice: Annotated[str, typer.Argument(help="Invoice id or number.")],
    status: Annotated[str, typer.Argument(help="paid, void or open.")],
    data_dir: DataDir = None,
) -> None:
    """Record a payment (paid), cancel an invoice (void) or reopen it."""
    with _installation(data_dir) as nexq:
        changed = nexq.billing.set_status(nexq.billing.invoice(None, invoice), status)
    _print(_invoice_json(changed))


@account_cli.command("suspend")
def account_suspend(email: str, data_dir: DataDir = None) -> None:
    """Suspend an account: its keys get 403 at once, nothing is deleted."""
    _set_suspended(email, True, data_dir)


@account_cli.command("resume")
def account_resume(email: str, data_dir: DataDir = None) -> None:
    """Resume a suspended account."""
    _set_suspended(email, False, data_dir)


def _set_suspended(email: str, suspended: bool, data_dir: Path | None) -> None:
    with _installation(data_dir) as nexq:
        account = nexq.accounts.set_suspended(nexq.accounts.get(email), suspended)
    _print({"id": account.id, "email": account.email, "status": account.status})


@key_cli.command("create")
def key_create(
    account: Annotated[str, typer.Option(help="The owning account's email.")],
    label: Annotated[str, typer.Option(help='A descriptive name, e.g. "Production API".')],
    bucket: Annotated[
        list[str] | None, typer.Option(help="Limit the key to this bucket (repeatable).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an access key; the secret is printed once and can never be shown again."""
    with _installation(data_dir) as nexq:
        owner = nexq.accounts.get(account)
        view, secret = nexq.access_keys.create(owner.id, label, bucket or None)
    out = _key_json(view)
    _print(
        {
            "access_key_id": out["access_key_id"],
            "secret_access_key": secret,
            "label": out["label"],
            "buckets": out["buckets"],
        }
    )


@key_cli.command("list")
def key_list(
    account: Annotated[str, typer.Option(help="The owning account's email.")],
    data_dir: DataDir = None,
) -> None:
    """List the account's access keys (never their secrets)."""
    with _installation(data_dir) as nexq:
        views = nexq.access_keys.list(nexq.accounts.get(account).id)
    _print([_key_json(v) for v in views])


@key_cli.command("revoke")
def key_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID")],
    account: Annotated[str, typer.Option(help="The owning account's email.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key: every request signed with it gets 403 at once."""
    with _installation(data_dir) as nexq:
        nexq.access_keys.revoke(nexq.accounts.get(account).id, key_id)
    _print({"access_key_id": key_id, "status": "Revoked"})


@key_cli.command("delete")
def key_delete(
    key_id: Annotated[str, typer.Argument(metavar="ID")],
    account: Annotated[str, typer.Option(help="The owning account's email.")],
    data_dir: DataDir = None,
) -> None:
    """Delete a key permanently."""
    with _installation(data_dir) as nexq:
        nexq.access_keys.delete(nexq.accounts.get(account).id, key_id)
    _print({"access_key_id": key_id, "deleted": True})


@admin.command("fsck")
def fsck(
    data_dir: DataDir = None,
    repair: Annotated[
        bool,
        typer.Option(
            help="Remove orphan blob files older than five minutes; recount wrong counters."
        ),
    ] = False,
) -> None:
    """Check that every object's blobs exist with the right size, and that bucket and
    account counters (objects, stored bytes) match the objects; exit 1 if not."""
    with _installation(data_dir) as nexq:
        report = check(nexq.store, nexq.blobs, repair=repair)
    _print(
        {
            "clean": report.clean,
            "blobs_referenced": report.objects_blobs,
            "missing": report.missing,
            "wrong_size": report.wrong_size,
            "orphans": report.orphans,
            "temporaries": report.temporaries,
            "removed": report.removed,
            "counters": report.counters,
            "recounted": report.recounted,
        }
    )
    if not report.clean and not (repair and not report.missing and not report.wrong_size):
        raise typer.Exit(1)


@cli.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Listen address [env NEXQ_HOST].")] = None,
    s3_port: Annotated[int | None, typer.Option(help="S3 port [env NEXQ_S3_PORT].")] = None,
    api_port: Annotated[int | None, typer.Option(help="API port [env NEXQ_API_PORT].")] = None,
    region: Annotated[str | None, typer.Option(help="Region name [env NEXQ_REGION].")] = None,
    s3_domain: Annotated[
        str | None, typer.Option(help="Domain for virtual-hosted buckets [env NEXQ_S3_DOMAIN].")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    self_signed: Annotated[
        bool, typer.Option(help="Serve HTTPS with a generated self-signed certificate.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes; 0 = one per core [env NEXQ_WORKERS].")
    ] = None,
    s3_url: Annotated[
        str | None,
        typer.Option(help="The S3 URL clients use, if not host:port [env NEXQ_S3_URL]."),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The console/API URL users reach (behind a proxy); https:// makes cookies "
            "Secure [env NEXQ_PUBLIC_URL]."
        ),
    ] = None,
    trusted_proxies: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated IPs/CIDRs of proxies whose X-Forwarded-For/-Proto are "
            "believed [env NEXQ_TRUSTED_PROXIES]."
        ),
    ] = None,
) -> None:
    """Start the S3 endpoint and the control plane on embedded defaults."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env(
        data_dir=data_dir,
        host=host,
        s3_port=s3_port,
        api_port=api_port,
        region=region,
        s3_domain=s3_domain,
        tls_cert=tls_cert,
        tls_key=tls_key,
        workers=workers,
        s3_url=s3_url,
        public_url=public_url,
        trusted_proxies=trusted_proxies,
    )
    if self_signed and settings.tls_cert is None:
        from nexq.cli.tls import self_signed as make_certificate

        cert, key = make_certificate(settings.data_dir / "tls", settings.host)
        settings = replace(settings, tls_cert=cert, tls_key=key)
    try:
        nexq = build(settings)
    except DomainError as exc:  # e.g. a mistake in the operator's tiers.toml
        _fail(exc.message)
    removed = recover(nexq)
    if removed:
        logging.getLogger("nexq").info("start-up recovery removed %d leftover files", removed)
    _first_start(nexq)
    nexq.close()
    sockets = [_listen(settings.host, settings.s3_port), _listen(settings.host, settings.api_port)]
    scheme = "https" if settings.tls_cert else "http"
    typer.echo(f"Nexq S3 endpoint:  {scheme}://{settings.host}:{sockets[0].getsockname()[1]}")
    typer.echo(f"Nexq control plane: {scheme}://{settings.host}:{sockets[1].getsockname()[1]}")
    typer.echo(f"Region: {settings.region}   data: {settings.data_dir.resolve()}")
    sys.stdout.flush()
    # Made before forking, so that every worker draws from the same buckets.
    rates = RateLimiter()
    if settings.workers <= 1:
        _run_worker(settings, sockets, rates)
        return
    children: list[int] = []
    stopping = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    # Installed before forking: a Ctrl-C that arrives while workers start still stops them all.
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    parent = os.getpid()
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    sys.stdout.flush()
    sys.stderr.flush()
    for _ in range(settings.workers):
        if stopping.is_set():
            break
        # Blocked across fork: a stop signal must neither reach a child that still runs the
        # parent's handler nor slip past the parent before it knows the new child.
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
            # A worker dies with its parent, as abruptly: a killed server leaves no orphans
            # holding the ports (acknowledged writes are durable either way).
            _die_with_parent(parent)
            _run_worker(settings, sockets, rates)
            os._exit(0)
        children.append(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
    for child in children:
        os.waitpid(child, 0)


def _die_with_parent(parent: int) -> None:
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off only for sockets that name it, and
    # with Nagle on a small GET's body waits for the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


OPERATOR = "operator@nexq.local"
OPERATOR_FILE = "operator-password"  # in the data dir, 0600, until the operator deletes it


def _first_start(nexq: Nexq) -> None:
    """On an empty installation, create the operator account; its password goes to a 0600
    file in the data dir, never to stdout (a service manager keeps stdout in its journal)."""
    path = nexq.settings.data_dir / OPERATOR_FILE
    if (
        nexq.accounts.find(OPERATOR) is not None
        or nexq.db.reader().execute("SELECT 1 FROM accounts LIMIT 1").fetchone()
    ):
        if path.exists():
            logging.getLogger("nexq").warning(
                "%s still holds the operator's first password: change the password, then "
                "delete the file",
                path.resolve(),
            )
        return
    from nexq.core.ids import random_string

    password = random_string(20)
    _write_secret(path, password + "\n")
    try:
        nexq.accounts.create(OPERATOR, password, "operator")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    shown = path.resolve()
    typer.echo(f"First start: created the operator account {OPERATOR}")
    typer.echo("  its password is in a file only the user running Nexq can read:")
    typer.echo(f"    cat '{shown}'")
    typer.echo("  log in, change the password (console: Account > Password), then delete that file")
    typer.echo(
        f'  make an S3 key: nexq admin access-key create --account {OPERATOR} --label "My key"'
    )


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a new file that only this user can read (0600, never a file that
    was there: a leftover of an earlier installation is replaced, a link never followed)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _run_worker(settings: Settings, sockets: list[socket.socket], rates: RateLimiter) -> None:
    # Imported here: the admin commands never pay for the HTTP server.
    from nexq.cli.listeners import Listener, serve_forever

    nexq = build(settings)
    stop = threading.Event()
    start_jobs([job for service in services(nexq) for job in service.jobs], stop)
    s3 = s3_app(nexq, rates)
    try:
        serve_forever(
            [
                Listener(s3, sockets[0], s3.request_timeout),
                Listener(api_app(nexq, rates), sockets[1]),
            ],
            settings.tls_cert,
            settings.tls_key,
            settings.body_idle_seconds,
            settings.trusted_proxies,
        )
    finally:
        stop.set()
        nexq.close()


def main() -> None:
    """Entry point of the ``nexq`` command."""
    cli()


if __name__ == "__main__":
    main()
