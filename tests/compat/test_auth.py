"""Authentication: SigV4 header and query, SigV2, streaming bodies, clock skew, tampering."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.live import REGION, Key, LiveServer
from tests.signing import sign_request, signed_chunks


def fetch(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes]:
    """Use a presigned URL as curl would: no headers beyond what HTTP needs."""
    response = httpx.request(method, url, content=data)
    return response.status_code, response.content


def test_wrong_secret_is_signature_mismatch(server: LiveServer, owner: Key) -> None:
    bad = server.client(Key(owner.access_key_id, "x" * 40, owner.account))
    with pytest.raises(ClientError) as exc:
        bad.list_buckets()
    assert code(exc) == "SignatureDoesNotMatch"
    assert status(exc) == 403
    # As AWS: what the server signed, for whoever debugs a signer; never the secret.
    error = exc.value.response["Error"]
    assert error["AWSAccessKeyId"] == owner.access_key_id
    assert error["CanonicalRequest"].startswith("GET\n/\n\nhost:")
    assert error["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert bytes.fromhex(error["CanonicalRequestBytes"]).decode() == error["CanonicalRequest"]
    assert len(error["SignatureProvided"]) == 64
    assert owner.secret_access_key not in str(exc.value.response)
    v2 = server.client(Key(owner.access_key_id, "x" * 40, owner.account), signature_version="s3")
    with pytest.raises(ClientError) as exc:
        v2.list_buckets()
    assert exc.value.response["Error"]["StringToSign"].startswith("GET\n\n\n")


def test_unknown_key_id(server: LiveServer, owner: Key) -> None:
    bad = server.client(Key("NQAKaaaaaaaaaaaaaaaa", owner.secret_access_key, owner.account))
    with pytest.raises(ClientError) as exc:
        bad.list_buckets()
    assert code(exc) == "InvalidAccessKeyId"


def test_anonymous_is_refused(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    code_, body = fetch(f"{server.endpoint}/{bucket}/k")
    assert code_ == 403
    assert b"<Code>AccessDenied</Code>" in body
    assert b"<RequestId>" in body


def test_skewed_clock_is_refused(server: LiveServer, owner: Key, monkeypatch: Any) -> None:
    client = server.client(owner)
    real = dt.datetime

    class Skewed(dt.datetime):
        @classmethod
        def utcnow(cls) -> Any:  # type: ignore[override]
            return real.utcnow() - dt.timedelta(minutes=20)

        @classmethod
        def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
            return real.now(tz) - dt.timedelta(minutes=20)

    import botocore.auth

    monkeypatch.setattr(botocore.auth.datetime, "datetime", Skewed)
    with pytest.raises(ClientError) as exc:
        client.list_buckets()
    assert code(exc) == "RequestTimeTooSkewed"
    assert status(exc) == 403


def test_presigned_get_put_head_delete(server: LiveServer, s3: Any, bucket: str) -> None:
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "p k"}, ExpiresIn=600
    )
    assert fetch(put_url, "PUT", b"presigned body")[0] == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p k"}, ExpiresIn=7 * 24 * 3600
    )
    assert fetch(get_url) == (200, b"presigned body")
    head_url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "p k"})
    assert fetch(head_url, "HEAD")[0] == 200
    delete_url = s3.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "p k"})
    assert fetch(delete_url, "DELETE")[0] == 204
    assert fetch(get_url)[0] == 404


def test_presigned_v4_put_and_get(server: LiveServer, owner: Key, s3: Any, bucket: str) -> None:
    v4 = server.client(owner, signature_version="s3v4")
    url = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "v4 key"})
    assert "X-Amz-Signature=" in url
    assert fetch(url, "PUT", b"four")[0] == 200
    url = v4.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "v4 key"}, ExpiresIn=7 * 24 * 3600
    )
    assert fetch(url) == (200, b"four")


def test_a_presigned_url_takes_no_header_it_was_not_signed_with(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    """Whoever holds a presigned PUT URL may not add x-amz-* headers its signer did not
    sign: a public ACL, metadata, a legal hold... (AWS: 403 naming them); nothing is stored."""
    v4 = server.client(owner, signature_version="s3v4")
    url = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "given"})
    added = {"x-amz-object-lock-legal-hold": "ON", "x-amz-acl": "public-read"}
    refused = httpx.put(url, content=b"x", headers=added)
    assert refused.status_code == 403, refused.text
    assert "<Code>AccessDenied</Code>" in refused.text
    assert "<HeadersNotSigned>x-amz-acl, x-amz-object-lock-legal-hold</HeadersNotSigned>" in (
        refused.text
    )
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="given")
    # Headers it was signed with are sent, and taken.
    url = v4.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "given", "Metadata": {"by": "signer"}}
    )
    assert httpx.put(url, content=b"x", headers={"x-amz-meta-by": "signer"}).status_code == 200
    assert s3.head_object(Bucket=bucket, Key="given")["Metadata"] == {"by": "signer"}


def test_x_amz_headers_in_a_presigned_query_are_the_request_s(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    """A presigned URL may carry x-amz-* headers in its signed query string: SigV2 URLs do,
    and SigV4 presigners hoist metadata, encryption and the like there (or name them signed
    headers and put them in the query too). The request is read as if they were headers."""
    v2 = server.client(owner, signature_version="s3")
    url = v2.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "v2", "Metadata": {"foo": "bar"}}
    )
    assert "x-amz-meta-foo=bar" in url
    assert fetch(url, "PUT", b"two")[0] == 200
    assert s3.head_object(Bucket=bucket, Key="v2")["Metadata"] == {"foo": "bar"}

    hoisted = AWSRequest(
        method="PUT",
        url=f"{server.endpoint}/{bucket}/v4?x-amz-meta-foo=baz&x-amz-tagging=t%3D1",
    )
    S3SigV4QueryAuth(
        Credentials(owner.access_key_id, owner.secret_access_key), "s3", REGION, expires=300
    ).add_auth(hoisted)
    assert fetch(hoisted.url, "PUT", b"four")[0] == 200
    assert s3.head_object(Bucket=bucket, Key="v4")["Metadata"] == {"foo": "baz"}
    assert s3.get_object_tagging(Bucket=bucket, Key="v4")["TagSet"] == [{"Key": "t", "Value": "1"}]

    # Signed as a header and carried in the query (the JS SDK v2's layout): the header need
    # not be sent.
    both = AWSRequest(
        method="PUT",
        url=f"{server.endpoint}/{bucket}/both?x-amz-server-side-encryption=AES256",
        headers={"x-amz-server-side-encryption": "AES256"},
    )
    S3SigV4QueryAuth(
        Credentials(owner.access_key_id, owner.secret_access_key), "s3", REGION, expires=300
    ).add_auth(both)
    assert "x-amz-server-side-encryption" in both.url.lower().split("x-amz-signedheaders=")[1]
    assert fetch(both.url, "PUT", b"sealed")[0] == 200
    assert s3.head_object(Bucket=bucket, Key="both")["ServerSideEncryption"] == "AES256"


def test_presigned_expiry_and_tampering(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    v4 = server.client(owner, signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert fetch(url) == (200, b"v")
    parts = urlsplit(url)
    # Pretend it was signed two hours ago with a one-hour expiry: re-sign honestly at that time.
    signed_at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    expired = presign_by_hand(server, s3, f"/{bucket}/k", signed_at, 3600)
    code_, body = fetch(expired)
    assert code_ == 403
    assert b"expired" in body
    tampered = urlunsplit(parts._replace(path=f"/{bucket}/other"))
    assert fetch(tampered)[0] == 403
    longer = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200")
    assert fetch(longer)[0] == 403
    too_long = presign_by_hand(server, s3, f"/{bucket}/k", None, 8 * 24 * 3600)
    assert fetch(too_long)[0] in (400, 403)


def presign_by_hand(
    server: LiveServer, s3: Any, path: str, amz_date: str | None, expires: int | str
) -> str:
    """A SigV4 query-signed GET computed independently of the server's code."""
    creds = s3._request_signer._credentials
    amz_date = amz_date or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    scope = f"{day}/{REGION}/s3/aws4_request"
    host = urlsplit(server.endpoint).netloc
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{creds.access_key}/{scope}".replace("/", "%2F"),
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    query = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    canonical = f"GET\n{path}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
    signature = sign_request(creds.secret_key, amz_date, canonical)
    return f"{server.endpoint}{path}?{query}&X-Amz-Signature={signature}"


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        (
            604801,
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            "X-Amz-Expires must be less than 604800 seconds",
        ),
        (-1, "X-Amz-Expires must be non-negative"),
        ("soon", "X-Amz-Expires should be a number"),
        ("1e3", "X-Amz-Expires should be a number"),
    ],
)
def test_presigned_expires_out_of_range(
    server: LiveServer, s3: Any, bucket: str, expires: int | str, message: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    response = httpx.get(presign_by_hand(server, s3, f"/{bucket}/k", None, expires))
    assert response.status_code == 400
    assert "<Code>AuthorizationQueryParametersError</Code>" in response.text
    assert f"<Message>{message}</Message>" in response.text


def test_presigned_for_a_week_is_accepted(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert fetch(presign_by_hand(server, s3, f"/{bucket}/k", None, 604800)) == (200, b"v")


def test_presigned_expiry_answer_names_the_times(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    signed = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=90)
    url = presign_by_hand(server, s3, f"/{bucket}/k", signed.strftime("%Y%m%dT%H%M%SZ"), 60)
    response = httpx.get(url)
    assert response.status_code == 403
    text = response.text
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in text
    assert "<X-Amz-Expires>60</X-Amz-Expires>" in text
    expired_at = (signed + dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"<Expires>{expired_at}</Expires>" in text
    assert "<ServerTime>" in text


def test_presigned_for_zero_seconds_has_expired(server: LiveServer, s3: Any, bucket: str) -> None:
    # S3 compat: 0 is a valid X-Amz-Expires (non-negative); such a URL is already expired.
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    signed = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)).strftime("%Y%m%dT%H%M%SZ")
    response = httpx.get(presign_by_hand(server, s3, f"/{bucket}/k", signed, 0))
    assert response.status_code == 403
    assert "<Message>Request has expired</Message><X-Amz-Expires>0</X-Amz-Expires>" in (
        response.text
    )


def test_sigv2_header_and_query(server: LiveServer, owner: Key, s3: Any, bucket: str) -> None:
    v2 = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=owner.access_key_id,
        aws_secret_access_key=owner.secret_access_key,
        region_name=REGION,
        config=Config(signature_version="s3", s3={"addressing_style": "path"}),
    )
    v2.put_object(Bucket=bucket, Key="v2 key+", Body=b"signed v2", Metadata={"a": "b"})
    assert v2.get_object(Bucket=bucket, Key="v2 key+")["Body"].read() == b"signed v2"
    assert [o["Key"] for o in v2.list_objects(Bucket=bucket, Prefix="v2")["Contents"]] == [
        "v2 key+"
    ]
    upload = v2.create_multipart_upload(Bucket=bucket, Key="v2mp")["UploadId"]
    v2.abort_multipart_upload(Bucket=bucket, Key="v2mp", UploadId=upload)
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2 key+"})
    assert "Signature=" in url and "AWSAccessKeyId=" in url
    assert fetch(url) == (200, b"signed v2")
    assert fetch(url.replace("Expires=", "Expires=1"))[0] == 403
    # As AWS: each of the three parameters is required, and an expiry names its times.
    without = re.sub(r"&?Expires=\d+", "", url)
    refused = httpx.get(without)
    assert refused.status_code == 403 and "requires the Signature, Expires and" in refused.text
    past = re.sub(r"Expires=\d+", "Expires=1000000000", url)
    refused = httpx.get(past)
    assert refused.status_code == 403 and "<Expires>2001-09-09T01:46:40Z</Expires>" in refused.text
    unsigned_part = re.sub(r"&?Signature=[^&]+", "", url)
    refused = httpx.get(unsigned_part)  # not read as an anonymous GET
    assert refused.status_code == 403 and "requires the Signature, Expires and" in refused.text
    bad = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=owner.access_key_id,
        aws_secret_access_key="y" * 40,
        region_name=REGION,
        config=Config(
            signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )
    with pytest.raises(ClientError) as exc:
        bad.list_objects(Bucket=bucket)
    assert code(exc) == "SignatureDoesNotMatch"


