"""REST routes of Databases: /v1/databases."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from nexq.core.identity import Principal
from nexq.databases.model import ENGINE, Database, Node, Plan
from nexq.databases.service import Databases
from nexq.web.rest.formats import iso
from nexq.web.rest.security import Authorizer

CA_FILE = "nexq-databases-ca.pem"


class DatabaseIn(BaseModel):
    name: Annotated[str, Field(min_length=3, max_length=63, examples=["orders"])]
    plan: Annotated[str, Field(examples=["micro"], description="GET /v1/databases/plans")]
    replicas: int = Field(0, ge=0, le=2, description="Replicas for high availability (0: none).")
    backups: bool = Field(True, description="Automated backups.")


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


class DatabaseOut(BaseModel):
    name: str
    status: str = Field(description="Provisioning, Pending, Running, Deleting or Error.")
    reason: str = Field(description="Why it is Pending or in Error.")
    engine: str
    plan: PlanOut
    high_availability: bool
    replicas: int
    backups: bool
    created_at: str
    used_bytes: int | None = Field(description="Bytes in use of the plan's storage.")
    connection: ConnectionOut

    @staticmethod
    def of(found: Database, databases: Databases) -> "DatabaseOut":
        endpoint = databases.endpoint(found)
        return DatabaseOut(
            name=found.name,
            status=found.status,
            reason=found.reason,
            engine=ENGINE,
            plan=PlanOut.of(databases.plan(found.plan)),
            high_availability=found.replicas > 0,
            replicas=found.replicas,
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
            ),
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

    @staticmethod
    def of(node: Node) -> "NodeOut":
        return NodeOut(id=node.id, role=node.role, status=node.status, lag_bytes=node.lag_bytes)


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
        made = databases.create(caller, body.name, body.plan, body.replicas, body.backups)
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

    @api.get("/{name}/nodes", summary="Its nodes: the primary and the replicas")
    def nodes(name: str, caller: Read) -> list[NodeOut]:
        return [NodeOut.of(n) for n in databases.nodes(caller, name)]

    return api
