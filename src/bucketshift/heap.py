"""Large buffers go back to the system when they are freed, so a copy's memory follows its budget.

glibc raises its mmap threshold each time a large block is freed; after that, blocks of that size
come from a heap, and (with one heap per thread) their memory stays with the process when they are
freed.  A copy allocates part-sized buffers all day: measured here, a 1 GB copy with a 16 MiB
budget peaked some 20 MB higher, and an app-shaped mix with videos more.  Fixing the threshold keeps
every large buffer in a mapping of its own, returned the moment it is freed.  Elsewhere than glibc
this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["MMAP_THRESHOLD", "return_large_buffers"]

MMAP_THRESHOLD = 256 * 1024
_M_MMAP_THRESHOLD = -3


def return_large_buffers(threshold: int = MMAP_THRESHOLD) -> bool:
    """Ask glibc to map every block of `threshold` bytes or more on its own; True if it took it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
