"""``dcp storage``: buckets (their settings: dcp_bucket_settings.py), objects (their versions:
dcp_object_versions.py), S3 access keys and usage."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from nexq.cli import (
    dcp_aws,
    dcp_bucket_settings,
    dcp_kms,
    dcp_object_lock,
    dcp_object_versions,
    dcp_transfers,
)
from nexq.cli.dcp_config import State, state
from nexq.cli.dcp_output import emit_fields, emit_json, emit_table, note, size, warn
from nexq.client import AccessKey, Bucket

storage_app = typer.Typer(help="Object Storage.", no_args_is_help=True)
buckets_app = typer.Typer(help="Buckets.", no_args_is_help=True)
objects_app = typer.Typer(help="Objects in a bucket.", no_args_is_help=True)
keys_app = typer.Typer(help="S3 access keys.", no_args_is_help=True)
storage_app.add_typer(buckets_app, name="buckets")
storage_app.add_typer(objects_app, name="objects")
storage_app.add_typer(keys_app, name="keys")
storage_app.add_typer(dcp_kms.kms_app, name="kms-keys")
buckets_app.command("versioning")(dcp_bucket_settings.versioning)
buckets_app.command("policy")(dcp_bucket_settings.policy)
buckets_app.command("cors")(dcp_bucket_settings.cors)
buckets_app.command("website")(dcp_bucket_settings.website)
buckets_app.command("lifecycle")(dcp_bucket_settings.lifecycle)
buckets_app.command("tags")(dcp_bucket_settings.tags)
buckets_app.command("public-access-block")(dcp_bucket_settings.public_access_block)
buckets_app.command("encryption")(dcp_kms.encryption)
buckets_app.command("object-lock")(dcp_object_lock.object_lock)
objects_app.command("versions")(dcp_object_versions.versions)
objects_app.command("restore")(dcp_object_versions.restore)
objects_app.command("upload")(dcp_transfers.upload)
objects_app.command("download")(dcp_transfers.download)

BucketName = Annotated[str, typer.Argument(metavar="BUCKET")]
ObjectKey = Annotated[str, typer.Argument(metavar="KEY")]
Id = Annotated[str, typer.Argument(metavar="ID")]


class Method(StrEnum):
    GET = "GET"
    PUT = "PUT"


# -- buckets ---------------------------------------------------------------------------


@buckets_app.command("list")
def buckets_list(ctx: typer.Context) -> None:
    """List your buckets."""
    st = state(ctx)
    with st.client() as api:
        buckets = api.list_buckets()
    if st.json:
        emit_json(buckets)
        return
    emit_table(
        ["NAME", "OBJECTS", "SIZE", "CREATED"],
        [(b["name"], b["object_count"], size(b["stored_bytes"]), b["created_at"]) for b in buckets],
    )


@buckets_app.command("create")
def buckets_create(
    ctx: typer.Context,
    name: BucketName,
    object_lock: Annotated[
        bool,
        typer.Option(
            "--object-lock",
            help="Object Lock, for good: versioning is turned on and cannot be turned off, "
            "and versions can be retained.",
        ),
    ] = False,
) -> None:
    """Create a bucket."""
    st = state(ctx)
    with st.client() as api:
        _show_bucket(st, api.create_bucket(name, object_lock))


@buckets_app.command("show")
def buckets_show(ctx: typer.Context, name: BucketName) -> None:
    """Show a bucket: object count, stored bytes and Object Lock."""
    st = state(ctx)
    with st.client() as api:
        _show_bucket(st, api.get_bucket(name))


@buckets_app.command("delete")
def buckets_delete(ctx: typer.Context, name: BucketName) -> None:
    """Delete an empty bucket."""
    st = state(ctx)
    with st.client() as api:
        api.delete_bucket(name)
    st.say(f"Deleted bucket {name}")


def _show_bucket(st: State, bucket: Bucket) -> None:
    if st.json:
        emit_json(bucket)
        return
    emit_fields(
        {
            "name": bucket["name"],
            "objects": bucket["object_count"],
            "stored": f"{size(bucket['stored_bytes'])} ({bucket['stored_bytes']} bytes)",
            "object_lock": dcp_object_lock.describe(bucket["object_lock"]),
            "created_at": bucket["created_at"],
        }
    )


# -- objects ---------------------------------------------------------------------------


@objects_app.command("list")
def objects_list(
    ctx: typer.Context,
    bucket: BucketName,
    prefix: Annotated[str | None, typer.Option(help="Only keys that start with this.")] = None,
    delimiter: Annotated[
        str | None, typer.Option(help='Group keys up to this character, e.g. "/".')
    ] = None,
) -> None:
    """List a bucket's objects (every page)."""
    st = state(ctx)
    with st.client() as api:
        listing = api.list_objects(bucket, prefix, delimiter)
    if st.json:
        # Not a bare list: with a delimiter the folders matter as much as the objects.
        emit_json({"items": listing["items"], "prefixes": listing["prefixes"]})
        return
    rows: list[tuple[str, str, str, str]] = [(p, "PREFIX", "", "") for p in listing["prefixes"]]
    rows += [(o["key"], size(o["size"]), o["last_modified"], o["etag"]) for o in listing["items"]]
    emit_table(["KEY", "SIZE", "LAST MODIFIED", "ETAG"], rows)


