"""Colour transfer by non-local matching of superpixel features (Carrillo, Clement & Bugeau 2022).

The matching itself, shared with exemplar colorization (:mod:`tinct.colorize.exemplar`), is in
:mod:`tinct.exemplar.matching`; its docstring describes the pipeline and the choice of defaults.

References
----------
.. [1] H. Carrillo, M. Clement, A. Bugeau, "Non-local matching of superpixel-based deep features for color
       transfer", VISAPP 2022.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinct.exemplar.matching import DEFAULT_BACKEND, PARAMS, recolour, reference_list
from tinct.registry import Param, register
from tinct.transfer._params import TRANSFER_INPUTS


@register(
    "superpixel",
    kind="transfer",
    summary="Colour transfer by non-local matching of superpixel features (Carrillo, Clement & Bugeau 2022).",
    params=PARAMS + [
        Param("gamut", "str", "lightness", "Where a matched colour does not exist at the target's L: 'lightness' moves L "
              "by the least amount (hue and chroma kept), 'chroma' keeps L and reduces chroma (the paper).",
              choices=("lightness", "chroma")),
    ],
    inputs=TRANSFER_INPUTS,
)
def superpixel(target: np.ndarray, reference: np.ndarray | Sequence[np.ndarray], *, target_mask=None,
               reference_mask=None, backend: str = DEFAULT_BACKEND, weights: str | None = None, tau: float = 0.015,
               delta_s: float = 10.0, delta_c: float = 0.1, sigma_g: float = 1.0, segments: int = 0, size: int = 256,
               neighbors: int = 16, compactness: float = 10.0, threads: int = 0,
               gamut: str = "lightness") -> np.ndarray:
    """Recolour ``target`` with the colours of semantically matching superpixels of ``reference``.

    Parameters
    ----------
    target : (H, W[, 3|4]) ndarray
        Colour image to recolour; uint8, uint16 or float in [0, 1]. Alpha is kept.
    reference : ndarray or list of ndarray
        Colour reference image(s); several are pooled (their superpixels concatenated).
    target_mask : (H, W) array_like, optional
        Nonzero where the target may change; other pixels are returned bit for bit.
    reference_mask : array_like or list, optional
        Nonzero where reference colours may be taken (one mask per reference).
    backend : {'auto', 'handcrafted', 'vgg19bn', 'tinctnet'}
        Feature backend (:mod:`tinct.exemplar.features`). ``'auto'`` is ``'handcrafted'`` for transfer (lower
        sliced Wasserstein distance to the reference than tinctnet on ``eval/transfer-pairs``) and, for
        colorization, ``'tinctnet'`` when tinct's trained weights are installed, else ``'handcrafted'``
        (the split-image benchmark's order).
    weights : str, optional
        Weights file of the network backends.
    tau : float
        Attention temperature (eq. 1); the paper's 0.015.
    delta_s, delta_c, sigma_g : float
        Fusion kernel scales (eqs. 5-6); the paper's 10, 0.1 and 1.
    segments : int
        Superpixels per image; 0 = ``3 * floor(sqrt(h * w))`` at the working size.
    size : int
        Long side of the working size.
    neighbors : int
        How many nearby target superpixels enter each pixel's fusion sum.
    compactness : float
        SLIC compactness.
    threads : int
        PyTorch CPU threads (network backends).
    gamut : {'lightness', 'chroma'}
        What gives way where a matched colour does not exist in sRGB at the target's L. ``'chroma'`` (the
        paper) keeps L and shrinks chroma; on bright targets that washed the reference's colours out (40
        flowers from an evening sky: chroma 34.8 against the sky's 43.2). ``'lightness'`` moves L by the least
        amount, hue kept (:func:`tinct.exemplar.matching.lightness_shift`): chroma 41.2, sliced Wasserstein
        distance 12.4 -> 9.8, SSIM of L 0.95 (``benchmarks/transfer_quality.py``, ``docs/transfer.md``).

    Returns
    -------
    ndarray
        The recoloured target, same shape/dtype as ``target`` (RGB); its own CIELAB L where the matched
        colours fit (everywhere with ``gamut='chroma'``).

    References
    ----------
    .. [1] H. Carrillo, M. Clement, A. Bugeau, "Non-local matching of superpixel-based deep features for
           color transfer", VISAPP 2022.
    .. [2] R. Leduc, H. Carrillo, N. Papadakis, "Non-local matching of superpixel-based deep features for
           color transfer and colorization", hal-04394848, 2024.
    """
    refs = reference_list(reference, reference_mask)
    return recolour(target, refs, target_mask, colorize=False, backend=backend, weights=weights, tau=tau,
                    delta_s=delta_s, delta_c=delta_c, sigma_g=sigma_g, segments=segments, size=size,
                    neighbors=neighbors, compactness=compactness, threads=threads, gamut=gamut)
