"""Client methods of Databases (``/v1/databases``); ``NexqClient`` has them.

The answers are the REST shapes as they are: dcp prints them unchanged with ``-o json``.
"""

from __future__ import annotations

from typing import Literal, TypedDict, cast

from nexq.client.paths import Plumbing, segment

DatabaseStatus = Literal["Provisioning", "Pending", "Running", "Deleting", "Error"]


class DatabasePlan(TypedDict):
    id: str  # what a database is created with: micro, small …
    name: str
    vcpus: int
    memory_mib: int
    storage_mib: int


class DatabaseConnection(TypedDict):
    host: str
    port: int | None  # given once the database is placed on a host
    database: str
    user: str
    sslmode: str
    uri: str  # without the password; sslrootcert names the CA file of GET /v1/databases/ca
    psql: str


class Database(TypedDict):
    name: str
    status: DatabaseStatus
    reason: str  # why it is Pending or in Error; "" otherwise
    engine: str
    plan: DatabasePlan
    high_availability: bool
    replicas: int
    backups: bool
    created_at: str
    used_bytes: int | None  # None unless Running
    connection: DatabaseConnection


class CreatedDatabase(Database):
    """A new database with its owner's password, which the API shows this once."""

    password: str


class DatabasePassword(TypedDict):
    password: str


class DatabaseNode(TypedDict):
    id: str
    role: Literal["primary", "replica"]
    status: str
    lag_bytes: int | None


class DatabasesClient(Plumbing):
    """What ``NexqClient`` adds for Databases."""

    def list_databases(self) -> list[Database]:
        return cast(list[Database], self._request("GET", "/databases"))

    def create_database(
        self, name: str, plan: str, replicas: int = 0, backups: bool = True
    ) -> CreatedDatabase:
        """Provisioning at first; ``get_database`` tells when it is Running."""
        body = {"name": name, "plan": plan, "replicas": replicas, "backups": backups}
        return cast(CreatedDatabase, self._request("POST", "/databases", body=body))

    def get_database(self, name: str) -> Database:
        return cast(Database, self._request("GET", f"/databases/{segment(name)}"))

    def delete_database(self, name: str) -> Database:
        """The database, Deleting: it is gone from the list within seconds."""
        return cast(Database, self._request("DELETE", f"/databases/{segment(name)}"))

    def reset_database_password(self, name: str) -> DatabasePassword:
        """A new owner's password; the old one stops working at once."""
        path = f"/databases/{segment(name)}/reset-password"
        return cast(DatabasePassword, self._request("POST", path))

    def database_nodes(self, name: str) -> list[DatabaseNode]:
        path = f"/databases/{segment(name)}/nodes"
        return cast(list[DatabaseNode], self._request("GET", path))

    def database_plans(self) -> list[DatabasePlan]:
        return cast(list[DatabasePlan], self._request("GET", "/databases/plans"))

    def database_ca(self) -> str:
        """The PEM certificate of the CA that signs every database's server certificate."""
        return self._download("/databases/ca").decode("ascii")
