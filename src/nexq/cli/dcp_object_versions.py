"""``dcp storage objects versions|restore``: the versions of a versioned bucket's objects.

Removing one version for good is ``dcp storage objects delete BUCKET KEY --version-id V``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from nexq.cli.dcp_config import state
from nexq.cli.dcp_output import emit_json, emit_table, size

BucketName = Annotated[str, typer.Argument(metavar="BUCKET")]
ObjectKey = Annotated[str, typer.Argument(metavar="KEY")]


def versions(
    ctx: typer.Context,
    bucket: BucketName,
    prefix: Annotated[str | None, typer.Option(help="Only keys that start with this.")] = None,
) -> None:
    """List every version and delete marker (every page), newest first within a key."""
    st = state(ctx)
    with st.client() as api:
        found = api.list_versions(bucket, prefix)
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["KEY", "VERSION ID", "LATEST", "SIZE", "LAST MODIFIED", "ETAG"],
        [
            (
                v["key"],
                v["version_id"],
                "yes" if v["is_latest"] else "",
                "delete marker" if v["delete_marker"] else size(v["size"]),
                v["last_modified"],
                v["etag"],
            )
            for v in found
        ],
    )


def restore(
    ctx: typer.Context,
    bucket: BucketName,
    key: ObjectKey,
    version_id: Annotated[
        str, typer.Option("--version-id", help="The version to make current again.")
    ],
) -> None:
    """Make an older version current again: a copy of it becomes the newest version."""
    st = state(ctx)
    with st.client() as api:
        made = api.restore_version(bucket, key, version_id)
    if st.json:
        emit_json(made)
        return
    typer.echo(
        f"Restored {bucket}/{key} from version {version_id}: "
        f"the current version is now {made['version_id']}"
    )
