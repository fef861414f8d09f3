"""Lifecycle rules at work on a live server: the headers that announce them (boto3), and
``nexq admin lifecycle run --now`` doing what the daily job does, weeks ahead."""

from __future__ import annotations

import calendar
import email.utils
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code
from tests.live import LiveServer, nexq, nexq_json

DAY = 86_400


def configure(s3: Any, bucket: str, *rules: dict[str, Any]) -> None:
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)}
    )


def run_lifecycle(server: LiveServer, days_ahead: int) -> dict[str, Any]:
    when = (datetime.now(UTC) + timedelta(days=days_ahead)).date().isoformat()
    report: dict[str, Any] = nexq_json(
        "admin", "lifecycle", "run", "--now", when, data_dir=server.data_dir
    )
    assert report["now"] == f"{when}T00:00:00+00:00"
    return report


def midnight_after(moment: datetime, days: int) -> int:
    """When S3 acts ``days`` days after ``moment``: the first midnight UTC after."""
    return (calendar.timegm(moment.utctimetuple()) // DAY + days + 1) * DAY


def expiry_date(last_modified: datetime, days: int) -> str:
    return email.utils.formatdate(midnight_after(last_modified, days), usegmt=True)


def test_rules_expire_objects_delete_old_versions_and_abort_uploads(
    server: LiveServer, s3: Any, bucket: str
) -> None:
    # An unversioned bucket whose logs expire after 30 days.
    configure(
        s3,
        bucket,
        {
            "ID": "expire logs",
            "Filter": {"Prefix": "logs/"},
            "Status": "Enabled",
            "Expiration": {"Days": 30},
        },
    )
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"aaaa")
    s3.put_object(Bucket=bucket, Key="logs/b", Body=b"bb")
    kept = s3.put_object(Bucket=bucket, Key="data/keep", Body=b"k")
    got = s3.get_object(Bucket=bucket, Key="logs/a")
    announced = f'expiry-date="{expiry_date(got["LastModified"], 30)}", rule-id="expire logs"'
    assert got["Expiration"] == announced == put["Expiration"]
    assert s3.head_object(Bucket=bucket, Key="logs/a")["Expiration"] == announced
    assert "Expiration" not in kept and "Expiration" not in s3.get_object(
        Bucket=bucket, Key="data/keep"
    )

    # A versioned bucket that keeps old versions 30 days and uploads a week.
    history = f"{bucket}-history"
    s3.create_bucket(Bucket=history)
    s3.put_bucket_versioning(Bucket=history, VersioningConfiguration={"Status": "Enabled"})
    configure(
        s3,
        history,
        {
            "ID": "tidy",
            "Filter": {},
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
    )
    s3.put_object(Bucket=history, Key="doc", Body=b"first")
    current = s3.put_object(Bucket=history, Key="doc", Body=b"second")["VersionId"]
    assert "Expiration" not in s3.get_object(Bucket=history, Key="doc")  # no rule expires it
    upload = s3.create_multipart_upload(Bucket=history, Key="big")
    (listed_upload,) = s3.list_multipart_uploads(Bucket=history)["Uploads"]
    abort_at = datetime.fromtimestamp(midnight_after(listed_upload["Initiated"], 7), UTC)
    assert (upload["AbortDate"], upload["AbortRuleId"]) == (abort_at, "tidy")
    s3.upload_part(
        Bucket=history, Key="big", UploadId=upload["UploadId"], PartNumber=1, Body=b"part"
    )

    # Nothing is due today; 40 days ahead, everything the rules name is.
    assert run_lifecycle(server, 0)["expired"] == 0
    report = run_lifecycle(server, 40)
    assert {k: v for k, v in report.items() if k != "now"} == {
        "buckets": 2,
        "expired": 2,
        "noncurrent_deleted": 1,
        "delete_markers_removed": 0,
        "uploads_aborted": 1,
        "left_alone": 0,
        "failed": [],
    }
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["data/keep"]
    with pytest.raises(ClientError) as gone:
        s3.get_object(Bucket=bucket, Key="logs/a")
    assert code(gone) == "NoSuchKey"
    versions = s3.list_object_versions(Bucket=history)
    assert [v["VersionId"] for v in versions["Versions"]] == [current]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=history)
    assert s3.get_object(Bucket=history, Key="doc")["Body"].read() == b"second"

    # A second run finds nothing more to do.
    again = run_lifecycle(server, 40)
    assert (again["expired"], again["noncurrent_deleted"], again["uploads_aborted"]) == (0, 0, 0)
    assert nexq_json("admin", "fsck", data_dir=server.data_dir)["clean"] is True


def test_a_date_that_is_not_one_is_refused(server: LiveServer) -> None:
    result = nexq(
        "admin", "lifecycle", "run", "--now", "next tuesday", data_dir=server.data_dir, check=False
    )
    assert result.returncode == 1
    assert "error: --now: 'next tuesday' is not an ISO 8601 date" in result.stderr


def test_the_server_applies_the_rules_by_itself(tmp_path: Path) -> None:
    # Every second instead of daily, and with a date long past: the object written now is due
    # at once, so the server's own job must remove it (one of its workers, once).
    live = LiveServer(tmp_path / "data", env={"NEXQ_LIFECYCLE_INTERVAL": "1"})
    live.data_dir.mkdir()
    live.start()
    try:
        s3 = live.client(live.key(live.account("daily@example.com")))
        s3.create_bucket(Bucket="daily")
        rule = {"ID": "past", "Filter": {}, "Status": "Enabled"}
        configure(s3, "daily", {**rule, "Expiration": {"Date": datetime(2020, 1, 1, tzinfo=UTC)}})
        put = s3.put_object(Bucket="daily", Key="old", Body=b"x")
        assert put["Expiration"] == 'expiry-date="Wed, 01 Jan 2020 00:00:00 GMT", rule-id="past"'
        deadline = time.monotonic() + 30
        while s3.list_objects_v2(Bucket="daily").get("KeyCount"):
            assert time.monotonic() < deadline, "the server's lifecycle job did not run"
            time.sleep(0.2)
    finally:
        live.stop()
