"""S3 access keys: labels and grants, secrets sealed at rest, revocation seen at once, the
internal key behind share links, the limit — through AccessKeys on the in-memory stores."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from nexq.core.crypto import SecretBox, UnknownMasterKey, new_key
from nexq.core.errors import QuotaExceeded
from nexq.storage.errors import InvalidArgument, NoSuchAccessKey, NoSuchBucket
from nexq.storage.model import ACCESS_KEY_PREFIX, is_access_key_id
from tests.unit.storage.conftest import Storage


@pytest.fixture
def buckets(storage: Storage) -> tuple[str, str]:
    owner = storage.caller("acc-a")
    storage.bucket(owner, "photos")
    storage.bucket(owner, "backups")
    storage.bucket(storage.caller("acc-b"), "strangers")
    return "photos", "backups"


def test_a_new_key_gets_a_secret_that_is_stored_only_sealed(storage: Storage) -> None:
    view, secret = storage.access_keys.create("acc-a", "  laptop  ", None)
    key = view.key
    assert is_access_key_id(key.id) and key.id.startswith(ACCESS_KEY_PREFIX)
    assert (key.label, key.status, key.bucket_ids, view.bucket_names) == (
        "laptop",
        "active",
        None,
        None,
    )
    assert len(secret) == 40
    stored = storage.store.get_access_key(key.id)
    assert stored is not None
    sealed = stored[1]
    assert secret.encode() not in sealed
    assert storage.box.open(sealed, key.id) == secret
    with pytest.raises(InvalidTag):  # sealed for this key id only
        storage.box.open(sealed, "NQAKsomeoneelse00000")
    with pytest.raises(UnknownMasterKey):  # and for this installation's master keys only
        SecretBox(new_key()).open(sealed, key.id)
    _, other = storage.access_keys.create("acc-a", "phone", None)
    assert other != secret


@pytest.mark.parametrize("label", ["", "   ", "x" * 129])
def test_labels_are_1_to_128_characters(storage: Storage, label: str) -> None:
    with pytest.raises(InvalidArgument):
        storage.access_keys.create("acc-a", label, None)
    assert storage.access_keys.list("acc-a") == []


def test_specific_buckets_are_the_accounts_own(storage: Storage, buckets: tuple[str, str]) -> None:
    with pytest.raises(InvalidArgument):
        storage.access_keys.create("acc-a", "none", [])
    with pytest.raises(NoSuchBucket):
        storage.access_keys.create("acc-a", "theirs", ["photos", "strangers"])
    with pytest.raises(NoSuchBucket):
        storage.access_keys.create("acc-a", "missing", ["no-such-bucket"])
    assert storage.access_keys.list("acc-a") == []
    view, _ = storage.access_keys.create("acc-a", "scoped", ["photos", "backups"])
    assert view.bucket_names == ["backups", "photos"]
    photos = storage.store.get_bucket("photos")
    assert photos is not None and view.key.bucket_ids is not None
    assert photos.id in view.key.bucket_ids


def test_a_deleted_bucket_drops_out_of_the_keys_granted_it(
    storage: Storage, buckets: tuple[str, str]
) -> None:
    view, _ = storage.access_keys.create("acc-a", "scoped", ["photos", "backups"])
    storage.objects.delete_bucket(storage.caller("acc-a"), "photos")
    assert storage.access_keys.get("acc-a", view.key.id).bucket_names == ["backups"]


def test_a_revoked_key_is_refused_at_the_next_request(storage: Storage) -> None:
    view, secret = storage.access_keys.create("acc-a", "laptop", None)
    directory = storage.objects.directory
    storage.next_request()
    found = directory.credential(view.key.id)
    assert found is not None and found.secret == secret and found.key.active
    storage.access_keys.revoke("acc-a", view.key.id)
    storage.next_request()
    found = directory.credential(view.key.id)
    assert found is not None and not found.key.active
    assert storage.access_keys.get("acc-a", view.key.id).key.status == "revoked"
    storage.access_keys.delete("acc-a", view.key.id)
    storage.next_request()
    assert directory.credential(view.key.id) is None


def test_another_accounts_key_cannot_be_touched(storage: Storage) -> None:
    view, _ = storage.access_keys.create("acc-a", "laptop", None)
    for act in (storage.access_keys.get, storage.access_keys.revoke, storage.access_keys.delete):
        with pytest.raises(NoSuchAccessKey):
            act("acc-b", view.key.id)
    assert storage.access_keys.get("acc-a", view.key.id).key.active


def test_the_access_key_limit_counts_revoked_keys(storage: Storage) -> None:
    storage.limits.values["access_keys"] = 2
    first, _ = storage.access_keys.create("acc-a", "one", None)
    storage.access_keys.create("acc-a", "two", None)
    storage.access_keys.revoke("acc-a", first.key.id)
    with pytest.raises(QuotaExceeded) as refused:
        storage.access_keys.create("acc-a", "three", None)
    assert refused.value.limit == "access_keys"
    storage.access_keys.signing_credentials("acc-a")  # share links never count
    storage.access_keys.delete("acc-a", first.key.id)
    storage.access_keys.create("acc-a", "three", None)
    assert [v.key.label for v in storage.access_keys.list("acc-a")] == ["two", "three"]


def test_share_links_are_signed_by_a_hidden_key_replaced_whole(storage: Storage) -> None:
    key_id, secret = storage.access_keys.signing_credentials("acc-a")
    assert storage.access_keys.signing_credentials("acc-a") == (key_id, secret)
    assert storage.access_keys.list("acc-a") == []
    with pytest.raises(NoSuchAccessKey):
        storage.access_keys.revoke("acc-a", key_id)
    storage.access_keys.revoke_share_links("acc-a")
    storage.next_request()
    assert storage.objects.directory.credential(key_id) is None
    new_id, new_secret = storage.access_keys.signing_credentials("acc-a")
    assert (new_id, new_secret) != (key_id, secret)


def test_a_master_key_rotation_rewraps_without_changing_secrets(storage: Storage) -> None:
    made = [storage.access_keys.create("acc-a", f"k{i}", None) for i in range(3)]
    rotated = SecretBox(new_key())
    changes = []
    after = ""
    while page := storage.access_keys.sealed_page(after, 2):
        for key_id, sealed in page:
            changes.append((key_id, sealed, rotated.seal(storage.box.open(sealed, key_id), key_id)))
        after = page[-1][0]
    assert len(changes) == 3
    assert storage.access_keys.replace_sealed(changes) == 3
    assert storage.access_keys.replace_sealed(changes) == 0  # no longer the old values
    for view, secret in made:
        stored = storage.store.get_access_key(view.key.id)
        assert stored is not None and rotated.open(stored[1], view.key.id) == secret
