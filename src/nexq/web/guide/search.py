"""Search over the guide, done on the server so that it works without JavaScript.

A page matches when its text holds every word of the query, case-insensitively; the answer
names the passage (the text under one heading) that holds the most of them, with an excerpt
around the first one. The guide is a few dozen pages read into memory once: a scan of them
costs less than keeping an index up to date would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from nexq.web.guide.markdown import Passage

MAX_QUERY = 200  # characters of a query that are read
MAX_WORDS = 8
EXCERPT = 220  # characters of a passage shown around the first match
_LEAD = 60  # of which before it
# Punctuation around a word is not part of it ("login," finds "login"); inside, it is
# ("registry:write").
_EDGES = "\"'.,;:!?()[]{}<>\u201c\u201d\u2018\u2019"  # with typographic quotes


class Document(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def section_title(self) -> str: ...
    @property
    def passages(self) -> tuple[Passage, ...]: ...


@dataclass(frozen=True, slots=True)
class Hit:
    url: str  # the page, at the matching heading
    title: str
    section: str
    heading: str  # the matching passage's heading, "" when it is the page's title
    excerpt: tuple[tuple[str, bool], ...]  # pieces of text, each a match or not


def words_of(query: str) -> list[str]:
    """The query's distinct words, lowercase, in order."""
    found: list[str] = []
    for raw in query[:MAX_QUERY].lower().split():
        word = raw.strip(_EDGES)
        if word and word not in found:
            found.append(word)
    return found[:MAX_WORDS]


def search(documents: Iterable[Document], query: str) -> list[Hit]:
    """The documents holding every word of ``query``, best first (in reading order among
    equals); nothing for a query without words."""
    words = words_of(query)
    if not words:
        return []
    phrase = " ".join(words)

    def score(text: str) -> tuple[bool, int]:
        # The words side by side, as typed, say more than the words anywhere in a passage.
        return phrase in text, sum(word in text for word in words)

    ranked: list[tuple[tuple[bool, int, int, int], Hit]] = []
    for order, document in enumerate(documents):
        # A passage's words are its heading's and its text's.
        texts = [
            (p, f"{p.heading.text if p.heading else ''} {p.text}".lower())
            for p in document.passages
        ]
        whole = " ".join(text for _, text in texts) + " " + document.title.lower()
        if not texts or not all(word in whole for word in words):
            continue
        best, text = max(texts, key=lambda item: score(item[1]))
        in_title = sum(word in document.title.lower() for word in words)
        heading = best.heading
        hit = Hit(
            url=document.url + (f"#{heading.anchor}" if heading and heading.level > 1 else ""),
            title=document.title,
            section=document.section_title,
            heading=heading.text if heading and heading.level > 1 else "",
            excerpt=_excerpt(best.text or (heading.text if heading else ""), words),
        )
        together, covered = score(text)
        ranked.append(((not together, -covered, -in_title, order), hit))
    return [hit for _, hit in sorted(ranked, key=lambda item: item[0])]


def _excerpt(text: str, words: list[str]) -> tuple[tuple[str, bool], ...]:
    lower, phrase = text.lower(), " ".join(words)
    if phrase in lower:
        first = lower.find(phrase)
    else:
        first = min((lower.find(w) for w in words if w in lower), default=0)
    start = max(0, first - _LEAD)
    space = text.find(" ", start, first) if start else -1
    start = space + 1 if space >= 0 else start  # begin and end on whole words
    end = min(len(text), start + EXCERPT)
    space = text.rfind(" ", first, end) if end < len(text) else -1
    end = space if space > first else end
    shown = ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")
    longest_first = sorted(words, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(w) for w in longest_first), re.I)
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in pattern.finditer(shown):
        if match.start() > at:
            pieces.append((shown[at : match.start()], False))
        pieces.append((match.group(), True))
        at = match.end()
    if at < len(shown):
        pieces.append((shown[at:], False))
    return tuple(pieces)
