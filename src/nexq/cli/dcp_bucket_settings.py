"""``dcp storage buckets versioning|policy|cors|website|lifecycle|tags|public-access-block``.

Each command shows the setting; ``--set`` changes it and ``--delete`` removes it. Documents
(policy, CORS, lifecycle) are JSON files in the shape aws-cli reads, so a file written for
``aws s3api put-bucket-cors --cors-configuration file://cors.json`` works as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from nexq.cli.dcp_config import State, state
from nexq.cli.dcp_output import (
    EXIT_INVALID,
    EXIT_USAGE,
    CliError,
    counted,
    emit_fields,
    emit_json,
    emit_table,
)
from nexq.client import PublicAccessBlock

BucketName = Annotated[str, typer.Argument(metavar="BUCKET")]
DocumentFile = Annotated[
    str | None,
    typer.Option(
        "--set", metavar="FILE", help="Set it from this JSON file (- reads standard input)."
    ),
]
Delete = Annotated[bool, typer.Option("--delete", help="Remove it.")]
SWITCHES = {
    "block-public-acls": "block_public_acls",
    "ignore-public-acls": "ignore_public_acls",
    "block-public-policy": "block_public_policy",
    "restrict-public-buckets": "restrict_public_buckets",
}


def _one_change(set_given: bool, delete: bool) -> None:
    if set_given and delete:
        raise CliError("give --set or --delete, not both", EXIT_USAGE)


def read_text(path: str) -> str:
    """The text of ``path`` (``-``: standard input); aws-cli's ``file://`` prefix is allowed."""
    name = path.removeprefix("file://")
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{name} is not UTF-8 text", EXIT_INVALID) from None
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}", EXIT_USAGE) from None


def read_json(path: str) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}", EXIT_INVALID) from None


# -- versioning ------------------------------------------------------------------------


def versioning(
    ctx: typer.Context,
    name: BucketName,
    enable: Annotated[
        bool, typer.Option("--enable", help="Keep every version from now on.")
    ] = False,
    suspend: Annotated[
        bool, typer.Option("--suspend", help="Stop keeping new versions (old ones stay).")
    ] = False,
) -> None:
    """Show a bucket's versioning, or enable or suspend it (it cannot be turned off)."""
    if enable and suspend:
        raise CliError("give --enable or --suspend, not both", EXIT_USAGE)
    st = state(ctx)
    with st.client() as api:
        if enable or suspend:
            shown = api.set_versioning(name, "Enabled" if enable else "Suspended")
        else:
            shown = api.versioning(name)
    if st.json:
        emit_json(shown)
        return
    typer.echo(f"Versioning of {name}: {shown['status'] or 'off (never enabled)'}")


# -- policy, CORS, lifecycle -----------------------------------------------------------


def policy(
    ctx: typer.Context, name: BucketName, set_file: DocumentFile = None, delete: Delete = False
) -> None:
    """Show a bucket's policy (JSON), set it from a file, or remove it."""
    _one_change(set_file is not None, delete)
    st = state(ctx)
    text = read_text(set_file) if set_file is not None else None
    with st.client() as api:
        if delete:
            api.delete_policy(name)
            st.say(f"Deleted the policy of bucket {name}")
            return
        document = api.policy(name) if text is None else api.set_policy(name, text)
    if text is not None and not st.json:
        typer.echo(f"Policy of bucket {name} set")
        return
    emit_json(document)


def cors(
    ctx: typer.Context, name: BucketName, set_file: DocumentFile = None, delete: Delete = False
) -> None:
    """Show a bucket's CORS rules, set them from a file ({"CORSRules": [...]}), or remove them."""
    _one_change(set_file is not None, delete)
    st = state(ctx)
    document = read_json(set_file) if set_file is not None else None
    with st.client() as api:
        if delete:
            api.delete_cors(name)
            st.say(f"Deleted the CORS rules of bucket {name}")
            return
        shown = api.cors(name) if document is None else api.set_cors(name, document)
    if st.json:
        emit_json(shown)
        return
    emit_table(
        ["ID", "ORIGINS", "METHODS", "HEADERS", "EXPOSE", "MAX AGE"],
        [
            (
                rule.get("ID"),
                rule.get("AllowedOrigins"),
                rule.get("AllowedMethods"),
                rule.get("AllowedHeaders"),
                rule.get("ExposeHeaders"),
                rule.get("MaxAgeSeconds"),
            )
            for rule in shown.get("CORSRules", [])
        ],
    )


