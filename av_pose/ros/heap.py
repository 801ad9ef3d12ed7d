"""Fixed glibc malloc thresholds for long-running nodes, so that their memory stays flat.

glibc serves allocations above `M_MMAP_THRESHOLD` (128 KiB at start) with their own mmap, returned to the
system when freed. By default it raises the threshold to the size of every such block that is freed (up to
32 MiB), so a process that keeps allocating and freeing arrays of a few hundred KiB to a few MiB (images,
STFTs, DOA workspaces) soon serves them from the heap instead, where free space between live blocks is not
given back: the resident size creeps up for many minutes. `pose_node` fed live for 10 minutes grew by 4.9 %
between minute 2.5 and the end that way (433 → 454 MiB), 0.9 % with the thresholds fixed from the environment
(405 → 408 MiB), at the same 10 estimates/s (docs/pose_node.md). Setting a threshold explicitly turns the
adjustment off. The nodes call `fix_malloc_thresholds` first thing (`av_pose.ros.entry`, `run_node`).
"""
from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc `mallopt` parameter numbers (malloc.h)."""
THRESHOLD_BYTES = 128 * 1024
"""Both thresholds, bytes: glibc's own starting values, kept fixed."""
ENVIRONMENT = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_')
"""glibc's environment tunables: a user who sets either keeps their own."""


def fix_malloc_thresholds(threshold_bytes: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap and trim thresholds at `threshold_bytes`; True when set.

    False (nothing changed) outside glibc, or when the environment already sets a threshold.
    """
    if any(name in os.environ for name in ENVIRONMENT):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no C library to load by None (Windows), or no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, int(threshold_bytes)) == 1 and mallopt(M_TRIM_THRESHOLD, int(threshold_bytes)) == 1
