from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinct.color import ab_bins, annealed_mean, decode_mode, encode_nearest, encode_soft, entropy, soft_to_dense
from tinct.errors import ParameterError

ab_value = st.tuples(st.floats(-110, 110), st.floats(-110, 110))


def test_embedded_313_table_equals_reference_file(shared: Path):
    ref = np.load(shared / "reference" / "pts_in_hull.npy")
    assert np.array_equal(ab_bins("313"), ref.astype(np.float32))


def test_484_grid():
    bins = ab_bins("484")
    assert bins.shape == (484, 2)
    assert bins.min() == -105 and bins.max() == 105
    assert len(np.unique(bins, axis=0)) == 484
    assert not bins.flags.writeable


@pytest.mark.parametrize("name", ["313", "484"])
def test_nearest_encoding_of_centres_is_identity(name):
    bins = ab_bins(name)
    assert np.array_equal(encode_nearest(bins, name), np.arange(len(bins)))


@settings(max_examples=100, deadline=None)
@given(ab_value)
def test_nearest_bin_is_really_nearest(ab):
    bins = ab_bins("313")
    idx = encode_nearest(np.array(ab, np.float32))
    d = np.linalg.norm(bins - np.array(ab, np.float32), axis=1)
    assert d[idx] <= d.min() + 1e-4


@settings(max_examples=100, deadline=None)
@given(ab_value)
def test_soft_encoding_is_a_distribution_over_5_nearest(ab):
    idx, w = encode_soft(np.array([ab], np.float32))
    assert idx.shape == (1, 5) and w.shape == (1, 5)
    assert np.isclose(w.sum(), 1, atol=1e-5) and (w >= 0).all()
    # Weights fall with distance (Gaussian of sigma 5).
    d = np.linalg.norm(ab_bins("313")[idx[0]] - np.array(ab, np.float32), axis=1)
    order = np.argsort(d)
    assert np.all(np.diff(w[0][order]) <= 1e-6)
    nearest = encode_nearest(np.array(ab, np.float32))
    assert d[order[0]] <= np.linalg.norm(ab_bins("313")[nearest] - np.array(ab, np.float32)) + 1e-4  # ties allowed


def test_soft_to_dense_and_gaussian_weights():
    ab = np.array([[3.0, -4.0]], np.float32)  # distance 5 from (0, 0)
    idx, w = encode_soft(ab)
    dense = soft_to_dense(idx, w)
    assert dense.shape == (1, 313) and np.isclose(dense.sum(), 1)
    bins = ab_bins("313")
    d2 = ((bins[idx[0]] - ab) ** 2).sum(1)
    expected = np.exp(-d2 / (2 * 25.0))
    assert np.allclose(w[0], expected / expected.sum(), atol=1e-6)


def test_annealed_mean_limits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 6, 313)).astype(np.float32)
    bins = ab_bins("313")
    # T = 1 is the mean of softmax(logits).
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    assert np.allclose(annealed_mean(logits, temperature=1.0), p @ bins, atol=1e-3)
    # T -> 0 approaches the mode.
    assert np.allclose(annealed_mean(logits, temperature=1e-3), decode_mode(logits), atol=1e-2)
    # Channel-first layout gives the same answer.
    chw = np.moveaxis(logits, -1, 0)
    assert np.allclose(annealed_mean(chw, axis=0), annealed_mean(logits), atol=1e-4)


def test_one_hot_logits_decode_to_that_bin():
    logits = np.full((313,), -50.0, np.float32)
    logits[123] = 50.0
    assert np.allclose(annealed_mean(logits), ab_bins("313")[123], atol=1e-3)


def test_entropy_uniform_and_peaked():
    assert np.isclose(entropy(np.zeros(313)), np.log(313), atol=1e-4)
    peaked = np.full(313, -100.0)
    peaked[0] = 100
    assert entropy(peaked) < 1e-6


@pytest.mark.parametrize("t", [0, -1, float("nan")])
def test_bad_temperature(t):
    with pytest.raises(ParameterError, match="temperature"):
        annealed_mean(np.zeros(313), temperature=t)


def test_bad_bins_and_shapes():
    with pytest.raises(ParameterError, match="bins"):
        ab_bins("100")
    with pytest.raises(ParameterError, match="logits"):
        annealed_mean(np.zeros(300))
    with pytest.raises(ParameterError, match="ab"):
        encode_nearest(np.zeros((3, 3)))
