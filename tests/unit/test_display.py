"""How sizes read for people, one rule for the console and dcp (nexq.display), and the
limit names dcp reads units from (nexq.core.quotas)."""

from __future__ import annotations

import pytest

from nexq.cli.dcp_output import mib_as_set, size, size_as_set
from nexq.core.quotas import BYTES, COUNT, PER_SECOND, Limit
from nexq.display import binary_size


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 kB"),
        (1023, "1.0 kB"),
        (3072, "3.1 kB"),
        (99_960, "100 kB"),  # rounded to 100: no decimal from there
        (999_999, "1.0 MB"),  # not "1000 kB": the unit is chosen after rounding
        (1_000_000, "1 MB"),
        (4 * 1024**2, "4.2 MB"),
        (1_500_000_000, "1.5 GB"),
        (10**10, "10 GB"),
        (2**30, "1.1 GB"),
    ],
)
def test_dcp_sizes_are_decimal_as_billed(n: int, shown: str) -> None:
    assert size(n) == shown


def test_what_is_set_in_binary_units_reads_in_them() -> None:
    assert binary_size(2**29) == "512 MiB"
    assert binary_size(1536) == "1.5 KiB"
    # A usage reads in the units of its limit: storage quotas decimal, memory binary.
    assert size_as_set(3072, 10**10) == "3.1 kB"
    assert size_as_set(2**29, 2**29) == "512 MiB"
    assert size_as_set(0, 2**29) == "0 B"
    assert size_as_set(1_000_000, None) == "1 MB"


def test_a_plan_reads_in_dcp_as_set_and_as_the_console_shows_it() -> None:
    assert [mib_as_set(m) for m in (512, 1024, 1536, 102_400)] == [
        "512 MiB",
        "1 GiB",
        "1536 MiB",
        "100 GiB",
    ]


def test_a_limits_name_says_its_unit() -> None:
    assert Limit("storage_bytes", "Storage", BYTES, "Bytes stored").unit == BYTES
    assert Limit("api_rps", "API requests", PER_SECOND, "Requests a second").unit == PER_SECOND
    with pytest.raises(ValueError, match="_bytes"):
        Limit("storage", "Storage", BYTES, "Bytes stored")
    with pytest.raises(ValueError, match="_rps"):
        Limit("api_rate", "API requests", PER_SECOND, "Requests a second")
    with pytest.raises(ValueError):
        Limit("ssh_keys_bytes", "SSH keys", COUNT, "Keys of the account")
