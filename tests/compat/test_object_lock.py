"""Object Lock and conditional deletes with boto3, against AWS's rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status

_names = itertools.count()


def later(days: float = 1) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


@pytest.fixture
def locked(s3: Any) -> str:
    """A bucket made with Object Lock (versioned for good)."""
    name = f"locked-{next(_names)}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def test_a_locked_bucket_is_versioned_for_good(s3: Any, locked: str) -> None:
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config["ObjectLockEnabled"] == "Enabled" and "Rule" not in config
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    assert code(refused) == "InvalidBucketState" and status(refused) == 409


def test_compliance_retention_holds_against_everyone(s3: Any, locked: str) -> None:
    until = later()
    version = s3.put_object(
        Bucket=locked,
        Key="k",
        Body=b"kept",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )["VersionId"]
    head = s3.head_object(Bucket=locked, Key="k")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1
    for bypass in (False, True):
        with pytest.raises(ClientError) as refused:
            s3.delete_object(
                Bucket=locked, Key="k", VersionId=version, BypassGovernanceRetention=bypass
            )
        assert code(refused) == "AccessDenied" and status(refused) == 403
    with pytest.raises(ClientError) as shorter:
        s3.put_object_retention(
            Bucket=locked,
            Key="k",
            VersionId=version,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later(0.5)},
        )
    assert code(shorter) == "AccessDenied"
    s3.put_object_retention(
        Bucket=locked,
        Key="k",
        VersionId=version,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later(2)},
    )
    got = s3.get_object_retention(Bucket=locked, Key="k", VersionId=version)["Retention"]
    assert got["Mode"] == "COMPLIANCE"
    # A delete marker removes nothing: allowed; the version stays.
    assert s3.delete_object(Bucket=locked, Key="k")["DeleteMarker"] is True
    assert s3.get_object(Bucket=locked, Key="k", VersionId=version)["Body"].read() == b"kept"


def test_governance_gives_way_to_the_bypass(s3: Any, locked: str) -> None:
    version = s3.put_object(
        Bucket=locked,
        Key="g",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=later(),
    )["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=locked, Key="g", VersionId=version)
    assert code(refused) == "AccessDenied"
    # Extending a GOVERNANCE retention needs nothing; leaving the mode, even for the
    # stricter COMPLIANCE, needs the bypass.
    s3.put_object_retention(
        Bucket=locked,
        Key="g",
        VersionId=version,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(2)},
    )
    stricter = {"Mode": "COMPLIANCE", "RetainUntilDate": later(2)}
    with pytest.raises(ClientError) as refused:
        s3.put_object_retention(Bucket=locked, Key="g", VersionId=version, Retention=stricter)
    assert code(refused) == "AccessDenied"
    # A document with a mode and no date, or a date and no mode, is not well formed (AWS).
    for half in ({"Mode": "GOVERNANCE"}, {"RetainUntilDate": later(3)}):
        with pytest.raises(ClientError) as refused:
            s3.put_object_retention(
                Bucket=locked,
                Key="g",
                VersionId=version,
                Retention=half,
                BypassGovernanceRetention=True,
            )
        assert (code(refused), status(refused)) == ("MalformedXML", 400)
    s3.delete_object(Bucket=locked, Key="g", VersionId=version, BypassGovernanceRetention=True)
    assert "Versions" not in s3.list_object_versions(Bucket=locked, Prefix="g")


def test_the_governance_bypass_is_refused_where_nothing_locks(s3: Any, bucket: str) -> None:
    """As AWS: x-amz-bypass-governance-retention, true or false, on a bucket without Object
    Lock is 400 InvalidArgument, on DeleteObject and DeleteObjects; nothing is deleted."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for bypass in (True, False):
        with pytest.raises(ClientError) as refused:
            s3.delete_object(Bucket=bucket, Key="k", BypassGovernanceRetention=bypass)
        assert (code(refused), status(refused)) == ("InvalidArgument", 400)
        assert "only applicable to Object Lock enabled buckets" in str(refused.value)
        error = refused.value.response["Error"]
        assert error["ArgumentName"] == "x-amz-bypass-governance-retention"
        assert "ArgumentValue" not in error  # as AWS's answer
        with pytest.raises(ClientError) as refused:
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": "k"}]}, BypassGovernanceRetention=bypass
            )
        assert (code(refused), status(refused)) == ("InvalidArgument", 400)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_a_legal_hold_blocks_deletion_until_removed(s3: Any, locked: str) -> None:
    version = s3.put_object(Bucket=locked, Key="h", Body=b"x")["VersionId"]
    # A hold never set is no hold and no configuration either (AWS: 404, no header).
    with pytest.raises(ClientError) as unset:
        s3.get_object_legal_hold(Bucket=locked, Key="h")
    assert (status(unset), code(unset)) == (404, "NoSuchObjectLockConfiguration")
    assert "ObjectLockLegalHoldStatus" not in s3.head_object(Bucket=locked, Key="h")
    s3.put_object_legal_hold(Bucket=locked, Key="h", LegalHold={"Status": "ON"})
    assert s3.head_object(Bucket=locked, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=locked, Key="h", VersionId=version)
    assert code(refused) == "AccessDenied"
    done = s3.delete_objects(
        Bucket=locked, Delete={"Objects": [{"Key": "h", "VersionId": version}]}
    )
    assert done["Errors"][0]["Code"] == "AccessDenied"
    s3.put_object_legal_hold(Bucket=locked, Key="h", VersionId=version, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="h")["LegalHold"]["Status"] == "OFF"
    assert s3.head_object(Bucket=locked, Key="h")["ObjectLockLegalHoldStatus"] == "OFF"
    s3.delete_object(Bucket=locked, Key="h", VersionId=version)
    # Set OFF when written: said so, as a hold turned off is.
    s3.put_object(Bucket=locked, Key="o", Body=b"x", ObjectLockLegalHoldStatus="OFF")
    assert s3.head_object(Bucket=locked, Key="o")["ObjectLockLegalHoldStatus"] == "OFF"
    assert s3.get_object_legal_hold(Bucket=locked, Key="o")["LegalHold"]["Status"] == "OFF"


