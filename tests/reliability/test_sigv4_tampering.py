"""SigV4: changing any signed part of a request after signing makes it fail, and has no effect.

Two requests are signed by hand (tests/reliability/harness.SignParts, AWS's algorithm): a PUT
with a payload hash and signed content headers, and a GET with a query string. Each
alteration is sent once; the unaltered request is sent last and must succeed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from tests.live import Key, LiveServer
from tests.reliability.conftest import account_key
from tests.reliability.harness import (
    RawResponse,
    SignParts,
    amz_now,
    build,
    exchange,
    presign,
    signed_request,
    wait_for,
)

BODY = b"the signed payload"


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Key]]:
    live = LiveServer(tmp_path_factory.mktemp("sigv4") / "data")
    live.data_dir.mkdir()
    live.start()
    try:
        key = account_key(live, "sigv4@example.com")
        live.client(key).create_bucket(Bucket="tamper")
        live.client(key).put_object(Bucket="tamper", Key="a-listed", Body=b"x")
        yield live, key
    finally:
        live.stop()


def base_put(live: LiveServer, name: str) -> SignParts:
    date = amz_now()
    return SignParts(
        "PUT",
        f"/tamper/{name}".encode(),
        b"",
        {
            "host": f"127.0.0.1:{live.s3_port}",
            "x-amz-date": date,
            "x-amz-content-sha256": hashlib.sha256(BODY).hexdigest(),
            "content-type": "text/plain",
            "x-amz-meta-owner": "alice",
        },
        hashlib.sha256(BODY).hexdigest(),
        date,
    )


def send(
    live: LiveServer, key: Key, parts: SignParts, signed_by: SignParts, body: bytes
) -> RawResponse:
    """Send ``parts`` with the Authorization header computed for ``signed_by``."""
    headers = dict(parts.headers)
    headers["authorization"] = signed_by.authorization(key.access_key_id, key.secret_access_key)
    target = parts.path.decode() + (f"?{parts.query.decode()}" if parts.query else "")
    answer = exchange(live.s3_port, build(parts.method, target, headers.items(), body))
    assert answer is not None
    return answer


Alteration = Callable[[SignParts], SignParts]


def header(name: str, value: str) -> Alteration:
    return lambda p: replace(p, headers={**p.headers, name: value})


PUT_ALTERATIONS: dict[str, Alteration] = {
    "method": lambda p: replace(p, method="DELETE"),
    "path": lambda p: replace(p, path=p.path + b"x"),
    "query added": lambda p: replace(p, query=b"x-id=PutObject"),
    "host": header("host", "127.0.0.1:1"),
    # A second earlier than signed, read when the request is made: a date taken when this
    # module is imported is past the 15 minutes' skew once the file runs late in the gate.
    "x-amz-date": lambda p: replace(p, headers={**p.headers, "x-amz-date": amz_now(-1)}),
    "x-amz-content-sha256": header("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    "content-type": header("content-type", "text/html"),
    "x-amz-meta-owner": header("x-amz-meta-owner", "mallory"),
}


@pytest.mark.parametrize("what", sorted(PUT_ALTERATIONS))
def test_altered_put_fails_and_stores_nothing(signer: tuple[LiveServer, Key], what: str) -> None:
    live, key = signer
    name = f"put-{what.replace(' ', '-')}"
    signed = base_put(live, name)
    altered = PUT_ALTERATIONS[what](signed)
    answer = send(live, key, altered, signed, BODY)
    assert answer.status == 403 and answer.code == "SignatureDoesNotMatch", answer.body[:300]
    assert signed_request(live, key, "HEAD", f"/tamper/{name}").status == 404


def test_altered_payload_fails_and_stores_nothing(signer: tuple[LiveServer, Key]) -> None:
    live, key = signer
    signed = base_put(live, "payload")
    answer = send(live, key, signed, signed, BODY.replace(b"signed", b"SIGNED"))
    assert answer.status in (400, 403), answer.body[:300]
    assert answer.code in ("XAmzContentSHA256Mismatch", "SignatureDoesNotMatch")
    assert signed_request(live, key, "HEAD", "/tamper/payload").status == 404


@pytest.mark.parametrize(
    "what,change",
    [
        ("date", {"amz_date": "20200101T000000Z"}),
        ("region", {"region": "auto"}),
        ("service", {"service": "iam"}),
    ],
)
def test_altered_credential_scope_fails(
    signer: tuple[LiveServer, Key], what: str, change: dict[str, str]
) -> None:
    live, key = signer
    signed = base_put(live, f"scope-{what}")
    claimed = replace(signed, **change)  # the Authorization header names another scope
    headers = dict(signed.headers)
    auth = signed.authorization(key.access_key_id, key.secret_access_key)
    auth = auth.replace(signed.scope(), claimed.scope())
    headers["authorization"] = auth
    answer = exchange(live.s3_port, build("PUT", signed.path.decode(), headers.items(), BODY))
    assert answer is not None and answer.status in (400, 403), answer
    assert signed_request(live, key, "HEAD", f"/tamper/scope-{what}").status == 404


def test_altered_signature_and_signed_header_list_fail(signer: tuple[LiveServer, Key]) -> None:
    live, key = signer
    signed = base_put(live, "sig")
    good = signed.authorization(key.access_key_id, key.secret_access_key)
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    fewer = good.replace("content-type;", "")
    for auth in (flipped, fewer):
        headers = {**signed.headers, "authorization": auth}
        answer = exchange(live.s3_port, build("PUT", "/tamper/sig", headers.items(), BODY))
        assert answer is not None and answer.status == 403, answer
    assert signed_request(live, key, "HEAD", "/tamper/sig").status == 404


@pytest.mark.parametrize(
    "query", [b"list-type=2&prefix=b", b"list-type=2&prefix=a&max-keys=1", b"list-type=2"]
)
def test_altered_query_fails(signer: tuple[LiveServer, Key], query: bytes) -> None:
    live, key = signer
    date = amz_now()
    signed = SignParts(
        "GET",
        b"/tamper",
        b"list-type=2&prefix=a",
        {
            "host": f"127.0.0.1:{live.s3_port}",
            "x-amz-date": date,
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        },
        "UNSIGNED-PAYLOAD",
        date,
    )
    assert send(live, key, signed, signed, b"").status == 200
    answer = send(live, key, replace(signed, query=query), signed, b"")
    assert (answer.status, answer.code) == (403, "SignatureDoesNotMatch")


def test_unaltered_put_succeeds(signer: tuple[LiveServer, Key]) -> None:
    live, key = signer
    signed = base_put(live, "control")
    assert send(live, key, signed, signed, BODY).status == 200
    got = signed_request(live, key, "GET", "/tamper/control")
    assert got.body == BODY and got.headers["x-amz-meta-owner"] == "alice"


def test_presigned_url_replayed_after_expiry_fails(signer: tuple[LiveServer, Key]) -> None:
    live, key = signer
    host = f"127.0.0.1:{live.s3_port}"
    url = presign(key, "GET", "/tamper/a-listed", host, expires=1)
    request = build("GET", url, [("host", host)])
    first = exchange(live.s3_port, request)
    assert first is not None and first.status == 200
    wait_for(
        lambda: (a := exchange(live.s3_port, request)) is not None and a.status == 403,
        10,
        "an expired presigned URL still worked",
        interval=0.25,
    )
    answer = exchange(live.s3_port, request)
    assert answer is not None and (answer.status, answer.code) == (403, "AccessDenied")
    assert b"expired" in answer.body
