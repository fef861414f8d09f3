"""The guide's Markdown, rendered to HTML with markdown-it-py (CommonMark and tables).

What the guide needs beyond CommonMark:

- every heading gets an id made as GitHub makes it, so that the anchors the pages were
  written with (``overview.md#https-and-plain-http``) work on the repository and in Nexq;
- a relative link is handed to a resolver, which knows what page it names and its URL; a
  relative image (a screenshot the console tests made, beside the page) to another one, and
  it gets its size, so that the text does not jump as it loads;
- HTML comments are dropped (``<!-- not run: … -->`` speaks to the guide's test, not to its
  reader), and any other raw HTML is shown as text: the sources are ours, but a page must
  never be able to inject markup into the console;
- a table gets the console's classes, and a column's alignment becomes a class, since the
  console's Content-Security-Policy forbids inline style.

Rendering also keeps what search needs: the plain text under each heading.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # markdown-it itself is loaded by the first page rendered (_parser)
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

# A relative link as written (path and #fragment) → the URL it becomes, or None when it
# names no page of the guide (it is then left as written, and reported).
Resolver = Callable[[str], str | None]

_COMMENT = re.compile(r"<!--.*?-->", re.S)
# A scheme (https:, mailto:), a path from the root, another host or a fragment of this page:
# the resolver has nothing to say about those.
_NOT_RELATIVE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|/|#)", re.I)
_ALIGN = re.compile(r"^text-align:(left|center|right)$")
_SPACES = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str
    anchor: str  # the heading's id


@dataclass(frozen=True, slots=True)
class Passage:
    """The plain text that follows a heading, up to the next heading."""

    heading: Heading | None  # None: what comes before the first heading
    text: str


@dataclass(frozen=True, slots=True)
class Rendered:
    html: str
    title: str  # the first level-1 heading, "" without one
    summary: str  # the first paragraph, as plain text
    headings: tuple[Heading, ...]
    passages: tuple[Passage, ...]
    links: tuple[str, ...]  # every relative link, as written
    images: tuple[str, ...] = ()  # every relative image, as written


@dataclass(frozen=True, slots=True)
class Picture:
    """Where a relative image is served, and its size in pixels."""

    url: str
    width: int
    height: int


# A relative image as written → where it is served, or None when the guide has no such image
# (it is then left as written, and reported).
PictureResolver = Callable[[str], Picture | None]


def _no_pictures(src: str) -> Picture | None:
    return None


def anchor_of(text: str) -> str:
    """A heading's id as GitHub makes it: lowercase, punctuation dropped, spaces as hyphens."""
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return slug.replace(" ", "-") or "section"


def render(source: str, resolve: Resolver, picture: PictureResolver = _no_pictures) -> Rendered:
    """``source`` as HTML, with relative links resolved by ``resolve`` and relative images by
    ``picture``."""
    parser = _parser()
    tokens = parser.parse(source)
    headings = _name_headings(tokens)
    links = _resolve_links(tokens, resolve)
    images = _resolve_images(tokens, picture)
    _align_cells(tokens)
    html = parser.renderer.render(tokens, parser.options, {})
    return Rendered(
        html=html,
        title=next((h.text for h in headings if h.level == 1), ""),
        summary=_summary(tokens),
        headings=headings,
        passages=_passages(tokens, headings),
        links=links,
        images=images,
    )


def summary_of(source: str) -> str:
    """``render(source).summary``, from as little of ``source`` as holds its first paragraph:
    the guide's contents shows every page's summary, and parsing each page whole would make
    its first showing slow (about 5 ms a page).

    A blank line ends a paragraph, and nothing after a blank line changes how the blocks
    before it parse (a fence or comment still open swallows the rest of the prefix: then the
    prefix grows until it closes), so the first paragraph of a prefix cut at a blank line is
    the whole text's.
    """
    parser = _parser()
    cuts = [found.start() for found in _BLANK_LINE.finditer(source)] + [len(source)]
    for cut in cuts:
        tokens = parser.parse(source[:cut])
        if any(t.type == "paragraph_open" and t.level == 0 for t in tokens):
            return _summary(tokens)
    return ""


