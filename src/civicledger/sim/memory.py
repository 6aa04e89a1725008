"""Freed memory kept for the next step, at national scale (glibc's ``malloc``).

A step makes and drops many arrays of one number per person. glibc serves a block above its
mmap threshold with a fresh mapping and unmaps it when freed; the threshold rises with what the
process frees, but never above 32 MiB on a 64-bit system. Below about four million persons an
``int64`` array per person stays under it, and a freed array is simply reused by the next step.
Above, every such array is mapped anew each step and each of its pages faulted in again: at ten
million persons that was 5.5-7.3 s of system CPU over 52 steps, a sixth of the stepping (decision
*Freed memory kept at national scale*), the more on a virtual machine whose host takes freed
pages back.

``KeptHeap.for_persons(n)`` switches glibc, for the whole process, to serving large blocks from
its heap (``M_MMAP_MAX`` 0) and keeping what is freed there (``M_TRIM_THRESHOLD``), with every
thread on that one heap (``M_ARENA_MAX`` 1: a worker's own arena would map and unmap its heaps
as before), when a run's per-person arrays would pass the ceiling. ``release`` gives the free
part back to the system at the end of a run. Elsewhere (another C library, another system, a
smaller run) both do nothing. The numbers of a run never depend on it: only where its memory
comes from.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass

MMAP_CEILING = 32 * 2**20
"""glibc's highest mmap threshold on a 64-bit system (``DEFAULT_MMAP_THRESHOLD_MAX``)."""

PERSON_BYTES = 8
"""The widest per-person array's element (``int64`` money, ``float64`` draws)."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_KEEP_FREED = 2**31 - 1  # the largest value mallopt takes: free memory at the heap's top stays


def needed(persons: int) -> bool:
    """Whether one array per person passes glibc's mmap ceiling (so each step would map it anew)."""
    return persons * PERSON_BYTES > MMAP_CEILING


def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc on Linux (``mallopt`` and ``malloc_trim``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # pragma: no cover - a Linux without a loadable C library
        return None
    if not all(hasattr(libc, name) for name in ("gnu_get_libc_version", "mallopt", "malloc_trim")):
        return None  # musl and others: their own allocators, left as they are
    return libc


@dataclass(frozen=True, slots=True)
class KeptHeap:
    """Whether this run asked glibc to keep freed memory (``active``), and how to give it back."""

    active: bool

    @classmethod
    def for_persons(cls, persons: int) -> KeptHeap:
        """Keep freed memory in the heap if a run of ``persons`` needs it (``needed``) and the C
        library is glibc; the setting lasts for the process, as glibc's own options do."""
        libc = _glibc() if needed(persons) else None
        if libc is None:
            return cls(False)
        ok = all(
            libc.mallopt(option, value) == 1
            for option, value in ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _KEEP_FREED))
        )
        return cls(ok)

    def release(self) -> None:
        """Return the heap's free pages to the system (``malloc_trim``): the run is over."""
        if self.active:
            libc = _glibc()
            if libc is not None:
                libc.malloc_trim(0)
