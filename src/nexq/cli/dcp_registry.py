"""``dcp registry``: container registries, their repositories, tags and credentials, and the
two ways tools log in with a credential (``docker login``, a Kubernetes pull secret).

A token is printed once, by the command that made it; ``login`` and ``pull-secret`` read it
from standard input, never from an argument (arguments end up in shell histories and ``ps``).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from typing import Annotated, Any

import typer

from nexq.cli.dcp_config import State, state
from nexq.cli.dcp_output import (
    EXIT_ERROR,
    EXIT_USAGE,
    CliError,
    confirm_by_typing,
    emit_fields,
    emit_json,
    emit_table,
    note,
    size,
    warn,
)
from nexq.client import NexqClient, Registry
from nexq.client.registry import registry_host

registry_app = typer.Typer(help="Container Registry.", no_args_is_help=True)
credentials_app = typer.Typer(help="A registry's credentials.", no_args_is_help=True)
registry_app.add_typer(credentials_app, name="credentials")

Name = Annotated[str, typer.Argument(metavar="NAME", help="The registry's name.")]
Repo = Annotated[str, typer.Argument(metavar="REPOSITORY", help="e.g. frontend/web")]
CredentialId = Annotated[str, typer.Argument(metavar="CREDENTIAL_ID")]
Username = Annotated[
    str | None,
    typer.Option(help="The credential's username; default: the registry's \"default\" one."),
]
TokenStdin = Annotated[
    bool, typer.Option("--token-stdin", help="Read the token from standard input.")
]
# Kubernetes: a Secret's name is a DNS subdomain, a namespace a DNS label.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# -- registries --------------------------------------------------------------------------


@registry_app.command("list")
def registries_list(ctx: typer.Context) -> None:
    """Your registries."""
    st = state(ctx)
    with st.client() as api:
        found = api.list_registries()
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["NAME", "ENDPOINT", "SIZE", "CREATED"],
        [(r["name"], r["endpoint"], size(r["stored_bytes"]), r["created_at"]) for r in found],
    )


@registry_app.command("create")
def registries_create(ctx: typer.Context, name: Name) -> None:
    """Create a registry; its default credential's token is printed once."""
    st = state(ctx)
    with st.client() as api:
        made = api.create_registry(name)
    if st.json:
        emit_json(made)
    else:
        credential = made["credential"]
        emit_fields(
            {
                "name": made["name"],
                "endpoint": made["endpoint"],
                "created_at": made["created_at"],
                "username": credential["username"],
                "token": credential["token"],
                "docker_login": credential["docker_login"],
            }
        )
    warn("the token is shown only now: store it safely, it cannot be shown again")


@registry_app.command("show")
def registries_show(ctx: typer.Context, name: Name) -> None:
    """A registry: its endpoint and stored bytes."""
    st = state(ctx)
    with st.client() as api:
        found = api.registry(name)
    if st.json:
        emit_json(found)
        return
    emit_fields(
        {
            "name": found["name"],
            "endpoint": found["endpoint"],
            "stored": f"{size(found['stored_bytes'])} ({found['stored_bytes']} bytes)",
            "created_at": found["created_at"],
        }
    )


@registry_app.command("delete")
def registries_delete(
    ctx: typer.Context,
    name: Name,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; delete.")] = False,
) -> None:
    """Delete a registry with every repository, image and credential in it."""
    st = state(ctx)
    with st.client() as api:
        api.registry(name)  # a wrong name is said before anyone is asked anything
        if not yes:
            confirm_by_typing(name, f"Every image and credential of {name} is deleted")
        api.delete_registry(name)
    st.say(f"Deleted registry {name}")


# -- repositories and tags ----------------------------------------------------------------


@registry_app.command("repositories")
def repositories(ctx: typer.Context, name: Name) -> None:
    """A registry's repositories: tags, size, last push."""
    st = state(ctx)
    with st.client() as api:
        found = api.repositories(name)
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["REPOSITORY", "TAGS", "SIZE", "LAST PUSH"],
        [(r["name"], r["tags"], size(r["size"]), r["last_push"]) for r in found],
    )


