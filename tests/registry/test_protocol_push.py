"""OCI Distribution v1.1, pushing blobs: monolithic (end-4a + end-6, end-4b), chunked and
resumable (end-5, end-13), streamed, cancelled, refused for a wrong digest, sha512, and
mounted from another repository (end-11)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveServer
from tests.registry.distribution import (
    Oci,
    Tenant,
    add_registry,
    assert_error,
    new_tenant,
    sha256,
    sha512,
)

BLOB = os.urandom(250_000)


@pytest.fixture(scope="module")
def tenant(server: LiveServer) -> Tenant:
    return new_tenant(server, "push")


@pytest.fixture(scope="module")
def oci(server: LiveServer, tenant: Tenant) -> Oci:
    return Oci.of(server, tenant)


def assert_holds(oci: Oci, name: str, data: bytes, digest: str | None = None) -> None:
    digest = digest or sha256(data)
    pulled = oci.get(f"/v2/{name}/blobs/{digest}")
    assert pulled.status_code == 200, pulled.text
    assert pulled.content == data
    assert pulled.headers["Docker-Content-Digest"] == digest


def assert_lacks(oci: Oci, name: str, digest: str) -> None:
    assert_error(oci.head(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_post_then_put_is_201_with_the_blob_location(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("mono/post-put")
    started = oci.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["Location"]
    assert location.startswith(f"/v2/{name}/blobs/uploads/")
    assert started.headers["Range"] == "0-0"
    assert started.headers["Docker-Upload-UUID"]
    done = oci.put(location, params={"digest": sha256(BLOB)}, data=BLOB)
    assert done.status_code == 201, done.text
    assert done.headers["Location"] == f"/v2/{name}/blobs/{sha256(BLOB)}"
    assert done.headers["Docker-Content-Digest"] == sha256(BLOB)
    assert_holds(oci, name, BLOB)
    # The session ended with its blob.
    assert_error(oci.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_a_single_post_with_the_digest_is_201(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("mono/single-post")
    data = os.urandom(5000)
    done = oci.post(
        f"/v2/{name}/blobs/uploads/",
        params={"digest": sha256(data)},
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    assert done.headers["Location"] == f"/v2/{name}/blobs/{sha256(data)}"
    assert_holds(oci, name, data)


def test_an_empty_blob_uploads(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("mono/empty")
    assert oci.push_blob(name, b"") == sha256(b"")
    assert_holds(oci, name, b"")


def test_chunks_with_content_range_are_202_with_the_range_held(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("chunked/plain")
    location = oci.start_upload(name)
    for first, last in ((0, 99_999), (100_000, 199_999), (200_000, len(BLOB) - 1)):
        answer = oci.patch(
            location,
            data=BLOB[first : last + 1],
            headers={
                "Content-Range": f"{first}-{last}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert answer.status_code == 202, answer.text
        assert answer.headers["Range"] == f"0-{last}"
        assert answer.headers["Content-Length"] == "0"
        location = answer.headers["Location"]
    done = oci.put(location, params={"digest": sha256(BLOB)})
    assert done.status_code == 201, done.text
    assert_holds(oci, name, BLOB)


def test_an_out_of_order_chunk_is_416_naming_where_to_resume(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("chunked/out-of-order")
    location = oci.start_upload(name)
    first = oci.patch(location, data=BLOB[:1000], headers={"Content-Range": "0-999"})
    assert first.status_code == 202
    for start in (2000, 0, 999):  # a gap, a repeat, an overlap
        chunk = BLOB[start : start + 1000]
        answer = oci.patch(
            location, data=chunk, headers={"Content-Range": f"{start}-{start + 999}"}
        )
        assert_error(answer, 416, "BLOB_UPLOAD_INVALID")
        assert answer.headers["Range"] == "0-999"
        assert answer.headers["Location"] == first.headers["Location"]
    # Nothing of the refused chunks was kept: the upload resumes where it stood.
    rest = oci.patch(location, data=BLOB[1000:], headers={"Content-Range": f"1000-{len(BLOB) - 1}"})
    assert rest.status_code == 202, rest.text
    assert oci.put(location, params={"digest": sha256(BLOB)}).status_code == 201
    assert_holds(oci, name, BLOB)


def test_a_closing_put_with_a_chunk_out_of_order_is_416_and_keeps_the_session(
    oci: Oci, tenant: Tenant
) -> None:
    name = tenant.name("chunked/late-gap")
    location = oci.start_upload(name)
    assert oci.patch(location, data=BLOB[:1000], headers={"Content-Range": "0-999"}).ok
    gap = oci.put(
        location,
        params={"digest": sha256(BLOB)},
        data=BLOB[2000:],
        headers={"Content-Range": f"2000-{len(BLOB) - 1}"},
    )
    assert_error(gap, 416, "BLOB_UPLOAD_INVALID")
    assert gap.headers["Range"] == "0-999"
    assert oci.get(location).headers["Range"] == "0-999"
    done = oci.put(
        location,
        params={"digest": sha256(BLOB)},
        data=BLOB[1000:],
        headers={"Content-Range": f"1000-{len(BLOB) - 1}"},
    )
    assert done.status_code == 201, done.text
    assert_holds(oci, name, BLOB)


def test_a_chunk_longer_or_shorter_than_its_range_is_size_invalid(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("chunked/wrong-size")
    location = oci.start_upload(name)
    for body in (BLOB[:500], BLOB[:1500]):
        answer = oci.patch(location, data=body, headers={"Content-Range": "0-999"})
        assert_error(answer, 400, "SIZE_INVALID")
    # Nothing of either was kept.
    status = oci.get(location)
    assert (status.status_code, status.headers["Range"]) == (204, "0-0")
    assert oci.patch(location, data=BLOB[:1000], headers={"Content-Range": "0-999"}).ok


def test_a_session_resumes_from_its_status_on_another_connection(
    server: LiveServer, oci: Oci, tenant: Tenant
) -> None:
    name = tenant.name("chunked/resumed")
    location = oci.start_upload(name)
    assert oci.patch(location, data=BLOB[:70_000], headers={"Content-Range": "0-69999"}).ok
    # Another client (a bearer token this time) asks where the upload stands...
    token = oci.get("/v2/token").json()["token"]
    other = Oci(server, bearer=token)
    status = other.get(location)
    assert status.status_code == 204
    assert status.content == b""
    assert status.headers["Range"] == "0-69999"
    assert status.headers["Location"] == location
    # ...and finishes it: the last chunk in the closing PUT.
    done = other.put(
        status.headers["Location"],
        params={"digest": sha256(BLOB)},
        data=BLOB[70_000:],
        headers={"Content-Range": f"70000-{len(BLOB) - 1}"},
    )
    assert done.status_code == 201, done.text
    assert_holds(oci, name, BLOB)


def test_a_streamed_patch_without_content_range_appends(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("chunked/streamed")

    def pieces(data: bytes) -> Iterator[bytes]:  # Transfer-Encoding: chunked, no length
        for at in range(0, len(data), 16_384):
            yield data[at : at + 16_384]

    location = oci.start_upload(name)
    half = len(BLOB) // 2
    for part, end in ((BLOB[:half], half), (BLOB[half:], len(BLOB))):
        answer = oci.patch(location, data=pieces(part))
        assert answer.status_code == 202, answer.text
        assert answer.headers["Range"] == f"0-{end - 1}"
        location = answer.headers["Location"]
    assert oci.put(location, params={"digest": sha256(BLOB)}).status_code == 201
    assert_holds(oci, name, BLOB)


@pytest.mark.parametrize("how", ["put", "single-post", "chunked"])
def test_a_digest_mismatch_is_digest_invalid_and_keeps_nothing(
    oci: Oci, tenant: Tenant, how: str
) -> None:
    name = tenant.name(f"mismatch/{how}")
    data, claimed = os.urandom(3000), sha256(b"something else")
    location = None
    if how == "single-post":
        answer = oci.post(f"/v2/{name}/blobs/uploads/", params={"digest": claimed}, data=data)
    else:
        location = oci.start_upload(name)
        if how == "chunked":
            assert oci.patch(location, data=data[:1000], headers={"Content-Range": "0-999"}).ok
            answer = oci.put(location, params={"digest": claimed}, data=data[1000:])
        else:
            answer = oci.put(location, params={"digest": claimed}, data=data)
    assert_error(answer, 400, "DIGEST_INVALID")
    assert_lacks(oci, name, claimed)
    assert_lacks(oci, name, sha256(data))
    if location is not None:
        assert_error(oci.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_a_put_without_a_digest_is_digest_invalid(oci: Oci, tenant: Tenant) -> None:
    location = oci.start_upload(tenant.name("mismatch/no-digest"))
    assert_error(oci.put(location, data=b"abc"), 400, "DIGEST_INVALID")


def test_sha512_digests_upload_and_pull(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("digests/sha512")
    small = os.urandom(4000)
    assert oci.push_blob(name, small, sha512(small)) == sha512(small)
    assert_holds(oci, name, small, sha512(small))
    location = oci.start_upload(name)
    assert oci.patch(location, data=BLOB[:5000], headers={"Content-Range": "0-4999"}).ok
    done = oci.put(location, params={"digest": sha512(BLOB)}, data=BLOB[5000:])
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == sha512(BLOB)
    assert_holds(oci, name, BLOB, sha512(BLOB))


def test_a_cancelled_upload_is_gone(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("cancel/me")
    location = oci.start_upload(name)
    assert oci.patch(location, data=BLOB[:1000], headers={"Content-Range": "0-999"}).ok
    cancelled = oci.delete(location)
    assert cancelled.status_code == 204
    assert_error(oci.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(oci.patch(location, data=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(oci.put(location, params={"digest": sha256(b"x")}), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(oci.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_an_upload_is_only_known_in_its_own_repository(oci: Oci, tenant: Tenant) -> None:
    location = oci.start_upload(tenant.name("uploads/mine"))
    elsewhere = location.replace("/uploads/mine/", "/uploads/other/")
    assert_error(oci.get(elsewhere), 404, "BLOB_UPLOAD_UNKNOWN")


def test_a_blob_mounts_from_another_repository_of_the_registry(oci: Oci, tenant: Tenant) -> None:
    source, target = tenant.name("mount/source"), tenant.name("mount/target")
    data = os.urandom(7000)
    digest = oci.push_blob(source, data)
    mounted = oci.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert mounted.status_code == 201, mounted.text
    assert mounted.headers["Location"] == f"/v2/{target}/blobs/{digest}"
    assert mounted.headers["Docker-Content-Digest"] == digest
    assert_holds(oci, target, data)


def test_a_blob_mounts_across_registries_of_the_account_with_an_api_key(
    server: LiveServer, tenant: Tenant
) -> None:
    other = add_registry(server, tenant)
    keyed = Oci(server, basic=("anyone", tenant.key))
    source, target = tenant.name("mount/keyed"), f"{other}/copy"
    data = os.urandom(6000)
    digest = keyed.push_blob(source, data)
    mounted = keyed.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert mounted.status_code == 201, mounted.text
    assert_holds(keyed, target, data)


def test_a_mount_the_source_cannot_give_falls_back_to_an_upload(oci: Oci, tenant: Tenant) -> None:
    target = tenant.name("mount/fallback")
    data = os.urandom(3000)
    for source in (tenant.name("mount/source"), tenant.name("mount/nowhere")):
        answer = oci.post(
            f"/v2/{target}/blobs/uploads/", params={"mount": sha256(data), "from": source}
        )
        assert answer.status_code == 202, answer.text
        assert answer.headers["Range"] == "0-0"
    # The session the fallback opened takes the blob.
    done = oci.put(answer.headers["Location"], params={"digest": sha256(data)}, data=data)
    assert done.status_code == 201
    assert_holds(oci, target, data)


def test_a_mount_from_another_accounts_registry_is_never_201(
    server: LiveServer, oci: Oci, tenant: Tenant
) -> None:
    stranger = new_tenant(server, "stranger")
    theirs = Oci.of(server, stranger)
    data = os.urandom(2000)
    digest = theirs.push_blob(stranger.name("private/layer"), data)
    target = tenant.name("mount/stolen")
    answer = oci.post(
        f"/v2/{target}/blobs/uploads/",
        params={"mount": digest, "from": stranger.name("private/layer")},
    )
    assert answer.status_code == 202, answer.text
    assert_lacks(oci, target, digest)
    # Nor without naming the source: content is the account's, never another's.
    unnamed = oci.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest})
    assert unnamed.status_code == 202
    assert_lacks(oci, target, digest)


def test_a_body_that_stops_arriving_is_408_in_the_spec_format(tmp_path: Path) -> None:
    # A server of its own, whose listener waits one second for a body's next byte.
    impatient = LiveServer(tmp_path / "data", env={"NEXQ_BODY_IDLE_SECONDS": "1"})
    impatient.start()
    try:
        with socket.create_connection(("127.0.0.1", impatient.registry_port), timeout=20) as c:
            c.sendall(
                b"POST /v2/token HTTP/1.1\r\nHost: registry\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100\r\n\r\ngrant_type="
            )
            answer = b""
            while piece := c.recv(65536):
                answer += piece
    finally:
        impatient.stop()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"docker-distribution-api-version: registry/2.0" in head.lower()
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
