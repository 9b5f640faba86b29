"""sRGB <-> CIELAB (D65, 2 degree observer), vectorised in float32.

The constants and piecewise definitions are those of :mod:`skimage.color`
(``rgb2lab``/``lab2rgb`` with ``illuminant="D65"``), so results agree with it
to about 1e-5; tinct computes in float32 and in row blocks to keep memory flat
at 12 megapixels. 8- and 16-bit inputs are linearised through lookup tables.

References
----------
.. [1] IEC 61966-2-1:1999, sRGB.
.. [2] CIE 15:2004, Colorimetry (CIELAB).
"""

from __future__ import annotations

import numpy as np

from tinct._threads import single_threaded_blas
from tinct.errors import ParameterError

# sRGB primaries -> XYZ, as in skimage.color.colorconv.xyz_from_rgb.
XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])

# Fold the white point into the matrices: Lab works on XYZ / white.
_M_FWD64 = XYZ_FROM_RGB / WHITE_D65[:, None]
_M_INV = (RGB_FROM_XYZ * WHITE_D65[None, :]).astype(np.float32)

# CIELAB's f(t) = t^(1/3) above (6/29)^3, F_SLOPE t + F_OFFSET below, and its inverse above 6/29. The rounded
# constants are skimage's (not the exact 216/24389 and 841/108), which keeps tinct within 1e-4 of
# skimage.color.rgb2lab; every implementation of f in tinct (NumPy here, Numba in lab8, PyTorch in train.lab)
# uses these.
F_THRESHOLD = 0.008856  # (6/29)^3
F_SLOPE = 7.787  # (29/6)^2 / 3
F_OFFSET = 16.0 / 116.0
F_INV_THRESHOLD = 0.2068966  # 6/29: f(F_THRESHOLD)

_BLOCK_PIXELS = 1 << 20  # pixels converted per block: float temporaries of about 1 MP, not of the whole image

