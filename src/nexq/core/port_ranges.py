"""Port ranges as operators write them in settings (``15432-16431``, ``20001,20005-20007``)."""

from __future__ import annotations


def parse_ports(text: str, what: str) -> tuple[int, ...]:
    """The ports of ``text``, in order, each once; ValueError naming ``what`` otherwise."""
    ports: list[int] = []
    try:
        for part in text.replace(" ", "").split(","):
            first, _, last = part.partition("-")
            ports += range(int(first), int(last or first) + 1)
    except ValueError:
        raise ValueError(f"{what} ports: {text!r} is not like 15432-16431 or 20001,20005") from None
    if not ports or not all(0 < p < 65536 for p in ports):
        raise ValueError(f"{what} ports: {text!r} names no port from 1 to 65535")
    return tuple(dict.fromkeys(ports))
