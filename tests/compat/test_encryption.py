"""Server-side encryption with boto3: SSE-S3 on every object, a bucket's default encryption,
SSE-C (customer-provided keys, over HTTPS only), what is on disk, and fsck."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.live import Key, LiveServer, nexq

MiB = 1024 * 1024
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SSE_C = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY}
OTHER = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": OTHER_KEY}
SOURCE_KEY = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": KEY}
KEY_MD5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
_checks = itertools.count()
# SSE-C's three fields as a PostObject form carries them.
FORM_SSE_C = {
    "x-amz-server-side-encryption-customer-algorithm": "AES256",
    "x-amz-server-side-encryption-customer-key": base64.b64encode(KEY).decode(),
    "x-amz-server-side-encryption-customer-key-MD5": KEY_MD5,
}
NEEDS_KEY = (
    "The object was stored using a form of Server Side Encryption. The correct parameters "
    "must be provided to retrieve the object."
)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("sse") / "data", extra=("--self-signed",), scheme="https"
    )
    live.data_dir.mkdir()
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def tls(tls_server: LiveServer) -> Any:
    email = tls_server.account("sse@example.com")
    tls_server.raise_limits(email, buckets=50)
    return tls_server.client(tls_server.key(email))


@pytest.fixture
def tls_bucket(tls: Any, request: pytest.FixtureRequest) -> str:
    name = f"sse-{request.node.name.replace('_', '-')[5:40].strip('-')}"
    tls.create_bucket(Bucket=name)
    allow_sse_c(tls, name)
    return name


def encryption_rule(blocked: list[str]) -> dict[str, Any]:
    return {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BlockedEncryptionTypes": {"EncryptionType": blocked},
            }
        ]
    }


def allow_sse_c(client: Any, bucket: str) -> None:
    """As on AWS since April 2026, a new bucket refuses SSE-C writes until its owner allows them."""
    client.put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration=encryption_rule(["NONE"])
    )


def error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    response: dict[str, Any] = caught.value.response
    return response


def code_and_status(call: Callable[[], Any]) -> tuple[str, int]:
    response = error(call)
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def with_headers(client: Any, operation: str, change: Callable[[Any], None]) -> None:
    """Change the headers of ``client``'s next ``operation`` requests before they are signed."""
    client.meta.events.register(
        f"before-sign.s3.{operation}", lambda request, **_: change(request.headers)
    )


# SSE-S3 ------------------------------------------------------------------------------------
def test_every_object_is_sse_s3(server: LiveServer, s3: Any, bucket: str) -> None:
    assert s3.put_object(Bucket=bucket, Key="a", Body=b"alpha")["ServerSideEncryption"] == "AES256"
    said = s3.put_object(Bucket=bucket, Key="b", Body=b"beta", ServerSideEncryption="AES256")
    assert said["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="a")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="a")["ServerSideEncryption"] == "AES256"
    copied = s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "a"})
    assert copied["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"alpha"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert upload["ServerSideEncryption"] == "AES256"
    uid = upload["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"x" * MiB * 5)
    assert part["ServerSideEncryption"] == "AES256"
    copy = s3.upload_part_copy(
        Bucket=bucket, Key="m", UploadId=uid, PartNumber=2, CopySource=f"{bucket}/a"
    )
    assert copy["ServerSideEncryption"] == "AES256"
    parts = [
        {"PartNumber": 1, "ETag": part["ETag"]},
        {"PartNumber": 2, "ETag": copy["CopyPartResult"]["ETag"]},
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    assert done["ServerSideEncryption"] == "AES256"
    assert (
        s3.get_object(Bucket=bucket, Key="m", Range="bytes=5242878-5242881")["Body"].read()
        == b"xxal"
    )
    post = s3.generate_presigned_post(bucket, "form")
    answer = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"posted")})
    assert answer.status_code == 204 and answer.headers["x-amz-server-side-encryption"] == "AES256"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "alias/any"),
        ("x-amz-server-side-encryption-bucket-key-enabled", "true"),
    ],
)
def test_reads_name_no_encryption_to_apply(
    server: LiveServer, owner: Key, s3: Any, bucket: str, header: str, value: str
) -> None:
    """As AWS: a GET or HEAD carrying a write's encryption header is 400 InvalidArgument
    naming it (only SSE-C's headers, which open an object, belong on a read)."""
    s3.put_object(Bucket=bucket, Key="read", Body=b"read me")
    client = server.client(owner)
    for operation in ("GetObject", "HeadObject"):
        with_headers(client, operation, lambda headers: headers.__setitem__(header, value))
    refused = error(lambda: client.get_object(Bucket=bucket, Key="read"))
    assert refused["Error"]["Code"] == "InvalidArgument"
    assert refused["Error"]["ArgumentName"] == header
    assert "not supported for this operation" in refused["Error"]["Message"]
    assert code_and_status(lambda: client.head_object(Bucket=bucket, Key="read"))[1] == 400
    assert s3.get_object(Bucket=bucket, Key="read")["Body"].read() == b"read me"


