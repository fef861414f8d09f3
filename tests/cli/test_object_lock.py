"""dcp storage buckets create --object-lock, buckets show and buckets object-lock, run as a real
process against a live server (docs/api.md, "Object Lock")."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.cli.conftest import Dcp


def _put(user: Dcp, bucket: str, key: str, body: bytes) -> None:
    url = user.json("storage", "objects", "presign", bucket, key, "--method", "PUT")["url"]
    assert httpx.put(url, content=body).status_code == 200


def test_a_bucket_made_with_object_lock_and_its_default_retention(user: Dcp) -> None:
    """The commands of docs/api.md, "Object Lock", as written there."""
    bucket = "backups"
    made = user.json("storage", "buckets", "create", bucket, "--object-lock")
    assert made["object_lock"] == {"enabled": True, "mode": None, "days": None, "years": None}
    shown = user("storage", "buckets", "show", bucket).stdout
    assert "object_lock: on; no default retention\n" in shown
    assert user.json("storage", "buckets", "versioning", bucket) == {"status": "Enabled"}
    said = user("storage", "buckets", "object-lock", bucket).stdout
    assert said == f"Object lock of {bucket}: on; no default retention\n"

    said = user(
        "storage", "buckets", "object-lock", bucket, "--mode", "GOVERNANCE", "--days", "30"
    ).stdout
    assert said == f"Object lock of {bucket}: on; default retention GOVERNANCE for 30 days\n"
    assert user.json("storage", "buckets", "object-lock", bucket) == {
        "enabled": True,
        "mode": "GOVERNANCE",
        "days": 30,
        "years": None,
    }
    shown = user("storage", "buckets", "show", bucket).stdout
    assert "object_lock: on; default retention GOVERNANCE for 30 days\n" in shown

    # A retained version cannot be deleted for good; a delete marker can be stacked.
    _put(user, bucket, "report.pdf", b"v1")
    version = user.json("storage", "objects", "versions", bucket)[0]["version_id"]
    refused = user.fails(
        3, "storage", "objects", "delete", bucket, "report.pdf", "--version-id", version
    )
    assert "object lock" in refused
    user("storage", "objects", "delete", bucket, "report.pdf")
    kept = user.json("storage", "objects", "versions", bucket)
    assert [(v["version_id"], v["delete_marker"]) for v in kept][1] == (version, False)

    said = user("storage", "buckets", "object-lock", bucket, "--mode", "COMPLIANCE", "--years", "1")
    assert said.stdout == f"Object lock of {bucket}: on; default retention COMPLIANCE for 1 year\n"
    said = user("storage", "buckets", "object-lock", bucket, "--clear").stdout
    assert said == f"Object lock of {bucket}: on; no default retention\n"


def test_object_lock_refusals_and_a_bucket_without_it(
    user: Dcp, bucket_name: Callable[[], str]
) -> None:
    bucket = bucket_name()
    made = user.json("storage", "buckets", "create", bucket)
    assert made["object_lock"]["enabled"] is False
    assert "object_lock: off\n" in user("storage", "buckets", "show", bucket).stdout
    said = user("storage", "buckets", "object-lock", bucket).stdout
    assert said == (
        f"Object lock of {bucket}: off (it can only be turned on when a bucket is created)\n"
    )
    refused = user.fails(
        5, "storage", "buckets", "object-lock", bucket, "--mode", "GOVERNANCE", "--days", "1"
    )
    assert "only be turned on when a bucket is created" in refused

    locked = bucket_name()
    user("storage", "buckets", "create", locked, "--object-lock")
    # The server's rules, reported as it words them (exit 6: invalid).
    no_period = user.fails(6, "storage", "buckets", "object-lock", locked, "--mode", "GOVERNANCE")
    assert "one period: days or years" in no_period
    both = ("--mode", "GOVERNANCE", "--days", "1", "--years", "1")
    assert "not both" in user.fails(6, "storage", "buckets", "object-lock", locked, *both)
    zero = ("--mode", "GOVERNANCE", "--days", "0")
    assert "positive" in user.fails(6, "storage", "buckets", "object-lock", locked, *zero)
    user.fails(2, "storage", "buckets", "object-lock", locked, "--clear", "--days", "1")
    user.fails(2, "storage", "buckets", "object-lock", locked, "--mode", "FOREVER", "--days", "1")
    user.fails(4, "storage", "buckets", "object-lock", bucket_name())
    assert user.json("storage", "buckets", "object-lock", locked)["mode"] is None
