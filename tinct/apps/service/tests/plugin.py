"""Test-only methods for the service tests, loaded in the server and its workers with ``--plugin``.

``test-sleep`` returns the image unchanged after ``seconds``; with ``crash`` it kills its own
process first (a worker dying in native code), with ``alloc_mb`` it first allocates and touches
that much memory (to meet the worker's memory limit).
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from tinct.registry import Param, register


@register("test-sleep", kind="colorize", summary="Test only: sleep, crash or allocate, then return the image.",
          params=[Param("seconds", "float", 0.0, "seconds to sleep", min=0.0, max=600.0),
                  Param("crash", "bool", False, "kill the worker process (SIGKILL) instead"),
                  Param("alloc_mb", "int", 0, "allocate this many MB first", min=0, max=1_000_000)])
def test_sleep(image, *, seconds=0.0, crash=False, alloc_mb=0):
    """Sleep ``seconds`` and return ``image``; see the module docstring."""
    if crash:
        os.kill(os.getpid(), signal.SIGKILL)
    if alloc_mb:
        block = np.ones(alloc_mb * 1024 * 1024, np.uint8)
        del block
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return np.array(image, copy=True)