def test_dsse_kms_is_not_built(server: LiveServer, owner: Key, s3: Any, bucket: str) -> None:
    refused = error(
        lambda: s3.put_object(
            Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms:dsse"
        )
    )
    assert refused["Error"]["Code"] == "NotImplemented"
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "DSSE-KMS" in refused["Error"]["Message"]
    client = server.client(owner)  # a client of its own: the hook stays on it
    with_headers(
        client, "PutObject", lambda h: h.__setitem__("x-amz-server-side-encryption", "AES128")
    )
    assert code_and_status(lambda: client.put_object(Bucket=bucket, Key="k", Body=b"x")) == (
        "InvalidArgument",
        400,
    )
    assert code_and_status(lambda: s3.head_object(Bucket=bucket, Key="k")) == ("404", 404)


def test_bucket_encryption_configuration(s3: Any, bucket: str) -> None:
    def rule() -> dict[str, Any]:
        found: dict[str, Any] = s3.get_bucket_encryption(Bucket=bucket)
        return found["ServerSideEncryptionConfiguration"]["Rules"][0]

    default = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BucketKeyEnabled": False,
        "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
    }
    assert rule() == default
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    # A rule that does not name BlockedEncryptionTypes keeps the bucket's: SSE-C blocked.
    assert rule()["BucketKeyEnabled"] is True and "BlockedEncryptionTypes" in rule()
    kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"}}]}
    refused = error(
        lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=kms)
    )
    assert refused["Error"]["Code"] == "NotImplemented"
    assert rule()["BucketKeyEnabled"] is True  # nothing changed
    s3.delete_bucket_encryption(Bucket=bucket)
    assert rule() == default
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ServerSideEncryption"] == "AES256"


def test_bytes_on_disk_are_not_the_plaintext(tmp_path: Path) -> None:
    # A server of its own on files, in every mode: the bytes it stores are read from disk.
    live = LiveServer(tmp_path / "data")
    live.data_dir.mkdir()
    live.start()
    try:
        s3 = live.client(live.key(live.account("on-disk@example.com")))
        s3.create_bucket(Bucket="on-disk")
        needle = b"NEEDLE-in-a-haystack;"
        s3.put_object(Bucket="on-disk", Key="secret", Body=needle * 5000)
        s3.copy_object(
            Bucket="on-disk", Key="copy", CopySource={"Bucket": "on-disk", "Key": "secret"}
        )
        assert s3.get_object(Bucket="on-disk", Key="copy")["Body"].read() == needle * 5000
    finally:
        live.stop()
    blobs = [p for p in (live.data_dir / "blobs").rglob("*") if p.is_file()]
    assert blobs
    assert not [p for p in blobs if needle in p.read_bytes()]


# SSE-C -------------------------------------------------------------------------------------
def test_sse_c_is_refused_over_plain_http(s3: Any, bucket: str) -> None:
    refused = error(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"x", **SSE_C))
    assert {k: refused["Error"][k] for k in ("Code", "Message")} == {
        "Code": "InvalidRequest",
        "Message": "Requests specifying Server Side Encryption with Customer provided keys must "
        "be made over a secure connection.",
    }
    assert code_and_status(lambda: s3.head_object(Bucket=bucket, Key="c")) == ("404", 404)


