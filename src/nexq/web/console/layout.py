"""The frame of every console page, as the services fill it: sidebar sections, top-bar links.

Plain data with no web imports, so that a service's descriptor can declare its place in the
layout without loading the web stack (operator commands build the descriptors too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nexq.core.identity import Principal


@dataclass(frozen=True, slots=True)
class NavLink:
    """One entry of the sidebar; with ``role``, shown only to accounts of that role."""

    label: str
    href: str
    role: str | None = None


@dataclass(frozen=True, slots=True)
class NavSection:
    """A service's heading in the sidebar, with its pages."""

    title: str
    links: tuple[NavLink, ...]


@dataclass(frozen=True, slots=True)
class HeaderLink:
    """A link in the top bar, with a count for the caller (e.g. unread notifications)."""

    label: str
    href: str
    count: Callable[[Principal], int] | None = None
    count_label: str = ""


@dataclass(frozen=True, slots=True)
class HelpLink:
    """The guide's page about a part of the console, linked from every page under ``prefix``."""

    prefix: str  # "/registries": that page and the pages below it
    href: str
    label: str


@dataclass(frozen=True, slots=True)
class Layout:
    """What the services put in the frame of every page."""

    home: str  # where the brand link and a fresh login lead
    navigation: tuple[NavSection, ...]
    header_links: tuple[HeaderLink, ...] = ()
    upcoming: tuple[str, ...] = ()  # services announced in the sidebar, not yet built
    guide: str = ""  # the user guide's contents, linked from the top bar of every page
    help: tuple[HelpLink, ...] = ()

    def help_for(self, path: str) -> HelpLink | None:
        """The guide's page about the console page at ``path``, the most specific one."""
        matching = [
            link
            for link in self.help
            if path == link.prefix or path.startswith(link.prefix.rstrip("/") + "/")
        ]
        return max(matching, key=lambda link: len(link.prefix), default=None)
