"""Small gray-structured test photos shared by the batch tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinct.io import write_image


def make_photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` 32 x 24 PNG photos ``img00.png``... in ``folder`` (random colour, a brighter top half)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        img[:12] = img[:12] // 2 + 100  # some structure
        p = folder / f"img{i:02d}.png"
        write_image(p, img)
        paths.append(p)
    return paths