def test_sse_c_round_trip_with_ranges(tls: Any, tls_bucket: str) -> None:
    data = os.urandom(3 * 65536 + 100)
    put = tls.put_object(Bucket=tls_bucket, Key="c", Body=data, **SSE_C)
    assert put["SSECustomerAlgorithm"] == "AES256" and put["SSECustomerKeyMD5"] == KEY_MD5
    assert "ServerSideEncryption" not in put
    assert put["ETag"].strip('"') != hashlib.md5(data).hexdigest()  # S3 compat: not the MD5
    got = tls.get_object(Bucket=tls_bucket, Key="c", **SSE_C)
    assert got["Body"].read() == data
    assert got["SSECustomerKeyMD5"] == KEY_MD5 and got["ETag"] == put["ETag"]
    for first, last in ((65530, 65545), (0, 0), (len(data) - 3, len(data) - 1), (70000, 200000)):
        ranged = tls.get_object(Bucket=tls_bucket, Key="c", Range=f"bytes={first}-{last}", **SSE_C)
        assert ranged["Body"].read() == data[first : last + 1]
    head = tls.head_object(Bucket=tls_bucket, Key="c", **SSE_C)
    assert head["ContentLength"] == len(data) and head["SSECustomerAlgorithm"] == "AES256"
    # GetObjectAttributes wants the key too; boto3 passes it on as given: encoded here.
    encoded = {
        "SSECustomerAlgorithm": "AES256",
        "SSECustomerKey": base64.b64encode(KEY).decode(),
        "SSECustomerKeyMD5": KEY_MD5,
    }
    attributes = tls.get_object_attributes(
        Bucket=tls_bucket, Key="c", ObjectAttributes=["ObjectSize"], **encoded
    )
    assert attributes["ObjectSize"] == len(data)
    assert code_and_status(
        lambda: tls.get_object_attributes(Bucket=tls_bucket, Key="c", ObjectAttributes=["ETag"])
    ) == ("InvalidRequest", 400)
    again = tls.put_object(Bucket=tls_bucket, Key="c2", Body=data, **SSE_C)
    assert again["ETag"] == put["ETag"]  # the same bytes under the same key


