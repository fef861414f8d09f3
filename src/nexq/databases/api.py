"""REST routes of Databases: /v1/databases."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from nexq.core.errors import Invalid
from nexq.core.identity import Principal
from nexq.databases.model import ENGINE, Backup, BackupHistory, Database, Node, Plan
from nexq.databases.service import Databases
from nexq.web.rest.formats import iso, iso_or_none
from nexq.web.rest.security import Authorizer

CA_FILE = "nexq-databases-ca.pem"


class RestoreIn(BaseModel):
    source: str = Field(description="The database whose backups to restore (yours).")
    target_time: datetime | None = Field(
        None, description="Any second of its recovery window (ISO 8601); default: the latest."
    )


class DatabaseIn(BaseModel):
    name: Annotated[str, Field(min_length=3, max_length=63, examples=["orders"])]
    plan: Annotated[str, Field(examples=["micro"], description="GET /v1/databases/plans")]
    replicas: int = Field(0, ge=0, le=2, description="Replicas for high availability (0: none).")
    synchronous: bool = Field(
        True,
        description="With replicas: a commit is acknowledged once a replica has it too, so "
        "a failover loses no acknowledged commit (off: faster commits, a failover may lose "
        "the last ones).",
    )
    backups: bool = Field(True, description="Automated backups.")
    restore: RestoreIn | None = Field(
        None, description="Made from another database's backups, as it was at a time."
    )


class BackupOut(BaseModel):
    label: str
    type: str = Field(description="FULL, or WAL: what was archived continuously since.")
    taken_at: str
    size: int
    duration_seconds: float

    @staticmethod
    def of(backup: Backup) -> "BackupOut":
        return BackupOut(
            label=backup.label,
            type=backup.type,
            taken_at=iso(backup.taken_at),
            size=backup.size,
            duration_seconds=round(backup.duration, 1),
        )


class RecoveryWindowOut(BaseModel):
    oldest: str | None = Field(description="The oldest time it can be restored to.")
    latest: str | None = Field(description="The latest (everything committed before it).")


class BackupsOut(BaseModel):
    backups: list[BackupOut]
    recovery_window: RecoveryWindowOut
    size: int = Field(description="Bytes its backups take.")

    @staticmethod
    def of(history: BackupHistory) -> "BackupsOut":
        return BackupsOut(
            backups=[BackupOut.of(b) for b in history.backups],
            recovery_window=RecoveryWindowOut(
                oldest=iso_or_none(history.oldest), latest=iso_or_none(history.latest)
            ),
            size=history.size,
        )


class BackupRequestedOut(BaseModel):
    requested_at: str


class PlanOut(BaseModel):
    id: str
    name: str
    vcpus: int
    memory_mib: int
    storage_mib: int

    @staticmethod
    def of(plan: Plan) -> "PlanOut":
        return PlanOut(
            id=plan.id,
            name=plan.name,
            vcpus=plan.vcpus,
            memory_mib=plan.memory_mib,
            storage_mib=plan.storage_mib,
        )


class ConnectionOut(BaseModel):
    host: str
    port: int | None = Field(description="Given once the database is placed on a host.")
    database: str
    user: str
    sslmode: str = "verify-full"
    uri: str = Field(description=f"Without the password; {CA_FILE} from GET /v1/databases/ca.")
    psql: str
    node_ports: list[int] = Field(
        default_factory=list,
        description="With replicas: each node's own port (the endpoint's port leads to the "
        "primary whichever it is).",
    )
    direct_uri: str = Field(
        description="For libpq clients (psql, psycopg, pgbench): every node listed with "
        "target_session_attrs=read-write, so libpq itself connects to the primary with no "
        "proxy in between. The same as uri without replicas."
    )


class RestoredOut(BaseModel):
    source: str | None = Field(description="The database restored from (null once deleted).")
    target_time: str | None = Field(description="The time restored to; null: the latest.")


class DatabaseOut(BaseModel):
    name: str
    status: str = Field(description="Provisioning, Pending, Running, Deleting or Error.")
    reason: str = Field(description="Why it is Pending or in Error.")
    engine: str
    plan: PlanOut
    high_availability: bool
    replicas: int
    synchronous: bool = Field(
        description="With replicas: whether a commit waits until a replica has it."
    )
    backups: bool
    created_at: str
    used_bytes: int | None = Field(description="Bytes in use of the plan's storage.")
    connection: ConnectionOut
    restored_from: RestoredOut | None = Field(
        None, description="Set for a database made from another's backups."
    )

    @staticmethod
    def of(found: Database, databases: Databases) -> "DatabaseOut":
        endpoint = databases.endpoint(found)
        return DatabaseOut(
            name=found.name,
            status=found.status,
            reason=found.reason,
            engine=ENGINE,
            plan=PlanOut.of(databases.plan_of(found)),
            high_availability=found.replicas > 0,
            replicas=found.replicas,
            synchronous=found.synchronous,
            backups=found.backups,
            created_at=iso(found.created_at),
            used_bytes=databases.used_bytes(found),
            connection=ConnectionOut(
                host=endpoint.host,
                port=endpoint.port,
                database=endpoint.database,
                user=endpoint.user,
                uri=endpoint.uri,
                psql=endpoint.psql,
                node_ports=list(endpoint.nodes),
                direct_uri=endpoint.direct_uri,
            ),
            restored_from=RestoredOut(
                source=databases.source_of(found),
                target_time=iso_or_none(found.restore_target),
            )
            if found.restore_source
            else None,
        )


class CreatedOut(DatabaseOut):
    password: str = Field(description="The owner's password, shown this once.")


class PasswordOut(BaseModel):
    password: str = Field(description="The owner's new password, shown this once.")


class NodeOut(BaseModel):
    id: str
    role: str
    status: str
    lag_bytes: int | None
    synchronous: bool = Field(
        description="The replica that confirms each commit before it is acknowledged: the "
        "one a failover promotes when the database has synchronous commits."
    )

    @staticmethod
    def of(node: Node) -> "NodeOut":
        return NodeOut(
            id=node.id,
            role=node.role,
            status=node.status,
            lag_bytes=node.lag_bytes,
            synchronous=node.synchronous,
        )


def router(databases: Databases, auth: Authorizer) -> APIRouter:
    """The Databases routes."""
    api = APIRouter(prefix="/v1/databases", tags=["databases"])
    Read = Annotated[Principal, Depends(auth.require("databases:read"))]
    Write = Annotated[Principal, Depends(auth.require("databases:write"))]

    @api.get("", summary="The account's databases")
    def list_databases(caller: Read) -> list[DatabaseOut]:
        return [DatabaseOut.of(d, databases) for d in databases.all(caller)]

    @api.post("", status_code=201, summary="Create a database")
    def create(body: DatabaseIn, caller: Write) -> CreatedOut:
        """Provisioning at first, Running within seconds; the password is shown this once."""
        restore = body.restore
        when = restore.target_time if restore else None
        if when is not None and when.tzinfo is None:
            raise Invalid("restore.target_time: give a time zone (e.g. 2027-01-31T12:00:00Z).")
        made = databases.create(
            caller,
            body.name,
            body.plan,
            body.replicas,
            body.backups,
            restore.source if restore else None,
            when.timestamp() if when else None,
            body.synchronous,
        )
        return CreatedOut(
            **DatabaseOut.of(made.database, databases).model_dump(), password=made.password
        )

    @api.get("/plans", summary="The plans a database can be created with")
    def plans(caller: Read) -> list[PlanOut]:
        return [PlanOut.of(p) for p in databases.plans]

    @api.get(
        "/ca",
        summary="The CA certificate that signs every database's certificate",
        response_class=Response,
        responses={200: {"content": {"application/x-pem-file": {}}, "description": "PEM"}},
    )
    def ca(caller: Read) -> Response:
        """PEM; clients verify the server with it (sslmode=verify-full)."""
        return Response(
            databases.authority_pem(),
            media_type="application/x-pem-file",
            headers={"Content-Disposition": f'attachment; filename="{CA_FILE}"'},
        )

    @api.get("/{name}", summary="A database")
    def show(name: str, caller: Read) -> DatabaseOut:
        return DatabaseOut.of(databases.get(caller, name), databases)

    @api.delete("/{name}", status_code=202, summary="Delete a database")
    def delete(name: str, caller: Write) -> DatabaseOut:
        """Deleting at once; the cluster and its files are gone within seconds."""
        return DatabaseOut.of(databases.delete(caller, name), databases)

    @api.post("/{name}/reset-password", summary="Reset the owner's password")
    def reset_password(name: str, caller: Write) -> PasswordOut:
        """A new password, shown this once; the old one stops working at once."""
        return PasswordOut(password=databases.reset_password(caller, name))

    @api.get("/{name}/backups", summary="Its backups and recovery window")
    def backups(name: str, caller: Read) -> BackupsOut:
        return BackupsOut.of(databases.backups(caller, name))

    @api.post("/{name}/backups", status_code=202, summary="Back up now")
    def back_up(name: str, caller: Write) -> BackupRequestedOut:
        """A full backup, taken within seconds; it appears in GET …/backups once done."""
        return BackupRequestedOut(requested_at=iso(databases.request_backup(caller, name)))

    @api.get("/{name}/nodes", summary="Its nodes: the primary and the replicas")
    def nodes(name: str, caller: Read) -> list[NodeOut]:
        return [NodeOut.of(n) for n in databases.nodes(caller, name)]

    return api