def website(
    ctx: typer.Context,
    name: BucketName,
    index_document: Annotated[
        str | None,
        typer.Option(
            "--index-document", metavar="KEY", help="Serve the bucket with this index document."
        ),
    ] = None,
    error_document: Annotated[
        str | None,
        typer.Option(
            "--error-document", metavar="KEY", help="...and this error document (optional)."
        ),
    ] = None,
    set_file: DocumentFile = None,
    delete: Delete = False,
) -> None:
    """Show a bucket's static website; serve it (--index-document, or --set FILE as aws-cli's
    --website-configuration takes it); or stop serving it."""
    documents = index_document is not None or error_document is not None
    if sum((documents, set_file is not None, delete)) > 1:
        raise CliError("give --index-document, --set or --delete, one of them", EXIT_USAGE)
    if error_document is not None and index_document is None:
        raise CliError("--error-document needs --index-document", EXIT_USAGE)
    st = state(ctx)
    document = read_json(set_file) if set_file is not None else None
    if index_document is not None:
        document = {"IndexDocument": {"Suffix": index_document}}
        if error_document:
            document["ErrorDocument"] = {"Key": error_document}
    with st.client() as api:
        if delete:
            api.delete_website(name)
            st.say(f"Bucket {name} is no longer served as a website")
            return
        shown = api.website(name) if document is None else api.set_website(name, document)
    if st.json:
        emit_json(shown)
        return
    fields: dict[str, Any] = {"url": shown.get("url")}
    target = shown.get("RedirectAllRequestsTo")
    if target is not None:
        fields["redirect_all"] = f"{target.get('Protocol') or 'http'}://{target['HostName']}"
    else:
        fields["index_document"] = shown["IndexDocument"]["Suffix"]
        fields["error_document"] = (shown.get("ErrorDocument") or {}).get("Key")
        fields["routing_rules"] = len(shown.get("RoutingRules") or [])
    emit_fields(fields)


def lifecycle(
    ctx: typer.Context, name: BucketName, set_file: DocumentFile = None, delete: Delete = False
) -> None:
    """Show a bucket's lifecycle rules, set them from a file ({"Rules": [...]}), or remove
    them."""
    _one_change(set_file is not None, delete)
    st = state(ctx)
    document = read_json(set_file) if set_file is not None else None
    with st.client() as api:
        if delete:
            api.delete_lifecycle(name)
            st.say(f"Deleted the lifecycle rules of bucket {name}")
            return
        shown = api.lifecycle(name) if document is None else api.set_lifecycle(name, document)
    if st.json:
        emit_json(shown)
        return
    emit_table(
        ["ID", "STATUS", "APPLIES TO", "ACTIONS"],
        [
            (rule.get("ID"), rule.get("Status"), _applies_to(rule), _actions(rule))
            for rule in shown.get("Rules", [])
        ],
    )


def _applies_to(rule: dict[str, Any]) -> str:
    if "Filter" not in rule:
        legacy = rule.get("Prefix") or ""
        return f"prefix {legacy}" if legacy else "every object"
    found = rule["Filter"]
    predicates = found.get("And", found)
    parts = [f"prefix {predicates['Prefix']}"] if predicates.get("Prefix") else []
    tags = predicates.get("Tags") or ([predicates["Tag"]] if "Tag" in predicates else [])
    parts += [f"tag {tag['Key']}={tag.get('Value', '')}" for tag in tags]
    if "ObjectSizeGreaterThan" in predicates:
        parts.append(f"size > {predicates['ObjectSizeGreaterThan']} B")
    if "ObjectSizeLessThan" in predicates:
        parts.append(f"size < {predicates['ObjectSizeLessThan']} B")
    return " and ".join(parts) or "every object"


