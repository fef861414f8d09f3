"""SSE-KMS with boto3: keys Nexq keeps per account (made through the REST API), named by id,
ARN or alias, the account's aws/s3 default key, a bucket's default aws:kms, copies and
multipart uploads, disabled, unknown and other accounts' keys, SigV2, and what is on disk."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.live import BURST, Key, LiveServer

MiB = 1024 * 1024
_aliases = itertools.count()


@pytest.fixture(scope="module")
def api(server: LiveServer, owner: Key) -> Iterator[httpx.Client]:
    token = server.api_key(owner.account)
    with httpx.Client(
        base_url=f"{server.api_url}/v1/storage",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        yield client


def new_key(api: httpx.Client, alias: str | None = None) -> dict[str, Any]:
    made = api.post("/kms-keys", json={"alias": alias, "description": "for a test"})
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


def error(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def test_the_accounts_default_key(api: httpx.Client, s3: Any, bucket: str) -> None:
    data = os.urandom(70_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ServerSideEncryption="aws:kms")
    assert put["ServerSideEncryption"] == "aws:kms"
    arn = put["SSEKMSKeyId"]
    assert arn.startswith("arn:aws:kms:") and ":key/" in arn
    assert put["ETag"].strip('"') != hashlib.md5(data).hexdigest()  # S3 compat: not the MD5
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == data
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"], got["ETag"]) == (
        "aws:kms",
        arn,
        put["ETag"],
    )
    ranged = s3.get_object(Bucket=bucket, Key="k", Range="bytes=65530-65545")
    assert ranged["Body"].read() == data[65530:65546]
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", arn)
    listed = [o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [put["ETag"]]
    # The one aws/s3 key of the account, made on first use, reused after.
    again = s3.put_object(Bucket=bucket, Key="k2", Body=data, ServerSideEncryption="aws:kms")
    assert again["SSEKMSKeyId"] == arn and again["ETag"] == put["ETag"]
    managed = [k for k in api.get("/kms-keys").json()["items"] if k["aws_managed"]]
    assert [(k["arn"], k["alias"], k["state"]) for k in managed] == [
        (arn, "alias/aws/s3", "Enabled")
    ]
    assert api.post(f"/kms-keys/{managed[0]['id']}/disable").status_code == 409


def test_a_key_named_by_id_arn_alias_and_alias_arn(api: httpx.Client, s3: Any, bucket: str) -> None:
    alias = f"alias/named-{next(_aliases)}"
    key = new_key(api, alias)
    alias_arn = key["arn"].split(":key/")[0] + ":" + alias
    for number, named in enumerate((key["id"], key["arn"], alias, alias_arn)):
        put = s3.put_object(
            Bucket=bucket,
            Key=f"o{number}",
            Body=b"named",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=named,
        )
        assert put["SSEKMSKeyId"] == key["arn"]
        got = s3.get_object(Bucket=bucket, Key=f"o{number}")
        assert got["Body"].read() == b"named" and got["SSEKMSKeyId"] == key["arn"]
    default = s3.put_object(Bucket=bucket, Key="d", Body=b"named", ServerSideEncryption="aws:kms")
    assert default["ETag"] != put["ETag"]  # another key, another ETag for the same bytes
    # A key id without aws:kms is refused, as S3 refuses it.
    code, status, _ = error(
        lambda: s3.put_object(Bucket=bucket, Key="x", Body=b"x", SSEKMSKeyId=key["id"])
    )
    assert (code, status) == ("InvalidArgument", 400)


def test_copies_read_the_source_with_its_key(api: httpx.Client, s3: Any, bucket: str) -> None:
    key = new_key(api)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain bytes")
    s3.put_object(
        Bucket=bucket, Key="kms", Body=b"kms bytes", ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key["id"],
    )  # fmt: skip
    to_kms = s3.copy_object(
        Bucket=bucket, Key="plain-to-kms", CopySource={"Bucket": bucket, "Key": "plain"},
        ServerSideEncryption="aws:kms", SSEKMSKeyId=key["arn"],
    )  # fmt: skip
    assert (to_kms["ServerSideEncryption"], to_kms["SSEKMSKeyId"]) == ("aws:kms", key["arn"])
    assert s3.get_object(Bucket=bucket, Key="plain-to-kms")["Body"].read() == b"plain bytes"
    to_plain = s3.copy_object(
        Bucket=bucket, Key="kms-to-plain", CopySource={"Bucket": bucket, "Key": "kms"}
    )
    assert to_plain["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in to_plain
    got = s3.get_object(Bucket=bucket, Key="kms-to-plain")
    assert got["Body"].read() == b"kms bytes"
    assert got["ETag"].strip('"') == hashlib.md5(b"kms bytes").hexdigest()
    # Onto itself with the default key: S3 allows it, the encryption changes.
    itself = s3.copy_object(
        Bucket=bucket, Key="kms", CopySource={"Bucket": bucket, "Key": "kms"},
        ServerSideEncryption="aws:kms",
    )  # fmt: skip
    assert itself["SSEKMSKeyId"] != key["arn"]
    assert s3.get_object(Bucket=bucket, Key="kms")["Body"].read() == b"kms bytes"


def test_multipart_upload_with_a_key(api: httpx.Client, s3: Any, bucket: str) -> None:
    key = new_key(api, f"alias/parts-{next(_aliases)}")
    first, tail = os.urandom(5 * MiB), os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="source", Body=tail, ServerSideEncryption="aws:kms")
    created = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["alias"],
        BucketKeyEnabled=True,
    )  # fmt: skip
    assert (created["SSEKMSKeyId"], created["BucketKeyEnabled"]) == (key["arn"], True)
    uid = created["UploadId"]
    one = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=first)
    assert (one["ServerSideEncryption"], one["SSEKMSKeyId"]) == ("aws:kms", key["arn"])
    two = s3.upload_part_copy(
        Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, CopySource=f"{bucket}/source"
    )
    assert two["SSEKMSKeyId"] == key["arn"]
    parts = [
        {"PartNumber": 1, "ETag": one["ETag"]},
        {"PartNumber": 2, "ETag": two["CopyPartResult"]["ETag"]},
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    assert (done["ServerSideEncryption"], done["SSEKMSKeyId"]) == ("aws:kms", key["arn"])
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == first + tail and got["BucketKeyEnabled"] is True
    across = s3.get_object(Bucket=bucket, Key="mp", Range="bytes=5242870-5242889")
    assert across["Body"].read() == (first + tail)[5242870:5242890]


def test_a_buckets_default_aws_kms(
    server: LiveServer, api: httpx.Client, s3: Any, bucket: str
) -> None:
    key = new_key(api, f"alias/default-{next(_aliases)}")
    s3.put_object(Bucket=bucket, Key="before", Body=b"written before")
    rule = {
        "ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key["alias"],
        },
        "BucketKeyEnabled": True,
    }
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    answered = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    # The new bucket's SSE-C block stays: the rule did not name BlockedEncryptionTypes.
    blocked = {"BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]}}
    assert answered["Rules"] == [{**rule, **blocked}]
    put = s3.put_object(Bucket=bucket, Key="new", Body=b"defaulted")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"], put["BucketKeyEnabled"]) == (
        "aws:kms",
        key["arn"],
        True,
    )
    head = s3.head_object(Bucket=bucket, Key="new")
    assert head["SSEKMSKeyId"] == key["arn"] and head["BucketKeyEnabled"] is True
    explicit = s3.put_object(Bucket=bucket, Key="s3", Body=b"x", ServerSideEncryption="AES256")
    assert explicit["ServerSideEncryption"] == "AES256"  # the write's own header wins
    post = s3.generate_presigned_post(bucket, "form")
    answer = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"posted")})
    assert answer.status_code == 204
    assert answer.headers["x-amz-server-side-encryption-aws-kms-key-id"] == key["arn"]
    assert s3.get_object(Bucket=bucket, Key="form")["Body"].read() == b"posted"
    assert s3.get_object(Bucket=bucket, Key="before")["ServerSideEncryption"] == "AES256"
    # The REST API reads and writes the very same setting.
    assert api.get(f"/buckets/{bucket}/encryption").json() == {
        "algorithm": "aws:kms",
        "kms_key_id": key["alias"],
        "bucket_key_enabled": True,
        "customer_keys_blocked": True,
    }
    unknown = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
               "KMSMasterKeyID": "alias/no-such-key"}}  # fmt: skip
    code, status, _ = error(
        lambda: s3.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [unknown]}
        )
    )
    assert (code, status) == ("KMS.NotFoundException", 400)
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3.put_object(Bucket=bucket, Key="after", Body=b"x")["ServerSideEncryption"] == "AES256"


def test_a_disabled_key_refuses_writes_and_reads_until_enabled(
    api: httpx.Client, s3: Any, bucket: str
) -> None:
    key = new_key(api)
    kms = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key["id"]}
    s3.put_object(Bucket=bucket, Key="sealed", Body=b"sealed bytes", **kms)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain bytes")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", **kms)["UploadId"]
    disabled = api.post(f"/kms-keys/{key['id']}/disable")
    assert disabled.status_code == 200 and disabled.json()["state"] == "Disabled"

    code, status, message = error(lambda: s3.get_object(Bucket=bucket, Key="sealed"))
    assert (code, status) == ("KMS.DisabledException", 400) and key["arn"] in message
    assert error(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"x", **kms))[:2] == (
        "KMS.DisabledException",
        400,
    )
    assert error(
        lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"p")
    )[:2] == ("KMS.DisabledException", 400)
    assert error(
        lambda: s3.copy_object(
            Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "sealed"}
        )
    )[:2] == ("KMS.DisabledException", 400)
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"plain bytes"
    assert "new" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]

    assert api.post(f"/kms-keys/{key['id']}/enable").json()["state"] == "Enabled"
    assert s3.get_object(Bucket=bucket, Key="sealed")["Body"].read() == b"sealed bytes"
    s3.put_object(Bucket=bucket, Key="new", Body=b"x", **kms)


def test_unknown_and_other_accounts_keys_are_refused(
    server: LiveServer, api: httpx.Client, s3: Any, bucket: str
) -> None:
    email = server.account("kms-other@example.com")
    server.raise_limits(email, s3_write_rps=BURST)
    token = server.api_key(email)
    theirs = httpx.post(
        f"{server.api_url}/v1/storage/kms-keys",
        json={"alias": "alias/theirs"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()

    def put(named: str) -> tuple[str, int, str]:
        return error(
            lambda: s3.put_object(
                Bucket=bucket,
                Key="k",
                Body=b"x",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=named,
            )
        )

    assert put(theirs["arn"])[:2] == ("AccessDenied", 403)
    assert put(theirs["id"])[:2] == ("KMS.NotFoundException", 400)  # ids name the caller's
    assert put("alias/theirs")[:2] == ("KMS.NotFoundException", 400)
    assert put("00000000-0000-4000-8000-000000000000")[:2] == ("KMS.NotFoundException", 400)
    assert put("not a key")[:2] == ("KMS.NotFoundException", 400)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert api.get(f"/kms-keys/{theirs['id']}").status_code == 404
    assert api.post(f"/kms-keys/{theirs['id']}/disable").status_code == 404


def test_sigv2_and_anonymous_requests_are_refused(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="sealed", Body=b"x", ServerSideEncryption="aws:kms")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    v2 = server.client(owner, signature_version="s3")
    code, status, message = error(
        lambda: v2.put_object(Bucket=bucket, Key="v2", Body=b"x", ServerSideEncryption="aws:kms")
    )
    assert (code, status) == ("InvalidArgument", 400) and "Signature Version 4" in message
    assert error(lambda: v2.get_object(Bucket=bucket, Key="sealed"))[:2] == (
        "InvalidArgument",
        400,
    )
    assert v2.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"plain"
    # A copy reads its source: a SigV2 copy of an SSE-KMS object into a plain one is refused
    # as its GET is, whole object or part, and copies nothing.
    source = {"Bucket": bucket, "Key": "sealed"}
    assert error(lambda: v2.copy_object(Bucket=bucket, Key="copied", CopySource=source))[:2] == (
        "InvalidArgument",
        400,
    )
    upload = v2.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    assert error(
        lambda: v2.upload_part_copy(
            Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1, CopySource=source
        )
    )[:2] == ("InvalidArgument", 400)
    v2.abort_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload)
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == [
        "plain",
        "sealed",
    ]
    v2.copy_object(Bucket=bucket, Key="plain-copy", CopySource={"Bucket": bucket, "Key": "plain"})
    # Presigned URLs: boto3 signs them with SigV2 unless told otherwise.
    v2_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "sealed"})
    assert "Signature=" in v2_url and httpx.get(v2_url).status_code == 400
    v4 = server.client(owner, signature_version="s3v4")
    v4_url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "sealed"})
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in v4_url and httpx.get(v4_url).content == b"x"


def test_kms_bytes_on_disk(tmp_path: Path) -> None:
    # A server of its own on files, in every mode: the bytes it stores are read from disk.
    live = LiveServer(tmp_path / "data")
    live.data_dir.mkdir()
    live.start()
    needle = b"KMS-NEEDLE-in-the-haystack;"
    try:
        email = live.account("kms-on-disk@example.com")
        s3 = live.client(live.key(email))
        s3.create_bucket(Bucket="on-disk")
        kms = {"ServerSideEncryption": "aws:kms"}
        s3.put_object(Bucket="on-disk", Key="k", Body=needle * 4000, **kms)
        uid = s3.create_multipart_upload(Bucket="on-disk", Key="mp", **kms)["UploadId"]
        etag = s3.upload_part(
            Bucket="on-disk", Key="mp", UploadId=uid, PartNumber=1, Body=needle * 4000
        )["ETag"]
        s3.complete_multipart_upload(
            Bucket="on-disk", Key="mp", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )  # fmt: skip
        assert s3.get_object(Bucket="on-disk", Key="mp")["Body"].read() == needle * 4000
    finally:
        live.stop()
    blobs = [p for p in (live.data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 2 and not [p for p in blobs if needle in p.read_bytes()]
