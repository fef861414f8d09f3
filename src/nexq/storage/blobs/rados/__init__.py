"""Blobs in a Ceph cluster, through librados: the blob store of several Nexq nodes.

- :mod:`.store`: :class:`RadosBlobStore` (open, delete, inventory, recover) and
  :func:`from_url`, what the rest of Nexq uses;
- :mod:`.layout`: the objects in the pool (names, stripes, the head's header, its states);
- :mod:`.writer` and :mod:`.reader`: one blob written, one blob opened;
- :mod:`.housekeeping`: readers' leases and the delayed removal of deleted blobs;
- :mod:`.pool`: librados behind types, one connection per process.
"""

from nexq.storage.blobs.rados.housekeeping import Timing
from nexq.storage.blobs.rados.store import RadosBlobStore, from_url

__all__ = ["RadosBlobStore", "Timing", "from_url"]
