"""The guide as served: the platform's own Getting Started, then each service's section, read
from the packages that ship them when the control plane starts and each page rendered once,
the first time it is asked for.

A link between pages names a page's file relative to the section it is in:
``create-registry.md`` within a section, ``../registry/overview.md`` from another one, with
an optional ``#anchor``. It becomes ``/docs/<section>/<page>``.

A page may take in Markdown its service makes at request time: a line of its own reading
``<!-- fragment: NAME -->`` is replaced by what the section's fragment ``NAME`` returns, each
time the page is served or searched, so that it shows what the service has now (the
operator's tiers and prices). A marker that names no fragment of its section stops the
start; the links a fragment makes are checked (``broken_links``) as it reads when rendered.

A page shows a screenshot of the console with Markdown's image syntax and a path beside it,
``![Buckets](screenshots/buckets.png)``: the PNG the console tests wrote into the section's
``screenshots`` folder of its package, served at ``/docs/<section>/screenshots/<file>``. Getting
Started lists the sections the guide has (its ``sections`` fragment, made by the guide itself),
so that it links only to services that exist.
"""

from __future__ import annotations

import posixpath
import re
import struct
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from importlib.resources.abc import Traversable

from markupsafe import Markup

from nexq.web.guide import search
from nexq.web.guide.markdown import Heading, Passage, Picture, Rendered, render, summary_of
from nexq.web.guide.section import Fragment, GuidePage, GuideSection

GUIDE_ROOT = "/docs"
# What any Nexq has, whatever its services: the kit's own section, listed first.
GETTING_STARTED = (
    "getting-started",
    GuideSection(
        "Getting started",
        "nexq.web.guide",
        (GuidePage("introduction", "Introduction to Nexq"),),
        folder="pages",
    ),
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_RESERVED = frozenset({"search"})  # /docs/search is the search page
_FRAGMENT = re.compile(r"^<!--[ \t]*fragment:[ \t]*(?P<name>[a-z0-9-]+)[ \t]*-->[ \t]*$", re.M)
SCREENSHOTS = "screenshots"  # the folder beside a section's pages that holds its pictures
_PICTURE = re.compile(r"^[a-z0-9][a-z0-9-]*\.png$")
_PNG = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int] | None:
    """A PNG's width and height from its header; None for anything that is not a PNG."""
    # The signature, then the IHDR chunk first: its length, its type, width and height.
    if len(data) < 24 or not data.startswith(_PNG) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class Rendering:
    """A page's rendering, made the first time it is read and kept: most pages of the guide are
    never asked for in the life of a process, and all of them rendered (with markdown-it
    loaded to do it) are about 2.5 MiB of the control plane's memory. Its summary (the
    contents lists every page's) is read from the first paragraph alone until then."""

    __slots__ = ("_made", "_render", "_summary", "_text")

    def __init__(self, text: Callable[[], str], render: Callable[[str], Rendered]) -> None:
        self._text = text  # the page's Markdown, its fragments as they are when called
        self._render = render
        self._made: Rendered | None = None
        self._summary: str | None = None

    @classmethod
    def made(cls, rendered: Rendered) -> Rendering:
        done = cls(lambda: "", lambda _: rendered)
        done._made = rendered
        return done

    def get(self) -> Rendered:
        # Two threads may render a page at once the first time: the same result, kept once.
        if self._made is None:
            self._made = self._render(self._text())
        return self._made

    def summary(self) -> str:
        if self._made is not None:
            return self._made.summary
        if self._summary is None:
            self._summary = summary_of(self._text())
        return self._summary


@dataclass(frozen=True, slots=True)
class Page:
    section: str  # the section's name, as in its URL
    section_title: str
    slug: str
    title: str
    rendering: Rendering = field(compare=False, repr=False)  # as it read when first asked for
    # Renders it again with its fragments as they are now; None for a page without any.
    renew: Callable[[], Rendered] | None = field(default=None, compare=False, repr=False)

    @property
    def url(self) -> str:
        return f"{GUIDE_ROOT}/{self.section}/{self.slug}"

    @property
    def rendered(self) -> Rendered:
        return self.rendering.get()

    def now(self) -> Page:
        """The page as it reads at this moment: one with fragments is rendered again."""
        if self.renew is None:
            return self
        return replace(self, rendering=Rendering.made(self.renew()))

    @property
    def html(self) -> Markup:
        # The renderer escapes every raw HTML of the source: its output is markup we made.
        return Markup(self.rendered.html)  # noqa: S704

    @property
    def summary(self) -> str:
        return self.rendering.summary()

    @property
    def passages(self) -> tuple[Passage, ...]:
        return self.rendered.passages

    @property
    def outline(self) -> tuple[Heading, ...]:
        """The page's second-level headings: its table of contents."""
        return tuple(h for h in self.rendered.headings if h.level == 2)


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    title: str
    pages: tuple[Page, ...]

    @property
    def url(self) -> str:
        return self.pages[0].url