@registry_app.command("tags")
def tags(ctx: typer.Context, name: Name, repository: Repo) -> None:
    """A repository's tags: digest, size, push date."""
    st = state(ctx)
    with st.client() as api:
        found = api.image_tags(name, repository)
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["TAG", "DIGEST", "SIZE", "PUSHED"],
        [(t["name"], t["digest"], size(t["size"]), t["pushed_at"]) for t in found],
    )


@registry_app.command("delete-tag")
def delete_tag(
    ctx: typer.Context, name: Name, repository: Repo, tag: Annotated[str, typer.Argument()]
) -> None:
    """Delete a tag; the image stays, reachable by its digest."""
    st = state(ctx)
    with st.client() as api:
        api.delete_image_tag(name, repository, tag)
    st.say(f"Deleted tag {name}/{repository}:{tag}")


@registry_app.command("delete-repository")
def delete_repository(
    ctx: typer.Context,
    name: Name,
    repository: Repo,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; delete.")] = False,
) -> None:
    """Delete a repository with every image and tag in it."""
    st = state(ctx)
    with st.client() as api:
        api.image_tags(name, repository)  # a wrong name is said before asking
        if not yes and not typer.confirm(
            f"Delete {name}/{repository} with every image and tag in it?", err=True
        ):
            raise CliError("not deleted", EXIT_USAGE)
        api.delete_repository(name, repository)
    st.say(f"Deleted repository {name}/{repository}")


@registry_app.command("delete-manifest")
def delete_manifest(
    ctx: typer.Context,
    name: Name,
    repository: Repo,
    digest: Annotated[str, typer.Argument(help="sha256:…")],
) -> None:
    """Delete an image (its manifest) with every tag naming it."""
    st = state(ctx)
    with st.client() as api:
        api.delete_manifest(name, repository, digest)
    st.say(f"Deleted {name}/{repository}@{digest}")


# -- credentials -------------------------------------------------------------------------


@credentials_app.command("list")
def credentials_list(ctx: typer.Context, name: Name) -> None:
    """A registry's credentials (never their tokens)."""
    st = state(ctx)
    with st.client() as api:
        found = api.registry_credentials(name)
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["ID", "LABEL", "USERNAME", "ACCESS", "STATUS", "EXPIRES", "LAST USED"],
        [
            (
                c["id"],
                c["label"],
                c["username"],
                c["access"],
                c["status"],
                c["expires_at"],
                c["last_used_at"],
            )
            for c in found
        ],
    )


@credentials_app.command("create")
def credentials_create(
    ctx: typer.Context,
    name: Name,
    label: Annotated[str, typer.Option(help="What it is for, e.g. 'CI'.")],
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Pull only (default: pull, push, delete).")
    ] = False,
    expires_at: Annotated[
        str | None,
        typer.Option(help="When it stops working, ISO 8601 with a zone: 2027-01-31T00:00:00Z."),
    ] = None,
) -> None:
    """Add a credential; its token is printed once."""
    st = state(ctx)
    with st.client() as api:
        issued = api.create_registry_credential(
            name, label, "read" if read_only else "write", expires_at
        )
    _show_token(st, issued)


@credentials_app.command("rotate")
def credentials_rotate(ctx: typer.Context, name: Name, credential_id: CredentialId) -> None:
    """A new token for the credential, printed once; the old one stops working at once."""
    st = state(ctx)
    with st.client() as api:
        issued = api.rotate_registry_credential(name, credential_id)
    _show_token(st, issued)


@credentials_app.command("revoke")
def credentials_revoke(ctx: typer.Context, name: Name, credential_id: CredentialId) -> None:
    """Revoke a credential: it stops working at once and stays listed."""
    st = state(ctx)
    with st.client() as api:
        found = api.revoke_registry_credential(name, credential_id)
    if st.json:
        emit_json(found)
        return
    emit_fields(dict(found))


@credentials_app.command("delete")
def credentials_delete(ctx: typer.Context, name: Name, credential_id: CredentialId) -> None:
    """Delete a credential permanently."""
    st = state(ctx)
    with st.client() as api:
        api.delete_registry_credential(name, credential_id)
    st.say(f"Deleted credential {credential_id}")


def _show_token(st: State, issued: Any) -> None:
    if st.json:
        emit_json(issued)
    else:
        emit_fields(dict(issued))
    warn("the token is shown only now: store it safely, it cannot be shown again")


