"""The guide's screenshots: each picture a page shows is made by a console test (never by
hand) and ships in its service's package, as a PNG of the one size; each picture shipped is
shown by a page; and the whole guide, every service's section together, has no link or
picture that leads nowhere."""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from pathlib import Path

from nexq.compute.descriptor import GUIDE as COMPUTE_GUIDE
from nexq.web.guide.library import GETTING_STARTED, SCREENSHOTS, Guide, png_size
from nexq.web.guide.markdown import render
from nexq.web.guide.section import GuideSection
from tests.console.guide_screenshots import (
    HEIGHT,
    SECTIONS,
    SOURCES,
    WIDTH,
    folder_of,
    pictures_made_by,
)

EVERY_SECTION: dict[str, GuideSection] = {**SECTIONS, "compute": COMPUTE_GUIDE}
_FRAGMENT = re.compile(r"<!--\s*fragment:\s*([a-z0-9-]+)\s*-->")


def pages_folder(section: GuideSection) -> Path:
    return SOURCES.joinpath(*section.package.split("."), section.folder)


def pictures_shown() -> dict[Path, list[str]]:
    """Every picture a page of the guide shows (resolved to its file), and the pages that
    show it."""
    shown: dict[Path, list[str]] = {}
    for section in (GETTING_STARTED[1], *EVERY_SECTION.values()):
        folder = pages_folder(section)
        for page in section.pages:
            source = (folder / f"{page.slug}.md").read_text()
            for src in render(source, lambda href: None).images:
                shown.setdefault((folder / src).resolve(), []).append(f"{page.slug}.md")
    return shown


@functools.cache
def pictures_made() -> dict[Path, str]:
    """Every picture the tests make with ``guide_screenshot(page, SECTION, NAME)``, and where."""
    return pictures_made_by("guide_screenshot", _guide_picture)


def _guide_picture(where: str, arguments: list[str]) -> Path:
    assert len(arguments) == 2, (
        f"{where}: guide_screenshot needs its section and name written as strings"
    )
    section, name = arguments
    assert section in SECTIONS, f"{where}: the guide has no section {section!r}"
    return folder_of(section) / f"{name}.png"


def test_every_picture_a_page_shows_is_made_by_a_test_and_shipped() -> None:
    shown, made = pictures_shown(), pictures_made()
    assert shown, "the guide shows screenshots"
    for file, pages in shown.items():
        where = f"{file.relative_to(SOURCES)} (shown by {', '.join(pages)})"
        assert file.parent.name == SCREENSHOTS, f"{where}: pictures are in {SCREENSHOTS}/"
        assert file in made, f"{where}: no console test makes it with guide_screenshot"
        assert file.is_file(), f"{where}: not in the package; run {made[file]} to make it"
        assert png_size(file.read_bytes()) == (WIDTH, HEIGHT), (
            f"{where}: not a {WIDTH}x{HEIGHT} PNG"
        )


def test_every_picture_shipped_or_made_is_shown_by_a_page() -> None:
    shown = set(pictures_shown())
    shipped = {
        file.resolve()
        for section in EVERY_SECTION.values()
        for file in (pages_folder(section) / SCREENSHOTS).glob("*")
    }
    assert sorted(str(f) for f in shipped - shown) == []
    assert sorted(str(f) for f in set(pictures_made()) - shown) == []


def test_the_whole_guide_leads_only_to_pages_anchors_and_pictures_it_has() -> None:
    # Each section as the console serves it; what its fragments make is checked where they
    # are made (tests/account_guide), so here they make nothing.
    sections = []
    for name, section in EVERY_SECTION.items():
        folder = pages_folder(section)
        used = {
            found
            for page in section.pages
            for found in _FRAGMENT.findall((folder / f"{page.slug}.md").read_text())
        }
        sections.append((name, replace(section, fragments=dict.fromkeys(used, lambda: ""))))
    guide = Guide(sections)
    assert guide.broken_links() == []
    introduction = guide.page("getting-started", "introduction")
    assert introduction is not None
    html = str(introduction.html)
    # Getting Started leads to each section's first page, and to the Service Tiers.
    for name, section in EVERY_SECTION.items():
        assert f'href="/docs/{name}/{section.pages[0].slug}"' in html, name
    assert 'href="/docs/account/service-tiers"' in html
