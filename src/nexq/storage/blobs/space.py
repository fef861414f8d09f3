"""A free-space reserve: blob writes stop short of filling the file system.

Deleting an object, aborting an upload or recording usage all write to the metadata
database, whose WAL may have to grow. If uploads could take the last byte of the disk, a
user could no longer delete anything to make room. So blob writes are refused (StorageFull)
once less than the reserve is free: max(1 % of the file system, 4 MiB).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from nexq.core.errors import StorageFull

MIN_RESERVE = 4 * 1024 * 1024
RESERVE_FRACTION = 100  # 1 %
# Other worker processes write to the same disk, so each looks at the file system again
# after taking a slice of what was free; with eight workers writing at once they still
# cannot overrun the reserve by more than what they were told was free.
SLICE = 8
MAX_SLICE = 64 * 1024 * 1024


class FreeSpace:
    """Grants room for blob bytes, looking at the file system only now and then."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._granted = 0  # bytes this process may still write before looking again

    def take(self, size: int) -> None:
        """Claim room for ``size`` more bytes; StorageFull if that would eat the reserve."""
        with self._lock:
            if size < self._granted:
                self._granted -= size
                return
            room = self.room()
            if room <= 0 or size > room:
                self._granted = 0
                raise StorageFull()
            self._granted = min((room - size) // SLICE, MAX_SLICE)

    def room(self) -> int:
        """Free bytes above the reserve (negative when the reserve is being eaten)."""
        st = os.statvfs(self._path)
        reserve = max(st.f_blocks * st.f_frsize // RESERVE_FRACTION, MIN_RESERVE)
        return st.f_bavail * st.f_frsize - reserve
