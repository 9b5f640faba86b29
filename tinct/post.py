"""Post-processing for any result: automatic white balance and automatic contrast.

Kosovichev's Color tool (Art. Lebedev Studio) runs "a module that automatically
sets contrast and white balance" after the main colorization. Here both are
plain functions on images, plus :func:`apply_post`, which runs a short text
recipe such as ``"wb,contrast"`` or ``"wb=grayworld,contrast=1"`` -- the form
the CLI's ``--post`` and the web service accept.

White balance works in linear light as a von Kries diagonal scaling: a
reference colour (the mean, the per-channel maximum or a per-channel
percentile) is mapped to neutral gray of the same luminance, so balance moves
colour only, not brightness. Contrast is a percentile stretch of CIELAB L
with a and b unchanged.

References
----------
.. [1] G. Buchsbaum, "A spatial processor model for object colour perception",
       J. Franklin Inst. 310(1), 1980 (gray world).
.. [2] E. H. Land, J. J. McCann, "Lightness and retinex theory", JOSA 61(1),
       1971 (white patch / max-RGB).
.. [3] J. van de Weijer, T. Gevers, A. Gijsenij, "Edge-based color constancy",
       IEEE TIP 16(9), 2007 (the family of gray-world / max-RGB estimators).
"""

from __future__ import annotations

import numpy as np

from tinct.color.lab import lab2rgb, linear_to_srgb, rgb2lab, srgb_to_linear
from tinct.errors import ParameterError
from tinct.pixels import check_image, output_dtype, restore, split_alpha, to_float_rgb

WB_METHODS = ("grayworld", "whitepatch", "percentile")
_LUMA709 = np.array([0.212671, 0.715160, 0.072169])  # linear-light luminance (sRGB primaries)
_MAX_GAIN = 4.0  # a channel is never scaled by more than this (or less than its inverse)
_SAMPLE = 1_000_000  # statistics are estimated on at most about this many pixels


def _sample(rgb: np.ndarray) -> np.ndarray:
    """A strided subsample of (H, W, 3) pixels as (n, 3): statistics at 12 MP cost what 1 MP costs."""
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / _SAMPLE)))
    return rgb[::step, ::step].reshape(-1, 3)


def white_balance_gains(image, method: str = "grayworld", percentile: float = 99.0) -> np.ndarray:
    """Estimate per-channel linear-light gains that neutralise a colour cast.

    Parameters
    ----------
    image : (H, W, 3[+1]) ndarray
        uint8, uint16 or float in [0, 1] sRGB.
    method : {'grayworld', 'whitepatch', 'percentile'}
        ``'grayworld'``: the mean colour is gray [1]_. ``'whitepatch'``: the
        per-channel maximum is white [2]_. ``'percentile'``: the per-channel
        ``percentile`` is white (a white patch robust to a few clipped pixels).
    percentile : float, default 99.0
        Used by ``'percentile'`` only, in (50, 100].

    Returns
    -------
    gains : (3,) float64 ndarray
        Multiply linear RGB by these. They map the reference colour to gray of
        the same luminance, and are clipped to [1/4, 4].
    """
    if method not in WB_METHODS:
        raise ParameterError(f"wb: unknown white balance {method!r}; use one of {', '.join(WB_METHODS)}")
    if not 50.0 < percentile <= 100.0:
        raise ParameterError(f"percentile: must be in (50, 100], got {percentile}")
    rgb, _ = split_alpha(check_image(image))
    lin = srgb_to_linear(_sample(to_float_rgb(rgb))).astype(np.float64)
    if method == "grayworld":
        ref = lin.mean(axis=0)
    elif method == "whitepatch":
        ref = lin.max(axis=0)
    else:
        ref = np.percentile(lin, percentile, axis=0)
    ref = np.maximum(ref, 1e-6)
    target = float(_LUMA709 @ ref)
    return np.clip(target / ref, 1.0 / _MAX_GAIN, _MAX_GAIN)