_LUTS: dict[int, np.ndarray] = {}


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB transfer function, inverse: encoded [0, 1] -> linear light (float32).

    uint8 and uint16 arrays go through an exact lookup table.
    """
    values = np.asarray(values)
    if values.dtype in (np.uint8, np.uint16):
        bits = values.dtype.itemsize * 8
        lut = _LUTS.get(bits)
        if lut is None:
            lut = _srgb_to_linear_float(np.arange(2**bits, dtype=np.float64) / (2**bits - 1)).astype(np.float32)
            _LUTS[bits] = lut
        return lut[values]
    return _srgb_to_linear_float(values.astype(np.float32, copy=False)).astype(np.float32, copy=False)


def _srgb_to_linear_float(v):
    return np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """sRGB transfer function: linear light -> encoded, clipped to [0, 1] (float32)."""
    v = np.clip(values, 0.0, 1.0).astype(np.float32, copy=False)
    out = np.where(v > 0.0031308, np.float32(1.055) * np.power(v, np.float32(1 / 2.4)) - np.float32(0.055), v * np.float32(12.92))
    return out.astype(np.float32, copy=False)


def lab_f(t: np.ndarray) -> np.ndarray:
    """CIELAB's f of a float array, elementwise, computed in ``t``'s dtype (float32 or float64).

    ``t`` is X/Xn, Y/Yn or Z/Zn; ``L = 116 f(Y/Yn) - 16``. A new array is returned.

    References
    ----------
    .. [1] CIE 15:2004, Colorimetry, section 8.2.1.
    """
    c = t.dtype.type
    small = t <= c(F_THRESHOLD)
    f = np.cbrt(t)
    f[small] = t[small] * c(F_SLOPE) + c(F_OFFSET)
    return f


def _check_rgb(rgb) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ParameterError(f"rgb: last axis must have 3 channels, got shape {arr.shape}")
    if arr.dtype.kind not in "uf":
        raise ParameterError(f"rgb: unsupported dtype {arr.dtype}")
    return arr


def rgb2lab(rgb) -> np.ndarray:
    """Convert sRGB to CIELAB (D65).

    Parameters
    ----------
    rgb : (..., 3) ndarray
        uint8, uint16, or float in [0, 1].

    Returns
    -------
    lab : (..., 3) float32 ndarray
        L in [0, 100]; a and b roughly in [-128, 127].

    Notes
    -----
    Matches ``skimage.color.rgb2lab`` to within 1e-4 over the sRGB cube.
    """
    arr = _check_rgb(rgb)
    with single_threaded_blas():
        return _rgb2lab(arr)


def _rgb2lab(arr: np.ndarray) -> np.ndarray:
    shape = arr.shape
    flat = arr.reshape(-1, 3)
    out = np.empty(flat.shape, dtype=np.float32)
    step = _BLOCK_PIXELS
    for start in range(0, flat.shape[0], step):
        block = flat[start : start + step]
        if block.dtype.kind == "f":
            block = np.clip(block, 0.0, 1.0)
        # Differences of cube roots amplify rounding 500x, so this block-sized
        # step runs in float64; the result is stored as float32.
        xyz = srgb_to_linear(block) @ _M_FWD64.T
        f = lab_f(xyz)
        o = out[start : start + step]
        o[:, 0] = 116.0 * f[:, 1] - 16.0
        o[:, 1] = 500.0 * (f[:, 0] - f[:, 1])
        o[:, 2] = 200.0 * (f[:, 1] - f[:, 2])
    return out.reshape(shape)


def lab2rgb_linear(lab) -> np.ndarray:
    """CIELAB -> linear-light RGB, unclipped (float32); out-of-gamut values fall outside [0, 1]."""
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + np.float32(16.0)) / np.float32(116.0)
    f = np.stack([fy + lab[..., 1] / np.float32(500.0), fy, fy - lab[..., 2] / np.float32(200.0)], axis=-1)
    np.maximum(f, 0.0, out=f)  # skimage clips negative z the same way
    small = f <= np.float32(F_INV_THRESHOLD)
    xyz = f * f * f
    xyz[small] = (f[small] - np.float32(F_OFFSET)) / np.float32(F_SLOPE)
    return xyz @ _M_INV.T


def lab2rgb(lab, gamut: str = "clip", dtype=np.float32) -> np.ndarray:
    """Convert CIELAB (D65) to sRGB float32 in [0, 1].

    Parameters
    ----------
    lab : (..., 3) array_like
        L in [0, 100], a and b in the usual CIELAB range.
    gamut : {'clip', 'chroma'}
        How colours outside the sRGB gamut are brought in. ``'clip'`` clips
        each linear channel (as skimage does). ``'chroma'`` keeps L and hue
        and reduces chroma (a, b scaled towards 0) just enough to fit, which
        avoids the hue shifts of per-channel clipping.

    Returns
    -------
    dtype : dtype
        Output dtype: float32 in [0, 1] by default; uint8 or uint16 are
        rounded block by block, which avoids a full-size float copy.

    Returns
    -------
    rgb : (..., 3) ndarray of ``dtype``.
    """
    if gamut not in ("clip", "chroma"):
        raise ParameterError(f"gamut: expected 'clip' or 'chroma', got {gamut!r}")
    lab = np.asarray(lab)
    if lab.ndim < 1 or lab.shape[-1] != 3:
        raise ParameterError(f"lab: last axis must have 3 channels, got shape {lab.shape}")
    shape = lab.shape
    flat = lab.reshape(-1, 3)
    with single_threaded_blas():
        return _lab2rgb(flat, gamut, dtype).reshape(shape)


def _lab2rgb(flat: np.ndarray, gamut: str, dtype) -> np.ndarray:
    from tinct.pixels import from_float

    out = np.empty(flat.shape, dtype=np.dtype(dtype) if np.dtype(dtype).kind == "u" else np.float32)
    step = _BLOCK_PIXELS
    # 8-bit output tolerates OpenCV's table-based conversion (within 0.1 of a level of the exact one)
    # and it is about 5x faster; float and 16-bit output keep the exact path.
    fast = gamut == "clip" and out.dtype == np.uint8
    for start in range(0, flat.shape[0], step):
        block = flat[start : start + step].astype(np.float32)
        if fast:
            import cv2

            # skimage (and the exact path) clip negative X and Z before the matrix: clamp a and b alike.
            fy200 = (block[:, 0] + np.float32(16.0)) * np.float32(200.0 / 116.0)
            np.minimum(block[:, 2], fy200, out=block[:, 2])
            np.maximum(block[:, 1], fy200 * np.float32(-2.5), out=block[:, 1])
            rgb = cv2.cvtColor(block.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(-1, 3)
            out[start : start + step] = from_float(rgb, out.dtype)
            continue
        lin = lab2rgb_linear(block)
        if gamut == "chroma":
            lin = _fit_chroma(block, lin)
        out[start : start + step] = from_float(linear_to_srgb(lin), out.dtype)
    return out


def _fit_chroma(lab: np.ndarray, lin: np.ndarray, iterations: int = 12) -> np.ndarray:
    """Scale ab of out-of-gamut pixels by the largest factor in [0, 1] that fits (bisection)."""
    eps = np.float32(1e-6)
    bad = ((lin < -eps) | (lin > 1 + eps)).any(axis=1)
    if not bad.any():
        return lin
    lab_bad = lab[bad].copy()
    lab_bad[:, 0] = np.clip(lab_bad[:, 0], 0.0, 100.0)
    lo = np.zeros(len(lab_bad), np.float32)
    hi = np.ones(len(lab_bad), np.float32)
    for _ in range(iterations):
        mid = (lo + hi) * np.float32(0.5)
        trial = lab_bad.copy()
        trial[:, 1:] *= mid[:, None]
        rgb = lab2rgb_linear(trial)
        inside = ((rgb >= -eps) & (rgb <= 1 + eps)).all(axis=1)
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    lab_bad[:, 1:] *= lo[:, None]
    lin = lin.copy()
    lin[bad] = lab2rgb_linear(lab_bad)
    return lin
