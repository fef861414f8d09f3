"""The user guide's kit without a server: Markdown rendering, the guide's pages and links,
search."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from itertools import count
from pathlib import Path

import pytest

from nexq.accounts.descriptor import GUIDE as ACCOUNT_GUIDE
from nexq.registry.descriptor import GUIDE as REGISTRY_GUIDE
from nexq.web.guide.library import GUIDE_ROOT, Guide, png_size
from nexq.web.guide.markdown import Picture, anchor_of, render, summary_of
from nexq.web.guide.search import search, words_of
from nexq.web.guide.section import GuidePage, GuideSection


def known(href: str) -> str | None:
    """A resolver that knows one page, ``other.md``."""
    path, _, fragment = href.partition("#")
    return f"/docs/s/other{'#' + fragment if fragment else ''}" if path == "other.md" else None


@pytest.fixture(scope="module")
def guide() -> Guide:
    return Guide([("registry", REGISTRY_GUIDE)])


def test_relative_links_are_resolved_and_others_left_alone() -> None:
    page = render(
        "See [the other](other.md#set-up), [a lost one](lost.md), [AWS](https://aws.amazon.com/s3/),"
        " [the API](/v1/docs), [above](#top) and [a script](javascript:alert(1)).",
        known,
    )
    assert '<a href="/docs/s/other#set-up">the other</a>' in page.html
    assert '<a href="lost.md">a lost one</a>' in page.html  # left as written, and reported
    assert '<a href="https://aws.amazon.com/s3/">AWS</a>' in page.html
    assert '<a href="/v1/docs">the API</a>' in page.html
    assert '<a href="#top">above</a>' in page.html
    assert 'href="javascript' not in page.html  # markdown-it's own rule, kept
    assert page.links == ("other.md#set-up", "lost.md")


def test_comments_are_dropped_and_raw_html_is_shown_as_text() -> None:
    page = render(
        "# Title\n\n<!-- not run: needs a cluster -->\n```sh\nkubectl get pods\n```\n\n"
        '<script>alert("x")</script>\n\nInline <img src=x onerror=alert(1)> and <!-- hidden --> '
        "<b>bold</b>.\n",
        known,
    )
    assert "not run" not in page.html and "hidden" not in page.html
    assert "<script" not in page.html and "<img" not in page.html and "<b>" not in page.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.html
    assert '<pre><code class="language-sh">kubectl get pods\n</code></pre>' in page.html
    assert "not run" not in " ".join(p.text for p in page.passages)


def test_headings_get_githubs_ids_and_tables_the_consoles_classes() -> None:
    page = render(
        "# Push images\n\n## 1. Log in\n\n## Artifacts: SBOMs, signatures\n\n## Notes\n\n"
        "## Notes\n\n| tier | registries |\n|:--|--:|\n| Free | 2 |\n",
        known,
    )
    assert [h.anchor for h in page.headings] == [
        "push-images",
        "1-log-in",
        "artifacts-sboms-signatures",
        "notes",
        "notes-1",
    ]
    assert '<h2 id="1-log-in">1. Log in</h2>' in page.html
    assert '<div class="table-wrap"><table class="table">' in page.html
    assert '<td class="align-right">2</td>' in page.html
    assert "style=" not in page.html  # the console's CSP forbids inline style
    assert page.title == "Push images"
    assert anchor_of("HTTPS and plain HTTP") == "https-and-plain-http"


def test_passages_hold_the_text_under_each_heading() -> None:
    page = render("# T\n\nIntro `code`.\n\n## Part\n\nBody text.\n\n```sh\nls -l\n```\n", known)
    assert [(p.heading.text if p.heading else None, p.text) for p in page.passages] == [
        ("T", "Intro code."),
        ("Part", "Body text. ls -l"),
    ]
    assert page.summary == "Intro code."


def test_the_guide_has_getting_started_and_the_registrys_pages(guide: Guide) -> None:
    assert [(s.name, [p.slug for p in s.pages]) for s in guide.sections] == [
        ("getting-started", ["introduction"]),
        ("registry", [p.slug for p in REGISTRY_GUIDE.pages]),
    ]
    overview = guide.page("registry", "overview")
    assert overview is not None and overview.url == f"{GUIDE_ROOT}/registry/overview"
    assert overview.rendered.title == "Container Registry"
    assert guide.page("registry", "nope") is None and guide.page("storage", "overview") is None
    assert guide.url_of("registry") == "/docs/registry/overview"
    first, last = guide.neighbours(overview)
    assert first is not None and first.slug == "introduction"
    assert last is not None and last.slug == "create-registry"


def test_every_link_of_the_shipped_pages_reaches_a_page_and_its_anchor(guide: Guide) -> None:
    assert guide.broken_links() == []
    html = str(guide.page("registry", "push-images").html)  # type: ignore[union-attr]
    assert 'href="/docs/registry/overview#https-and-plain-http"' in html
    assert 'href="/docs/registry/manage-credentials"' in html
    assert ".md" not in "".join(re.findall(r'href="([^"]*)"', html))


def test_a_link_across_sections_and_what_names_no_page(guide: Guide) -> None:
    assert guide.resolve("getting-started", "../registry/overview.md#limits-and-billing") == (
        "/docs/registry/overview#limits-and-billing"
    )
    assert guide.resolve("registry", "push-images.md") == "/docs/registry/push-images"
    assert guide.resolve("registry", "../storage/overview.md") is None
    assert guide.resolve("registry", "push-images.txt") is None
    assert guide.resolve("registry", "../../docs/registry.md") is None


@pytest.mark.parametrize("name", ["getting-started", "search", "Registry", ""])
def test_a_section_needs_a_unique_lowercase_name(name: str) -> None:
    with pytest.raises(ValueError, match="unique lowercase name"):
        Guide([(name, REGISTRY_GUIDE)])


def test_a_declared_page_must_exist() -> None:
    missing = GuideSection("Registry", "nexq.registry", (GuidePage("no-such-page", "None"),))
    with pytest.raises(FileNotFoundError):
        Guide([("registry", missing)])


def test_search_needs_every_word_in_any_case(guide: Guide) -> None:
    hits = guide.search("Rotating a REVOKED credential")
    top = hits[0]
    assert top.url == "/docs/registry/manage-credentials#rotate-a-token"
    assert (top.title, top.heading, top.section) == (
        "Manage credentials",
        "Rotate a token",
        "Container Registry",
    )
    marked = [text.lower() for text, matched in top.excerpt if matched]
    assert "rotating" in marked and "revoked" in marked
    assert guide.search("kubeseal zzqxv") == []  # one word is nowhere
    assert guide.search("   ") == [] and guide.search("?!") == []


def test_search_ranks_the_words_side_by_side_first(guide: Guide) -> None:
    hits = search(guide.pages(), "pull secret")
    assert hits[0].url == "/docs/registry/pull-images#pull-in-kubernetes"
    assert {h.title for h in hits} >= {"Manage credentials", "Pull images"}


def test_query_words() -> None:
    assert words_of('"Docker login," registry:write DOCKER') == [
        "docker",
        "login",
        "registry:write",
    ]
    assert len(words_of("a " * 500)) == 1
    assert len(words_of(" ".join(f"w{n}" for n in range(20)))) == 8


# -- fragments: Markdown a service makes when a page is served --------------------------------

FRAGMENTS = ("tier-list", "tier-limits", "tier-prices", "limit-meanings")


def account_guide(**made: Callable[[], str]) -> Guide:
    """A guide with the Account section, whose Service Tiers and Limits & Quotas pages take in
    fragments: ``made`` by name, the others empty."""
    fragments = {name: made.get(name.replace("-", "_"), lambda: "") for name in FRAGMENTS}
    return Guide([("account", replace(ACCOUNT_GUIDE, fragments=fragments))])


def test_a_fragment_is_made_again_each_time_its_page_is_served() -> None:
    served = count(1)
    guide = account_guide(
        tier_list=lambda: f"| tier | id |\n|---|---|\n| Gold{next(served)} | `gold` |"
    )  # never made as the guide loads: pages are rendered when first read
    first, second = guide.page("account", "service-tiers"), guide.page("account", "service-tiers")
    assert first is not None and second is not None
    assert "<td>Gold1</td>" in str(first.html) and "<td>Gold2</td>" in str(second.html)
    assert "fragment" not in str(first.html)
    # A page without fragments is the one rendered at load, every time.
    assert guide.page("account", "api-keys") is guide.page("account", "api-keys")


def test_search_and_the_outline_read_the_fragment_as_it_is_now() -> None:
    name = iter(["Gold", "Platinum", "Platinum"])
    guide = account_guide(tier_limits=lambda: f"### {next(name)} limits\n\nMore of all.")
    assert guide.search("gold")[0].url == "/docs/account/service-tiers#gold-limits"
    assert guide.search("platinum")[0].url == "/docs/account/service-tiers#platinum-limits"
    page = guide.page("account", "service-tiers")
    assert page is not None and "Platinum limits" in [h.text for h in page.rendered.headings]


def test_a_fragment_is_markdown_whose_raw_html_is_text_and_links_resolve() -> None:
    guide = account_guide(
        limit_meanings=lambda: (
            "<script>alert(1)</script>\n\n[Keys](api-keys.md#scopes), [gone](lost.md)."
        )
    )
    html = str(guide.page("account", "limits-quotas").html)  # type: ignore[union-attr]
    assert "<script" not in html and "&lt;script&gt;" in html
    assert 'href="/docs/account/api-keys#scopes"' in html
    # Its links are checked with the page's own links.
    broken = guide.broken_links()
    assert "/docs/account/limits-quotas: lost.md" in broken
    assert "/docs/account/limits-quotas: api-keys.md#scopes" not in broken


def test_a_page_naming_a_fragment_its_section_lacks_stops_the_load() -> None:
    with pytest.raises(
        ValueError, match=r"service-tiers.md: its section has no fragment tier-limits, tier-list"
    ):
        Guide([("account", ACCOUNT_GUIDE)])  # declared without its fragments


# -- screenshots and Getting Started ---------------------------------------------------------


def test_a_relative_image_is_resolved_with_its_size_and_others_left_alone() -> None:
    def picture(src: str) -> Picture | None:
        return Picture("/docs/s/screenshots/a.png", 1280, 800) if src == "shots/a.png" else None

    page = render(
        "![The list](shots/a.png) ![lost](shots/b.png) ![far](https://example.com/c.png)",
        known,
        picture,
    )
    assert (
        '<img src="/docs/s/screenshots/a.png" alt="The list" width="1280" height="800"'
        ' loading="lazy" />' in page.html
    )
    assert '<img src="shots/b.png" alt="lost" />' in page.html  # left as written, and reported
    assert '<img src="https://example.com/c.png" alt="far" />' in page.html
    assert page.images == ("shots/a.png", "shots/b.png")
    assert render("![x](shots/a.png)", known).images == ("shots/a.png",)  # no resolver: as is


def test_a_picture_is_a_png_of_a_sections_screenshots_folder(guide: Guide) -> None:
    assert guide.picture("registry", "screenshots/registry-created.png") == Picture(
        "/docs/registry/screenshots/registry-created.png", 1280, 800
    )
    data = guide.picture_bytes("registry", "registry-created.png")
    assert data is not None and png_size(data) == (1280, 800)
    for src in (
        "screenshots/none-such.png",  # not in the package
        "screenshots/registry-created.jpg",
        "../storage/screenshots/buckets.png",  # a section this guide has not
        "overview.md",
        "screenshots/../overview.md",
    ):
        assert guide.picture("registry", src) is None, src
    # Only what a page shows is served, nothing else of the package.
    assert guide.picture_bytes("registry", "overview.md") is None
    assert guide.picture_bytes("registry", "none-such.png") is None
    assert png_size(b"GIF89a" + bytes(30)) is None


def test_a_picture_the_package_lacks_or_that_is_no_png_is_a_broken_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "made_guide"
    (package / "guide" / "screenshots").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "guide" / "overview.md").write_text(
        "# Made\n\n![kept](screenshots/kept.png) ![lost](screenshots/lost.png)\n"
        "![text](screenshots/text.png)\n"
    )
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (640).to_bytes(4) + (400).to_bytes(4)
    (package / "guide" / "screenshots" / "kept.png").write_bytes(png + bytes(20))
    (package / "guide" / "screenshots" / "text.png").write_text("not a picture")
    monkeypatch.syspath_prepend(str(tmp_path))
    guide = Guide([("made", GuideSection("Made", "made_guide", (GuidePage("overview", "Made"),)))])
    assert guide.broken_links() == [
        "/docs/made/overview: screenshots/lost.png",
        "/docs/made/overview: screenshots/text.png",
    ]
    html = str(guide.page("made", "overview").html)  # type: ignore[union-attr]
    assert 'src="/docs/made/screenshots/kept.png" alt="kept" width="640" height="400"' in html
    assert guide.picture_bytes("made", "kept.png") == png + bytes(20)
    assert guide.picture_bytes("made", "text.png") is None


def test_getting_started_leads_to_each_sections_start_and_what_it_highlights() -> None:
    highlighted = replace(REGISTRY_GUIDE, highlights=("push-images", "pull-images"))
    guide = Guide([("registry", highlighted)])
    page = guide.page("getting-started", "introduction")
    assert page is not None
    assert (
        '<li><a href="/docs/registry/overview">Container Registry</a>; see also '
        '<a href="/docs/registry/push-images">Push images</a>, '
        '<a href="/docs/registry/pull-images">Pull images</a></li>'
    ) in str(page.html)
    assert "/docs/storage" not in str(page.html)  # a service the guide has not
    assert guide.broken_links() == []
    with pytest.raises(ValueError, match="highlights a page it does not have"):
        Guide([("registry", replace(REGISTRY_GUIDE, highlights=("service-tiers",)))])


@pytest.mark.parametrize(
    "source",
    [
        "# Title\n\nThe first *paragraph*,\nin two lines.\n\nThe second.",
        "```\ncode\n\nnot a paragraph\n```\n\nAfter the fence.",
        "<!-- not run:\n\nhidden\n-->\n\nAfter the comment.",
        "- a list\n\n- loose\n\nAfter the list.",
        "# Only a title\n",
        "",
    ],
)
def test_a_summary_read_from_the_first_paragraph_is_the_rendered_one(source: str) -> None:
    assert summary_of(source) == render(source, known).summary


def test_the_contents_summaries_are_those_of_the_pages_rendered() -> None:
    guide = account_guide()
    summaries = [page.summary for page in guide.pages()]  # before any page is rendered
    assert all(summaries)
    assert summaries == [page.rendered.summary for page in guide.pages()]