def _actions(rule: dict[str, Any]) -> str:
    actions: list[str] = []
    expiration = rule.get("Expiration") or {}
    if "Days" in expiration:
        actions.append(f"expire after {counted(expiration['Days'], 'day')}")
    if "Date" in expiration:
        actions.append(f"expire on {expiration['Date'][:10]}")
    if expiration.get("ExpiredObjectDeleteMarker"):
        actions.append("remove lone delete markers")
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent:
        kept = noncurrent.get("NewerNoncurrentVersions")
        keep = f" (keep the {kept} newest)" if kept else ""
        actions.append(
            f"delete noncurrent versions after {counted(noncurrent['NoncurrentDays'], 'day')}{keep}"
        )
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort:
        actions.append(f"abort uploads after {counted(abort['DaysAfterInitiation'], 'day')}")
    return "; ".join(actions)


# -- tags ------------------------------------------------------------------------------


def _tag_pairs(given: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--set takes KEY=VALUE: {item!r}", EXIT_USAGE)
        if key in tags:
            raise CliError(f"the tag {key!r} is given twice", EXIT_USAGE)
        tags[key] = value
    return tags


def tags(
    ctx: typer.Context,
    name: BucketName,
    set_tags: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Replace the tags with these (repeat --set for each tag).",
        ),
    ] = None,
    delete: Delete = False,
) -> None:
    """Show a bucket's tags, replace them, or remove them."""
    _one_change(set_tags is not None, delete)
    st = state(ctx)
    wanted = _tag_pairs(set_tags) if set_tags is not None else None
    with st.client() as api:
        if delete:
            api.delete_bucket_tags(name)
            st.say(f"Deleted the tags of bucket {name}")
            return
        shown = api.bucket_tags(name) if wanted is None else api.set_bucket_tags(name, wanted)
    if st.json:
        emit_json({"tags": shown})
        return
    emit_table(["KEY", "VALUE"], sorted(shown.items()))


# -- Block Public Access ---------------------------------------------------------------


def _switch_changes(given: list[str]) -> dict[str, bool]:
    changes: dict[str, bool] = {}
    for item in given:
        switch, sep, value = item.partition("=")
        if value.lower() not in ("true", "false") and sep:
            raise CliError(f"--set {switch}= takes true or false, not {value!r}", EXIT_USAGE)
        on = not sep or value.lower() == "true"
        if switch == "all":
            changes.update(dict.fromkeys(SWITCHES.values(), on))
        elif switch in SWITCHES:
            changes[SWITCHES[switch]] = on
        else:
            known = ", ".join([*SWITCHES, "all"])
            raise CliError(f"no switch {switch!r}; the switches are {known}", EXIT_USAGE)
    return changes


def public_access_block(
    ctx: typer.Context,
    name: BucketName,
    set_switches: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="SWITCH[=true|false]",
            help="Turn a switch on (or =false: off); repeatable. Switches: block-public-acls, "
            "ignore-public-acls, block-public-policy, restrict-public-buckets, all.",
        ),
    ] = None,
    delete: Delete = False,
) -> None:
    """Show a bucket's Block Public Access switches, change some, or turn them all off."""
    _one_change(set_switches is not None, delete)
    st = state(ctx)
    changes = _switch_changes(set_switches) if set_switches is not None else None
    with st.client() as api:
        if delete:
            api.delete_public_access_block(name)
            st.say(f"Every Block Public Access switch of bucket {name} is off")
            return
        block = api.public_access_block(name)
        if changes is not None:
            # The switches not named keep their state.
            wanted = cast(PublicAccessBlock, {**block, **changes})
            block = api.set_public_access_block(name, wanted)
    _show_block(st, block)


def _show_block(st: State, block: PublicAccessBlock) -> None:
    if st.json:
        emit_json(block)
        return
    switches: dict[str, object] = dict(block)
    emit_fields({flag: "on" if switches[field] else "off" for flag, field in SWITCHES.items()})
