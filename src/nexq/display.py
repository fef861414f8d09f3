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


def size(n: float) -> str:
    """``0 B``, ``999 B``, ``3.1 kB``, ``10 GB``: decimal units (1 GB = 10^9 bytes), as
    storage and transfer are billed. The exact bytes are the API's."""
    return _scaled(n, 1000, ("kB", "MB", "GB", "TB", "PB"), whole=True)


def binary_size(n: float) -> str:
    """``1023 B``, ``1.5 KiB``, ``20.0 MiB``, ``512 MiB``: binary units, for what is set in
    them (a plan's memory), so that it reads as it was set."""
    return _scaled(n, 1024, ("KiB", "MiB", "GiB", "TiB", "PiB"), whole=False)


def mib_as_set(mib: int) -> str:
    """``512 MiB``, ``1 GiB``, ``1536 MiB``: a size set in whole MiB (a plan's memory and
    storage) as an operator writes it, in GiB only when it is a whole number of them."""
    return f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"


def size_as_set(n: float, setting: float | None) -> str:
    """``n`` bytes in the units a limit of ``setting`` bytes was written in: binary when it
    is a whole number of MiB that no decimal unit divides (memory: 512 MiB), decimal
    otherwise (storage quotas: 10 GB), so that a usage and its limit read alike."""
    binary = setting is not None and setting % 2**20 == 0 and setting % 10**6 != 0
    return binary_size(n) if binary else size(n)


def _scaled(n: float, base: int, units: tuple[str, ...], *, whole: bool) -> str:
    # One decimal below 100 of a unit, none from there; ``whole``: a whole number of units
    # reads without one (10 GB, as a quota is written). The unit is chosen after rounding,
    # so that 999,999 bytes read 1.0 MB rather than 1000 kB.
    if n < base:
        return f"{int(n)} B"
    value = float(n)
    for unit in units:
        value /= base
        shown = f"{value:.1f}"
        if whole and value == int(value):
            shown = f"{int(value)}"
        elif float(shown) >= 100:
            shown = f"{value:.0f}"
        if float(shown) < base or unit == units[-1]:
            return f"{shown} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover
