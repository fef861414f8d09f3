"""Does the metadata agree with the blob store, and with itself? (``nexq admin fsck``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nexq.storage.blobs.port import BlobStore
from nexq.storage.metadata.port import MetadataStore

# A blob younger than this may belong to a write still in flight on a running server.
IN_FLIGHT_SECONDS = 300


@dataclass
class Report:
    """What fsck found; ``clean`` when metadata and blobs agree."""

    objects_blobs: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_size: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    temporaries: int = 0
    removed: int = 0
    # Bucket and account counters (objects, stored bytes: what quotas and bills read) that
    # differ from what the objects add up to.
    counters: list[str] = field(default_factory=list)
    recounted: int = 0

    @property
    def clean(self) -> bool:
        return not (self.missing or self.wrong_size or self.orphans or self.counters)


def check(store: MetadataStore, blobs: BlobStore, *, repair: bool = False) -> Report:
    """Compare every referenced blob with the files, and the counters with the objects;
    ``repair`` removes old orphans and recounts wrong counters.

    Missing or short blobs are reported, never "repaired": their objects need an operator's
    decision (restore from backup, or delete the key).
    """
    expected = store.blob_sizes()
    pending = store.referenced_paths() - set(expected)  # garbage the janitor has yet to remove
    found, temporaries = blobs.inventory()
    report = Report(objects_blobs=len(expected), temporaries=temporaries)
    for path, size in sorted(expected.items()):
        actual = found.get(path)
        if actual is None:
            report.missing.append(path)
        elif actual[0] != size:
            report.wrong_size.append(path)
    cutoff = time.time() - IN_FLIGHT_SECONDS
    for path, (_, modified) in sorted(found.items()):
        if path not in expected and path not in pending and modified < cutoff:
            report.orphans.append(path)
    if repair and report.orphans:
        blobs.delete(report.orphans)
        report.removed = len(report.orphans)
    report.counters = store.counter_drift()
    if repair and report.counters:
        # Recounted in one write, from the objects as they are then (a write may have landed
        # since the check; the recount is exact all the same).
        report.recounted = len(store.recount())
    return report