def test_malformed_authorization_and_dates(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    """As AWS answers: an empty Authorization header is no signature (an anonymous PUT,
    403); a SigV2 header without "key:signature" is 400 InvalidArgument; an empty x-amz-date
    (it stands in for Date even so) or one before 1970 is no valid date (403 AccessDenied),
    while a date far off is RequestTimeTooSkewed. Each is refused before its signature is."""
    url = f"{server.endpoint}/{bucket}/auth-probe"
    now = email.utils.formatdate(usegmt=True)

    def put(**headers: str) -> tuple[int, str, str]:
        answer = httpx.put(url, content=b"x", headers={"date": now, **headers}, timeout=10)
        found = re.search(rb"<Code>([^<]*)</Code><Message>([^<]*)</Message>", answer.content)
        assert found is not None, answer.content
        return answer.status_code, found[1].decode(), found[2].decode()

    assert put(authorization="")[:2] == (403, "AccessDenied")
    assert put(authorization="AWS HAHAHA") == (
        400,
        "InvalidArgument",
        "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
    )
    signed = {"authorization": f"AWS {owner.access_key_id}:bm90IHRoZSBzaWduYXR1cmU="}
    assert put(**signed, **{"x-amz-date": ""})[:2] == (403, "AccessDenied")
    before_1970 = "Tue, 07 Jul 1950 21:53:04 GMT"
    assert put(**signed, **{"x-amz-date": before_1970})[:2] == (403, "AccessDenied")
    after = "Tue, 07 Jul 2043 21:53:04 GMT"
    assert put(**signed, **{"x-amz-date": after})[:2] == (403, "RequestTimeTooSkewed")
    assert put(**signed)[:2] == (403, "SignatureDoesNotMatch")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="auth-probe")["KeyCount"] == 0


