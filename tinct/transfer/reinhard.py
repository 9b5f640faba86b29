"""Reinhard colour transfer: match per-channel mean and deviation in CIELAB."""

from __future__ import annotations

import numpy as np

from tinct.color.lab import lab2rgb, rgb2lab
from tinct.errors import ParameterError
from tinct.pixels import restore
from tinct.registry import Param, register
from tinct.transfer._common import prepare_pair
from tinct.transfer._params import STRENGTH, TRANSFER_INPUTS
from tinct.transfer._stats import STATS_SAMPLES, masked_pixels, mean_std

_MIN_STD = 1e-3  # below this a channel is flat: shift it, do not scale by ~1/0


@register(
    "reinhard",
    kind="transfer",
    summary="Match the mean and standard deviation of each CIELAB channel (Reinhard et al. 2001).",
    params=[
        STRENGTH,
        Param("keep_lightness", "bool", False, "Keep the target's L and move only a and b."),
    ],
    inputs=TRANSFER_INPUTS,
)
def reinhard(target, reference, *, target_mask=None, reference_mask=None, strength=1.0, keep_lightness=False):
    """Transfer colour statistics from ``reference`` to ``target`` in CIELAB.

    Each Lab channel of the target pixels is shifted and scaled so that its
    mean and standard deviation equal the reference's:
    ``x' = (x - mu_t) * sigma_r / sigma_t + mu_r``.

    Parameters
    ----------
    target : (H, W[, 3|4]) ndarray
        Image to recolour; uint8, uint16 or float in [0, 1]. Alpha is kept.
    reference : (h, w[, 3|4]) ndarray
        Image whose colours are taken.
    target_mask, reference_mask : (H, W) array_like, optional
        Nonzero where statistics are measured (reference) or where pixels are
        changed (target). Target pixels outside the mask are returned
        unchanged, bit for bit. Statistics of images of more than 2**20
        (masked) pixels come from an evenly spread, deterministic sample of
        2**20 of them: within a few hundredths of a CIELAB unit of the full
        statistics.
    strength : float, default 1.0
        0 returns the target, 1 the full transfer; values between blend in Lab.
    keep_lightness : bool, default False
        Transfer only a and b and keep the target's lightness.

    Returns
    -------
    ndarray
        The recoloured target, same shape and dtype as ``target``.

    Notes
    -----
    8-bit images go through :func:`tinct.color.lab8.lab_affine_8bit`: one
    compiled pass that converts each distinct colour to CIELAB and back once, in
    float64, and rounds exactly. At 12 MP the whole call (statistics of both
    images included) takes 1.5-1.9 times one NumPy read-modify-write pass over the
    image (``benchmarks/speed.py``). 16-bit and float images are converted pixel by
    pixel in float32.

    References
    ----------
    .. [1] E. Reinhard, M. Ashikhmin, B. Gooch, P. Shirley, "Color Transfer
           between Images", IEEE Computer Graphics and Applications 21(5),
           2001. Reinhard worked in l-alpha-beta; tinct uses CIELAB, as most
           modern implementations do.
    """
    # A gray reference is fine here: its mean and deviation of L still move the target's lightness.
    pair = prepare_pair(target, reference, target_mask, reference_mask, method="reinhard", min_pixels=0,
                        gray_reference=True)
    t_rgb, r_rgb, t_mask, r_mask = _float32(pair.t_rgb), _float32(pair.r_rgb), pair.t_mask, pair.r_mask
    eight_bit = t_rgb.dtype == np.uint8
    if eight_bit:
        mu_t, sd_t = _lab_stats(t_rgb, t_mask)
    else:  # converted whole, since the map needs every pixel's Lab too
        t_lab = rgb2lab(t_rgb)
        mu_t, sd_t = mean_std(masked_pixels(t_lab, t_mask, STATS_SAMPLES))
    mu_r, sd_r = _lab_stats(r_rgb, r_mask)

    scale, shift = lab_affine(mu_t, sd_t, mu_r, sd_r, strength=strength, keep_lightness=keep_lightness)
    dtype = pair.dtype

    if eight_bit:
        from tinct.color.lab8 import lab_affine_8bit

        out = lab_affine_8bit(t_rgb, scale, shift, t_mask)
    elif t_mask is None:
        lab = t_lab.reshape(-1, 3)
        lab *= scale.astype(np.float32)
        lab += shift.astype(np.float32)
        out = lab2rgb(t_lab, dtype=dtype)
    else:
        inside = t_lab[t_mask] * scale.astype(np.float32) + shift.astype(np.float32)
        out = _as_rgb_of(t_rgb, dtype).copy()
        out[t_mask] = lab2rgb(inside, dtype=dtype)
    return restore(out, pair.target)


def lab_affine(mu_t, sd_t, mu_r, sd_r, *, strength: float = 1.0, keep_lightness: bool = False):
    """The per-channel Lab map ``x -> scale * x + shift`` taking the target's mean and deviation to the reference's.

    A flat target channel is only shifted; ``keep_lightness`` leaves L alone. ``strength`` blends the affine map
    itself, ``x + s (scale x + shift - x)``, so a partial transfer is still one affine map. Returns float64
    ``(scale, shift)``.
    """
    scale = np.where(sd_t > _MIN_STD, sd_r / np.maximum(sd_t, _MIN_STD), 1.0)
    shift = mu_r - mu_t * scale
    if keep_lightness:
        scale[0], shift[0] = 1.0, 0.0
    return 1.0 + strength * (scale - 1.0), strength * shift


def _lab_stats(rgb: np.ndarray, mask) -> tuple[np.ndarray, np.ndarray]:
    """Lab mean and deviation over at most STATS_SAMPLES of the (masked) pixels, converting only those."""
    if rgb.dtype == np.uint8:
        from tinct.color.lab8 import lab_mean_std_8bit

        return lab_mean_std_8bit(rgb, mask, STATS_SAMPLES)
    return mean_std(rgb2lab(masked_pixels(rgb, mask, STATS_SAMPLES)))


def _float32(rgb: np.ndarray) -> np.ndarray:
    """Float pixels as float32 (what the Lab conversions take); integer pixels as they are."""
    return rgb.astype(np.float32, copy=False) if rgb.dtype.kind == "f" else rgb


def _as_rgb_of(rgb: np.ndarray, dtype) -> np.ndarray:
    if rgb.dtype != dtype:
        if rgb.dtype.kind == "f":
            from tinct.pixels import from_float

            return from_float(rgb, dtype)
        raise ParameterError(f"target: cannot convert {rgb.dtype} to {dtype}")
    return rgb