def _name_headings(tokens: Sequence[Token]) -> tuple[Heading, ...]:
    found: list[Heading] = []
    used: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = _text(tokens[index + 1].children)
        anchor = anchor_of(text)
        # GitHub's way with a name met again: -1, -2 … after the first.
        seen = used.get(anchor, 0)
        used[anchor] = seen + 1
        if seen:
            anchor = f"{anchor}-{seen}"
        token.attrSet("id", anchor)
        found.append(Heading(int(token.tag[1]), text, anchor))
    return tuple(found)


def _resolve_links(tokens: Sequence[Token], resolve: Resolver) -> tuple[str, ...]:
    relative: list[str] = []
    for token in tokens:
        for child in token.children or ():
            href = child.attrGet("href") if child.type == "link_open" else None
            if not isinstance(href, str) or _NOT_RELATIVE.match(href):
                continue
            relative.append(href)
            url = resolve(href)
            if url is not None:
                child.attrSet("href", url)
    return tuple(relative)


def _resolve_images(tokens: Sequence[Token], picture: PictureResolver) -> tuple[str, ...]:
    relative: list[str] = []
    for token in tokens:
        for child in token.children or ():
            src = child.attrGet("src") if child.type == "image" else None
            if not isinstance(src, str) or _NOT_RELATIVE.match(src):
                continue
            relative.append(src)
            found = picture(src)
            if found is not None:
                child.attrSet("src", found.url)
                child.attrSet("width", str(found.width))
                child.attrSet("height", str(found.height))
                child.attrSet("loading", "lazy")
    return tuple(relative)


def _align_cells(tokens: Sequence[Token]) -> None:
    for token in tokens:
        if token.type not in ("th_open", "td_open"):
            continue
        style = token.attrs.pop("style", None)
        aligned = _ALIGN.match(str(style)) if style is not None else None
        if aligned:
            token.attrSet("class", f"align-{aligned[1]}")


def _text(children: Sequence[Token] | None) -> str:
    """An inline token's words, without markup (comments and raw HTML left out)."""
    parts: list[str] = []
    for child in children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_text(child.children))
    return "".join(parts).strip()


def _summary(tokens: Sequence[Token]) -> str:
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and token.level == 0:
            return _SPACES.sub(" ", _text(tokens[index + 1].children))
    return ""


def _passages(tokens: Sequence[Token], headings: Sequence[Heading]) -> tuple[Passage, ...]:
    found: list[Passage] = []
    following = iter(headings)
    heading: Heading | None = None
    parts: list[str] = []

    def close() -> None:
        text = _SPACES.sub(" ", " ".join(parts)).strip()
        if text or heading is not None:
            found.append(Passage(heading, text))

    in_heading = False
    for token in tokens:
        if token.type == "heading_open":
            close()
            heading, parts, in_heading = next(following), [], True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "inline" and not in_heading:
            parts.append(_text(token.children))
        elif token.type in ("fence", "code_block"):
            parts.append(token.content)
    close()
    return tuple(found)


def _raw_html(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    from markdown_it.common.utils import escapeHtml

    token = tokens[idx]
    text = _COMMENT.sub("", token.content)
    if not text.strip():
        return ""
    shown = escapeHtml(text)
    return f"<p>{shown.strip()}</p>\n" if token.block else shown


def _table_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return '<div class="table-wrap"><table class="table">\n'


def _table_close(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return "</table></div>\n"


@functools.cache
def _parser() -> MarkdownIt:
    """The guide's parser, made when the first page is rendered: markdown-it and its rules are
    about 1 MiB of a process that may never show a guide page (the control plane at rest)."""
    from markdown_it import MarkdownIt

    # html=True so that raw HTML arrives as tokens of its own, which _raw_html then drops
    # (comments) or escapes (anything else); nothing reaches the page as markup.
    parser = MarkdownIt("commonmark", {"html": True}).enable("table")
    parser.add_render_rule("html_block", _raw_html)
    parser.add_render_rule("html_inline", _raw_html)
    parser.add_render_rule("table_open", _table_open)
    parser.add_render_rule("table_close", _table_close)
    return parser
