"""``nexq admin access-key …`` and ``nexq admin lifecycle run``: Object
Storage from the server's command line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import typer

from nexq.adminkit import AccountsByEmail, Commands, DataDir, Opener, emit, fail
from nexq.storage.access_keys import AccessKeys, AccessKeyView
from nexq.storage.blobs.port import BlobStore
from nexq.storage.lifecycle_run import Lifecycle, LifecycleReport
from nexq.storage.metadata.port import MetadataStore


class Installation(Protocol):
    """What the commands need of a built installation."""

    access_keys: AccessKeys

    @property
    def accounts(self) -> AccountsByEmail: ...
    @property
    def store(self) -> MetadataStore: ...
    @property
    def blobs(self) -> BlobStore: ...


def _key_json(view: AccessKeyView) -> dict[str, Any]:
    key = view.key
    return {
        "access_key_id": key.id,
        "label": key.label,
        "buckets": "all" if view.bucket_names is None else view.bucket_names,
        "status": "Active" if key.active else "Revoked",
        "created": datetime.fromtimestamp(key.created_at, UTC).isoformat(timespec="seconds"),
    }


def commands(open_installation: Opener[Installation]) -> Commands:
    """The ``access-key`` and ``lifecycle`` groups of ``nexq admin``; each prints JSON."""
    key_cli = typer.Typer(help="S3 access keys.", no_args_is_help=True)

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
        with open_installation(data_dir) as nexq:
            owner = nexq.accounts.get(account)
            view, secret = nexq.access_keys.create(owner.id, label, bucket or None)
        out = _key_json(view)
        emit(
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
        with open_installation(data_dir) as nexq:
            views = nexq.access_keys.list(nexq.accounts.get(account).id)
        emit([_key_json(v) for v in views])

    @key_cli.command("revoke")
    def key_revoke(
        key_id: Annotated[str, typer.Argument(metavar="ID")],
        account: Annotated[str, typer.Option(help="The owning account's email.")],
        data_dir: DataDir = None,
    ) -> None:
        """Revoke a key: every request signed with it gets 403 at once."""
        with open_installation(data_dir) as nexq:
            nexq.access_keys.revoke(nexq.accounts.get(account).id, key_id)
        emit({"access_key_id": key_id, "status": "Revoked"})

    @key_cli.command("delete")
    def key_delete(
        key_id: Annotated[str, typer.Argument(metavar="ID")],
        account: Annotated[str, typer.Option(help="The owning account's email.")],
        data_dir: DataDir = None,
    ) -> None:
        """Delete a key permanently."""
        with open_installation(data_dir) as nexq:
            nexq.access_keys.delete(nexq.accounts.get(account).id, key_id)
        emit({"access_key_id": key_id, "deleted": True})

    lifecycle_cli = typer.Typer(help="Bucket lifecycle rules.", no_args_is_help=True)

    @lifecycle_cli.command("run")
    def lifecycle_run(
        now: Annotated[
            str | None,
            typer.Option(
                help="Apply the rules as if at this ISO 8601 date or time (UTC unless it names "
                "a zone), e.g. 2030-01-31 or 2030-01-31T12:00:00Z; default: now."
            ),
        ] = None,
        data_dir: DataDir = None,
    ) -> None:
        """Apply every bucket's enabled lifecycle rules now (the server also does so daily),
        and print what was done: {"now", "buckets", "expired", "noncurrent_deleted",
        "delete_markers_removed", "uploads_aborted", "left_alone", "failed"}. Counts, except
        "now" (the time the rules were applied as of) and "failed" (a line per bucket whose
        run failed). Safe while the server runs, also beside its own daily run."""
        moment = _moment(now) if now is not None else None
        with open_installation(data_dir) as nexq:
            report = Lifecycle(nexq.store).run(moment)
        emit(_report_json(report))

    return {"access-key": key_cli, "lifecycle": lifecycle_cli}


def _moment(text: str) -> float:
    """``--now`` as epoch seconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--now: {text!r} is not an ISO 8601 date or time such as 2030-01-31")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _report_json(report: LifecycleReport) -> dict[str, Any]:
    return {
        "now": datetime.fromtimestamp(report.now, UTC).isoformat(timespec="seconds"),
        "buckets": report.buckets,
        "expired": report.expired,
        "noncurrent_deleted": report.noncurrent_deleted,
        "delete_markers_removed": report.delete_markers_removed,
        "uploads_aborted": report.uploads_aborted,
        "left_alone": report.left_alone,
        "failed": report.failed,
    }
