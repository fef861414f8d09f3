"""Addresses of the Object Storage pages, and what the "how to connect" panel shows."""

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from nexq.core.identity import Principal
from nexq.storage.errors import NoSuchBucket
from nexq.storage.service import BucketStats, ObjectStorage


@dataclass(frozen=True, slots=True)
class Connect:
    """Where S3 tools connect: shown with ready-to-paste boto3 and aws-cli snippets."""

    endpoint: str
    region: str
    # A bucket's static website, "{bucket}" standing for its name (Settings → Website).
    website: str

    def website_url(self, bucket: str) -> str:
        return self.website.replace("{bucket}", bucket) + "/"


def bucket_url(name: str, path: str = "", **query: str) -> str:
    """A link inside a bucket's pages; keys go in the query string (they contain anything)."""
    url = f"/storage/buckets/{quote(name)}{path}"
    kept = {k: v for k, v in query.items() if v}
    return f"{url}?{urlencode(kept)}" if kept else url


def breadcrumbs(name: str, prefix: str) -> list[tuple[str, str]]:
    """(label, link) from the bucket down to the folder ``prefix``."""
    crumbs = [(name, bucket_url(name))]
    walked = ""
    for folder in prefix.split("/")[:-1]:
        walked += folder + "/"
        crumbs.append((folder, bucket_url(name, prefix=walked)))
    return crumbs


def stats_of(storage: ObjectStorage, caller: Principal, name: str) -> BucketStats:
    """One bucket of the caller's account with its object count and size."""
    for stats in storage.bucket_stats(caller):
        if stats.bucket.name == name:
            return stats
    raise NoSuchBucket(f"No bucket named {name!r} in this account.")
