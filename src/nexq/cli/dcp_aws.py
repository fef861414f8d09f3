"""Write an access key into aws-cli's files so ``aws --profile NAME s3 ...`` works at once."""

from __future__ import annotations

import configparser
import io
import os
from pathlib import Path

from nexq.cli.dcp_config import write_private
from nexq.cli.dcp_output import EXIT_INVALID, CliError


def credentials_path() -> Path:
    explicit = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    return Path(explicit).expanduser() if explicit else Path.home() / ".aws" / "credentials"


def config_path() -> Path:
    explicit = os.environ.get("AWS_CONFIG_FILE")
    return Path(explicit).expanduser() if explicit else Path.home() / ".aws" / "config"


def write_profile(
    name: str, access_key_id: str, secret_access_key: str, region: str, endpoint: str
) -> tuple[Path, Path]:
    """Add or replace the profile in both files; every other section is kept."""
    check_profile_name(name)
    credentials = credentials_path()
    _replace_section(
        credentials,
        name,
        {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key},
    )
    config = config_path()
    # aws-cli reads the default profile of the config file from [default], every other
    # profile from [profile NAME].
    section = name if name == "default" else f"profile {name}"
    _replace_section(
        config,
        section,
        {
            "region": region,
            "endpoint_url": endpoint,
            # A sub-section: a value that starts on the next line, indented. Path-style
            # addressing because bucket subdomains of an IP or localhost do not resolve.
            "s3": "\naddressing_style = path",
        },
    )
    return credentials, config


def check_profile_name(name: str) -> None:
    if not name or any(c in name for c in "[]\n\r") or name != name.strip():
        raise CliError(f"invalid aws profile name {name!r}", EXIT_INVALID)


def _replace_section(path: Path, section: str, values: dict[str, str]) -> None:
    # No interpolation: a secret may contain "%"; case kept and duplicates tolerated so
    # that the other profiles are written back as they were read.
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except FileNotFoundError:
        pass
    except (OSError, configparser.Error) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    if parser.has_section(section):
        parser.remove_section(section)
    parser.add_section(section)
    for key, value in values.items():
        parser.set(section, key, value)
    text = io.StringIO()
    parser.write(text)
    write_private(path, text.getvalue())
