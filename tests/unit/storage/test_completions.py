"""What makes a CompleteMultipartUpload a retry of a recorded completion: its bucket, key and
parts list (by the ETag they make), within the retry window. Pure."""

from __future__ import annotations

import hashlib

from nexq.storage.completions import RETRY_WINDOW, CompletedUpload, multipart_etag

ONE, TWO = hashlib.md5(b"one").hexdigest(), hashlib.md5(b"two").hexdigest()
ETAG = hashlib.md5(bytes.fromhex(ONE) + bytes.fromhex(TWO)).hexdigest() + "-2"
DONE = CompletedUpload("u1", "b1", "k", ETAG, "v1", 7, 1000.0)


def test_the_etag_of_a_parts_list_is_s3s() -> None:
    assert multipart_etag([(1, ONE), (3, f'"{TWO}"')]) == ETAG
    assert multipart_etag([(1, ONE)]) == hashlib.md5(bytes.fromhex(ONE)).hexdigest() + "-1"
    for impossible in ([], [(2, ONE), (1, TWO)], [(1, ONE), (1, ONE)], [(1, "xyz")], [(1, "ab")]):
        assert multipart_etag(impossible) is None


def test_a_retry_names_the_same_upload_target_and_parts_within_the_window() -> None:
    parts = [(1, ONE), (2, TWO)]
    assert DONE.answers("b1", "k", parts, 1000.0 + RETRY_WINDOW)
    assert not DONE.answers("b1", "k", parts, 1000.1 + RETRY_WINDOW)  # too late
    assert not DONE.answers("b2", "k", parts, 1000.0)
    assert not DONE.answers("b1", "other", parts, 1000.0)
    assert not DONE.answers("b1", "k", parts[:1], 1000.0)
    meta = DONE.meta()
    assert (meta.etag, meta.version_id, meta.size, meta.last_modified) == (ETAG, "v1", 7, 1000.0)
