"""Every link of the user guide as served, followed from /docs: each page of the guide it
reaches, each anchor (``#id``) on the page it names, each picture, stylesheet and script, and
each console page a guide page points to must be there. Links to other sites are listed, not
fetched: the test runs offline."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx

from nexq.web.guide.library import png_size
from tests.console.conftest import TIMEOUT
from tests.live import LiveServer

# What an element names, by tag and attribute: where a reader or the browser goes from a page.
_LINKS = {("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")}


@dataclass
class Document(HTMLParser):
    """One HTML page's ids and the links it holds, as (tag, URL as written)."""

    ids: set[str] = field(default_factory=set)
    links: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif (tag, name) in _LINKS:
                self.links.append((tag, value))


@dataclass
class Crawl:
    """What following the guide's links found."""

    server: LiveServer
    client: httpx.Client
    documents: dict[str, Document | None] = field(default_factory=dict)  # None: not HTML
    broken: list[str] = field(default_factory=list)
    external: set[str] = field(default_factory=set)

    def fetch(self, url: str, source: str, tag: str) -> Document | None:
        """``url`` (of this server, without a fragment) as the link from ``source`` leads to
        it; its ids and links if it is HTML. Each URL is fetched once."""
        if url in self.documents:
            return self.documents[url]
        answer = self.client.get(url, follow_redirects=True)
        document = None
        if answer.status_code != 200:
            self.broken.append(f"{source}: {url} answers {answer.status_code}")
        elif tag == "img" and png_size(answer.content) is None:
            self.broken.append(f"{source}: {url} is not a PNG ({answer.headers['content-type']})")
        elif answer.headers["content-type"].startswith("text/html"):
            document = Document()
            document.feed(answer.text)
        self.documents[url] = document
        return document

    def run(self, start: str) -> list[tuple[str, str, str]]:
        """Follows every link from ``start`` through the guide's pages; the links with an
        anchor, as (page, target, anchor), for checking once every page is known."""
        anchored: list[tuple[str, str, str]] = []
        pending = deque([start])
        self.fetch(start, "(start)", "a")
        while pending:
            page = pending.popleft()
            document = self.documents[page]
            for tag, written in document.links if document else ():
                target, anchor = urldefrag(urljoin(page, written))
                parts = urlsplit(target)
                if parts.scheme not in ("http", "https") or parts.netloc != self.host:
                    self.external.add(written)
                    continue
                known = target in self.documents
                found = self.fetch(target, page, tag)
                if anchor:
                    anchored.append((page, target, anchor))
                # Only the guide's own pages are followed further; a console page it links
                # to is checked, not crawled.
                if not known and found is not None and parts.path.startswith("/docs"):
                    pending.append(target)
        return anchored

    @property
    def host(self) -> str:
        return urlsplit(self.server.api_url).netloc


def test_every_link_of_the_guide_leads_to_a_page_an_anchor_or_a_picture_it_has(
    server: LiveServer,
) -> None:
    with httpx.Client(timeout=TIMEOUT) as client:
        crawl = Crawl(server, client)
        anchored = crawl.run(server.api_url + "/docs")
    for page, target, anchor in anchored:
        document = crawl.documents[target]
        if document is None or anchor not in document.ids:
            crawl.broken.append(f"{page}: {target} has no #{anchor}")
    assert crawl.broken == []
    guide = [url for url in crawl.documents if urlsplit(url).path.startswith("/docs/")]
    # The crawl reached every section's pages and the pictures they show.
    pages = [url for url in guide if crawl.documents[url] is not None]
    assert len(pages) >= 30, pages
    assert any("/screenshots/" in url for url in guide), guide
    # Links to other sites are listed for a reader of the test's output, not fetched.
    print("External links of the guide, not fetched:", *sorted(crawl.external), sep="\n  ")
    assert all(urlsplit(link).scheme in ("https", "http", "mailto") for link in crawl.external), (
        sorted(crawl.external)
    )