def test_sse_c_missing_wrong_and_needless_keys(tls: Any, tls_bucket: str) -> None:
    tls.put_object(Bucket=tls_bucket, Key="c", Body=b"customer's", **SSE_C)
    tls.put_object(Bucket=tls_bucket, Key="plain", Body=b"plain")
    missing = error(lambda: tls.get_object(Bucket=tls_bucket, Key="c"))
    assert (missing["Error"]["Code"], missing["Error"]["Message"]) == ("InvalidRequest", NEEDS_KEY)
    assert code_and_status(lambda: tls.head_object(Bucket=tls_bucket, Key="c")) == ("400", 400)
    assert code_and_status(lambda: tls.get_object(Bucket=tls_bucket, Key="c", **OTHER)) == (
        "AccessDenied",
        403,
    )
    assert code_and_status(lambda: tls.head_object(Bucket=tls_bucket, Key="c", **OTHER)) == (
        "403",
        403,
    )
    needless = error(lambda: tls.get_object(Bucket=tls_bucket, Key="plain", **SSE_C))
    assert (
        needless["Error"]["Message"]
        == "The encryption parameters are not applicable to this object."
    )
    # What needs no key: tags, listings, deletes.
    tls.put_object_tagging(
        Bucket=tls_bucket, Key="c", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    assert [o["Key"] for o in tls.list_objects_v2(Bucket=tls_bucket)["Contents"]] == ["c", "plain"]
    tls.delete_object(Bucket=tls_bucket, Key="c")


def drop(name: str) -> Callable[[Any], None]:
    return lambda headers: headers.__delitem__(name)


def set_to(name: str, value: str) -> Callable[[Any], None]:
    def change(headers: Any) -> None:
        del headers[name]  # botocore's headers would keep both
        headers[name] = value

    return change


_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
_KEY = "x-amz-server-side-encryption-customer-key"
_MD5 = "x-amz-server-side-encryption-customer-key-MD5"


@pytest.mark.parametrize(
    ("change", "code", "argument"),
    [
        (drop(_ALGORITHM), "InvalidArgument", "algorithm"),
        (set_to(_ALGORITHM, "AES128"), "InvalidEncryptionAlgorithmError", "algorithm"),
        (drop(_KEY), "InvalidArgument", "key"),
        (set_to(_KEY, base64.b64encode(bytes(16)).decode()), "InvalidArgument", "key"),
        (drop(_MD5), "InvalidArgument", "key-MD5"),
        (set_to(_MD5, KEY_MD5[::-1]), "InvalidArgument", "key-MD5"),
        (set_to("x-amz-server-side-encryption", "AES256"), "InvalidArgument", "sse"),
    ],
)
def test_sse_c_headers_are_checked(
    tls_server: LiveServer, tls: Any, change: Callable[[Any], None], code: str, argument: str
) -> None:
    client = tls_server.client(tls_server.key("sse@example.com", label=f"checks {argument}"))
    bucket = f"sse-checks-{next(_checks)}"
    client.create_bucket(Bucket=bucket)
    with_headers(client, "PutObject", change)
    refused = error(lambda: client.put_object(Bucket=bucket, Key="k", Body=b"x", **SSE_C))
    assert refused["Error"]["Code"] == code
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 400
    named = refused["Error"].get("ArgumentName", "")
    expected = "x-amz-server-side-encryption" + (
        "" if argument == "sse" else f"-customer-{argument}"
    )
    assert named.lower() == expected.lower()
    assert base64.b64encode(KEY).decode() not in json.dumps(refused)  # the key is never echoed
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_sse_c_multipart_upload(tls: Any, tls_bucket: str) -> None:
    first, tail = os.urandom(5 * MiB), os.urandom(1000)
    tls.put_object(Bucket=tls_bucket, Key="source", Body=tail, **SSE_C)
    created = tls.create_multipart_upload(Bucket=tls_bucket, Key="mp", **SSE_C)
    assert created["SSECustomerKeyMD5"] == KEY_MD5
    uid = created["UploadId"]

    def part(number: int, body: bytes, **keys: Any) -> Any:
        return tls.upload_part(
            Bucket=tls_bucket, Key="mp", UploadId=uid, PartNumber=number, Body=body, **keys
        )

    assert code_and_status(lambda: part(1, first)) == ("InvalidRequest", 400)
    assert code_and_status(lambda: part(1, first, **OTHER)) == ("InvalidArgument", 400)
    one = part(1, first, **SSE_C)
    assert one["SSECustomerKeyMD5"] == KEY_MD5
    two = tls.upload_part_copy(
        Bucket=tls_bucket,
        Key="mp",
        UploadId=uid,
        PartNumber=2,
        CopySource=f"{tls_bucket}/source",
        **SOURCE_KEY,
        **SSE_C,
    )
    parts = [
        {"PartNumber": 1, "ETag": one["ETag"]},
        {"PartNumber": 2, "ETag": two["CopyPartResult"]["ETag"]},
    ]
    tls.complete_multipart_upload(
        Bucket=tls_bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    assert tls.get_object(Bucket=tls_bucket, Key="mp", **SSE_C)["Body"].read() == first + tail
    across = tls.get_object(Bucket=tls_bucket, Key="mp", Range="bytes=5242870-5242889", **SSE_C)
    assert across["Body"].read() == (first + tail)[5242870:5242890]
    assert code_and_status(lambda: tls.get_object(Bucket=tls_bucket, Key="mp")) == (
        "InvalidRequest",
        400,
    )


def test_sse_c_copies(tls: Any, tls_bucket: str) -> None:
    tls.put_object(Bucket=tls_bucket, Key="c", Body=b"customer's bytes", **SSE_C)
    source = {"Bucket": tls_bucket, "Key": "c"}
    assert code_and_status(
        lambda: tls.copy_object(Bucket=tls_bucket, Key="x", CopySource=source)
    ) == (
        "InvalidRequest",
        400,
    )
    plain = tls.copy_object(Bucket=tls_bucket, Key="plain", CopySource=source, **SOURCE_KEY)
    assert plain["ServerSideEncryption"] == "AES256"
    got = tls.get_object(Bucket=tls_bucket, Key="plain")
    assert got["Body"].read() == b"customer's bytes"
    assert got["ETag"].strip('"') == hashlib.md5(b"customer's bytes").hexdigest()
    keyed = tls.copy_object(
        Bucket=tls_bucket, Key="keyed", CopySource={"Bucket": tls_bucket, "Key": "plain"}, **SSE_C
    )
    assert keyed["SSECustomerKeyMD5"] == KEY_MD5
    assert (
        tls.get_object(Bucket=tls_bucket, Key="keyed", **SSE_C)["Body"].read()
        == b"customer's bytes"
    )
    # A new key for the same object: a copy onto itself (S3 allows it: the encryption changes).
    tls.copy_object(Bucket=tls_bucket, Key="c", CopySource=source, **SOURCE_KEY, **OTHER)
    assert tls.get_object(Bucket=tls_bucket, Key="c", **OTHER)["Body"].read() == b"customer's bytes"
    assert code_and_status(lambda: tls.get_object(Bucket=tls_bucket, Key="c", **SSE_C)) == (
        "AccessDenied",
        403,
    )


def test_sse_c_form_upload(tls: Any, tls_bucket: str, s3: Any, bucket: str) -> None:
    """PostObject takes SSE-C's three fields over HTTPS, as a PutObject takes its headers;
    over plain HTTP the form is refused and nothing is stored."""
    fields = dict(FORM_SSE_C)
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    post = tls.generate_presigned_post(tls_bucket, "form", Fields=fields, Conditions=conditions)
    answer = httpx.post(
        post["url"], data=post["fields"], files={"file": ("f", b"sealed form")}, verify=False
    )
    assert answer.status_code == 204, answer.text
    assert answer.headers["x-amz-server-side-encryption-customer-key-md5"] == KEY_MD5
    assert tls.get_object(Bucket=tls_bucket, Key="form", **SSE_C)["Body"].read() == b"sealed form"
    assert code_and_status(lambda: tls.get_object(Bucket=tls_bucket, Key="form")) == (
        "InvalidRequest",
        400,
    )
    plain = s3.generate_presigned_post(bucket, "form", Fields=fields, Conditions=conditions)
    refused = httpx.post(plain["url"], data=plain["fields"], files={"file": ("f", b"x")})
    assert refused.status_code == 400 and b"secure connection" in refused.content
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_a_new_bucket_blocks_sse_c_until_its_owner_allows_it(tls: Any) -> None:
    """AWS since April 2026: SSE-C writes to a new bucket are 403 AccessDenied (PutObject,
    CopyObject, CreateMultipartUpload, PostObject) until PutBucketEncryption allows them;
    blocking again leaves the objects written meanwhile readable with their key."""
    bucket = "sse-c-blocked"
    tls.create_bucket(Bucket=bucket)
    tls.put_object(Bucket=bucket, Key="plain", Body=b"p")
    refusals = [
        lambda: tls.put_object(Bucket=bucket, Key="c", Body=b"x", **SSE_C),
        lambda: tls.copy_object(
            Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "plain"}, **SSE_C
        ),
        lambda: tls.create_multipart_upload(Bucket=bucket, Key="c", **SSE_C),
    ]
    for call in refusals:
        refused = error(call)
        assert refused["Error"]["Code"] == "AccessDenied"
        assert refused["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert "SSE-C" in refused["Error"]["Message"]
    fields = dict(FORM_SSE_C)
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    post = tls.generate_presigned_post(bucket, "c", Fields=fields, Conditions=conditions)
    form = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"x")}, verify=False)
    assert form.status_code == 403 and b"AccessDenied" in form.content
    assert [o["Key"] for o in tls.list_objects_v2(Bucket=bucket)["Contents"]] == ["plain"]
    assert tls.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    allow_sse_c(tls, bucket)
    assert (
        "BlockedEncryptionTypes"
        not in (
            tls.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][
                0
            ]
        )
    )
    tls.put_object(Bucket=bucket, Key="c", Body=b"sealed", **SSE_C)
    tls.put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration=encryption_rule(["SSE-C"])
    )
    assert tls.get_object(Bucket=bucket, Key="c", **SSE_C)["Body"].read() == b"sealed"
    assert (
        error(lambda: tls.put_object(Bucket=bucket, Key="d", Body=b"x", **SSE_C))["Error"]["Code"]
        == "AccessDenied"
    )
    # Only SSE-C and NONE are encryption types, and not both at once.
    for wrong in (["SSE-KMS"], ["SSE-C", "NONE"]):
        config = encryption_rule(wrong)
        malformed = error(
            lambda config=config: tls.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration=config
            )
        )
        assert malformed["Error"]["Code"] == "MalformedXML"


