"""Reuse freed memory while the network runs, instead of page-faulting it in again.

glibc's malloc serves each allocation above its mmap threshold (adaptive, at
most 32 MiB) with a fresh ``mmap`` and unmaps it on free. A training step at
the paper's size allocates hundreds of 25-100 MiB tensors (activations,
gradients, layout copies), so every one of them is page-faulted and zeroed by
the kernel anew. Measured at window 100, d_model 512, 3 layers, batch 128, 2
threads (``benchmarks/speed/batch.py``): training steps after the first took
14.0 s (median) with 0.9-1.6 million page faults each, and 11.5 s with freed
blocks reused (almost no faults from the third step on); inference batches
3.8 s and 3.1 s. Peak resident memory rose from 4.8 to 5.3 GiB.

:func:`reusing_freed_memory` sets that up for the duration of a fit or a
scoring call and puts it back afterwards:

- on entry (the outermost one, when calls nest or run in threads):
  ``mallopt(M_MMAP_MAX, 0)`` (large blocks come from the heap and are reused
  when freed) and ``M_TRIM_THRESHOLD`` at its maximum (the heap is not
  shrunk between batches);
- on exit: mmap allowed again, the thresholds set to the values glibc's own
  adaptive rule settles at in a process that frees large tensors (mmap above
  32 MiB, trim above 64 MiB), and ``malloc_trim(0)`` hands the freed memory
  back to the operating system.

It does nothing where the C library is not glibc (macOS, Windows, musl),
where the process already tunes malloc (``MALLOC_*`` or ``GLIBC_TUNABLES``
in the environment: the user's settings win), or when the environment
variable ``MAAT_REUSE_MEMORY`` is ``0``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import platform
import threading

__all__ = ["reusing_freed_memory"]

logger = logging.getLogger(__name__)

# mallopt parameter numbers from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4

_DEFAULT_MMAP_MAX = 65536  # glibc's default
_SETTLED_MMAP_THRESHOLD = 32 * 2**20  # the adaptive threshold's ceiling
_SETTLED_TRIM_THRESHOLD = 2 * _SETTLED_MMAP_THRESHOLD  # adaptive: twice the above
_NO_TRIM = 2**31 - 1

_lock = threading.Lock()
_depth = 0


@functools.cache
def _glibc():
    """The C library's handle when it is glibc and tunable by us, else None."""
    if os.environ.get("MAAT_REUSE_MEMORY", "1").strip() == "0":
        return None
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    if "GLIBC_TUNABLES" in os.environ or any(
        name.startswith("MALLOC_") for name in os.environ
    ):
        logger.debug("malloc is tuned by the environment; leaving it alone")
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


def _start_reusing(libc):
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, _NO_TRIM)


def _stop_reusing(libc):
    libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
    libc.mallopt(_M_MMAP_THRESHOLD, _SETTLED_MMAP_THRESHOLD)
    libc.mallopt(_M_TRIM_THRESHOLD, _SETTLED_TRIM_THRESHOLD)
    libc.malloc_trim(0)


@contextlib.contextmanager
def reusing_freed_memory():
    """Within the block, freed large allocations are kept and reused (see module).

    Re-entrant and thread-safe: the settings change when the first caller
    enters and are restored when the last one leaves.
    """
    global _depth
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            _start_reusing(libc)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _stop_reusing(libc)