class Guide:
    """Every page of the guide, in reading order, and search over them."""

    root = GUIDE_ROOT

    def __init__(self, sections: Sequence[tuple[str, GuideSection]]) -> None:
        """``sections``: each service's section with the name its URLs use (the service's)."""
        name, start = GETTING_STARTED
        start = replace(start, fragments={"sections": lambda: _sections_list(sections)})
        declared = [(name, start), *sections]
        names = [name for name, _ in declared]
        for name in names:
            if not _NAME.match(name) or name in _RESERVED or names.count(name) > 1:
                raise ValueError(f"guide section {name!r}: a unique lowercase name is needed")
        for name, section in sections:
            slugs = {page.slug for page in section.pages}
            if not set(section.highlights) <= slugs:
                raise ValueError(f"guide section {name!r}: it highlights a page it does not have")
        self._known = {(name, page.slug) for name, section in declared for page in section.pages}
        self._folders = {
            name: resources.files(section.package).joinpath(section.folder)
            for name, section in declared
        }
        self._pictures: dict[tuple[str, str], Picture | None] = {}
        self.sections = tuple(self._load(name, section) for name, section in declared)
        self._pages = {(p.section, p.slug): p for p in self.pages()}
        self._read_ahead = threading.Lock()
        self._reading_ahead = False

    def read_ahead(self) -> None:
        """Render every page on a thread of its own, once: called when a reader first opens
        the guide, so that a search (which reads every page) does not wait for them all."""
        with self._read_ahead:
            if self._reading_ahead:
                return
            self._reading_ahead = True
        threading.Thread(target=self._render_all, name="nexq-guide", daemon=True).start()

    def _render_all(self) -> None:
        for page in self.pages():
            page.rendering.get()

    def _load(self, name: str, section: GuideSection) -> Section:
        folder = resources.files(section.package).joinpath(section.folder)
        pages = []
        for page in section.pages:
            source = folder.joinpath(f"{page.slug}.md").read_text(encoding="utf-8")
            text, render_text = self._renderer(
                name, f"{name}/{page.slug}.md", source, section.fragments
            )
            dynamic = _renewal(text, render_text) if _FRAGMENT.search(source) else None
            lazy = Rendering(text, render_text)
            pages.append(Page(name, section.title, page.slug, page.title, lazy, dynamic))
        return Section(name, section.title, tuple(pages))

    def _renderer(
        self, name: str, where: str, source: str, fragments: Mapping[str, Fragment]
    ) -> tuple[Callable[[], str], Callable[[str], Rendered]]:
        """A page of section ``name``: its Markdown with the fragments it names as they are
        when called, and how to render that Markdown."""
        used = {found["name"] for found in _FRAGMENT.finditer(source)}
        unknown = sorted(used - set(fragments))
        if unknown:
            raise ValueError(f"{where}: its section has no fragment {', '.join(unknown)}")

        def resolve(href: str) -> str | None:
            return self.resolve(name, href)

        def picture(src: str) -> Picture | None:
            return self.picture(name, src)

        def text() -> str:
            return _FRAGMENT.sub(lambda found: fragments[found["name"]]().strip("\n"), source)

        def rendered(markdown: str) -> Rendered:
            return render(markdown, resolve, picture)

        return text, rendered

    def pages(self) -> Iterator[Page]:
        for section in self.sections:
            yield from section.pages

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def url_of(self, name: str) -> str:
        """Where section ``name`` starts: its first page, the overview."""
        found = self.section(name)
        if found is None:
            raise KeyError(f"the guide has no section {name!r}")
        return found.url

    def page(self, section: str, slug: str) -> Page | None:
        """The page as it reads now (its fragments made again), None if there is none."""
        found = self._pages.get((section, slug))
        return found.now() if found is not None else None

    def neighbours(self, page: Page) -> tuple[Page | None, Page | None]:
        """The pages before and after ``page`` in reading order."""
        order = list(self.pages())
        at = [(p.section, p.slug) for p in order].index((page.section, page.slug))
        return (order[at - 1] if at else None), (order[at + 1] if at + 1 < len(order) else None)

    def search(self, query: str) -> list[search.Hit]:
        """Pages holding every word of ``query``, as they read now (fragments included)."""
        return search.search((page.now() for page in self.pages()), query)

    def resolve(self, section: str, href: str) -> str | None:
        """The URL of a relative link written in a page of ``section``; None if it names no
        page of the guide."""
        path, _, fragment = href.partition("#")
        target = posixpath.normpath(posixpath.join(section, path))
        name, _, file = target.partition("/")
        slug = file.removesuffix(".md")
        if not file.endswith(".md") or (name, slug) not in self._known:
            return None
        return f"{GUIDE_ROOT}/{name}/{slug}" + (f"#{fragment}" if fragment else "")

    def picture(self, section: str, src: str) -> Picture | None:
        """Where the relative image ``src`` of a page of ``section`` is served and its size;
        None if it names no PNG of a section's screenshots folder."""
        target = posixpath.normpath(posixpath.join(section, src))
        name, _, file = target.partition("/")
        folder, _, file = file.partition("/")
        if folder != SCREENSHOTS or name not in self._folders or not _PICTURE.match(file):
            return None
        if (name, file) not in self._pictures:  # read once: the package does not change
            found = self._file(name, file)
            size = png_size(found.read_bytes()[:24]) if found.is_file() else None
            url = f"{GUIDE_ROOT}/{name}/{SCREENSHOTS}/{file}"
            self._pictures[(name, file)] = Picture(url, *size) if size else None
        return self._pictures[(name, file)]

    def picture_bytes(self, section: str, file: str) -> bytes | None:
        """The PNG ``file`` of ``section``'s screenshots, if a page shows it."""
        found = self.section(section)
        if (section, file) not in self._pictures and found is not None:
            # A page names its pictures as it is rendered, the first time it is read.
            for page in found.pages:
                page.rendering.get()
        if self._pictures.get((section, file)) is None:
            return None
        return self._file(section, file).read_bytes()

    def _file(self, section: str, file: str) -> Traversable:
        return self._folders[section].joinpath(SCREENSHOTS).joinpath(file)

    def broken_links(self) -> list[str]:
        """Links that name no page, or an anchor its page does not have, and images that name
        no PNG its package has (for the tests: a page is served whatever its links)."""
        broken = []
        for page in self.pages():
            broken += [
                f"{page.url}: {src}"
                for src in page.rendered.images
                if self.picture(page.section, src) is None
            ]
            for href in page.rendered.links:
                url = self.resolve(page.section, href)
                if url is None:
                    broken.append(f"{page.url}: {href}")
                    continue
                path, _, fragment = url.partition("#")
                name, _, slug = path.removeprefix(f"{GUIDE_ROOT}/").partition("/")
                target = self.page(name, slug)
                anchors = {h.anchor for h in target.rendered.headings} if target else set()
                if fragment and fragment not in anchors:
                    broken.append(f"{page.url}: {href}")
        return broken


def _renewal(text: Callable[[], str], render: Callable[[str], Rendered]) -> Callable[[], Rendered]:
    """A page with fragments, rendered as it reads at each call."""
    return lambda: render(text())


def _sections_list(sections: Sequence[tuple[str, GuideSection]]) -> str:
    """Getting Started's list of the guide's other sections: each one's first page, then the
    pages it highlights, as Markdown links from Getting Started."""
    lines = []
    for name, section in sections:
        titles = {page.slug: page.title for page in section.pages}
        line = f"- [{section.title}](../{name}/{section.pages[0].slug}.md)"
        also = [f"[{titles[slug]}](../{name}/{slug}.md)" for slug in section.highlights]
        lines.append(line + (f"; see also {', '.join(also)}" if also else ""))
    return "\n".join(lines)