def test_sse_c_bytes_on_disk(tls_server: LiveServer, tls: Any, tls_bucket: str) -> None:
    needle = b"CUSTOMER-NEEDLE;"
    tls.put_object(Bucket=tls_bucket, Key="c", Body=needle * 4000, **SSE_C)
    blobs = [p for p in (tls_server.data_dir / "blobs").rglob("*") if p.is_file()]
    assert blobs and not [p for p in blobs if needle in p.read_bytes()]


# fsck --------------------------------------------------------------------------------------
def test_fsck_is_clean_with_sealed_blobs(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data", extra=("--self-signed",), scheme="https")
    live.data_dir.mkdir()
    live.start()
    try:
        s3 = live.client(live.key(live.account("fsck-sse@example.com")))
        s3.create_bucket(Bucket="checked")
        allow_sse_c(s3, "checked")
        s3.put_object(Bucket="checked", Key="empty", Body=b"")
        s3.put_object(Bucket="checked", Key="big", Body=os.urandom(200_000))
        s3.put_object(Bucket="checked", Key="c", Body=os.urandom(70_000), **SSE_C)
        s3.copy_object(Bucket="checked", Key="copy", CopySource={"Bucket": "checked", "Key": "big"})
        uid = s3.create_multipart_upload(Bucket="checked", Key="mp")["UploadId"]
        etag = s3.upload_part(Bucket="checked", Key="mp", UploadId=uid, PartNumber=1, Body=b"p")[
            "ETag"
        ]
        s3.complete_multipart_upload(
            Bucket="checked",
            Key="mp",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
    finally:
        live.stop()
    report = json.loads(nexq("admin", "fsck", data_dir=live.data_dir).stdout)
    # big, c and copy are files; the empty object and the 1-byte part are kept in their rows.
    assert report["clean"] is True and report["blobs_referenced"] == 3