def _signed_chunked_put(
    server: LiveServer, owner: Key, path: str, chunks: list[bytes], corrupt: int | None = None
) -> httpx.Response:
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD, signed by hand as AWS documents it."""
    host = urlsplit(server.endpoint).netloc
    headers, body = signed_chunks(
        owner.access_key_id, owner.secret_access_key, path, {"host": host}, chunks, corrupt
    )
    headers["content-length"] = str(len(body))
    return httpx.put(f"{server.endpoint}{path}", content=body, headers=headers)


def test_signed_streaming_chunks(server: LiveServer, owner: Key, s3: Any, bucket: str) -> None:
    chunks = [b"a" * 65536, b"b" * 65536, b"tail"]
    response = _signed_chunked_put(server, owner, f"/{bucket}/chunked", chunks)
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == b"".join(chunks)
    response = _signed_chunked_put(server, owner, f"/{bucket}/tampered", chunks, corrupt=1)
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="tampered")


def test_payload_hash_is_verified(server: LiveServer, owner: Key, s3: Any, bucket: str) -> None:
    client = server.client(owner)

    def corrupt(request: Any, **_: Any) -> None:
        request.body = b"changed after signing"
        request.headers["Content-Length"] = str(len(request.body))

    client.meta.events.register("before-send.s3.PutObject", corrupt)
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key="hashed", Body=b"original body")
    assert code(exc) in ("XAmzContentSHA256Mismatch", "SignatureDoesNotMatch", "BadDigest")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="hashed")


def test_virtual_hosted_addressing(tmp_path: Any) -> None:
    live = LiveServer(tmp_path / "vh", extra=("--s3-domain", "s3.localtest"))
    live.data_dir.mkdir()
    live.start()
    try:
        key = live.key(live.account("vh@example.com"))
        path_style = live.client(key)
        path_style.create_bucket(Bucket="vhost-bucket")
        raw = httpx.Client()
        # Resolve bucket.s3.localtest to the loopback server by sending the Host header.
        url = boto3.client(
            "s3",
            endpoint_url="http://s3.localtest",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            region_name=REGION,
            config=Config(s3={"addressing_style": "virtual"}),
        ).generate_presigned_url("put_object", Params={"Bucket": "vhost-bucket", "Key": "v/k"})
        parts = urlsplit(url)
        assert parts.netloc == "vhost-bucket.s3.localtest"
        response = raw.put(
            urlunsplit(parts._replace(netloc=f"127.0.0.1:{live.s3_port}")),
            content=b"virtual",
            headers={"host": parts.netloc},
        )
        assert response.status_code == 200, response.text
        assert path_style.get_object(Bucket="vhost-bucket", Key="v/k")["Body"].read() == b"virtual"
    finally:
        live.stop()


def test_time_is_checked_for_presigned_in_future(server: LiveServer, s3: Any, bucket: str) -> None:
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    assert fetch(presign_by_hand(server, s3, f"/{bucket}/k", future, 60))[0] == 403
    assert time.time() > 0
