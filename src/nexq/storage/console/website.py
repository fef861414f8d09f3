"""The Website section of a bucket's Settings page: serve the bucket as a static site with
an index document and an error document, or stop serving it.

Routing rules and ``RedirectAllRequestsTo`` are set with the REST API, dcp or an S3 tool;
the page shows them and keeps the routing rules when the documents are changed here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nexq.storage.api_website import website_document, website_of
from nexq.storage.website import Website


@dataclass(frozen=True, slots=True)
class WebsiteView:
    """What the section shows: the configuration (None: not served), the site's address,
    and the form's fields (as typed, after a refusal)."""

    website: Website | None
    url: str
    index_document: str
    error_document: str

    @classmethod
    def of(cls, stored: str | None, url: str, drafts: dict[str, str]) -> WebsiteView:
        website = Website.from_json(stored) if stored else None
        index = website.index_suffix if website and website.index_suffix else "index.html"
        error = website.error_key if website and website.error_key else ""
        return cls(
            website,
            url,
            drafts.get("index_document", index),
            drafts.get("error_document", error),
        )


def with_documents(stored: str | None, index_document: str, error_document: str) -> str:
    """The configuration to store once the form is saved: its documents, the routing rules
    already set (a redirect of every request is replaced); Invalid with S3's reason."""
    kept = Website.from_json(stored) if stored else Website()
    if kept.redirect_all is not None:
        kept = Website()
    drafted = replace(
        kept, index_suffix=index_document.strip(), error_key=error_document.strip() or None
    )
    return website_of(website_document(drafted)).to_json()
