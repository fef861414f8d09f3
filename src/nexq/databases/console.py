"""The Databases console pages: the list, Create Database, a database's overview (connection
details, nodes, password reset), delete after typing the name, and the CA certificate.

The owner's password is shown once, in the answer to the POST that made it (a new database,
a reset): rendered there, never stored, never redirected to, as the registry shows a token.
The overview of a database on its way somewhere (Provisioning, Pending, Deleting) asks the
browser to load it again every few seconds (a Refresh header): no script needed.
"""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.databases.api import CA_FILE
from nexq.databases.model import ENGINE, Database, Plan, Status
from nexq.databases.service import Databases
from nexq.web.console.web import Flash, Pages, status_of

Text = Annotated[str, Form()]
LIST = "/databases"
# States the provisioner moves on from without the user: their pages reload themselves.
MOVING = (Status.PROVISIONING, Status.PENDING, Status.DELETING)
REFRESH_SECONDS = 2


def database_url(name: str, tail: str = "") -> str:
    return f"{LIST}/{quote(name, safe='')}{tail}"


def _mib(mib: int) -> str:
    return f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"


def plan_sizes(plan: Plan) -> str:
    """``1 vCPU · 512 MiB memory · 1 GiB storage``."""
    vcpus = f"{plan.vcpus} vCPU{'s' if plan.vcpus != 1 else ''}"
    return f"{vcpus} · {_mib(plan.memory_mib)} memory · {_mib(plan.storage_mib)} storage"


def _field_of(message: str) -> str:
    """The form field a refusal is about (the service names it first), else the form."""
    for field in ("name", "plan"):
        if message.startswith(field):
            return field
    return "form"


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

    def new_page(
        request: Request,
        caller: Principal,
        form: dict[str, str] | None = None,
        error: str = "",
        status: int = 200,
    ) -> Response:
        plans = databases.plans
        return pages.render(
            request,
            "databases/new.html",
            caller,
            status,
            plans=[(p, plan_sizes(p)) for p in plans],
            form=form or {"name": "", "plan": plans[0].id if plans else "", "backups": "on"},
            error=error,
            error_field=_field_of(error) if error else "",
            over_limit=status == 403,
            engine=ENGINE,
        )

    def overview(
        request: Request,
        caller: Principal,
        database: Database,
        password: str = "",
        heading: str = "",
    ) -> Response:
        plan = plan_of(database)
        return pages.render(
            request,
            "databases/database.html",
            caller,
            database=database,
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
    def new_database(request: Request, caller: SignedIn) -> Response:
        return new_page(request, caller)

    @web.post("")
    def create_database(
        request: Request, caller: SignedIn, name: Text = "", plan: Text = "", backups: Text = ""
    ) -> Response:
        form = {"name": name, "plan": plan, "backups": backups}
        try:
            # No replicas: the service refuses high availability for now.
            made = databases.create(caller, name.strip(), plan, 0, backups == "on")
        except DomainError as exc:
            return new_page(request, caller, form, exc.message, status_of(exc))
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
