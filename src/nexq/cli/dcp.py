"""``dcp``: the Nexq command line for customers; it talks only to the REST API (docs/api.md)."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from nexq.cli import dcp_billing, dcp_completion, dcp_config, dcp_doctor
from nexq.cli.dcp_args import GLOBAL_OPTIONS, hoist_global_options
from nexq.cli.dcp_compute import compute_app
from nexq.cli.dcp_config import Output, State, state
from nexq.cli.dcp_databases import databases_app
from nexq.cli.dcp_output import (
    EXIT_ERROR,
    EXIT_USAGE,
    CliError,
    as_cli_error,
    emit_fields,
    emit_json,
    emit_table,
    error,
    mask,
    warn,
)
from nexq.cli.dcp_registry import registry_app
from nexq.cli.dcp_storage import storage_app
from nexq.cli.dcp_support import support_app
from nexq.client import ApiError, ApiKey, ApiKeyWithToken, ClientError, NexqClient

app = typer.Typer(
    help="dcp: manage your Nexq account, storage, registries and databases through the REST API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Where the API is and which API key to use.", no_args_is_help=True)
config_set_app = typer.Typer(help="Store a setting in the config file.", no_args_is_help=True)
account_app = typer.Typer(help="Your account.", no_args_is_help=True)
api_keys_app = typer.Typer(help="API keys (tokens for the REST API).", no_args_is_help=True)
app.add_typer(config_app, name="config")
config_app.add_typer(config_set_app, name="set")
app.add_typer(account_app, name="account")
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(storage_app, name="storage")
app.add_typer(dcp_billing.billing_app, name="billing")
app.add_typer(support_app, name="support")
app.add_typer(registry_app, name="registry")
app.add_typer(databases_app, name="databases")
app.add_typer(compute_app, name="compute")
app.command("completion")(dcp_completion.completion)
app.command("doctor")(dcp_doctor.doctor)
account_app.command("limits")(dcp_billing.limits)
account_app.command("tier")(dcp_billing.tier)

Id = Annotated[str, typer.Argument(metavar="ID")]


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"dcp {importlib.metadata.version('nexq')}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="table for people, json for scripts.")
    ] = Output.table,
    api_url: Annotated[
        str | None, typer.Option(help="API URL (env DCP_API_URL, config api-url).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key (env DCP_API_KEY, config api-key).")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print dcp's version."
        ),
    ] = False,
) -> None:
    """dcp: manage your Nexq account and storage through the REST API."""
    ctx.obj = State(output, api_url, api_key)


# -- config ----------------------------------------------------------------------------


@config_set_app.command("api-key")
def config_set_api_key(
    ctx: typer.Context, key: Annotated[str, typer.Argument(metavar="KEY")]
) -> None:
    """Store the API key every command uses."""
    if not key.strip():
        raise CliError("the API key is empty", EXIT_USAGE)
    path = dcp_config.update(api_key=key.strip())
    state(ctx).say(f"API key {mask(key.strip())} stored in {path}")


@config_set_app.command("api-url")
def config_set_api_url(
    ctx: typer.Context, url: Annotated[str, typer.Argument(metavar="URL")]
) -> None:
    """Store the API URL, e.g. https://cloud.example.com."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError(f"the API URL must start with http:// or https://: {url!r}", EXIT_USAGE)
    path = dcp_config.update(api_url=url)
    state(ctx).say(f"API URL {url} stored in {path}")


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Show the settings in effect and where each comes from (the key masked)."""
    st = state(ctx)
    url = dcp_config.api_url(st.api_url_option)
    key = dcp_config.api_key(st.api_key_option)
    shown = {
        "config_file": str(dcp_config.config_path()),
        "api_url": url.value,
        "api_url_source": url.source,
        "api_key": mask(key.value) if key.value else None,
        "api_key_source": key.source if key.value else None,
    }
    if st.json:
        emit_json(shown)
        return
    emit_fields(
        {
            "config file": shown["config_file"],
            "api-url": f"{url.value}  ({url.source})",
            "api-key": f"{shown['api_key']}  ({key.source})" if key.value else "not set",
        }
    )


# -- login -----------------------------------------------------------------------------


@app.command()
def login(
    ctx: typer.Context,
    api_url: Annotated[str | None, typer.Option(help="The API to log in to.")] = None,
    email: Annotated[str | None, typer.Option(help="Your account's email.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Log in and store an API key "dcp on <hostname>" with every scope: the one this
    config already holds for the same API gets a new token, else a key is created."""
    st = state(ctx)
    url = (api_url or st.api_url()).rstrip("/")
    if password_stdin and email is None:
        # The password arrives on stdin, so stdin cannot also answer an email prompt.
        raise CliError("--password-stdin needs --email", EXIT_USAGE)
    with NexqClient(url) as anonymous:
        anonymous.health()  # a wrong URL is said before anyone types a password
        email, password = _credentials(email, password_stdin)
        session = anonymous.login(email, password)
    stored = dcp_config.load()
    reusable = stored.get("api_key_id") if stored.get("api_url") == url else None
    with NexqClient(url, session["token"]) as api:
        try:
            key = _renewed_key(api, reusable) or api.create_api_key(
                f"dcp on {socket.gethostname()}"
            )
            path = dcp_config.update(api_key=key["token"], api_url=url, api_key_id=key["id"])
        finally:
            # The key outlives the session; the session has no reason to live on for 12 h.
            try:
                api.logout()
            except ClientError as exc:
                warn(f"could not end the login session: {exc}")
    if st.json:
        emit_json(_without(key, "token"))
        return
    typer.echo(
        f"Logged in to {url} as {session['account']['email']}; "
        f'API key "{key["name"]}" ({key["id"]}) stored in {path}'
    )


