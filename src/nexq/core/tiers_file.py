"""The operator's tiers.toml as the services read their own sections of it (support plans,
database plans): the file is the accounts', each section its service's."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from nexq.core.errors import Invalid


def section_of(path: Path | None, name: str) -> Any:
    """The ``[name]`` table of the tier file at ``path``; None when there is no file or no
    such table (the service then uses what it ships)."""
    if path is None or not path.exists():
        return None
    try:
        return tomllib.loads(path.read_text()).get(name)
    except tomllib.TOMLDecodeError as exc:
        raise Invalid(f"{path}: {exc}") from None
