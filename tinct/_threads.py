"""Machine resources: BLAS threads, Python threads for compiled kernels, available memory.

Colour conversions multiply (N, 3) by (3, 3) matrices. Multi-threaded BLAS gains
nothing on so thin a product and, on a busy machine, its spinning threads make
it 10-20x slower than one thread (measured here: 4.4 s vs 0.27 s for 12 MP).
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None
    return ThreadpoolController()


def single_threaded_blas():
    """Context manager limiting BLAS to one thread (about 0.1 ms to enter)."""
    controller = _controller()
    if controller is None:  # pragma: no cover
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - macOS, Windows


def over_ranges(func, n: int, min_size: int = 1, max_workers: int = 8) -> list:
    """Call ``func(start, stop)`` on contiguous ranges covering [0, n), one per thread, and return the results.

    For compiled kernels that release the GIL: Python threads run them in
    parallel without numba's own threading layer (OpenMP here, which is not
    safe across fork). Ranges hold at least ``min_size`` items; a single range
    runs in the calling thread.
    """
    workers = max(1, min(available_cpus(), max_workers, n // max(1, min_size)))
    if workers == 1:
        return [func(0, n)]
    bounds = np.linspace(0, n, workers + 1).astype(np.int64)
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, bounds[:-1], bounds[1:]))


def available_memory() -> int | None:
    """Bytes of memory the system can give without swapping (Linux ``MemAvailable``); None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        pass
    return None
