"""Quantized ab colour: bin tables, hard and soft encoding, annealed-mean decoding.

Automatic colorization (Zhang et al. 2016) predicts, per pixel, a distribution
over Q bins of the ab plane rather than one colour. Two bin sets are provided:

* ``"313"``: the 313 in-gamut bins of step 10 of the published ECCV16 and
  SIGGRAPH17 models, in their output-channel order.
* ``"484"``: a full 22 x 22 grid of step 10 over a, b in [-110, 110], as in the
  CS 766 project of Tunuguntla & Bhat (2017); it includes out-of-gamut bins.

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization",
       ECCV 2016.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from tinct.color._pts_in_hull import PTS_IN_HULL
from tinct.errors import ParameterError
from tinct.models.weights import DEFAULT_TEMPERATURE

SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0


@cache
def _bins(name: str) -> np.ndarray:
    if name == "313":
        centres = np.array(PTS_IN_HULL, dtype=np.float32)
    elif name == "484":
        axis = np.arange(-105, 106, 10, dtype=np.float32)
        aa, bb = np.meshgrid(axis, axis, indexing="ij")
        centres = np.stack([aa.ravel(), bb.ravel()], axis=1)
    else:
        raise ParameterError(f"bins: expected '313' or '484', got {name!r}")
    centres.setflags(write=False)
    return centres


def ab_bins(name: str = "313") -> np.ndarray:
    """Bin centres, a read-only float32 array of shape (Q, 2) with columns (a, b)."""
    return _bins(str(name))


@cache
def _tree(name: str):
    from scipy.spatial import cKDTree  # here, not at import: SciPy's spatial module costs ~0.3 s of start-up

    return cKDTree(_bins(name))


def _check_ab(ab) -> np.ndarray:
    ab = np.asarray(ab, dtype=np.float32)
    if ab.ndim < 1 or ab.shape[-1] != 2:
        raise ParameterError(f"ab: last axis must have 2 channels (a, b), got shape {ab.shape}")
    return ab


def encode_nearest(ab, bins: str = "313") -> np.ndarray:
    """Index of the nearest bin for every ab value; shape ``ab.shape[:-1]``, int64."""
    ab = _check_ab(ab)
    _, idx = _tree(bins).query(ab.reshape(-1, 2), k=1)
    return idx.reshape(ab.shape[:-1])


def encode_soft(
    ab, bins: str = "313", neighbours: int = SOFT_NEIGHBOURS, sigma: float = SOFT_SIGMA
) -> tuple[np.ndarray, np.ndarray]:
    """Soft-encode ab over the ``neighbours`` nearest bins with a Gaussian kernel.

    Returns the sparse form, which is what training needs: ``indices``
    (..., k) int64 and ``weights`` (..., k) float32 summing to 1 over the last
    axis. :func:`soft_to_dense` expands it to (..., Q).
    """
    ab = _check_ab(ab)
    q = len(_bins(bins))
    if not 1 <= neighbours <= q:
        raise ParameterError(f"neighbours: must be in [1, {q}], got {neighbours}")
    if not sigma > 0:
        raise ParameterError(f"sigma: must be > 0, got {sigma}")
    dist, idx = _tree(bins).query(ab.reshape(-1, 2), k=neighbours)
    dist = dist.reshape(-1, neighbours)
    idx = idx.reshape(-1, neighbours)
    # Subtract the nearest distance before exponentiating so far-out ab values
    # (beyond the table) still give a proper distribution instead of 0/0.
    d2 = dist.astype(np.float64) ** 2
    w = np.exp(-(d2 - d2[:, :1]) / (2.0 * sigma**2))
    w /= w.sum(axis=1, keepdims=True)
    shape = ab.shape[:-1] + (neighbours,)
    return idx.reshape(shape), w.astype(np.float32).reshape(shape)


def soft_to_dense(indices: np.ndarray, weights: np.ndarray, bins: str = "313") -> np.ndarray:
    """Expand a sparse soft encoding to a dense (..., Q) float32 distribution."""
    q = len(_bins(bins))
    dense = np.zeros(indices.shape[:-1] + (q,), np.float32)
    np.put_along_axis(dense, indices, weights, axis=-1)
    return dense


def annealed_mean(logits, bins: str = "313", temperature: float = DEFAULT_TEMPERATURE, axis: int = -1) -> np.ndarray:
    """Decode per-pixel bin logits to ab by the annealed mean.

    ``q = softmax(logits / T)``, ``ab = sum_k q_k * centre_k``. ``T = 1`` is
    the mean of the predicted distribution, ``T -> 0`` its mode; the paper's
    default ``T = 0.38`` trades vividness against spatial consistency.

    Parameters
    ----------
    logits : ndarray
        Unnormalised log-probabilities with Q entries along ``axis``.
    bins : {'313', '484'}
    temperature : float
        Must be > 0. Use :func:`decode_mode` for the mode itself.
    axis : int
        Axis holding the Q bins.

    Returns
    -------
    ab : float32 ndarray with ``axis`` replaced by a last axis of size 2.
    """
    if not (isinstance(temperature, (int, float)) and 0 < temperature <= 100):
        raise ParameterError(f"temperature: must be in (0, 100], got {temperature}")
    centres = _bins(bins)
    z = np.moveaxis(np.asarray(logits, dtype=np.float32), axis, -1)
    if z.shape[-1] != len(centres):
        raise ParameterError(f"logits: expected {len(centres)} bins along axis {axis}, got {z.shape[-1]}")
    z = z / np.float32(temperature)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z @ centres


def probabilities_to_ab(probs, bins: str = "313", temperature: float = DEFAULT_TEMPERATURE, axis: int = -1) -> np.ndarray:
    """Annealed mean from probabilities instead of logits: q ~ p^(1/T)."""
    p = np.clip(np.asarray(probs, dtype=np.float32), 1e-12, None)
    return annealed_mean(np.log(p), bins=bins, temperature=temperature, axis=axis)


def decode_mode(logits, bins: str = "313", axis: int = -1) -> np.ndarray:
    """The centre of the most probable bin (the T -> 0 limit of the annealed mean)."""
    centres = _bins(bins)
    idx = np.argmax(np.asarray(logits), axis=axis)
    return centres[idx]


def entropy(logits, axis: int = -1) -> np.ndarray:
    """Per-pixel entropy (nats) of softmax(logits): a map of the model's uncertainty."""
    z = np.moveaxis(np.asarray(logits, dtype=np.float32), axis, -1)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(np.exp(logp) * logp).sum(axis=-1)
