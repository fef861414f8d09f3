"""Giving the memory a large transfer went through back to the system.

A transfer's buffers (librados' copies of the bytes in flight, the binding's read buffers)
are allocated and freed by whichever threads of the server's pool run it, and glibc keeps
the free memory of each thread's arena: after a 1 GiB PUT a worker kept some 20-40 MiB it
no longer used (issue 18). ``malloc_trim`` hands the free pages of every arena back; it is
cheap next to such a transfer (tens of microseconds here), so it runs once per transfer of
at least :data:`TRIM_AFTER` bytes, when it ends. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

from nexq.core import malloc

TRIM_AFTER = 64 * 1024 * 1024  # bytes moved by one reader or writer


def transferred(count: int) -> None:
    """A reader or writer that moved ``count`` bytes is done."""
    if count >= TRIM_AFTER:
        malloc.trim()
