"""Global options after the command are moved before it; a command's own values stay."""

from __future__ import annotations

from nexq.cli.dcp_args import hoist_global_options


def takes_value(option: str) -> bool:
    return option in {"--subject", "--label"}


def test_global_options_move_in_front_with_their_values() -> None:
    hoist = hoist_global_options
    assert hoist(["storage", "buckets", "list", "-o", "json"], takes_value) == [
        "-o", "json", "storage", "buckets", "list",
    ]  # fmt: skip
    assert hoist(["registry", "list", "--output=json", "--api-url", "http://h"], takes_value) == [
        "--output=json", "--api-url", "http://h", "registry", "list",
    ]  # fmt: skip


def test_a_commands_own_values_and_what_follows_double_dash_stay() -> None:
    line = ["support", "tickets", "create", "--subject", "--output", "--label", "x", "-o", "json"]
    assert hoist_global_options(line, takes_value) == [
        "-o", "json", "support", "tickets", "create", "--subject", "--output", "--label", "x",
    ]  # fmt: skip
    line = ["storage", "objects", "put", "--", "--output", "json"]
    assert hoist_global_options(line, takes_value) == line