def white_balance(image, method: str = "grayworld", *, percentile: float = 99.0) -> np.ndarray:
    """Automatic white balance (gray world, white patch or percentile).

    Parameters
    ----------
    image : (H, W, 3[+1]) ndarray
        uint8, uint16 or float in [0, 1]. Alpha is carried through.
    method, percentile
        See :func:`white_balance_gains`.

    Returns
    -------
    ndarray
        Balanced image, same shape and dtype as ``image``. A gray image comes
        back unchanged (its gains are 1).

    References
    ----------
    .. [1] G. Buchsbaum 1980; E. H. Land & J. J. McCann 1971 (see module docstring).
    """
    gains = white_balance_gains(image, method, percentile)
    rgb, _ = split_alpha(np.asarray(image))
    out = _apply_gains(to_float_rgb(rgb), gains)
    return restore(out, image)


def _apply_gains(rgb: np.ndarray, gains: np.ndarray) -> np.ndarray:
    out = np.empty_like(rgb)
    g = gains.astype(np.float32)
    rows = max(1, (1 << 20) // max(1, rgb.shape[1]))
    for y in range(0, rgb.shape[0], rows):
        out[y : y + rows] = linear_to_srgb(srgb_to_linear(rgb[y : y + rows]) * g)
    return out


def auto_contrast(image, clip: float = 1.0, *, keep_lightness_of=None) -> np.ndarray:
    """Percentile stretch of CIELAB L; a and b are kept.

    The ``clip`` percent darkest pixels map to L = 0 and the ``clip`` percent
    brightest to L = 100, linearly in between.

    Parameters
    ----------
    image : (H, W[, 3|4]) ndarray
        uint8, uint16 or float in [0, 1]. Alpha is carried through.
    clip : float, default 1.0
        Percent clipped at each end, in [0, 20).
    keep_lightness_of : ndarray, optional
        Stretch this image's L instead of ``image``'s (a colorization's gray
        input), so the result is the stretched input L with ``image``'s a, b.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.
    """
    if not 0.0 <= clip < 20.0:
        raise ParameterError(f"contrast: clip percent must be in [0, 20), got {clip}")
    arr = check_image(image)
    rgb, _ = split_alpha(arr)
    lab = rgb2lab(to_float_rgb(rgb))
    if keep_lightness_of is not None:
        lab[..., 0] = _lightness_of(keep_lightness_of, lab.shape[:2])
    sample = _sample(np.repeat(lab[..., :1], 3, axis=2))[:, 0]
    lo, hi = np.percentile(sample, [clip, 100.0 - clip])
    if hi - lo > 1e-3:
        lightness = lab[..., 0]
        lightness -= np.float32(lo)
        lightness *= np.float32(100.0 / (hi - lo))
        np.clip(lightness, 0.0, 100.0, out=lightness)
    return restore(lab2rgb(lab, dtype=output_dtype(arr)), arr)


def _lightness_of(image, shape) -> np.ndarray:
    from tinct.color.gray import rgb2lightness

    arr = check_image(image, "keep_lightness_of")
    if arr.shape[:2] != tuple(shape):
        raise ParameterError(f"keep_lightness_of: shape {arr.shape[:2]} does not match the image's {tuple(shape)}")
    rgb, _ = split_alpha(arr)
    return rgb2lightness(rgb)


def keep_lightness(image, source) -> np.ndarray:
    """Replace ``image``'s CIELAB L by ``source``'s, keeping ``image``'s a and b."""
    arr = check_image(image)
    rgb, _ = split_alpha(arr)
    lab = rgb2lab(to_float_rgb(rgb))
    lab[..., 0] = _lightness_of(source, lab.shape[:2])
    return restore(lab2rgb(lab, dtype=output_dtype(arr)), arr)


def parse_post(spec: str) -> list[tuple[str, str | None]]:
    """Parse a recipe like ``"wb=grayworld,contrast=1"`` into ``[('wb', 'grayworld'), ('contrast', '1')]``.

    Steps: ``wb`` (optionally ``=grayworld``, ``=whitepatch``, ``=percentile`` or
    ``=percentile:P``) and ``contrast`` (optionally ``=CLIP``, the percent
    clipped at each end). ``grayworld``, ``whitepatch``, ``percentile`` and
    ``percentile:P`` alone are accepted as shorthands for ``wb=...``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ParameterError("post: empty recipe; use e.g. 'wb', 'contrast' or 'wb=grayworld,contrast=1'")
    steps: list[tuple[str, str | None]] = []
    for item in spec.split(","):
        name, sep, value = item.strip().partition("=")
        name = name.strip().lower()
        value = value.strip() if sep else None
        if name.partition(":")[0] in WB_METHODS and value is None:
            name, value = "wb", name
        if name not in ("wb", "contrast"):
            raise ParameterError(f"post: unknown step {name!r} in {spec!r}; known: wb, contrast")
        if sep and not value:
            raise ParameterError(f"post: step {name!r} has an empty value in {spec!r}")
        if name == "wb" and value is not None:
            _wb_args(value)
        if name == "contrast" and value is not None:
            _contrast_clip(value)
        steps.append((name, value))
    return steps


def _wb_args(value: str | None) -> tuple[str, float]:
    if value is None:
        return "grayworld", 99.0
    method, _, pct = value.lower().partition(":")
    if method not in WB_METHODS:
        raise ParameterError(f"post: unknown white balance {method!r}; use one of {', '.join(WB_METHODS)}")
    if pct:
        if method != "percentile":
            raise ParameterError(f"post: only wb=percentile takes a value, got {value!r}")
        try:
            p = float(pct)
        except ValueError:
            raise ParameterError(f"post: wb percentile must be a number, got {pct!r}") from None
        if not 50.0 < p <= 100.0:
            raise ParameterError(f"post: wb percentile must be in (50, 100], got {p}")
        return method, p
    return method, 99.0


def _contrast_clip(value: str | None) -> float:
    if value is None:
        return 1.0
    try:
        clip = float(value)
    except ValueError:
        raise ParameterError(f"post: contrast takes the clip percent as a number, got {value!r}") from None
    if not 0.0 <= clip < 20.0:
        raise ParameterError(f"post: contrast clip percent must be in [0, 20), got {clip}")
    return clip


def apply_post(image, spec: str | None, *, keep_lightness_of=None) -> np.ndarray:
    """Run a post-processing recipe on a result.

    Parameters
    ----------
    image : ndarray
        A method's result (uint8, uint16 or float; alpha carried through).
    spec : str or None
        None or ``""`` returns ``image`` unchanged. Otherwise comma-separated steps, run in order: ``wb[=grayworld|whitepatch|percentile[:P]]``
        and ``contrast[=CLIP]``. Examples: ``"wb"``, ``"wb,contrast"``,
        ``"wb=grayworld,contrast=1"``, ``"wb=percentile:97"``.
    keep_lightness_of : ndarray, optional
        For colorization: the gray input. White balance then changes only
        a and b and the input's L is restored, so the result keeps the
        input's lightness unless ``contrast`` is asked for (which stretches
        that L).

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``; ``image`` is not modified.
    """
    if not spec:
        return image
    steps = parse_post(spec)
    out = check_image(image)
    lightness_source = keep_lightness_of  # whose L the result must have after a white balance
    for name, value in steps:
        if name == "wb":
            method, pct = _wb_args(value)
            out = white_balance(out, method, percentile=pct)
            if lightness_source is not None:
                out = keep_lightness(out, lightness_source)
        else:
            out = auto_contrast(out, _contrast_clip(value))
            if lightness_source is not None:
                lightness_source = out  # the user asked for a new L: keep that one from now on
    return out

__all__ = ["apply_post", "auto_contrast", "keep_lightness", "parse_post", "white_balance", "white_balance_gains"]
