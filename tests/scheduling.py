"""The order in which the gate's two workers are handed the test files.

The gate runs ``pytest -n 2 --dist loadfile --no-loadscope-reorder``: a worker takes a whole
file (its tests share the file's server) and asks for the next when it is nearly done, in
the order collection leaves the files in, which is this module's. The wall time is the
later worker's end, so what matters is that no long file is handed out last while the other
worker runs out of work.

xdist's own order (without ``--no-loadscope-reorder``) is the most tests first. Here that
is backwards: the files with the most tests are unit suites (milliseconds a test), while a
file of one to a few tests is an end-to-end story of a minute or more. Handed out last, one
of those ran alone at the end of every phase (the OpenAPI fuzz was the last 90 s of
test-postgresql, one worker idle).

So: the longest files first, longest first (:data:`LONGEST`, from the gate's durations);
then the files with the fewest tests; the folders without a server last, contract before
unit, whose small files even out the two workers' ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The files that took longest in the gate (each phase's --durations), longest first. A file
# missing here is only handed out later; add one that shows up among the slowest.
LONGEST = (
    "compute/test_debian_live.py",
    "operations/test_container_image.py",
    "reliability/test_authorization.py",
    "databases/test_guide.py",
    "databases/test_high_availability.py",
    "console/test_databases.py",
    "reliability/test_soak.py",
    "api/test_openapi.py",
    "compat/test_quotas.py",
    "compat/test_awscli.py",
    "compat/test_metering.py",
    "reliability/test_slow_clients.py",
    "compat/test_tools.py",
    "cli/test_database_backups.py",
    "storage_guide/test_troubleshooting.py",
    "storage_guide/test_guide.py",
    "databases/test_backups.py",
    "compute/test_instances.py",
    "compute/test_instances_live.py",
    "compute/test_guide.py",
    "compute/test_disk_copies_live.py",
    "compute/test_console_copies.py",
    "reliability/test_console_attacks.py",
    "cluster/test_cluster.py",
    "databases/test_host.py",
)
# Last, in this order: their files are many and short.
WITHOUT_SERVER_LAST = ("contract", "unit")


def handing_out_order(items: list[pytest.Item], tests: Path) -> list[pytest.Item]:
    """``items`` with their files reordered; each file's tests keep their order."""
    files: dict[Path, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)

    def weight(path: Path) -> tuple[int, int, int]:
        name = path.relative_to(tests).as_posix() if path.is_relative_to(tests) else ""
        longest = LONGEST.index(name) if name in LONGEST else len(LONGEST)
        folder = name.partition("/")[0]
        last = WITHOUT_SERVER_LAST.index(folder) + 1 if folder in WITHOUT_SERVER_LAST else 0
        return last, longest, len(files[path])

    return [item for path in sorted(files, key=weight) for item in files[path]]
