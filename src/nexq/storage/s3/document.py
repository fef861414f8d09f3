"""Reading a client's configuration document (CORS, tagging, lifecycle) against S3's schema.

S3 validates these bodies against its published schema: an element it does not define, one
given twice where the schema allows one, or an integer that is not one, is ``MalformedXML``.
The helpers here say that once, so that each codec only states its shape.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from nexq.storage.s3.errors import malformed_xml
from nexq.storage.s3.xml import local_name, parse_document

__all__ = ["Fields", "local_name", "parse_document", "root_of"]


def root_of(body: bytes, name: str, max_bytes: int | None = None) -> Element:
    """The document's root element, which must be ``name`` (in any namespace, or none: S3's
    own samples send these bodies both ways)."""
    if max_bytes is not None and len(body) > max_bytes:
        raise malformed_xml()
    root = parse_document(body)
    if local_name(root.tag) != name:
        raise malformed_xml()
    return root


class Fields:
    """The children of one element, by name, checked against the names its type allows."""

    def __init__(self, element: Element, allowed: frozenset[str]) -> None:
        self._by_name: dict[str, list[Element]] = {}
        for child in element:
            name = local_name(child.tag)
            if name not in allowed:
                raise malformed_xml()
            self._by_name.setdefault(name, []).append(child)

    def has(self, name: str) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        """The names present, in the order they first appear."""
        return list(self._by_name)

    def many(self, name: str) -> list[Element]:
        return self._by_name.get(name, [])

    def element(self, name: str) -> Element | None:
        """The one ``name`` child, or None; twice is malformed."""
        found = self._by_name.get(name, [])
        if len(found) > 1:
            raise malformed_xml()
        return found[0] if found else None

    def texts(self, name: str) -> list[str]:
        return [child.text or "" for child in self.many(name)]

    def text(self, name: str) -> str | None:
        """The text of the one ``name`` child (``""`` when empty), or None when absent."""
        child = self.element(name)
        return None if child is None else child.text or ""

    def required_text(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise malformed_xml()
        return value

    def integer(self, name: str) -> int | None:
        """An xs:int/xs:long: optional sign, decimal digits, white space collapsed."""
        value = self.text(name)
        return None if value is None else parse_integer(value)

    def boolean(self, name: str) -> bool | None:
        """An xs:boolean: true, false, 1 or 0."""
        value = self.text(name)
        if value is None:
            return None
        value = value.strip()
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        raise malformed_xml()


def parse_integer(value: str) -> int:
    """An XML Schema integer literal, or MalformedXML."""
    text = value.strip()
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise malformed_xml()
    return int(text)
