"""The user guide's screenshots, made by the console tests that drive the pages they show.

A test calls ``guide_screenshot(page, "storage", "buckets")`` at the moment its page looks as
the guide describes it; the picture goes to the section's package,
``src/nexq/storage/guide/screenshots/buckets.png``, which the guide serves and the wheel ships.
The pictures are checked in, and a run rewrites one only when it differs meaningfully from the
one there (a new column, a moved panel): the names, ids and dates a test makes change a few
hundred pixels on every run, and rewriting the file for those would leave every run with
changed files to commit. ``NEXQ_GUIDE_SCREENSHOTS=rewrite`` rewrites every picture a run makes.

The README's pictures of pages the guide does not show are made the same way, by
``readme_screenshot(page, "registries")``, into ``docs/screenshots/``; the README shows the
guide's own picture where it has one.

tests/unit/test_guide_screenshots.py checks that each picture a page shows is one a test
makes here, and that it is in the package; tests/unit/test_readme_screenshots.py the same
of the README's.
"""

from __future__ import annotations

import ast
import io
import os
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageChops
from playwright.sync_api import Page

from nexq.accounts.descriptor import GUIDE as ACCOUNT_GUIDE
from nexq.billing.descriptor import GUIDE as BILLING_GUIDE
from nexq.compute.descriptor import GUIDE as COMPUTE_GUIDE
from nexq.databases.descriptor import GUIDE as DATABASES_GUIDE
from nexq.registry.descriptor import GUIDE as REGISTRY_GUIDE
from nexq.storage.descriptor import GUIDE as STORAGE_GUIDE
from nexq.support.descriptor import GUIDE as SUPPORT_GUIDE
from nexq.web.guide.library import SCREENSHOTS
from nexq.web.guide.section import GuideSection

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "src"
TESTS = ROOT / "tests"
# The README's pictures that are not the guide's.
README_FOLDER = ROOT / "docs" / "screenshots"
# The guide's sections by the name their URLs use (the service's), as the console serves them.
SECTIONS: dict[str, GuideSection] = {
    "storage": STORAGE_GUIDE,
    "account": ACCOUNT_GUIDE,
    "billing": BILLING_GUIDE,
    "support": SUPPORT_GUIDE,
    "registry": REGISTRY_GUIDE,
    "databases": DATABASES_GUIDE,
    "compute": COMPUTE_GUIDE,
}
# One size for every picture: a laptop's window, readable beside the text.
WIDTH, HEIGHT = 1280, 800
# A pixel counts as changed past this difference in any channel (anti-aliasing moves a few
# levels), and a picture as different once this share of its pixels changed: a rewritten
# email or bucket name changes well under 1 %, a new row or panel more.
CHANGED_LEVEL = 32
DIFFERENT_SHARE = 0.01


def folder_of(section: str) -> Path:
    """Where the pictures of a section's pages are, in the repository."""
    declared = SECTIONS[section]
    return SOURCES.joinpath(*declared.package.split("."), declared.folder, SCREENSHOTS)


def guide_screenshot(page: Page, section: str, name: str) -> None:
    """A picture of ``page`` as it is now, in a window of the guide's size, for ``section``'s
    pages: ``<section's folder>/screenshots/<name>.png``."""
    keep(page, folder_of(section) / f"{name}.png")


def readme_screenshot(page: Page, name: str) -> None:
    """A picture of ``page`` as it is now, for the README: ``docs/screenshots/<name>.png``."""
    keep(page, README_FOLDER / f"{name}.png")


def keep(page: Page, target: Path) -> None:
    """``page`` as it is now, in a window of the guide's size, written to ``target`` unless
    the picture there shows the same."""
    kept = page.viewport_size
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    try:
        shot = page.screenshot(animations="disabled", caret="hide")
    finally:
        if kept is not None:
            page.set_viewport_size(kept)
    with Image.open(io.BytesIO(shot)) as made:
        assert (made.format, made.size) == ("PNG", (WIDTH, HEIGHT)), (made.format, made.size)
    rewrite = os.environ.get("NEXQ_GUIDE_SCREENSHOTS") == "rewrite"
    if target.exists() and not rewrite and not differs(target.read_bytes(), shot):
        return
    target.parent.mkdir(exist_ok=True)
    # Written aside, then renamed: a server reading the folder never sees half a picture.
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    with Image.open(io.BytesIO(shot)) as made:
        # 256 colours: a third of the size, and the console's flat colours and text look the
        # same (no pixel moves past CHANGED_LEVEL).
        made.convert("RGB").quantize(256, Image.Quantize.FASTOCTREE).save(
            partial, "PNG", optimize=True
        )
    partial.replace(target)


def differs(old: bytes, new: bytes) -> bool:
    """Whether ``new`` shows something else than ``old``, beyond the few pixels of names and
    dates that change on every run."""
    with Image.open(io.BytesIO(old)) as before, Image.open(io.BytesIO(new)) as after:
        if before.size != after.size:
            return True
        delta = ImageChops.difference(before.convert("RGB"), after.convert("RGB"))
        # Each pixel's largest channel difference, then how many pixels pass the level.
        largest = ImageChops.lighter(
            ImageChops.lighter(delta.getchannel(0), delta.getchannel(1)), delta.getchannel(2)
        )
        changed = sum(largest.histogram()[CHANGED_LEVEL:])
        return changed > DIFFERENT_SHARE * before.width * before.height


def pictures_made_by(function: str, picture: Callable[[str, list[str]], Path]) -> dict[Path, str]:
    """Every picture the tests make by calling ``function(page, ...)``, and where
    (``module:line``): ``picture(where, strings)`` is the file a call makes, from the string
    arguments written after the page (it asserts that they are the ones it needs)."""
    made: dict[Path, str] = {}
    for module in TESTS.rglob("*.py"):
        text = module.read_text()
        if f"{function}(" not in text:  # parsing only these keeps the tests fast
            continue
        for call in ast.walk(ast.parse(text, str(module))):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id == function
            ):
                continue
            where = f"{module.relative_to(TESTS)}:{call.lineno}"
            strings = [
                a.value
                for a in call.args[1:]
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            file = picture(where, strings).resolve()
            assert file not in made, f"{where} and {made[file]} both make {file.name}"
            made[file] = where
    return made
