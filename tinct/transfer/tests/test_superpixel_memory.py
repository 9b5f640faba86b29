"""superpixel works at the working size and touches full resolution only in strips (issue 20, item 6)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from tinct.transfer.superpixel import superpixel


def test_full_resolution_buffers_stay_small_per_pixel():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1500, 0:2000]
    target = np.stack([(xx // 7) % 256, (yy // 5) % 256, (xx + yy) // 14 % 256], 2).astype(np.uint8)
    reference = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    superpixel(target[:64, :64].copy(), reference)  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        out = superpixel(target, reference)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == target.shape and out.dtype == np.uint8
    # Needed at full size: L (4 B/px), upsampled ab (8), the output (3) and the upsampler's guide (8).
    # Full-size float RGB and Lab copies (12 B/px each) and a full-size Lab -> RGB pass pushed it to 63 B/px.
    assert peak / (1500 * 2000) < 45


def test_masked_pixels_are_kept_bit_for_bit_across_strips():
    rng = np.random.default_rng(1)
    target = rng.integers(0, 255, (700, 500, 3), dtype=np.uint8)  # 700 rows: several strips
    reference = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    mask = np.zeros((700, 500), bool)
    mask[100:650:2, 50:450] = True
    out = superpixel(target, reference, target_mask=mask)
    np.testing.assert_array_equal(out[~mask], target[~mask])
    assert np.any(out[mask] != target[mask])