def test_default_retention_applies_to_new_versions(s3: Any, locked: str) -> None:
    s3.put_object_lock_configuration(
        Bucket=locked,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 3}},
        },
    )
    rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
    assert rule["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 3}
    s3.put_object(Bucket=locked, Key="d", Body=b"x")
    head = s3.head_object(Bucket=locked, Key="d")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    left = head["ObjectLockRetainUntilDate"] - datetime.now(UTC)
    assert timedelta(days=2.9) < left < timedelta(days=3.1)


@pytest.mark.parametrize(
    ("retention", "expected"),
    [
        ({"Mode": "GOVERNANCE", "Days": 1, "Years": 1}, "MalformedXML"),
        ({"Days": 1}, "MalformedXML"),
        ({"Mode": "GOVERNANCE"}, "MalformedXML"),
        ({"Mode": "COMPLIANCE", "Days": 0}, "InvalidArgument"),
        ({"Mode": "COMPLIANCE", "Years": 101}, "InvalidArgument"),
    ],
)
def test_a_default_retention_s3_refuses_changes_nothing(
    s3: Any, locked: str, retention: dict[str, Any], expected: str
) -> None:
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 3}}
    s3.put_object_lock_configuration(
        Bucket=locked, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule}
    )
    with pytest.raises(ClientError) as refused:
        s3.put_object_lock_configuration(
            Bucket=locked,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": retention},
            },
        )
    assert code(refused) == expected and status(refused) == 400
    if expected == "InvalidArgument":
        error = refused.value.response["Error"]
        assert error["ArgumentName"] in ("Days", "Years"), error
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config["Rule"] == rule


def test_without_object_lock_lock_requests_are_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as put:
        s3.put_object(
            Bucket=bucket,
            Key="k",
            Body=b"x",
            ObjectLockMode="GOVERNANCE",
            ObjectLockRetainUntilDate=later(),
        )
    assert code(put) == "InvalidRequest"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as hold:
        s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"})
    assert code(hold) == "InvalidRequest"
    with pytest.raises(ClientError) as config:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert code(config) == "ObjectLockConfigurationNotFoundError"
    with pytest.raises(ClientError) as unversioned:
        s3.put_object_lock_configuration(
            Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
        )
    assert code(unversioned) == "InvalidBucketState"


def test_a_retention_date_in_the_past_is_refused(s3: Any, locked: str) -> None:
    with pytest.raises(ClientError) as refused:
        s3.put_object(
            Bucket=locked,
            Key="k",
            Body=b"x",
            ObjectLockMode="GOVERNANCE",
            ObjectLockRetainUntilDate=later(-1),
        )
    assert code(refused) == "InvalidArgument"
    # A mode outside the schema's in a PutObjectRetention body is MalformedXML, as AWS
    # answers (the header's is InvalidArgument, above).
    s3.put_object(Bucket=locked, Key="k", Body=b"x")
    for mode in ("governance", "abc"):
        with pytest.raises(ClientError) as malformed:
            s3.put_object_retention(
                Bucket=locked, Key="k", Retention={"Mode": mode, "RetainUntilDate": later(1)}
            )
        assert code(malformed) == "MalformedXML"


def test_conditional_deletes(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"12345")["ETag"]
    with pytest.raises(ClientError) as wrong:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"0000"')
    assert code(wrong) == "PreconditionFailed" and status(wrong) == 412
    with pytest.raises(ClientError) as size:
        s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=4)
    assert status(size) == 412
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"12345"
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag, IfMatchSize=5)
    with pytest.raises(ClientError) as gone:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    assert code(gone) == "NoSuchKey" and status(gone) == 404
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    done = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "a", "ETag": '"nope"'}, {"Key": "b", "ETag": "*"}]},
    )
    assert [e["Code"] for e in done["Errors"]] == ["PreconditionFailed"]
    assert [d["Key"] for d in done["Deleted"]] == ["b"]
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"a"
