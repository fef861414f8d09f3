"""The Databases console pages: the list, Create Database (new, or restored from another
database's backups), a database's overview (connection details, nodes, password reset), its
backups (history, recovery window, Back up now), delete after typing the name, and the CA
certificate.

The owner's password is shown once, in the answer to the POST that made it (a new database,
a restored one, a reset): rendered there, never stored, never redirected to, as the registry
shows a token. A page whose subject is on its way somewhere (a database Provisioning, Pending
or Deleting; a backup asked for or the first one not taken yet) asks the browser to load it
again every few seconds (a Refresh header): no script needed.
"""

import contextlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.core.errors import DomainError, Invalid, NotFound
from nexq.core.identity import Principal
from nexq.databases.api import CA_FILE
from nexq.databases.model import ENGINE, Backup, BackupHistory, Database, Plan, Status
from nexq.databases.service import Databases
from nexq.display import mib_as_set
from nexq.web.console.web import Flash, Pages, status_of

Text = Annotated[str, Form()]
LIST = "/databases"
# States the provisioner moves on from without the user: their pages reload themselves.
MOVING = (Status.PROVISIONING, Status.PENDING, Status.DELETING)
REFRESH_SECONDS = 2
RESTORE = "restore"  # Create Database's mode that makes the database from backups
# What <input type="datetime-local"> sends (seconds with step="1"); ASCII digits only.
LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?")
# The service names the field a refusal is about first; the form shows it under that field,
# in the form's words rather than the API's.
FIELDS = {
    "name": ("name", ""),
    "plan": ("plan", ""),
    "restore.source:": ("source", "restore.source: "),
    "restore.target_time:": ("target_time", "restore.target_time: "),
}


def database_url(name: str, tail: str = "") -> str:
    return f"{LIST}/{quote(name, safe='')}{tail}"


def plan_sizes(plan: Plan) -> str:
    """``1 vCPU · 512 MiB memory · 1 GiB storage``."""
    vcpus = f"{plan.vcpus} vCPU{'s' if plan.vcpus != 1 else ''}"
    memory, storage = mib_as_set(plan.memory_mib), mib_as_set(plan.storage_mib)
    return f"{vcpus} · {memory} memory · {storage} storage"


def _field_of(message: str) -> tuple[str, str]:
    """The form field a refusal is about (the service names it first), else the form; and
    the message as the form shows it."""
    for start, (field, prefix) in FIELDS.items():
        if message.startswith(start):
            return field, message.removeprefix(prefix)
    return "form", message


def utc_text(timestamp: float) -> str:
    """``2026-11-27 23:16:05 UTC``: to the second, as a recovery point is chosen."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def local_input(timestamp: float) -> str:
    """The value of a datetime-local input for ``timestamp`` (in UTC, to the second)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def ago(seconds: float) -> str:
    """``just now``, ``40 seconds ago``, ``3 minutes ago``, ``2 hours ago``, ``5 days ago``."""
    if seconds < 5:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    raise AssertionError("unreachable")  # pragma: no cover


