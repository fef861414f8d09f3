"""What a service declares of its user guide: the Markdown files its package ships, in order.

Plain data with no imports, so that a service's descriptor can name its pages without
loading the renderer or the web stack (operator commands build the descriptors too).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuidePage:
    """One page: the file ``<slug>.md``, served at ``/docs/<section>/<slug>``."""

    slug: str
    title: str  # as the guide's table of contents shows it


@dataclass(frozen=True, slots=True)
class GuideSection:
    """A service's part of the guide: ``pages`` (reading order, the first one its overview)
    are the files ``<package>/<folder>/<slug>.md``, read as package resources so that they
    ship in the wheel with the code they describe."""

    title: str  # "Container Registry"
    package: str  # "nexq.registry"
    pages: tuple[GuidePage, ...]
    folder: str = "guide"
