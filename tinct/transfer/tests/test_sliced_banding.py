"""Sliced transfer must not turn a smooth gradient into bands (issue 20, item 6)."""

from __future__ import annotations

import numpy as np

from tinct.transfer.sliced import apply_sliced, fit_sliced, smooth_map


def _kinks(points):
    """Points of a path where the step changes by more than the median step: slope jumps (false contours)."""
    step = np.linalg.norm(np.diff(points, axis=0), axis=1)
    curve = np.linalg.norm(np.diff(points, 2, axis=0), axis=1)
    return int((curve > np.median(step)).sum()), step.max() / np.median(step)


def test_learnt_map_keeps_a_ramp_free_of_kinks():
    rng = np.random.default_rng(3)
    x_t = rng.uniform(0, 1, (20000, 3))
    x_r = np.clip(rng.normal([0.6, 0.4, 0.3], 0.12, (20000, 3)), 0, 1)  # smooth: its exact map is smooth
    ramp = np.linspace([0.2, 0.3, 0.4], [0.8, 0.7, 0.6], 2000)
    out = apply_sliced(fit_sliced(x_t, x_r, 20, 0), ramp)
    kinks, worst = _kinks(out)
    # Maps through noisy subsample quantiles had ~300 kinks and steps up to 16x the median here.
    assert kinks < 10 and worst < 3
    # The ramp is still carried to the reference's colours: the map was smoothed, not flattened.
    assert np.abs(out.mean(0) - np.array([0.6, 0.4, 0.3])).max() < 0.05


def test_smooth_map_is_monotone_and_close_to_the_quantile_map():
    rng = np.random.default_rng(0)
    src = np.sort(rng.uniform(0, 1, 512)) + np.arange(512) * 1e-9
    dst = np.sort(np.concatenate([rng.normal(0.2, 0.02, 256), rng.normal(0.8, 0.02, 256)]))
    grid, smooth = smooth_map(src, dst, 8.0)
    assert np.all(np.diff(grid) > 0) and np.all(np.diff(smooth) >= 0)
    assert np.abs(smooth - np.interp(grid, src, dst)).mean() < 0.02

