"""Client methods of a bucket's settings and its object versions (docs/api.md, "Bucket
settings and versions"); ``NexqClient`` has them."""

from __future__ import annotations

from typing import Any, Literal, TypedDict, cast

from nexq.client.paths import Plumbing, segment


class Versioning(TypedDict):
    status: Literal["Enabled", "Suspended"] | None


class ObjectVersion(TypedDict):
    key: str
    version_id: str
    is_latest: bool
    delete_marker: bool
    size: int
    etag: str | None
    last_modified: str


class ObjectLock(TypedDict):
    enabled: bool
    mode: Literal["GOVERNANCE", "COMPLIANCE"] | None
    days: int | None
    years: int | None


class PublicAccessBlock(TypedDict):
    block_public_acls: bool
    ignore_public_acls: bool
    block_public_policy: bool
    restrict_public_buckets: bool


class BucketSettingsClient(Plumbing):
    """What ``NexqClient`` adds for bucket settings; it speaks through the client's plumbing."""

    def _setting(self, bucket: str, name: str) -> str:
        return f"/storage/buckets/{segment(bucket)}/{name}"

    # -- versioning and versions ---------------------------------------------------------

    def versioning(self, bucket: str) -> Versioning:
        return cast(Versioning, self._request("GET", self._setting(bucket, "versioning")))

    def set_versioning(self, bucket: str, status: Literal["Enabled", "Suspended"]) -> Versioning:
        path = self._setting(bucket, "versioning")
        return cast(Versioning, self._request("PUT", path, body={"status": status}))

    def list_versions(self, bucket: str, prefix: str | None = None) -> list[ObjectVersion]:
        """Every version and delete marker under ``prefix`` (every page)."""
        versions: list[ObjectVersion] = []
        for page in self._pages(self._setting(bucket, "versions"), {"prefix": prefix}):
            versions.extend(page["items"])
        return versions

    def restore_version(self, bucket: str, key: str, version_id: str) -> ObjectVersion:
        """Make ``version_id`` current again (a copy); the new version."""
        path = self._setting(bucket, f"objects/{segment(key)}/restore")
        return cast(ObjectVersion, self._request("POST", path, body={"version_id": version_id}))

    # -- Object Lock ---------------------------------------------------------------------

    def object_lock(self, bucket: str) -> ObjectLock:
        return cast(ObjectLock, self._request("GET", self._setting(bucket, "object-lock")))

    def set_object_lock(
        self, bucket: str, mode: str | None, days: int | None = None, years: int | None = None
    ) -> ObjectLock:
        """The default retention of a bucket made with Object Lock (``mode=None``: none)."""
        body = {"mode": mode, "days": days, "years": years}
        path = self._setting(bucket, "object-lock")
        return cast(ObjectLock, self._request("PUT", path, body=body))

    # -- documents -----------------------------------------------------------------------

    def policy(self, bucket: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("GET", self._setting(bucket, "policy")))

    def set_policy(self, bucket: str, text: str) -> dict[str, Any]:
        """``text``: the policy document, sent as written (the server keeps it so)."""
        path = self._setting(bucket, "policy")
        return cast(dict[str, Any], self._request("PUT", path, text=text))

    def delete_policy(self, bucket: str) -> None:
        self._request("DELETE", self._setting(bucket, "policy"))

    def cors(self, bucket: str) -> dict[str, Any]:
        """``{"CORSRules": [...]}`` as aws-cli writes it."""
        return cast(dict[str, Any], self._request("GET", self._setting(bucket, "cors")))

    def set_cors(self, bucket: str, document: Any) -> dict[str, Any]:
        path = self._setting(bucket, "cors")
        return cast(dict[str, Any], self._request("PUT", path, body=document))

    def delete_cors(self, bucket: str) -> None:
        self._request("DELETE", self._setting(bucket, "cors"))

    def website(self, bucket: str) -> dict[str, Any]:
        """aws-cli's website configuration, and the site's ``url``."""
        return cast(dict[str, Any], self._request("GET", self._setting(bucket, "website")))

    def set_website(self, bucket: str, document: Any) -> dict[str, Any]:
        path = self._setting(bucket, "website")
        return cast(dict[str, Any], self._request("PUT", path, body=document))

    def delete_website(self, bucket: str) -> None:
        self._request("DELETE", self._setting(bucket, "website"))

    def lifecycle(self, bucket: str) -> dict[str, Any]:
        """``{"Rules": [...]}`` as aws-cli writes it."""
        return cast(dict[str, Any], self._request("GET", self._setting(bucket, "lifecycle")))

    def set_lifecycle(self, bucket: str, document: Any) -> dict[str, Any]:
        path = self._setting(bucket, "lifecycle")
        return cast(dict[str, Any], self._request("PUT", path, body=document))

    def delete_lifecycle(self, bucket: str) -> None:
        self._request("DELETE", self._setting(bucket, "lifecycle"))

    # -- tags and Block Public Access ----------------------------------------------------

    def bucket_tags(self, bucket: str) -> dict[str, str]:
        answer = self._request("GET", self._setting(bucket, "tags"))
        return cast(dict[str, str], answer["tags"])

    def set_bucket_tags(self, bucket: str, tags: dict[str, str]) -> dict[str, str]:
        answer = self._request("PUT", self._setting(bucket, "tags"), body={"tags": tags})
        return cast(dict[str, str], answer["tags"])

    def delete_bucket_tags(self, bucket: str) -> None:
        self._request("DELETE", self._setting(bucket, "tags"))

    def public_access_block(self, bucket: str) -> PublicAccessBlock:
        path = self._setting(bucket, "public-access-block")
        return cast(PublicAccessBlock, self._request("GET", path))

    def set_public_access_block(self, bucket: str, block: PublicAccessBlock) -> PublicAccessBlock:
        path = self._setting(bucket, "public-access-block")
        return cast(PublicAccessBlock, self._request("PUT", path, body=dict(block)))

    def delete_public_access_block(self, bucket: str) -> None:
        self._request("DELETE", self._setting(bucket, "public-access-block"))
