"""``dcp storage kms-keys create|list|show|disable|enable`` and ``dcp storage buckets
encryption``: the account's KMS keys (SSE-KMS) and a bucket's default encryption."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

import typer

from nexq.cli.dcp_config import State, state
from nexq.cli.dcp_output import EXIT_USAGE, CliError, emit_fields, emit_json, emit_table
from nexq.client import BucketEncryption, KmsKey

kms_app = typer.Typer(help="KMS keys for SSE-KMS (aws:kms).", no_args_is_help=True)
KeyId = Annotated[str, typer.Argument(metavar="KEY", help="The key's id, ARN or alias.")]


class Algorithm(StrEnum):
    AES256 = "AES256"
    KMS = "aws:kms"


@kms_app.command("create")
def create(
    ctx: typer.Context,
    alias: Annotated[
        str | None, typer.Option(help="alias/NAME: what S3 requests may name it by.")
    ] = None,
    description: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create a KMS key (enabled); its material never leaves the server."""
    st = state(ctx)
    with st.client() as api:
        key = api.create_kms_key(alias, description)
    _show(st, key)


@kms_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """List your KMS keys (aws/s3 appears once an object needed it)."""
    st = state(ctx)
    with st.client() as api:
        keys = api.list_kms_keys()
    if st.json:
        emit_json(keys)
        return
    emit_table(
        ["ID", "ALIAS", "STATE", "AWS MANAGED", "CREATED"],
        [
            (k["id"], k["alias"] or "", k["state"], "yes" if k["aws_managed"] else "no",
             k["created_at"])
            for k in keys
        ],
    )  # fmt: skip


@kms_app.command("show")
def show(ctx: typer.Context, key_id: KeyId) -> None:
    """Show one KMS key."""
    st = state(ctx)
    with st.client() as api:
        key = api.kms_key(key_id)
    _show(st, key)


@kms_app.command("disable")
def disable(ctx: typer.Context, key_id: KeyId) -> None:
    """Disable a key: objects sealed under it cannot be read, nor new ones written, until it
    is enabled again."""
    st = state(ctx)
    with st.client() as api:
        key = api.disable_kms_key(key_id)
    _show(st, key)


@kms_app.command("enable")
def enable(ctx: typer.Context, key_id: KeyId) -> None:
    """Enable a disabled key again."""
    st = state(ctx)
    with st.client() as api:
        key = api.enable_kms_key(key_id)
    _show(st, key)


def _show(st: State, key: KmsKey) -> None:
    if st.json:
        emit_json(key)
        return
    emit_fields(dict(key))


def encryption(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="BUCKET")],
    set_algorithm: Annotated[
        Algorithm | None,
        typer.Option("--set", help="The default for objects written without their own."),
    ] = None,
    kms_key_id: Annotated[
        str | None,
        typer.Option(help="With --set aws:kms: a key's id, ARN or alias (default: aws/s3)."),
    ] = None,
    bucket_key: Annotated[
        bool, typer.Option("--bucket-key", help="Set BucketKeyEnabled (S3's flag).")
    ] = False,
    delete: Annotated[bool, typer.Option("--delete", help="Back to the default, AES256.")] = False,
    block_sse_c: Annotated[
        bool | None,
        typer.Option(
            "--block-sse-c/--allow-sse-c",
            help="Refuse (new buckets' default) or allow writes with SSE-C keys.",
        ),
    ] = None,
) -> None:
    """Show a bucket's default encryption, set it (AES256 or aws:kms with a KMS key), or
    return it to AES256; block or allow SSE-C."""
    if set_algorithm is not None and delete:
        raise CliError("give --set or --delete, not both", EXIT_USAGE)
    if delete and block_sse_c is not None:
        raise CliError("--block-sse-c and --allow-sse-c go without --delete", EXIT_USAGE)
    if set_algorithm is None and (kms_key_id is not None or bucket_key):
        raise CliError("--kms-key-id and --bucket-key go with --set", EXIT_USAGE)
    if set_algorithm == Algorithm.AES256 and kms_key_id is not None:
        raise CliError("--kms-key-id goes with --set aws:kms", EXIT_USAGE)
    st = state(ctx)
    with st.client() as api:
        if delete:
            api.delete_bucket_encryption(name)
            st.say(f"Bucket {name} encrypts new objects with AES256 (SSE-S3)")
            return
        if set_algorithm is None:
            shown = api.bucket_encryption(name)
            if block_sse_c is not None:  # the rest of the setting as it is
                shown = api.set_bucket_encryption(
                    name,
                    shown["algorithm"],
                    shown["kms_key_id"],
                    shown["bucket_key_enabled"],
                    block_sse_c,
                )
        else:
            algorithm: Literal["AES256", "aws:kms"] = (
                "aws:kms" if set_algorithm == Algorithm.KMS else "AES256"
            )
            shown = api.set_bucket_encryption(name, algorithm, kms_key_id, bucket_key, block_sse_c)
    _show_encryption(st, shown)


def _show_encryption(st: State, shown: BucketEncryption) -> None:
    if st.json:
        emit_json(shown)
        return
    emit_fields(
        {
            "algorithm": shown["algorithm"],
            "kms_key_id": shown["kms_key_id"]
            or ("aws/s3" if shown["algorithm"] != "AES256" else ""),
            "bucket_key_enabled": "yes" if shown["bucket_key_enabled"] else "no",
            "sse_c": "blocked" if shown["customer_keys_blocked"] else "allowed",
        }
    )
