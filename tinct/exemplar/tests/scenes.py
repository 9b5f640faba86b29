"""Scenes with a known answer for the superpixel-matching methods: half smooth, half striped, each half one colour.

A reference with the halves swapped tells matching by texture (right colours) from a spatial copy (wrong ones).
"""

from __future__ import annotations

import numpy as np

from tinct.color import rgb2lab

H, W = 64, 128
RED = np.array([0.75, 0.3, 0.3], np.float32)
BLUE = np.array([0.3, 0.4, 0.8], np.float32)
GREEN = np.array([0.35, 0.6, 0.3], np.float32)
YELLOW = np.array([0.7, 0.65, 0.25], np.float32)


def stripes(h, w, period=6):
    x = np.arange(w)
    return np.where((x // (period // 2)) % 2 == 0, 1.3, 0.7).astype(np.float32)[None, :].repeat(h, 0)


def scene(smooth_colour, striped_colour, smooth_left=True):
    """Half smooth, half vertically striped; each half its own colour. Returns float RGB (H, W, 3)."""
    img = np.empty((H, W, 3), np.float32)
    half = W // 2
    smooth = np.broadcast_to(smooth_colour, (H, half, 3))
    striped = striped_colour * stripes(H, half)[..., None]
    if smooth_left:
        img[:, :half], img[:, half:] = smooth, striped
    else:
        img[:, :half], img[:, half:] = striped, smooth
    return np.clip(img, 0, 1)


SMOOTH_T = (slice(8, H - 8), slice(8, W // 2 - 8))  # interiors of the target's halves (smooth on the left)
STRIPED_T = (slice(8, H - 8), slice(W // 2 + 8, W - 8))


def mean_ab(img, region):
    lab = rgb2lab(img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else 1.0))
    return lab[region][..., 1:].reshape(-1, 2).mean(0)


def swapped_reference():
    """Red smooth half on the right, blue striped half on the left: the opposite layout of ``scene(RED, BLUE)``."""
    return scene(RED, BLUE, smooth_left=False)
