"""Object Storage's part in deleting an account: buckets block it, access keys go along."""

from __future__ import annotations

from nexq.core.holdings import Departure, Held, held_of
from nexq.core.identity import Principal
from nexq.storage.access_keys import AccessKeys
from nexq.storage.service import ObjectStorage


def departure(objects: ObjectStorage, access_keys: AccessKeys) -> Departure:
    """Buckets are the holder's data: emptied and deleted by the holder, never along."""

    def held(owner: Principal) -> list[Held]:
        owned = [b.name for b in objects.list_buckets(owner) if b.account_id == owner.account.id]
        return held_of("bucket", "buckets", owned)

    def settle(owner: Principal) -> None:
        # Refused already (the account is no longer active); deleted so that none is left.
        for view in access_keys.list(owner.account.id):
            access_keys.delete(owner.account.id, view.key.id)

    return Departure(held, settle)
