"""Keep large message buffers out of fresh ``mmap()`` calls (glibc only).

glibc serves an allocation above its mmap threshold (128 KiB at first, and
raised as such blocks are freed) with a fresh ``mmap()``, and trims the top of
its heap back to the kernel once 128 KiB of it are free. A WebSocket peer
that moves megabyte messages then makes every buffer of every message a fresh
mapping, and the page faults that fill it cost far more than the copy itself
(a 1 MiB echo ran at less than half its speed here). Raising both thresholds
keeps such buffers in the heap, where freed ones are reused.
``release_free_memory()`` gives the free heap back when the process goes idle.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

__all__ = ["release_free_memory", "tune_allocator"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20
"""Blocks up to this size come from the heap (32 MiB is glibc's ceiling)."""
TRIM_THRESHOLD = 32 * 2**20
"""Free memory kept at the top of the heap before it goes back to the kernel."""

_libc: list[ctypes.CDLL] = []


def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    if not _libc:
        try:
            _libc.append(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"))
        except OSError:
            return None
    return _libc[0]


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds; whether it was done."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    ok &= libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(ok)


def release_free_memory() -> None:
    """Give free heap memory back to the kernel (``malloc_trim``), where there is one."""
    libc = _glibc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
