"""Exemplar colorization by non-local matching of superpixel features (Leduc, Carrillo & Papadakis 2024).

The matching itself, shared with the ``superpixel`` colour transfer (:mod:`tinct.transfer.superpixel`), is in
:mod:`tinct.exemplar.matching`; its docstring describes the pipeline and the choice of defaults.

References
----------
.. [1] R. Leduc, H. Carrillo, N. Papadakis, "Non-local matching of superpixel-based deep features for color
       transfer and colorization", hal-04394848, 2024.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinct.errors import ParameterError
from tinct.exemplar.matching import DEFAULT_BACKEND, PARAMS, recolour, reference_list
from tinct.registry import Input, register


@register(
    "exemplar",
    kind="colorize",
    summary="Colour a gray image from a colour reference by matching superpixel features (Leduc, Carrillo & "
            "Papadakis 2024).",
    params=PARAMS,
    inputs=[
        Input("reference", "image", required=True, help="the colour photo whose colours are matched"),
        Input("mask", "mask", help="nonzero where the image may take colour"),
    ],
)
def exemplar(image: np.ndarray, *, reference: np.ndarray | Sequence[np.ndarray] | None = None, mask=None,
             backend: str = DEFAULT_BACKEND, weights: str | None = None, tau: float = 0.015, delta_s: float = 10.0,
             delta_c: float = 0.1, sigma_g: float = 1.0, segments: int = 0, size: int = 256, neighbors: int = 16,
             compactness: float = 10.0, threads: int = 0) -> np.ndarray:
    """Colorize a gray ``image`` from a colour ``reference`` by superpixel feature matching.

    The reference is converted to gray (Rec. 601) for matching; colours are
    taken from the colour reference; the attention merges the layers before
    the softmax (eq. 7 of [1]_). The output keeps the input's own L.

    Parameters
    ----------
    image : (H, W[, 1|3|4]) ndarray
        Gray image (a colour image is converted to gray first); alpha is kept.
    reference : ndarray or list of ndarray
        Colour reference image(s).
    mask : (H, W) array_like, optional
        Nonzero where colour is added; other pixels keep their gray value.
    backend, weights, tau, delta_s, delta_c, sigma_g, segments, size, neighbors, compactness, threads
        As for :func:`tinct.transfer.superpixel.superpixel`.

    Returns
    -------
    (H, W, 3[+1]) ndarray
        Colour image of the input's dtype.

    References
    ----------
    .. [1] R. Leduc, H. Carrillo, N. Papadakis, "Non-local matching of superpixel-based deep features for
           color transfer and colorization", hal-04394848, 2024, section 4.
    """
    if reference is None:
        raise ParameterError("reference: method 'exemplar' needs a colour reference image")
    refs = reference_list(reference, None)
    return recolour(image, refs, mask, colorize=True, backend=backend, weights=weights, tau=tau, delta_s=delta_s,
                    delta_c=delta_c, sigma_g=sigma_g, segments=segments, size=size, neighbors=neighbors,
                    compactness=compactness, threads=threads)
