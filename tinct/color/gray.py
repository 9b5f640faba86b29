"""Gray conversions.

Two definitions are in use and both are needed: Rec. 601 luma (0.299 R +
0.587 G + 0.114 B on the encoded values), which exemplar colorization (Leduc et al.
2024) and most photo tools use to make a gray reference, and CIELAB lightness L, which every colorization
method keeps from its input.
"""

from __future__ import annotations

import numpy as np

from tinct._threads import single_threaded_blas
from tinct.color.lab import lab_f, rgb2lab, srgb_to_linear
from tinct.pixels import to_float_rgb

REC601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def rgb2gray(image) -> np.ndarray:
    """Rec. 601 luma of an RGB image, float32 (H, W) in [0, 1].

    References
    ----------
    .. [1] ITU-R BT.601-7, Studio encoding parameters of digital television.
    """
    rgb = to_float_rgb(image)
    with single_threaded_blas():
        return rgb @ REC601


def rgb2lightness(image) -> np.ndarray:
    """CIELAB L (0..100) of an RGB image, float32 (H, W).

    Only the Y row of the XYZ matrix is needed, so this is cheaper than a
    full :func:`rgb2lab`.
    """
    arr = np.asarray(image)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        arr = to_float_rgb(arr)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.dtype.kind == "f":
        arr = np.clip(arr, 0.0, 1.0)
    with single_threaded_blas():
        y = srgb_to_linear(arr) @ np.array([0.212671, 0.715160, 0.072169], np.float32)
    f = lab_f(y)
    return (np.float32(116.0) * f - np.float32(16.0)).astype(np.float32, copy=False)


def lightness2rgb(lightness) -> np.ndarray:
    """Neutral gray sRGB float32 (H, W, 3) with the given CIELAB L (a = b = 0)."""
    lightness = np.asarray(lightness, dtype=np.float32)
    from tinct.color.lab import lab2rgb

    lab = np.zeros(lightness.shape + (3,), np.float32)
    lab[..., 0] = lightness
    return lab2rgb(lab)


__all__ = ["rgb2gray", "rgb2lightness", "lightness2rgb", "REC601", "rgb2lab"]
