"""How numbers read for people, shared by the console and dcp (which may import nothing
else of the server: this module imports nothing of Nexq)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

_WHOLE_PLACES = Decimal("0.01")
_SIGNIFICANT = 3


def quantity(value: Decimal) -> str:
    """``4``, ``1,234.57``, ``0.0417``, ``0.000000013``: two places from 1 up, three
    significant digits below it; never an exponent. The exact value is the API's."""
    if value == 0:
        return "0"
    if abs(value) >= 1:
        shown = f"{value.quantize(_WHOLE_PLACES, rounding=ROUND_HALF_UP):,f}"
    else:
        places = Decimal(1).scaleb(value.adjusted() - _SIGNIFICANT + 1)
        shown = f"{value.quantize(places, rounding=ROUND_HALF_UP):f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown
