"""What kind of colour an input already has: ``gray``, ``tinted`` (one hue) or ``colour`` (several hues).

Colorizing a picture replaces its a and b. For a gray scan that loses nothing; for a sepia, cyanotype or
selenium-toned print it loses a tone that was one hue throughout (the front ends colorize it as usual but
say so); for a hand-coloured or autochrome photograph, or a colour photo, it throws real colour away (the
front ends warn, and can skip such files).

The test, on at most :data:`SAMPLE_PIXELS` pixels taken on a regular grid (so 12 MP costs what 0.25 MP
does), in CIELAB:

1. Pixels that count: opaque (alpha >= 1/2), with lightness between 8 and 95, where chroma is measurable
   (near black and near white every hue collapses to gray, and JPEG noise dominates).
2. ``gray`` when fewer than :data:`COLOURED_SHARE` of them have a chroma above :data:`CHROMA_MIN`
   (6 CIELAB units: well above the 1-3 units JPEG's chroma quantisation and subsampling leave on a gray
   picture, below the 10-25 of a sepia or cyanotype tone).
3. ``tinted`` needs both of:

   * one hue: among the clearly coloured pixels (chroma above the larger of :data:`CHROMA_MIN` and 0.4 x
     the 90th percentile, so that faint pixels with a noisy hue do not vote), fewer than
     :data:`OFF_HUE_SHARE` lie more than :data:`HUE_TOLERANCE` degrees from the dominant hue (the
     direction of the chroma-weighted mean ab);
   * colour that follows lightness: a toned print maps each gray level to one colour, so ab varies
     little among pixels of equal L. The RMS distance of ab from its mean within bins of 5 L units must
     be below :data:`RESIDUAL_MAX` (toned images measure 0.5-5 even after JPEG at quality 30; colour photos
     whose hue is dominant, a red door or a girl in a red hat in Kodak's set, 6.5 and more).

   ``colour`` otherwise.

References
----------
.. [1] N. I. Fisher, "Statistical Analysis of Circular Data", Cambridge University Press, 1993 (mean
       direction of angular data).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from tinct.errors import ParameterError

InputColour = Literal["gray", "tinted", "colour"]

SAMPLE_PIXELS = 262_144
CHROMA_MIN = 6.0
COLOURED_SHARE = 0.03
HUE_TOLERANCE = 40.0
OFF_HUE_SHARE = 0.05
RESIDUAL_MAX = 5.5
L_RANGE = (8.0, 95.0)


def _sample(arr: np.ndarray) -> np.ndarray:
    """A regular grid of at most SAMPLE_PIXELS pixels (every channel kept)."""
    h, w = arr.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(h * w / SAMPLE_PIXELS))))
    return arr[::step, ::step]


def _to_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(65535.0)
    if arr.dtype.kind == "f":
        out = arr.astype(np.float32)
        if not np.isfinite(out).all():
            raise ParameterError("pixels: NaN or infinite values")
        return np.clip(out, 0.0, 1.0)
    raise ParameterError(f"pixels: unsupported dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")


def input_colour(pixels) -> InputColour:
    """Classify an image as ``"gray"``, ``"tinted"`` (one hue throughout) or ``"colour"`` (several hues).

    Parameters
    ----------
    pixels : ndarray
        (H, W), (H, W, 1), (H, W, 2) gray + alpha, (H, W, 3) RGB or (H, W, 4) RGBA; uint8, uint16 or
        float in [0, 1]. Transparent pixels are ignored.

    Returns
    -------
    {'gray', 'tinted', 'colour'}

    Raises
    ------
    ParameterError
        For arrays that are not images (wrong shape or dtype, NaN).

    References
    ----------
    .. [1] N. I. Fisher, "Statistical Analysis of Circular Data", 1993.
    """
    from tinct.color import rgb2lab

    arr = np.asarray(pixels)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)) or arr.size == 0:
        raise ParameterError(f"pixels: expected an image array (H, W[, 1|2|3|4]), got shape {arr.shape}")
    if arr.ndim == 2 or arr.shape[2] <= 2:
        return "gray"
    sub = _to_float(_sample(arr))
    rgb = sub[..., :3]
    opaque = sub[..., 3] >= 0.5 if sub.shape[2] == 4 else np.ones(rgb.shape[:2], bool)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    if not np.any(spread[opaque] > 1.5 / 255.0):  # equal channels (up to 8-bit rounding): no chroma at all
        return "gray"
    lab = rgb2lab(np.ascontiguousarray(rgb))
    counted = opaque & (lab[..., 0] >= L_RANGE[0]) & (lab[..., 0] <= L_RANGE[1])
    if np.count_nonzero(counted) < 16:  # nearly all black, white or transparent: judge what there is
        counted = opaque
    ab = lab[counted][:, 1:]
    if len(ab) == 0:
        return "gray"
    chroma = np.hypot(ab[:, 0], ab[:, 1])
    coloured = chroma > CHROMA_MIN
    if coloured.mean() < COLOURED_SHARE:
        return "gray"
    strong = chroma > max(CHROMA_MIN, 0.4 * float(np.percentile(chroma[coloured], 90)))
    hue_ab = ab[strong]
    dominant = hue_ab.sum(axis=0)  # chroma-weighted mean direction: the vectors themselves, summed
    if np.hypot(*dominant) == 0:
        return "colour"
    ref = np.arctan2(dominant[1], dominant[0])
    diff = np.angle(np.exp(1j * (np.arctan2(hue_ab[:, 1], hue_ab[:, 0]) - ref)), deg=True)
    if (np.abs(diff) > HUE_TOLERANCE).mean() >= OFF_HUE_SHARE:
        return "colour"
    return "tinted" if _residual(lab[..., 0][counted], ab) < RESIDUAL_MAX else "colour"


def _residual(lightness: np.ndarray, ab: np.ndarray) -> float:
    """RMS distance of ab from its mean among pixels of equal lightness (bins of 5 L units)."""
    bins = np.clip((lightness / 5.0).astype(np.int64), 0, 20)
    count = np.bincount(bins, minlength=21).astype(np.float64)
    sq = np.zeros(21)
    for c in range(2):
        s1 = np.bincount(bins, weights=ab[:, c], minlength=21)
        s2 = np.bincount(bins, weights=ab[:, c].astype(np.float64) ** 2, minlength=21)
        sq += s2 - np.divide(s1 ** 2, count, out=np.zeros(21), where=count > 0)
    return float(np.sqrt(max(sq.sum(), 0.0) / max(count.sum(), 1.0)))