# -- logging tools in --------------------------------------------------------------------


def _login_target(api: NexqClient, name: str, username: str | None) -> tuple[Registry, str]:
    """The registry and the username to log in with (the "default" credential's unless
    one is given)."""
    found = api.registry(name)
    if username:
        return found, username
    default = [c for c in api.registry_credentials(name) if c["label"] == "default"]
    if not default:
        raise CliError(f"{name} has no credential labelled 'default': give --username", EXIT_USAGE)
    return found, default[0]["username"]


def _token(token_stdin: bool) -> str:
    """The token, from standard input (piped, or with --token-stdin), or typed unseen."""
    if token_stdin or not sys.stdin.isatty():
        token = sys.stdin.readline().strip()
    else:
        token = typer.prompt("Token", hide_input=True, err=True).strip()
    if not token:
        raise CliError("no token on standard input", EXIT_USAGE)
    return token


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


@registry_app.command("login")
def login(
    ctx: typer.Context,
    name: Name,
    username: Username = None,
    token_stdin: TokenStdin = False,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the docker login command; run nothing.")
    ] = False,
) -> None:
    """Run `docker login` for the registry, the token given on docker's standard input."""
    st = state(ctx)
    with st.client() as api:
        found, user = _login_target(api, name, username)
    host = registry_host(found)
    command = ["docker", "login", host, "--username", user, "--password-stdin"]
    if print_only:
        shown = f"docker login {host} --username {_quoted(user)} --password-stdin"
        if st.json:
            emit_json({"registry": host, "username": user, "command": shown})
        else:
            typer.echo(shown)
        return
    docker = shutil.which("docker")
    if docker is None:
        raise CliError("docker is not installed here; --print shows the command to run")
    token = _token(token_stdin)
    done = subprocess.run([docker, *command[1:]], input=token + "\n", text=True, check=False)
    if done.returncode != 0:
        raise CliError(f"docker login {host} failed (exit {done.returncode})", EXIT_ERROR)
    if st.json:
        emit_json({"registry": host, "username": user})


@registry_app.command("pull-secret")
def pull_secret(
    ctx: typer.Context,
    name: Name,
    username: Username = None,
    token_stdin: TokenStdin = False,
    secret_name: Annotated[
        str | None, typer.Option(help="The Secret's name; default: NAME-pull.")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="The Secret's namespace.")] = None,
) -> None:
    """Print a Kubernetes Secret (kubernetes.io/dockerconfigjson) for pulling images:
    `dcp registry pull-secret NAME --token-stdin < token | kubectl apply -f -`."""
    st = state(ctx)
    secret = secret_name or f"{name}-pull"
    if not _SUBDOMAIN.match(secret):
        raise CliError(f"--secret-name {secret!r}: a Kubernetes name (a-z, 0-9, -, .)", EXIT_USAGE)
    if namespace is not None and not _LABEL.match(namespace):
        raise CliError(
            f"--namespace {namespace!r}: a Kubernetes namespace (a-z, 0-9, -)", EXIT_USAGE
        )
    with st.client() as api:
        found, user = _login_target(api, name, username)
    token = _token(token_stdin)
    config = docker_config(registry_host(found), user, token)
    metadata = {"name": secret, **({"namespace": namespace} if namespace else {})}
    if st.json:
        emit_json(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": metadata,
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": config},
            }
        )
        return
    # Every value is a checked name or base64: nothing here needs YAML quoting.
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {secret}"]
    if namespace:
        lines.append(f"  namespace: {namespace}")
    lines += ["type: kubernetes.io/dockerconfigjson", "data:", f"  .dockerconfigjson: {config}"]
    typer.echo("\n".join(lines))
    if sys.stdout.isatty():
        note("The Secret holds the token: pipe it to `kubectl apply -f -` rather than a file.")


def docker_config(host: str, username: str, token: str) -> str:
    """A docker config.json naming one registry, base64 as a Secret's data holds it."""
    auth = base64.b64encode(f"{username}:{token}".encode()).decode()
    entry = {"username": username, "password": token, "auth": auth}
    document = json.dumps({"auths": {host: entry}}, separators=(",", ":"))
    return base64.b64encode(document.encode()).decode()
