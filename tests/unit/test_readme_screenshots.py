"""The README's screenshots: each picture it shows is a file of the repository, either one of
the guide's (made by a console test, checked in test_guide_screenshots.py) or one of
docs/screenshots/ made by a console test with ``readme_screenshot`` (never by hand); and each
picture docs/screenshots/ holds or a test makes there is shown."""

from __future__ import annotations

import re
from pathlib import Path

from nexq.web.guide.library import png_size
from tests.console.guide_screenshots import HEIGHT, README_FOLDER, ROOT, WIDTH, pictures_made_by
from tests.unit.test_guide_screenshots import pictures_made as guide_pictures_made

_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def pictures_shown() -> set[Path]:
    """Every picture the README shows that is a file of the repository."""
    shown = set()
    for src in _IMAGE.findall((ROOT / "README.md").read_text()):
        if "://" not in src:
            shown.add((ROOT / src).resolve())
    return shown


def pictures_made() -> dict[Path, str]:
    """Every picture the tests make with ``readme_screenshot(page, NAME)``, and where."""
    return pictures_made_by("readme_screenshot", _readme_picture)


def _readme_picture(where: str, names: list[str]) -> Path:
    assert len(names) == 1, f"{where}: readme_screenshot needs its name written as a string"
    return README_FOLDER / f"{names[0]}.png"


def test_every_picture_the_readme_shows_is_made_by_a_test() -> None:
    shown, made, guide = pictures_shown(), pictures_made(), guide_pictures_made()
    assert len(shown) >= 10, "the README shows the console's pages"
    for file in sorted(shown):
        where = str(file.relative_to(ROOT))
        assert file in made or file in guide, f"{where}: no console test makes it"
        maker = made.get(file) or guide[file]
        assert file.is_file(), f"{where}: not in the repository; run {maker} to make it"
        assert png_size(file.read_bytes()) == (WIDTH, HEIGHT), f"{where}: not {WIDTH}x{HEIGHT}"


def test_every_picture_in_docs_screenshots_is_shown_by_the_readme() -> None:
    shown = pictures_shown()
    kept = {file.resolve() for file in README_FOLDER.glob("*")}
    assert sorted(str(f) for f in kept - shown) == []
    assert sorted(str(f) for f in set(pictures_made()) - shown) == []
