"""Client methods of Databases (``/v1/databases``); ``NexqClient`` has them.

The answers are the REST shapes as they are: dcp prints them unchanged with ``-o json``.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict, cast

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
    # With replicas: each node's port, and the URI listing them for libpq's clients (the
    # same as uri without replicas). Older servers answer neither.
    node_ports: NotRequired[list[int]]
    direct_uri: NotRequired[str]


class Restored(TypedDict):
    source: str | None  # null once the source is deleted
    target_time: str | None  # null: its latest point


class Database(TypedDict):
    name: str
    status: DatabaseStatus
    reason: str  # why it is Pending or in Error; "" otherwise
    engine: str
    plan: DatabasePlan
    high_availability: bool
    replicas: int
    synchronous: bool
    backups: bool
    created_at: str
    used_bytes: int | None  # None unless Running
    connection: DatabaseConnection
    restored_from: NotRequired[Restored | None]  # set for a database made from backups


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
    synchronous: bool


class DatabaseBackup(TypedDict):
    label: str  # pgBackRest's label of a FULL backup; "continuous" for the WAL row
    type: Literal["FULL", "WAL"]  # WAL: archived continuously, up to taken_at
    taken_at: str
    size: int
    duration_seconds: float


class RecoveryWindow(TypedDict):
    oldest: str | None  # None while backups are off or the first is not taken yet
    latest: str | None


class DatabaseBackups(TypedDict):
    backups: list[DatabaseBackup]
    recovery_window: RecoveryWindow
    size: int  # bytes the backups take


class BackupRequested(TypedDict):
    requested_at: str


class DatabasesClient(Plumbing):
    """What ``NexqClient`` adds for Databases."""

    def list_databases(self) -> list[Database]:
        return cast(list[Database], self._request("GET", "/databases"))

    def create_database(
        self,
        name: str,
        plan: str,
        replicas: int = 0,
        backups: bool = True,
        restore_source: str | None = None,
        restore_target: str | None = None,
        synchronous: bool = True,
    ) -> CreatedDatabase:
        """Provisioning at first; ``get_database`` tells when it is Running. With
        ``restore_source``: made from that database's backups as it was at
        ``restore_target`` (ISO 8601 with a zone; None: the latest point)."""
        body: dict[str, object] = {
            "name": name,
            "plan": plan,
            "replicas": replicas,
            "synchronous": synchronous,
            "backups": backups,
        }
        if restore_source is not None:
            body["restore"] = {"source": restore_source, "target_time": restore_target}
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

    def database_backups(self, name: str) -> DatabaseBackups:
        """Its backups and recovery window (empty while backups are off or none is taken)."""
        path = f"/databases/{segment(name)}/backups"
        return cast(DatabaseBackups, self._request("GET", path))

    def back_up_database(self, name: str) -> BackupRequested:
        """Back up now: a FULL backup appears in ``database_backups`` within seconds."""
        path = f"/databases/{segment(name)}/backups"
        return cast(BackupRequested, self._request("POST", path))

    def database_nodes(self, name: str) -> list[DatabaseNode]:
        path = f"/databases/{segment(name)}/nodes"
        return cast(list[DatabaseNode], self._request("GET", path))

    def database_plans(self) -> list[DatabasePlan]:
        return cast(list[DatabasePlan], self._request("GET", "/databases/plans"))

    def database_ca(self) -> str:
        """The PEM certificate of the CA that signs every database's server certificate."""
        return self._download("/databases/ca").decode("ascii")