def took(seconds: float) -> str:
    """How long a backup took: ``4.2 s``, ``3 min 5 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def parse_utc(text: str) -> float:
    """The time a datetime-local field names, read as UTC."""
    text = text.strip()
    when = None
    if LOCAL_TIME.fullmatch(text):
        try:
            when = datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError:
            when = None
    if when is None:
        raise Invalid(
            "restore.target_time: give the date and time to restore to, in UTC "
            "(e.g. 2027-01-31T12:00:00), or choose Latest."
        )
    return when.timestamp()


@dataclass(frozen=True, slots=True)
class BackupRow:
    """A row of the backup history as the page shows it."""

    label: str
    type: str
    taken_at: float
    taken: str  # relative: 3 minutes ago
    size: int | None  # None for the WAL row: it grows continuously
    duration: str

    @staticmethod
    def of(backup: Backup, now: float) -> "BackupRow":
        full = backup.type == "FULL"
        return BackupRow(
            label=backup.label,
            type=backup.type,
            taken_at=backup.taken_at,
            taken=ago(max(0.0, now - backup.taken_at)),
            size=backup.size if full else None,
            duration=took(backup.duration) if full else "Continuous",
        )


@dataclass(frozen=True, slots=True)
class Source:
    """A database the restore form offers, with the window it can be restored to."""

    name: str
    backups: bool  # automated backups on
    oldest: float | None
    latest: float | None

    @property
    def restorable(self) -> bool:
        return self.backups and self.oldest is not None and self.latest is not None


def _refreshing(response: Response, moving: bool) -> Response:
    """``response`` asks the browser to load the page again soon when something moves."""
    if moving:
        response.headers["refresh"] = str(REFRESH_SECONDS)
    return response


def router(databases: Databases, pages: Pages) -> APIRouter:
    """Every Databases page, under /databases."""
    web = APIRouter(prefix=LIST)
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def plan_of(database: Database) -> Plan | None:
        # A plan the operator removed from tiers.toml still names the database's size.
        return databases.catalog.plans.get(database.plan)

    def blank_form(source: str = "") -> dict[str, str]:
        """Create Database's fields at first: backups on, the latest point of ``source``."""
        plans = databases.plans
        return {
            "name": "",
            "plan": plans[0].id if plans else "",
            "backups": "on",
            "replicas": "0",
            "synchronous": "on",
            "source": source,
            "restore_point": "latest",
            "target_time": "",
        }

    def sources(caller: Principal, wanted: str = "") -> list[Source]:
        """What the restore form offers: the account's databases with backups on and a
        recovery window; and ``wanted`` (the one a link or a refused form named) if it is one
        of the account's, so that the form can say why it cannot be restored from."""
        found = []
        for database in databases.all(caller):
            history = BackupHistory([], None, None, 0)
            if database.backups and database.status != Status.DELETING:
                # A repository that does not answer now: the database is not offered now.
                with contextlib.suppress(DomainError):
                    history = databases.backups(caller, database.name)
            source = Source(database.name, database.backups, history.oldest, history.latest)
            if source.restorable or database.name == wanted:
                found.append(source)
        return found

    def new_page(
        request: Request,
        caller: Principal,
        form: dict[str, str] | None = None,
        error: str = "",
        status: int = 200,
        mode: str = "",
    ) -> Response:
        plans = databases.plans
        form = form or blank_form()
        error_field, message = _field_of(error) if error else ("", "")
        offered = sources(caller, form["source"]) if mode == RESTORE else []
        chosen = next((o for o in offered if o.name == form["source"]), None)
        if chosen is None and offered:
            chosen = offered[0]
        return pages.render(
            request,
            "databases/new.html",
            caller,
            status,
            plans=[(p, plan_sizes(p)) for p in plans],
            form=form,
            error=message,
            error_field=error_field,
            over_limit=status == 403,
            engine=ENGINE,
            mode=mode,
            sources=offered,
            chosen=chosen,
            utc_text=utc_text,
            local_input=local_input,
        )

    def overview(
        request: Request,
        caller: Principal,
        database: Database,
        password: str = "",
        heading: str = "",
    ) -> Response:
        plan = plan_of(database)
        restored_from = None
        if database.restore_source is not None:
            restored_from = next(
                (d.name for d in databases.all(caller) if d.id == database.restore_source),
                "a deleted database",
            )
        return pages.render(
            request,
            "databases/database.html",
            caller,
            database=database,
            restored_from=restored_from,
            utc_text=utc_text,
            engine=ENGINE,
            plan=plan,
            sizes=plan_sizes(plan) if plan else "",
            endpoint=databases.endpoint(database),
            used=databases.used_bytes(database),
            nodes=databases.nodes(caller, database.name),
            moving=database.status in MOVING and not password,
            running=database.status == Status.RUNNING,
            password=password,
            heading=heading,
            ca_file=CA_FILE,
            database_url=database_url,
        )

    @web.get("")
    def list_databases(request: Request, caller: SignedIn) -> Response:
        found = databases.all(caller)
        moving = any(d.status in MOVING for d in found)
        page = pages.render(
            request,
            "databases/databases.html",
            caller,
            databases=[(d, plan_of(d)) for d in found],
            moving=moving,
            engine=ENGINE,
            database_url=database_url,
        )
        return _refreshing(page, moving)

    @web.get("/new")
    def new_database(
        request: Request, caller: SignedIn, mode: str = "", source: str = ""
    ) -> Response:
        mode = RESTORE if mode == RESTORE else ""
        return new_page(request, caller, blank_form(source), mode=mode)

    @web.post("")
    def create_database(
        request: Request,
        caller: SignedIn,
        name: Text = "",
        plan: Text = "",
        backups: Text = "",
        replicas: Text = "0",
        synchronous: Text = "",
        mode: Text = "",
        source: Text = "",
        restore_point: Text = "",
        target_time: Text = "",
    ) -> Response:
        mode = RESTORE if mode == RESTORE else ""
        form = {
            "name": name,
            "plan": plan,
            "backups": backups,
            "replicas": replicas if replicas in ("0", "1", "2") else "0",
            "synchronous": synchronous,
            "source": source,
            "restore_point": "time" if restore_point == "time" else "latest",
            "target_time": target_time,
        }
        try:
            if mode == RESTORE:
                if not source:
                    raise Invalid("restore.source: choose the database to restore from.")
                # The Latest radio wins over a time typed before: that is how a time is reset.
                target = parse_utc(target_time) if form["restore_point"] == "time" else None
                made = databases.create(
                    caller,
                    name.strip(),
                    plan,
                    int(form["replicas"]),
                    backups == "on",
                    source,
                    target,
                    synchronous=synchronous == "on",
                )
            else:
                made = databases.create(
                    caller,
                    name.strip(),
                    plan,
                    int(form["replicas"]),
                    backups == "on",
                    synchronous=synchronous == "on",
                )
        except NotFound as exc:
            if mode != RESTORE:
                raise
            # The source named is none of the account's databases: a mistake in the form.
            return new_page(request, caller, form, f"restore.source: {exc.message}", 400, mode)
        except DomainError as exc:
            return new_page(request, caller, form, exc.message, status_of(exc), mode)
        return overview(request, caller, made.database, made.password, "Database created")

    # Before /{name}: a database name never has a dot, so the file name is never one.
    @web.get(f"/{CA_FILE}")
    def certificate_authority(request: Request, caller: SignedIn) -> Response:
        return Response(
            databases.authority_pem(),
            media_type="application/x-pem-file",
            headers={"content-disposition": f'attachment; filename="{CA_FILE}"'},
        )

    @web.get("/{name}")
    def show(request: Request, name: str, caller: SignedIn) -> Response:
        found = databases.get(caller, name)
        return _refreshing(overview(request, caller, found), found.status in MOVING)

    def backups_page(
        request: Request, caller: Principal, database: Database, error: str = "", status: int = 200
    ) -> Response:
        history, unreadable = BackupHistory([], None, None, 0), ""
        try:
            history = databases.backups(caller, database.name)
        except DomainError as exc:
            unreadable = exc.message
        now = time.time()
        running = database.status == Status.RUNNING
        # Reloaded until what is on its way shows: a backup asked for, or the first one.
        waiting = (
            database.backups
            and running
            and not unreadable
            and (database.backup_requested_at is not None or not history.backups)
        )
        page = pages.render(
            request,
            "databases/backups.html",
            caller,
            status,
            database=database,
            engine=ENGINE,
            plan=plan_of(database),
            history=history,
            rows=[BackupRow.of(b, now) for b in history.backups],
            full_backups=sum(1 for b in history.backups if b.type == "FULL"),
            unreadable=unreadable,
            running=running,
            waiting=waiting,
            requested=database.backup_requested_at is not None,
            retention_days=databases.retention_days(database.account_id),
            error=error,
            utc_text=utc_text,
            restore_url=f"{LIST}/new?" + urlencode({"mode": RESTORE, "source": database.name}),
            database_url=database_url,
        )
        return _refreshing(page, bool(waiting) or database.status in MOVING)

    @web.get("/{name}/backups")
    def backups(request: Request, name: str, caller: SignedIn) -> Response:
        return backups_page(request, caller, databases.get(caller, name))

    @web.post("/{name}/backups")
    def back_up_now(request: Request, name: str, caller: SignedIn) -> Response:
        found = databases.get(caller, name)
        try:
            databases.request_backup(caller, name)
        except DomainError as exc:
            return backups_page(request, caller, found, exc.message, status_of(exc))
        asked = Flash(
            "success",
            f"Backup requested: a full backup of {found.name} is being taken; it appears in the "
            "history within seconds.",
        )
        return pages.redirect(request, database_url(found.name, "/backups"), asked)

    @web.post("/{name}/reset-password")
    def reset_password(
        request: Request, name: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        found = databases.get(caller, name)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Reset the password of {found.name}?",
                message="The owner's new password is shown once; the current one stops working "
                "at once, so update every application that uses it.",
                action=database_url(found.name, "/reset-password"),
                button="Reset password",
                back=database_url(found.name),
                style="warning",
            )
        password = databases.reset_password(caller, name)
        return overview(request, caller, found, password, "Password reset")

    @web.get("/{name}/delete")
    def delete_page(request: Request, name: str, caller: SignedIn) -> Response:
        found = databases.get(caller, name)
        return pages.render(
            request,
            "databases/delete.html",
            caller,
            database=found,
            typed="",
            error="",
            database_url=database_url,
        )

    @web.post("/{name}/delete")
    def delete_database(
        request: Request, name: str, caller: SignedIn, confirm_name: Text = ""
    ) -> Response:
        found = databases.get(caller, name)
        if confirm_name.strip() != found.name:
            error = f"Type {found.name} exactly to delete it." if confirm_name else ""
            return pages.render(
                request,
                "databases/delete.html",
                caller,
                400 if error else 200,
                database=found,
                typed=confirm_name,
                error=error,
                database_url=database_url,
            )
        databases.delete(caller, name)
        done = Flash(
            "success",
            f"Database {found.name} is being deleted with all its data; the name is free again "
            "once it leaves the list.",
        )
        return pages.redirect(request, LIST, done)

    return web
