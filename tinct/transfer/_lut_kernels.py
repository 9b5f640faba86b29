"""Compiled 3-D LUT lookup (numba): one pass over the pixels, any integer or float input.

Imported only by :mod:`tinct.transfer.lut` when a LUT is applied, so that importing
:mod:`tinct` stays fast.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinct._threads import over_ranges


@njit(nogil=True, cache=True)
def _trilinear(src, out, table, in_scale, lo, span, out_scale, is_int, start, stop):  # pragma: no cover - compiled
    """out[i] = trilinear lookup of src[i] (rows start..stop-1) in table[r, g, b, c]."""
    n1 = table.shape[0] - 1
    pos = np.empty(3)
    idx = np.empty(3, np.int64)
    for i in range(start, stop):
        for c in range(3):
            p = (src[i, c] * in_scale - lo[c]) / span[c] * n1
            if p < 0.0:
                p = 0.0
            elif p > n1:
                p = n1
            k = int(p)
            if k > n1 - 1:
                k = n1 - 1
            idx[c] = k
            pos[c] = p - k
        fr, fg, fb = pos[0], pos[1], pos[2]
        r0, g0, b0 = idx[0], idx[1], idx[2]
        for c in range(3):
            c00 = table[r0, g0, b0, c] * (1 - fb) + table[r0, g0, b0 + 1, c] * fb
            c01 = table[r0, g0 + 1, b0, c] * (1 - fb) + table[r0, g0 + 1, b0 + 1, c] * fb
            c10 = table[r0 + 1, g0, b0, c] * (1 - fb) + table[r0 + 1, g0, b0 + 1, c] * fb
            c11 = table[r0 + 1, g0 + 1, b0, c] * (1 - fb) + table[r0 + 1, g0 + 1, b0 + 1, c] * fb
            v = (c00 * (1 - fg) + c01 * fg) * (1 - fr) + (c10 * (1 - fg) + c11 * fg) * fr
            if v < 0.0:
                v = 0.0
            elif v > 1.0:
                v = 1.0
            if is_int:
                out[i, c] = int(v * out_scale + 0.5)
            else:
                out[i, c] = v


def lookup(flat: np.ndarray, table: np.ndarray, lo: np.ndarray, hi: np.ndarray, in_scale: float) -> np.ndarray:
    """(N, 3) pixels of any dtype -> (N, 3) of the same dtype (float input gives float32), in threads."""
    is_int = flat.dtype.kind == "u"
    out = np.empty(flat.shape, flat.dtype if is_int else np.float32)
    out_scale = float(np.iinfo(flat.dtype).max) if is_int else 1.0
    table = np.ascontiguousarray(table, dtype=np.float64)
    lo = np.asarray(lo, np.float64)
    span = np.asarray(hi, np.float64) - lo

    def run(a, b):
        _trilinear(flat, out, table, float(in_scale), lo, span, out_scale, is_int, int(a), int(b))

    over_ranges(run, flat.shape[0], min_size=1 << 16)
    return out
