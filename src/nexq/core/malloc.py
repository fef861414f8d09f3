"""The two glibc allocator settings Nexq makes, in one place; elsewhere than glibc, nothing.

- :func:`bound_arenas`: two heaps (arenas) per process instead of eight per core, unless the
  operator set MALLOC_ARENA_MAX (forked workers inherit it). Every thread that allocates gets
  an arena of its own otherwise, and the 32 threads of each executor would each keep what
  they were given.
- :func:`trim`: hand the free pages of every arena back to the system, after a transfer whose
  buffers went through many threads (storage.blobs.rados.freeing).

The threshold above which a buffer is mapped on its own is left to glibc, which raises it to
the largest buffer freed: a transfer's megabytes then come from a heap. Fixed at 256 KiB,
every megabyte was a fresh mapping, and its page faults tripled the CPU of a 1 GiB GET
(bench: 2,800 -> 900 MB/s).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

_M_ARENA_MAX = -8  # mallopt's parameter (malloc.h)


def _glibc() -> Any:
    # The symbols already loaded into this process: no library search, which
    # (ctypes.util.find_library) runs ldconfig in a subprocess on every CLI command.
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def bound_arenas() -> None:
    """At most two arenas in this process and the workers it forks (see the module)."""
    if _LIBC is not None and "MALLOC_ARENA_MAX" not in os.environ:
        _LIBC.mallopt(_M_ARENA_MAX, 2)


def trim() -> None:
    """Give every arena's free pages back to the system (tens of microseconds here)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
