"""Compiled CIELAB operations on 8-bit sRGB images: affine maps in Lab, and Lab statistics.

A map that is affine in CIELAB (Reinhard's transfer, for instance) is, seen
from 8-bit sRGB, a function of each pixel's colour alone. :func:`lab_affine_8bit`
evaluates it once per *distinct* colour and remembers the result in a 2**24-entry
table, in one compiled pass over the image: at 12 megapixels that pass costs less
than NumPy's own read-convert-write of the image (0.04 s against 0.06 s here).
Converting every pixel to Lab and back in NumPy is six to ten times slower.

Accuracy: each colour is converted in float64 exactly as :mod:`tinct.color.lab`
defines it (cube roots from a table refined by one Newton step, to 1e-10), and
rounded to 8 bits against precomputed sRGB level boundaries, so the output equals
a float64 evaluation of the same formulas except where a value lies within about
1e-9 of a rounding boundary.

This module imports numba; import it only where it is used, so that importing
:mod:`tinct` stays fast.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinct._threads import over_ranges
from tinct.color.lab import F_INV_THRESHOLD, F_OFFSET, F_SLOPE, F_THRESHOLD, RGB_FROM_XYZ, WHITE_D65, XYZ_FROM_RGB

# 8-bit sRGB -> linear light, exact in float64.
_V = np.arange(256) / 255.0
_LINEAR = np.where(_V > 0.04045, ((_V + 0.055) / 1.055) ** 2.4, _V / 12.92)
_M_FWD = XYZ_FROM_RGB / WHITE_D65[:, None]  # linear RGB -> XYZ / white
_M_INV = RGB_FROM_XYZ * WHITE_D65[None, :]

# Cube root on [0, _F_MAX] (XYZ / white of an sRGB colour is at most 1): a table for the first guess, good
# to 3e-5, then one Newton step.
_F_MAX = 1.125
_F_TABLE = np.cbrt(np.linspace(0.0, _F_MAX, 4097))

# Linear light -> 8-bit level. The level boundaries are where the sRGB value crosses (k - 0.5) / 255; a
# table over 8192 equal bins of linear light gives the level at each bin's start, and since no bin holds
# two boundaries (their smallest spacing is 1 / (255 * 12.92) > 1 / 8192), one comparison finishes it.
_S = (np.arange(1, 256) - 0.5) / 255.0
_BOUNDS = np.concatenate([[-np.inf], np.where(_S > 0.04045, ((_S + 0.055) / 1.055) ** 2.4, _S / 12.92), [np.inf]])
_ENCODE_BINS = 8192
_LEVEL_AT = np.searchsorted(_BOUNDS[1:256], np.arange(_ENCODE_BINS + 1) / _ENCODE_BINS, side="right").astype(np.int32)

# Lab = P f + q, with f = (f(X), f(Y), f(Z)).
_P = np.array([[0.0, 116.0, 0.0], [500.0, -500.0, 0.0], [0.0, 200.0, -200.0]])
_Q = np.array([-16.0, 0.0, 0.0])

_TABLE_MIN_PIXELS = 1 << 17  # below this (~0.13 MP), converting every pixel is cheaper than the 64 MB table


@njit(inline="always")
def _f(t, table, refine):
    """CIELAB's f (:func:`tinct.color.lab.lab_f`) of one value; the cube root to 3e-5 from the table, 1e-10 refined.

    A scalar copy of ``lab_f`` because Numba cannot call NumPy's vectorised version per pixel; the constants
    are shared.
    """
    if t <= F_THRESHOLD:
        return F_SLOPE * t + F_OFFSET
    u = t * ((table.size - 1) / _F_MAX)
    i = min(int(u), table.size - 2)
    y = table[i] + (u - i) * (table[i + 1] - table[i])
    if refine:
        y -= (y * y * y - t) / (3.0 * y * y)
    return y


@njit(inline="always")
def _f_inverse(f):
    if f < 0.0:  # skimage clips negative XYZ the same way
        f = 0.0
    if f > F_INV_THRESHOLD:
        return f * f * f
    return (f - F_OFFSET) / F_SLOPE


@njit(inline="always")
def _level(v, level_at, bounds):
    """Linear light -> 8-bit sRGB level, clipped to [0, 255], rounded half up."""
    if v <= 0.0:
        return 0
    if v >= 1.0:
        return 255
    k = level_at[int(v * (level_at.size - 1))]
    if v >= bounds[k + 1]:
        k += 1
    return k


@njit(inline="always")
def _lab_f(r8, g8, b8, linear, m, table, refine):
    r, g, b = linear[r8], linear[g8], linear[b8]
    fx = _f(m[0, 0] * r + m[0, 1] * g + m[0, 2] * b, table, refine)
    fy = _f(m[1, 0] * r + m[1, 1] * g + m[1, 2] * b, table, refine)
    fz = _f(m[2, 0] * r + m[2, 1] * g + m[2, 2] * b, table, refine)
    return fx, fy, fz


@njit(inline="always")
def _map_colour(r8, g8, b8, k):
    """One colour through the folded map; returns r | g << 8 | b << 16 | 1 << 31 (the bit marks 'computed')."""
    linear, m_fwd, table, a, c, m_inv, level_at, bounds = k
    fx, fy, fz = _lab_f(r8, g8, b8, linear, m_fwd, table, True)
    x = _f_inverse(a[0, 0] * fx + a[0, 1] * fy + a[0, 2] * fz + c[0])
    y = _f_inverse(a[1, 0] * fx + a[1, 1] * fy + a[1, 2] * fz + c[1])
    z = _f_inverse(a[2, 0] * fx + a[2, 1] * fy + a[2, 2] * fz + c[2])
    rr = _level(m_inv[0, 0] * x + m_inv[0, 1] * y + m_inv[0, 2] * z, level_at, bounds)
    gg = _level(m_inv[1, 0] * x + m_inv[1, 1] * y + m_inv[1, 2] * z, level_at, bounds)
    bb = _level(m_inv[2, 0] * x + m_inv[2, 1] * y + m_inv[2, 2] * z, level_at, bounds)
    return np.uint32(rr) | (np.uint32(gg) << 8) | (np.uint32(bb) << 16) | np.uint32(0x80000000)


# Serial kernels that release the GIL, run on ranges of pixels in Python threads: unlike numba's parallel
# loops (OpenMP here), that is safe when callers run several at once from threads and when they fork.
@njit(nogil=True, cache=True)
def _affine(src, out, mask, use_mask, k, table, use_table, start, stop):
    # With use_table, threads share the table: a colour two of them meet first is computed twice, and written
    # twice with the same value.
    for i in range(start, stop):
        if use_mask and not mask[i]:
            out[i, 0], out[i, 1], out[i, 2] = src[i, 0], src[i, 1], src[i, 2]
            continue
        if use_table:
            code = np.int64(src[i, 0]) | (np.int64(src[i, 1]) << 8) | (np.int64(src[i, 2]) << 16)
            v = table[code]
            if v == 0:
                v = _map_colour(src[i, 0], src[i, 1], src[i, 2], k)
                table[code] = v
        else:
            v = _map_colour(src[i, 0], src[i, 1], src[i, 2], k)
        out[i, 0], out[i, 1], out[i, 2] = v & 255, (v >> 8) & 255, (v >> 16) & 255


@njit(nogil=True, cache=True)
def _lab_moments(src, candidates, use_candidates, n, linear, m, table, start, stop):
    """Sums of Lab and Lab**2 over samples start..stop of n: one from each of n equal strata, jittered."""
    count = candidates.size if use_candidates else src.shape[0]
    phi = 0.6180339887498949
    stride = count / n
    s0 = s1 = s2 = q0 = q1 = q2 = 0.0  # scalars stay in registers: 20% faster than an array of sums
    for j in range(start, stop):
        p = np.int64(j)
        if n < count:
            # Stratified, so memory is read in order; the jitter (golden-ratio sequence) leaves no period
            # to alias with the image's rows.
            jitter = (j + 1) * phi
            jitter -= np.floor(jitter)  # not %: Python's modulo semantics cost more than the Lab conversion
            p = min(np.int64((j + jitter) * stride), count - 1)
        i = candidates[p] if use_candidates else p
        # Unrefined cube roots: their 1e-3 Lab error is far below the sampling error of the statistics.
        fx, fy, fz = _lab_f(src[i, 0], src[i, 1], src[i, 2], linear, m, table, False)
        lab_l, lab_a, lab_b = 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)
        s0 += lab_l
        s1 += lab_a
        s2 += lab_b
        q0 += lab_l * lab_l
        q1 += lab_a * lab_a
        q2 += lab_b * lab_b
    return s0, s1, s2, q0, q1, q2


_MIN_CHUNK = 1 << 17  # pixels: below this, a thread costs more than it saves


def _in_chunks(kernel, n: int, *args) -> list:
    """Run ``kernel(*args, start, stop)`` over [0, n) in contiguous chunks, one per CPU, in threads."""
    return over_ranges(lambda start, stop: kernel(*args, start, stop), n, _MIN_CHUNK)


def _flat(rgb: np.ndarray, mask: np.ndarray | None):
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.dtype} {rgb.shape}")
    flat_mask = np.zeros(1, bool) if mask is None else np.ascontiguousarray(mask, dtype=bool).reshape(-1)
    return np.ascontiguousarray(rgb).reshape(-1, 3), flat_mask


def lab_affine_8bit(rgb: np.ndarray, scale, shift, mask: np.ndarray | None = None) -> np.ndarray:
    """Apply ``lab' = scale * lab + shift`` (per channel) to an 8-bit sRGB image.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 ndarray
        sRGB image; not modified.
    scale, shift : (3,) array_like
        Per-channel factors and offsets for L, a and b.
    mask : (H, W) bool ndarray, optional
        Only pixels where True are mapped; the others are copied unchanged.

    Returns
    -------
    (H, W, 3) uint8 ndarray
        Out-of-gamut results are clipped per linear channel, as
        :func:`tinct.color.lab2rgb` does with ``gamut='clip'``.

    Notes
    -----
    The map is folded into the cube-root domain: with ``lab = P f + q``, the new
    ``f' = P^-1 diag(scale) P f + P^-1 (scale * q + shift - q)``, so each colour
    costs two 3x3 products, three cube roots and three cubes. Images of 2**17
    pixels or more are mapped once per distinct colour through a table; smaller
    ones pixel by pixel. Both give the same output, and run in one thread per CPU.
    """
    src, flat_mask = _flat(rgb, mask)
    scale = np.asarray(scale, np.float64).reshape(3)
    shift = np.asarray(shift, np.float64).reshape(3)
    p_inv = np.linalg.inv(_P)
    a = p_inv @ np.diag(scale) @ _P
    c = p_inv @ (scale * _Q + shift - _Q)
    constants = (_LINEAR, _M_FWD, _F_TABLE, a, c, _M_INV, _LEVEL_AT, _BOUNDS)
    out = np.empty_like(src)
    use_table = len(src) >= _TABLE_MIN_PIXELS
    # NumPy's zeros come from calloc: pages are zeroed only where the image's colours touch them.
    table = np.zeros(1 << 24 if use_table else 1, np.uint32)
    _in_chunks(_affine, len(src), src, out, flat_mask, mask is not None, constants, table, use_table)
    return out.reshape(rgb.shape)


def lab_mean_std_8bit(rgb: np.ndarray, mask: np.ndarray | None = None,
                      max_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (float64) of an 8-bit sRGB image in CIELAB.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 ndarray
    mask : (H, W) bool ndarray, optional
        Only pixels where True count; it must select at least one.
    max_samples : int, optional
        If more pixels are selected, statistics come from this many: one from each
        of as many equal runs of the (row-major) selected pixels, at a position
        jittered by the golden-ratio sequence (deterministic, and without a period
        that could alias with the image's rows).

    Returns
    -------
    mean, std : (3,) float64 ndarrays
        Within 1e-3 of the exact values over the same pixels: the cube roots skip
        the Newton step that :func:`lab_affine_8bit` takes, which costs more than
        it matters for a mean.
    """
    src, flat_mask = _flat(rgb, mask)
    candidates = np.flatnonzero(flat_mask) if mask is not None else np.zeros(1, np.intp)
    count = len(candidates) if mask is not None else len(src)
    if count == 0:
        raise ValueError("the mask selects no pixels")
    n = count if max_samples is None else min(count, int(max_samples))
    sums = np.sum(_in_chunks(_lab_moments, n, src, candidates, mask is not None, n, _LINEAR, _M_FWD, _F_TABLE),
                  axis=0)
    mean = sums[:3] / n
    return mean, np.sqrt(np.maximum(sums[3:] / n - mean * mean, 0.0))
