"""Does the registry's metadata agree with its blob store, and with itself?
(part of ``nexq admin fsck``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nexq.registry.sqlite import SqlRegistry
from nexq.storage.blobs.port import BlobStore

# A blob younger than this may belong to a push still in flight on a running server.
IN_FLIGHT_SECONDS = 300


@dataclass
class RegistryReport:
    """What the check found; ``clean`` when the tables and the blobs agree."""

    blobs: int = 0  # blobs and upload chunks the tables name
    missing: list[str] = field(default_factory=list)
    wrong_size: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed: int = 0
    # Manifests whose bytes or named blobs are gone, tags naming no manifest.
    dangling: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.wrong_size or self.orphans or self.dangling)

    def as_json(self) -> dict[str, object]:
        return {
            "clean": self.clean,
            "blobs_referenced": self.blobs,
            "missing": self.missing,
            "wrong_size": self.wrong_size,
            "orphans": self.orphans,
            "removed": self.removed,
            "dangling": self.dangling,
        }


def check(store: SqlRegistry, blobs: BlobStore, *, repair: bool = False) -> RegistryReport:
    """Compare every blob the tables name with the store, and the manifests with what they
    name; ``repair`` removes old orphan files (never anything a table names)."""
    expected = store.blob_sizes()
    found, _ = blobs.inventory()
    report = RegistryReport(blobs=len(expected))
    for path, size in sorted(expected.items()):
        actual = found.get(path)
        if actual is None:
            report.missing.append(path)
        elif actual[0] != size:
            report.wrong_size.append(path)
    cutoff = time.time() - IN_FLIGHT_SECONDS
    report.orphans = [
        path
        for path, (_, modified) in sorted(found.items())
        if path not in expected and modified < cutoff
    ]
    if repair and report.orphans:
        blobs.delete(report.orphans)
        report.removed = len(report.orphans)
        report.orphans = []
    report.dangling = store.dangling()
    return report