def _credentials(email: str | None, password_stdin: bool) -> tuple[str, str]:
    """The email and password, from the options, standard input or a prompt."""
    if email is None:
        email = typer.prompt("Email")
    return email, _password(password_stdin)


def _password(password_stdin: bool) -> str:
    """The account's password: the line piped in, else typed at a hidden prompt."""
    if password_stdin or not sys.stdin.isatty():
        # Piped: read the line as --password-stdin does (getpass would warn that the
        # password may be echoed, which it is not: there is no terminal to echo on).
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("no password on standard input", EXIT_USAGE)
        return password
    return str(typer.prompt("Password", hide_input=True))


def _renewed_key(api: NexqClient, key_id: str | None) -> ApiKeyWithToken | None:
    """A new token for the key this config stored, if it is still active: logging in again
    must not leave one more key each time (an account has a limit on them)."""
    if key_id is None:
        return None
    try:
        if api.get_api_key(key_id)["status"] != "Active":
            return None
        return api.regenerate_api_key(key_id)
    except ApiError as exc:
        if exc.status == 404:
            return None  # deleted meanwhile
        raise


@app.command()
def logout(ctx: typer.Context) -> None:
    """Delete the API key `dcp login` stored, and forget it."""
    st = state(ctx)
    stored = dcp_config.load()
    key_id = stored.get("api_key_id")
    if "api_key" not in stored:
        raise CliError("not logged in: no API key in the config", EXIT_USAGE)
    if key_id is not None:
        try:
            with NexqClient(stored.get("api_url") or st.api_url(), stored["api_key"]) as api:
                api.delete_api_key(key_id)
        except ApiError as exc:
            if exc.status not in (401, 403, 404):  # already revoked or deleted: forget it
                raise
    path = dcp_config.forget("api_key", "api_key_id")
    if key_id is None:
        warn("the stored key was not made by dcp login: it is forgotten, not deleted")
    st.say(f"Logged out; the API key is removed from {path}")


# -- account and API keys --------------------------------------------------------------


@account_app.command("show")
def account_show(ctx: typer.Context) -> None:
    """Show your account."""
    st = state(ctx)
    with st.client() as api:
        account = api.account()
    if st.json:
        emit_json(account)
        return
    emit_fields(dict(account))


