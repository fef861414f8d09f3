"""The MetadataStore contract for the records of completed multipart uploads (what a retried
CompleteMultipartUpload is answered from): every implementation."""

from __future__ import annotations

import pytest

from nexq.accounts.port import AccountStore
from nexq.storage import errors
from nexq.storage.completions import PURGE_BATCH, RETRY_WINDOW, CompletedUpload
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import Bucket, ObjectMeta, Part, Segment, Upload
from nexq.storage.versions import ENABLED, new_version_id
from tests.contract.test_metadata_store import account, bucket

T0 = 1_700_000_000.0


@pytest.fixture
def store(stores: tuple[MetadataStore, AccountStore]) -> MetadataStore:
    return stores[0]


@pytest.fixture
def accounts(stores: tuple[MetadataStore, AccountStore]) -> AccountStore:
    return stores[1]


def uploaded(store: MetadataStore, b: Bucket, upload_id: str, key: str = "k") -> Upload:
    """An upload of ``key`` with one 10-byte part (its blob is ``<upload_id>-1``)."""
    up = Upload(upload_id, b.id, key, T0, {}, {}, None, None)
    store.add_upload(up)
    store.put_part(Part(upload_id, 1, 10, "e1", T0, f"{upload_id}-1"))
    return up


def made(up: Upload, at: float, etag: str = "etag-1") -> ObjectMeta:
    """What completing ``up`` at ``at`` makes of its one part."""
    return ObjectMeta(
        up.bucket_id,
        up.key,
        10,
        etag,
        at,
        {"content-type": "x/y"},
        {},
        {"CRC32": "AAAAAA==-1"},
        "COMPOSITE",
        (Segment(f"{up.id}-1", 10, "AAAAAA=="),),
        parts_count=1,
        version_id=new_version_id(),
    )


def test_a_completion_is_recorded_with_what_it_answered(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    up = uploaded(store, b, "u1")
    assert store.completed_upload("u1") is None
    assert store.complete_upload(up, made(up, T0 + 5), [1]) is None  # never versioned: null
    assert store.completed_upload("u1") == CompletedUpload(
        "u1", b.id, "k", "etag-1", None, 10, T0 + 5, {"CRC32": "AAAAAA==-1"}, "COMPOSITE"
    )
    store.set_versioning(b.id, ENABLED)
    again = uploaded(store, b, "u2")
    version_id = store.complete_upload(again, made(again, T0 + 6, "etag-2"), [1])
    done = store.completed_upload("u2")
    assert version_id is not None and done is not None
    assert (done.version_id, done.etag, done.completed_at) == (version_id, "etag-2", T0 + 6)
    done.checksums["CRC32"] = "changed"  # what is read back is a copy
    kept = store.completed_upload("u2")
    assert kept is not None and kept.checksums == {"CRC32": "AAAAAA==-1"}


def test_the_record_outlives_the_object_it_made(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    up = uploaded(store, b, "u1")
    store.complete_upload(up, made(up, T0), [1])
    store.delete_object(b.id, "k")
    assert store.get_object(b.id, "k") is None
    done = store.completed_upload("u1")
    assert done is not None and done.etag == "etag-1"


def test_a_refused_or_aborted_completion_records_nothing(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    store.put_object(made(Upload("x", b.id, "k", T0, {}, {}, None, None), T0))
    up = uploaded(store, b, "u1")
    with pytest.raises(errors.PreconditionFailed):
        store.complete_upload(up, made(up, T0 + 1), [1], if_none_match=True)
    assert store.completed_upload("u1") is None and store.get_upload("u1") == up
    assert store.abort_upload("u1") is True
    assert store.completed_upload("u1") is None
    with pytest.raises(errors.NoSuchUpload):
        store.complete_upload(up, made(up, T0 + 2), [1])
    assert store.completed_upload("u1") is None


def test_completions_purge_a_few_expired_records_oldest_first(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))

    def complete(upload_id: str, at: float) -> None:
        up = uploaded(store, b, upload_id, upload_id)
        store.complete_upload(up, made(up, at), [1])

    def kept() -> set[str]:
        named = ("u1", "u2", "u3", "u4", "u5", "u6")
        return {u for u in named if store.completed_upload(u) is not None}

    # Recorded out of time order: the purge follows the completion times, not arrival.
    for upload_id, at in (("u2", T0 + 2), ("u3", T0 + 3), ("u1", T0 + 1), ("u4", T0 + 100)):
        complete(upload_id, at)
    complete("u5", T0 + 10 + RETRY_WINDOW)  # u1, u2 and u3 have expired by then
    assert PURGE_BATCH == 2 and kept() == {"u3", "u4", "u5"}  # the two oldest went
    complete("u6", T0 + 100 + RETRY_WINDOW)  # u3 has expired, u4 just not
    assert kept() == {"u4", "u5", "u6"}
