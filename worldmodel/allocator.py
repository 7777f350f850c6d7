"""Keep freed memory inside the process, so that tensors allocated again and again reuse pages
instead of faulting fresh ones in (glibc on Linux).

PyTorch on CPU allocates every intermediate tensor with malloc. glibc serves a block above its
mmap threshold with a fresh mapping and trims the heap's free top back to the system, so the
next prediction's tensors of the same sizes touch new pages, and every first touch of a page is
a fault. With its defaults one prediction of the tiny model (3 cameras, a 40-step event) causes
about 2,500 page faults; with freed memory kept, about 15 (benchmarks/bench_allocator.py, fresh
processes in turn; the time to first action it saves is in benchmarks/RESULTS.md).

The cost: memory the process frees stays its own (up to TRIM_THRESHOLD_BYTES of free heap), as
with jemalloc or tcmalloc. Blocks larger than MMAP_THRESHOLD_BYTES are still mapped and returned
one by one. Other C libraries (musl) and other systems are left as they are.
"""

from __future__ import annotations

import ctypes
import functools
import platform
import sys

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's largest mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX): blocks up to
# 32 MiB come from the heap and are reused.
MMAP_THRESHOLD_BYTES = 32 * 2**20
# Free memory at the heap's top returned to the system only beyond this much.
TRIM_THRESHOLD_BYTES = 512 * 2**20


@functools.cache  # once per process: the setting is the process's
def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed blocks instead of mapping fresh pages; False where the
    C library is not glibc or refuses."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the running process's C library
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
