"""Conversions between user arrays and tinct's working format.

Every method works on float32 RGB in [0, 1] with shape (H, W, 3) and hands back
an array of the caller's dtype (uint8 in, uint8 out; uint16 in, uint16 out;
float in, float32 out). A grayscale input is (H, W), (H, W, 1) or an RGB image
whose three channels are equal. Inputs are never modified in place.
"""

from __future__ import annotations

import numpy as np

from tinct.errors import ParameterError

# Dtypes accepted from callers, and the value that means "full intensity".
_INT_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def check_image(image, name: str = "image", *, min_size: int = 1) -> np.ndarray:
    """Validate an image array and return it as an ndarray (no copy).

    Raises
    ------
    ParameterError
        If the array is not 2-D or 3-D with 1, 3 or 4 channels, has an
        unsupported dtype, is smaller than ``min_size`` on a side, or holds
        non-finite values.
    """
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ParameterError(
            f"{name}: expected an array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}"
        )
    if arr.shape[0] < min_size or arr.shape[1] < min_size:
        raise ParameterError(f"{name}: image is {arr.shape[1]}x{arr.shape[0]}, at least {min_size}x{min_size} is needed")
    if arr.dtype not in _INT_SCALE and arr.dtype.kind != "f":
        if arr.dtype == bool:
            raise ParameterError(f"{name}: boolean arrays are masks, not images")
        raise ParameterError(f"{name}: unsupported dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ParameterError(f"{name}: contains NaN or infinite values")
    return arr


def to_float_rgb(image, name: str = "image") -> np.ndarray:
    """Return ``image`` as a new float32 (H, W, 3) array in [0, 1].

    Gray inputs are replicated to three channels; a 4th (alpha) channel is
    dropped -- callers that need alpha split it off first with
    :func:`split_alpha`.
    """
    arr = check_image(image, name)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    out = _unit_float(arr)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return out


def to_float_gray(image, name: str = "image") -> np.ndarray:
    """Return the first channel of a gray image as float32 (H, W) in [0, 1].

    For colour input, use :func:`tinct.color.rgb2gray` or the L of
    :func:`tinct.color.rgb2lab` instead.
    """
    arr = check_image(image, name)
    if arr.ndim == 3:
        arr = arr[..., 0]
    return _unit_float(arr)


def _unit_float(arr: np.ndarray) -> np.ndarray:
    """A new float32 copy in [0, 1]: integers scaled by their range, floats clipped."""
    scale = _INT_SCALE.get(arr.dtype)
    out = arr.astype(np.float32, copy=True)
    if scale is not None:
        out *= np.float32(1.0 / scale)
    else:
        np.clip(out, 0.0, 1.0, out=out)
    return out


def from_float(image: np.ndarray, dtype) -> np.ndarray:
    """Convert float [0, 1] pixels to ``dtype`` with rounding and clipping.

    Integer dtypes are scaled to their full range; float dtypes give float32.
    """
    dtype = np.dtype(dtype)
    scale = _INT_SCALE.get(dtype)
    if scale is None:
        return np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)
    out = np.multiply(image, np.float32(scale), dtype=np.float32)
    out += np.float32(0.5)
    np.clip(out, 0.0, scale, out=out)
    return out.astype(dtype)


def output_dtype(image) -> np.dtype:
    """The dtype a method returns for this input: integers kept, floats as float32."""
    dtype = np.asarray(image).dtype
    return dtype if dtype in _INT_SCALE else np.dtype(np.float32)


def is_grayscale(image, tolerance: float = 1.0 / 255.0) -> bool:
    """True if ``image`` is 2-D, single-channel, or RGB with equal channels.

    ``tolerance`` is in [0, 1] units, so JPEG noise in a gray photo saved as
    RGB still counts as gray.
    """
    arr = check_image(image)
    if arr.ndim == 2 or arr.shape[2] == 1:
        return True
    rgb = arr[..., :3]
    scale = _INT_SCALE.get(arr.dtype, 1.0)
    # Compare channel spreads on a subsample for large images: cheap and exact enough.
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 1_000_000)))
    sub = rgb[::step, ::step].astype(np.float32)
    spread = sub.max(axis=2) - sub.min(axis=2)
    return bool(np.percentile(spread, 99) <= tolerance * scale)


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split an (H, W, 4) or (H, W, 2) array into colour and alpha; others pass through."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        return arr[..., :-1], arr[..., -1]
    return arr, None


def check_mask(mask, shape: tuple[int, int], name: str = "mask") -> np.ndarray | None:
    """Validate a mask for an image of ``shape`` (H, W); return it as bool or None.

    Nonzero means inside. An empty mask is an error: a method given a mask
    with nothing in it cannot do anything meaningful.
    """
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.any(axis=2) if m.dtype == bool else (m != 0).any(axis=2)
    if m.shape != tuple(shape):
        raise ParameterError(f"{name}: shape {m.shape} does not match the image's {tuple(shape)}")
    m = m != 0
    if not m.any():
        raise ParameterError(f"{name}: mask is empty (no nonzero pixels)")
    return m


def restore(result: np.ndarray, original) -> np.ndarray:
    """Give a float RGB result the caller's dtype, and re-attach the caller's alpha.

    ``result`` may already be of the output dtype (methods that round block by
    block). Alpha (a 4th channel of ``original``) is carried through untouched.
    """
    original = np.asarray(original)
    dtype = output_dtype(original)
    out = result if result.dtype == dtype else from_float(result, dtype)
    if original.ndim == 3 and original.shape[2] == 4:
        out = np.concatenate([out, original[..., 3:4].astype(dtype, copy=False)], axis=2)
    return out
