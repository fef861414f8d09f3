"""What dcp prints of the API's exact decimals: a person's number, never an exponent."""

from __future__ import annotations

import pytest

from nexq.cli.dcp_output import counted, quantity


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        ("0", "0"),
        ("4", "4"),
        ("1.3E-8", "0.000000013"),  # GB-months of a few bytes
        ("0.000041", "0.000041"),
        ("0.001000164", "0.001"),
        ("0.041666666666666666666666667", "0.0417"),
        ("0.99999", "1"),
        ("1234.5", "1,234.5"),
        ("12345678.123456", "12,345,678.12"),
        ("2.50", "2.5"),
        ("-0.5", "-0.5"),
    ],
)
def test_quantities_are_rounded_for_people(exact: str, shown: str) -> None:
    assert quantity(exact) == shown


@pytest.mark.parametrize(
    ("amount", "noun", "said"),
    [
        (0, "attachment", "0 attachments"),
        (1, "attachment", "1 attachment"),
        (2, "attachment", "2 attachments"),
        ("0", "instance-hour", "0 instance-hours"),
        ("1", "instance-hour", "1 instance-hour"),
        ("0.5", "instance-hour", "0.5 instance-hours"),
        ("1,234.5", "GB-month", "1,234.5 GB-months"),
        ("1", "GB-month", "1 GB-month"),
        ("2", "GB", "2 GB"),  # a symbol
        ("3", "million operations", "3 million operations"),  # plural already
        ("1", "thousand pulls", "1 thousand pulls"),
        (1, "day", "1 day"),  # lifecycle rules, Object Lock's retention
        (30, "day", "30 days"),
        (1, "year", "1 year"),
        (1, "replica", "1 replica"),
        (2, "replica", "2 replicas"),
    ],
)
def test_counted_nouns_agree_with_their_amount(amount: int | str, noun: str, said: str) -> None:
    assert counted(amount, noun) == said
