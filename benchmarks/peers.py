"""The colour-transfer libraries users would pick instead of tinct, wrapped alike for the benchmarks.

Each wrapper takes and returns (H, W, 3) uint8 RGB, converting both ways as a user saving an image
would. ``python benchmarks/speed.py`` and ``python benchmarks/transfer_quality.py`` import it from
their own folder (a script's folder is first on ``sys.path``).

Install the peers with ``pip install -e ".[bench]"`` (color-matcher) and
``pip install --no-deps python-color-transfer``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

COLOR_MATCHER_METHODS = ("reinhard", "mvgd", "mkl", "hm", "hm-mkl-hm")


def transfer_peers() -> tuple[dict[str, Callable], list[str]]:
    """Installed peers by label, and an install hint for each peer that is missing."""
    peers: dict[str, Callable] = {}
    missing: list[str] = []
    try:
        from color_matcher import ColorMatcher

        def color_matcher(method: str) -> Callable:
            # color-matcher wants floats in [0, 1] (its reinhard returns NaN on uint8) and returns float64.
            def run(t, r):
                out = ColorMatcher().transfer(src=t / 255.0, ref=r / 255.0, method=method)
                return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)

            return run

        for method in COLOR_MATCHER_METHODS:
            peers[f"color-matcher {method}"] = color_matcher(method)
    except ImportError:
        missing.append("color-matcher (pip install -e '.[bench]')")
    try:
        from python_color_transfer.color_transfer import ColorTransfer

        def bgr(func: Callable, **kw) -> Callable:  # python-color-transfer works on BGR arrays
            def run(t, r):
                out = func(ColorTransfer(), t[..., ::-1].copy(), r[..., ::-1].copy(), **kw)
                return np.ascontiguousarray(out[..., ::-1])

            return run

        peers["python-color-transfer lab"] = bgr(ColorTransfer.lab_transfer)
        peers["python-color-transfer mean_std"] = bgr(ColorTransfer.mean_std_transfer)
        peers["python-color-transfer pdf+regrain"] = bgr(ColorTransfer.pdf_transfer, regrain=True)
    except ImportError:
        missing.append("python-color-transfer (pip install --no-deps python-color-transfer)")
    return peers, missing
