"""``dcp``'s settings: the config file, the environment overrides and the command-line options."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import typer

from nexq.cli.dcp_output import EXIT_AUTH, CliError
from nexq.client import NexqClient

DEFAULT_API_URL = "http://127.0.0.1:8080"
NO_KEY = "no API key: run `dcp login` or `dcp config set api-key KEY`"


def config_path() -> Path:
    explicit = os.environ.get("DCP_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "dcp" / "config.json"


def load() -> dict[str, str]:
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path} is not a JSON object")
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def update(**values: str) -> Path:
    """Set some settings, keeping the others; the file is never readable by other users."""
    path = config_path()
    data = load()
    data.update(values)
    write_private(path, json.dumps(data, indent=2) + "\n")
    return path


def forget(*names: str) -> Path:
    """Remove some settings, keeping the others."""
    path = config_path()
    data = {k: v for k, v in load().items() if k not in names}
    write_private(path, json.dumps(data, indent=2) + "\n")
    return path


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a 0600 file: a crash leaves the old or the new one."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            # mkstemp already makes it 0600; fchmod says so for any umask or platform.
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Setting:
    value: str | None
    source: str


def _pick(option: str | None, env_name: str, key: str, default: str | None) -> Setting:
    if option:
        return Setting(option, "command line")
    from_env = os.environ.get(env_name)
    if from_env:
        return Setting(from_env, f"env {env_name}")
    stored = load().get(key)
    if stored:
        return Setting(stored, str(config_path()))
    return Setting(default, "default")


def api_url(option: str | None) -> Setting:
    return _pick(option, "DCP_API_URL", "api_url", DEFAULT_API_URL)


def api_key(option: str | None) -> Setting:
    return _pick(option, "DCP_API_KEY", "api_key", None)


def require_api_key(option: str | None) -> str:
    value = api_key(option).value
    if not value:
        raise CliError(NO_KEY, EXIT_AUTH)
    return value


class Output(StrEnum):
    table = "table"
    json = "json"


@dataclass(frozen=True)
class State:
    """The root command's options, handed to every subcommand through the click context."""

    output: Output
    api_url_option: str | None
    api_key_option: str | None

    @property
    def json(self) -> bool:
        return self.output is Output.json

    def api_url(self) -> str:
        return api_url(self.api_url_option).value or DEFAULT_API_URL

    def say(self, message: str) -> None:
        """A confirmation for people; a script asked for JSON and gets none for a 204."""
        if not self.json:
            typer.echo(message)

    def client(self) -> NexqClient:
        return NexqClient(self.api_url(), require_api_key(self.api_key_option))


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    if found is None:
        raise RuntimeError("the root callback did not run")
    return found