@objects_app.command("delete")
@objects_app.command("rm", hidden=True)  # its first name; scripts may still use it
def objects_delete(
    ctx: typer.Context,
    bucket: BucketName,
    key: ObjectKey,
    version_id: Annotated[
        str | None,
        typer.Option(
            "--version-id", help='Remove this version for good ("null": the null version).'
        ),
    ] = None,
) -> None:
    """Delete an object (a delete marker, in a versioned bucket), or one version for good."""
    st = state(ctx)
    with st.client() as api:
        api.delete_object(bucket, key, version_id)
    if version_id is None:
        st.say(f"Deleted {bucket}/{key}")
    else:
        st.say(f"Deleted version {version_id} of {bucket}/{key}")


@objects_app.command("presign")
def objects_presign(
    ctx: typer.Context,
    bucket: BucketName,
    key: ObjectKey,
    method: Annotated[
        Method, typer.Option(case_sensitive=False, help="GET to download, PUT to upload.")
    ] = Method.GET,
    expires_in: Annotated[
        int | None, typer.Option(help="Seconds the URL works (1-604800; default 3600).")
    ] = None,
) -> None:
    """Print a URL that downloads (GET) or uploads (PUT) one object without credentials."""
    st = state(ctx)
    with st.client() as api:
        presigned = api.presign(bucket, key, method.value, expires_in)
    if st.json:
        emit_json(presigned)
        return
    # The URL alone, so that `curl "$(dcp storage objects presign b k)"` works.
    typer.echo(presigned["url"])


@objects_app.command("revoke-links")
def objects_revoke_links(ctx: typer.Context) -> None:
    """Revoke every presigned URL made by dcp, the API or the console; new ones work."""
    st = state(ctx)
    with st.client() as api:
        api.revoke_share_links()
    st.say("Every presigned URL made so far is revoked (403); new ones work.")


# -- access keys -----------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    label: Annotated[str, typer.Option(help='A descriptive name, e.g. "Production API".')],
    bucket: Annotated[
        list[str] | None,
        typer.Option(help="Limit the key to this bucket (repeatable); default: all buckets."),
    ] = None,
    aws_profile: Annotated[
        str | None,
        typer.Option(help="Also write the key into aws-cli's files as this profile."),
    ] = None,
) -> None:
    """Create an S3 access key; the secret is printed once and can never be shown again."""
    st = state(ctx)
    if aws_profile:
        dcp_aws.check_profile_name(aws_profile)
    with st.client() as api:
        # Asked first: a key is never created for a profile that cannot then be written.
        info = api.storage() if aws_profile else None
        key = api.create_access_key(label, bucket or None)
    if st.json:
        emit_json(key)
    else:
        emit_fields(
            {
                "access_key_id": key["access_key_id"],
                "secret_access_key": key["secret_access_key"],
                "label": key["label"],
                "buckets": key["buckets"],
            }
        )
    warn("the secret access key is shown only now: it cannot be shown again")
    if aws_profile and info is not None:
        credentials, config = dcp_aws.write_profile(
            aws_profile,
            key["access_key_id"],
            key["secret_access_key"],
            info["region"],
            info["s3_endpoint"],
        )
        note(f"aws-cli profile {aws_profile!r} written to {credentials} and {config}")


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List your access keys (never their secrets)."""
    st = state(ctx)
    with st.client() as api:
        keys = api.list_access_keys()
    if st.json:
        emit_json(keys)
        return
    emit_table(
        ["ACCESS KEY ID", "LABEL", "BUCKETS", "STATUS", "CREATED"],
        [
            (k["access_key_id"], k["label"], k["buckets"], k["status"], k["created_at"])
            for k in keys
        ],
    )


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: Id) -> None:
    """Revoke an access key: every request signed with it is refused at once."""
    st = state(ctx)
    with st.client() as api:
        key = api.revoke_access_key(key_id)
    _show_access_key(st, key)


@keys_app.command("delete")
def keys_delete(ctx: typer.Context, key_id: Id) -> None:
    """Delete an access key permanently."""
    st = state(ctx)
    with st.client() as api:
        api.delete_access_key(key_id)
    st.say(f"Deleted access key {key_id}")


def _show_access_key(st: State, key: AccessKey) -> None:
    if st.json:
        emit_json(key)
        return
    emit_fields(dict(key))


# -- usage -----------------------------------------------------------------------------


@storage_app.command("usage")
def usage(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default: this month.")] = None,
) -> None:
    """Traffic and operations per bucket for one month."""
    st = state(ctx)
    with st.client() as api:
        report = api.usage(month)
    if st.json:
        emit_json(report)
        return
    period = report["period"]
    typer.echo(f"Period: {period.get('start')} to {period.get('end')} (end excluded)")
    rows = [
        (
            b.get("bucket") or "(no bucket)",  # ListBuckets and the like (JSON: "")
            size(int(b.get("data_in_bytes", 0))),
            size(int(b.get("data_out_bytes", 0))),
            b.get("operations"),
            b.get("class_a"),
            b.get("class_b"),
        )
        for b in report["buckets"]
    ]
    totals = report["totals"]
    rows.append(
        (
            "TOTAL",
            size(int(totals.get("data_in_bytes", 0))),
            size(int(totals.get("data_out_bytes", 0))),
            totals.get("operations"),
            totals.get("class_a"),
            totals.get("class_b"),
        )
    )
    emit_table(["BUCKET", "DATA IN", "DATA OUT", "OPERATIONS", "CLASS A", "CLASS B"], rows)
