"""Rebuild 8-bit sRGB frames from CIELAB lightness and chroma in one compiled pass.

:func:`compose_u8` gives what ``tinct.color.lab2rgb(lab, gamut='chroma', dtype=np.uint8)`` gives for
``lab = (L, a, b)`` -- out-of-gamut pixels keep their L and hue and have their chroma scaled down by
bisection until they fit -- without the full-frame float temporaries of the NumPy path: a video frame is
composed once per output frame, and at 854x480 the NumPy path cost about 20 ms of it, the compiled one
about 3 ms. Each pixel is converted in float64 and rounded to 8 bits against the exact sRGB level
boundaries (:mod:`tinct.color.lab8`'s tables), so results agree with the NumPy path to within one level
(the NumPy path works in float32).

This module imports numba; import it only where it is used.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinct.color.lab8 import _BOUNDS, _LEVEL_AT, _M_INV, _f_inverse, _level

_ITERATIONS = 12  # bisection steps of the chroma scale, as tinct.color.lab._fit_chroma takes
_EPS = 1e-6  # linear-light tolerance of the gamut test, as in tinct.color.lab._fit_chroma


@njit(inline="always")
def _linear(lt, a, b, m):
    fy = (lt + 16.0) / 116.0
    x = _f_inverse(fy + a / 500.0)
    y = _f_inverse(fy)
    z = _f_inverse(fy - b / 200.0)
    return (m[0, 0] * x + m[0, 1] * y + m[0, 2] * z, m[1, 0] * x + m[1, 1] * y + m[1, 2] * z,
            m[2, 0] * x + m[2, 1] * y + m[2, 2] * z)


@njit(inline="always")
def _inside(r, g, b, eps):
    return -eps <= r <= 1.0 + eps and -eps <= g <= 1.0 + eps and -eps <= b <= 1.0 + eps


@njit(nogil=True, cache=True)
def _compose(lightness, ab, out, m, level_at, bounds, iterations, eps):
    h, w = lightness.shape
    for y in range(h):
        for x in range(w):
            lt = float(lightness[y, x])
            a = float(ab[y, x, 0])
            b = float(ab[y, x, 1])
            r, g, bl = _linear(lt, a, b, m)
            if not _inside(r, g, bl, eps):
                lt = min(max(lt, 0.0), 100.0)
                lo, hi = 0.0, 1.0
                for _ in range(iterations):
                    mid = 0.5 * (lo + hi)
                    r, g, bl = _linear(lt, a * mid, b * mid, m)
                    if _inside(r, g, bl, eps):
                        lo = mid
                    else:
                        hi = mid
                r, g, bl = _linear(lt, a * lo, b * lo, m)
            out[y, x, 0] = _level(r, level_at, bounds)
            out[y, x, 1] = _level(g, level_at, bounds)
            out[y, x, 2] = _level(bl, level_at, bounds)


def compose_u8(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB from CIELAB ``lightness`` (H, W) and ``ab`` (H, W, 2), chroma reduced to fit the gamut.

    Parameters
    ----------
    lightness : (H, W) float ndarray
        L in [0, 100].
    ab : (H, W, 2) float ndarray
        a and b.

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    lightness = np.ascontiguousarray(lightness, dtype=np.float32)
    ab = np.ascontiguousarray(ab, dtype=np.float32)
    if lightness.ndim != 2 or ab.shape != (*lightness.shape, 2):
        raise ValueError(f"expected (H, W) lightness and (H, W, 2) ab, got {lightness.shape} and {ab.shape}")
    out = np.empty((*lightness.shape, 3), np.uint8)
    _compose(lightness, ab, out, _M_INV, _LEVEL_AT, _BOUNDS, _ITERATIONS, _EPS)
    return out