@account_app.command("delete")
def account_delete(
    ctx: typer.Context,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask to type the account's email.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Delete your account for good: refused while it holds buckets, registries, databases,
    instances, snapshots or backups (the refusal names them). Asks you to type its email,
    then its password."""
    st = state(ctx)
    with st.client() as api:
        email = api.account()["email"]
        if not yes and _typed(f"Type {email} to delete it") != email:
            raise CliError("the email typed is not the account's; nothing was deleted", EXIT_USAGE)
        api.delete_account(_password(password_stdin))
    stored = dcp_config.load()
    if stored.get("api_key") and stored.get("api_url") in (None, st.api_url().rstrip("/")):
        dcp_config.forget("api_key", "api_key_id")  # the key is gone with the account
    st.say(f"Deleted the account {email}.")


def _typed(question: str) -> str:
    """A line the user types: asked on a terminal, else read from standard input as is
    (piped, there is nobody to ask and the question would only clutter the output)."""
    if sys.stdin.isatty():
        return str(typer.prompt(question)).strip()
    return sys.stdin.readline().rstrip("\r\n").strip()


@api_keys_app.command("list")
def api_keys_list(ctx: typer.Context) -> None:
    """List your API keys (never their tokens)."""
    st = state(ctx)
    with st.client() as api:
        keys = api.list_api_keys()
    if st.json:
        emit_json(keys)
        return
    emit_table(
        ["ID", "NAME", "STATUS", "SCOPES", "LAST USED", "CREATED"],
        [
            (k["id"], k["name"], k["status"], k["scopes"], k["last_used_at"], k["created_at"])
            for k in keys
        ],
    )


@api_keys_app.command("create")
def api_keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the key is for.")],
    description: Annotated[str | None, typer.Option(help="A longer description.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="Limit the key to this scope (repeatable); default: all of yours."),
    ] = None,
) -> None:
    """Create an API key; its token is printed once and can never be shown again."""
    st = state(ctx)
    with st.client() as api:
        key = api.create_api_key(name, description, scope or None)
    _show_token(st, key)


@api_keys_app.command("revoke")
def api_keys_revoke(ctx: typer.Context, key_id: Id) -> None:
    """Revoke an API key: its token stops working at once."""
    st = state(ctx)
    with st.client() as api:
        key = api.revoke_api_key(key_id)
    _show_key(st, key)


@api_keys_app.command("regenerate")
def api_keys_regenerate(ctx: typer.Context, key_id: Id) -> None:
    """Give an API key a new token; the old token stops working at once."""
    st = state(ctx)
    with st.client() as api:
        key = api.regenerate_api_key(key_id)
    _show_token(st, key)


@api_keys_app.command("delete")
def api_keys_delete(ctx: typer.Context, key_id: Id) -> None:
    """Delete an API key permanently."""
    st = state(ctx)
    with st.client() as api:
        api.delete_api_key(key_id)
    state(ctx).say(f"Deleted API key {key_id}")


def _show_key(st: State, key: ApiKey) -> None:
    if st.json:
        emit_json(key)
        return
    emit_fields(dict(key))


def _show_token(st: State, key: Any) -> None:
    if st.json:
        emit_json(key)
    else:
        emit_fields(dict(key))
    warn("the token is shown only now: store it safely, it cannot be shown again")


def _without(resource: Any, field: str) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != field}


# -- entry point -----------------------------------------------------------------------


def main() -> None:
    """Entry point of the ``dcp`` command: every failure is one line on stderr and an exit code."""
    # A reader that stops early (`dcp … | head`) ends dcp as it ends any Unix tool, quietly,
    # instead of a BrokenPipeError after the last line it took.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    command = typer.main.get_command(app)
    if dcp_completion.COMPLETE_VARIABLE in os.environ:  # the shell asks what comes next
        dcp_completion.enable()
    try:
        try:
            code = command.main(args=sys.argv[1:], prog_name="dcp", standalone_mode=False)
        except typer.TyperException as exc:
            # A global option after the command (`dcp storage buckets list -o json`), which
            # Click refuses while parsing, before any command ran: parsed again, moved first.
            # (Typer vendors its own Click: its NoSuchOption is recognised by name.)
            option = str(getattr(exc, "option_name", "") or "")
            if type(exc).__name__ != "NoSuchOption" or option.split("=")[0] not in GLOBAL_OPTIONS:
                raise
            args = hoist_global_options(sys.argv[1:], _value_options(command, sys.argv[1:]))
            code = command.main(args=args, prog_name="dcp", standalone_mode=False)
    except CliError as exc:
        error(exc.message)
        sys.exit(exc.exit_code)
    except ClientError as exc:
        failure = as_cli_error(exc)
        error(failure.message)
        sys.exit(failure.exit_code)
    except typer.TyperException as exc:  # typer's own (click's) usage and parameter errors
        _usage_failure(exc)
    except typer.Abort:
        error("aborted")
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # a traceback helps nobody who runs dcp; the message might
        error(f"{type(exc).__name__}: {exc}")
        sys.exit(EXIT_ERROR)
    sys.exit(code if isinstance(code, int) else 0)


def _value_options(command: Any, argv: list[str]) -> Callable[[str], bool]:
    """Whether an option of the command ``argv`` names takes a value (its flags do not)."""
    for word in argv:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            break
        if word in subcommands:
            command = subcommands[word]
    valued = {
        name
        for param in getattr(command, "params", ())
        if getattr(param, "param_type_name", "") == "option"
        and not getattr(param, "is_flag", False)
        for name in param.opts
    }
    return valued.__contains__


def _usage_failure(exc: typer.TyperException) -> None:
    code = getattr(exc, "exit_code", EXIT_USAGE)
    ctx = getattr(exc, "ctx", None)
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    if type(exc).__name__ == "NoArgsIsHelpError":
        # A bare group (``dcp storage``) asks what it can do: its help is the answer. With
        # rich, typer has already printed it while building the message, which is then empty.
        if message.strip():
            typer.echo(message, err=True)
        sys.exit(code)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    error(f"{message}{hint}")
    sys.exit(code)


if __name__ == "__main__":
    main()
