"""What a service declares of its user guide: the Markdown files its package ships, in order,
and the parts of them it makes at request time.

Plain data that imports nothing of Nexq, so that a service's descriptor can name its pages without
loading the renderer or the web stack (operator commands build the descriptors too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Markdown a service makes when a page is served, from what it has then (the operator's
# tiers, say): a page takes it in where a line of its own reads ``<!-- fragment: NAME -->``.
Fragment = Callable[[], str]


@dataclass(frozen=True, slots=True)
class GuidePage:
    """One page: the file ``<slug>.md``, served at ``/docs/<section>/<slug>``."""

    slug: str
    title: str  # as the guide's table of contents shows it


@dataclass(frozen=True, slots=True)
class GuideSection:
    """A service's part of the guide: ``pages`` (reading order, the first one its overview)
    are the files ``<package>/<folder>/<slug>.md``, read as package resources so that they
    ship in the wheel with the code they describe; ``fragments`` are what those pages take
    in at each request, by name; ``highlights`` are the slugs of pages besides the first that
    Getting Started links to (the Account's Service Tiers). Screenshots of the console live in
    ``<package>/<folder>/screenshots/``, where the console tests write them.
    """

    title: str  # "Container Registry"
    package: str  # "nexq.registry"
    pages: tuple[GuidePage, ...]
    folder: str = "guide"
    highlights: tuple[str, ...] = ()
    fragments: Mapping[str, Fragment] = field(default_factory=dict, compare=False, hash=False)
