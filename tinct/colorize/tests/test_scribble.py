"""Scribble colorization (Levin et al. 2004): weights, solvers, inputs, prior."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from tinct.color.gray import rgb2lightness
from tinct.color.lab import rgb2lab
from tinct.colorize.scribble import (
    affinity_weights,
    build_system,
    nested_dissection,
    scribble,
    solve,
    solve_grid,
)
from tinct.errors import ParameterError
from tinct.registry import get_method


def _reference_weights(y):
    """The reference MATLAB loop (getColorExploit.m), transcribed literally for a small image."""
    h, w = y.shape
    out = {}
    for i in range(h):
        for j in range(w):
            gvals, where = [], []
            for ii in range(max(0, i - 1), min(i + 2, h)):
                for jj in range(max(0, j - 1), min(j + 2, w)):
                    if ii != i or jj != j:
                        gvals.append(y[ii, jj])
                        where.append((ii - i, jj - j))
            t = y[i, j]
            allv = np.array(gvals + [t])
            c_var = np.mean((allv - allv.mean()) ** 2)
            csig = c_var * 0.6
            g = np.array(gvals)
            mgv = np.min((g - t) ** 2)
            if csig < -mgv / np.log(0.01):
                csig = -mgv / np.log(0.01)
            if csig < 0.000002:
                csig = 0.000002
            wv = np.exp(-((g - t) ** 2) / csig)
            wv /= wv.sum()
            for (dy, dx), v in zip(where, wv):
                out[(i, j, dy, dx)] = v
    return out


def _two_regions(h=24, w=32):
    """Gray image: dark left half, bright right half, a little texture."""
    rng = np.random.default_rng(1)
    gray = np.where(np.arange(w)[None, :] < w // 2, 0.3, 0.7) + rng.normal(0, 0.005, (h, w))
    return np.clip(gray, 0, 1).astype(np.float32)


def _numpy_build_system(luma, fixed, prior_weight=0.0):
    """The NumPy builder that the Numba one replaced (vectorised weights, CSR written plane by plane)."""
    import scipy.sparse as sp

    nbrs = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
    y = np.asarray(luma, dtype=np.float64)
    h, w = y.shape
    pad = np.full((h + 2, w + 2), np.nan)
    pad[1:-1, 1:-1] = y
    nb = np.stack([pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in nbrs])
    valid = ~np.isnan(nb)
    count = valid.sum(axis=0) + 1.0
    nb0 = np.where(valid, nb, 0.0)
    mean = (nb0.sum(axis=0) + y) / count
    var = ((np.where(valid, nb0 - mean, 0.0) ** 2).sum(axis=0) + (y - mean) ** 2) / count
    d2 = np.where(valid, (nb0 - y) ** 2, np.inf)
    c = 0.6 * var
    mgv = d2.min(axis=0)
    np.maximum(c, np.where(np.isfinite(mgv), -mgv / np.log(0.01), 0.0), out=c)
    np.maximum(c, 2e-6, out=c)
    wk = np.exp(-d2 / c)
    total = wk.sum(axis=0)
    total[total == 0] = 1.0
    weights = (wk / total).astype(np.float32)
    free = ~fixed
    n, nf = int(free.sum()), int(fixed.sum())
    index = np.full((h + 2, w + 2), -1, np.int64)
    index[1:-1, 1:-1][free] = np.arange(n)
    fixed_index = np.full((h + 2, w + 2), -1, np.int64)
    fixed_index[1:-1, 1:-1][fixed] = np.arange(nf)
    rows, cols, vals, brows, bcols, bvals = [np.arange(n)], [np.arange(n)], [np.full(n, 1.0 + prior_weight)], [], [], []
    for k, (dy, dx) in enumerate(nbrs):
        col = index[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w][free]
        fcol = fixed_index[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w][free]
        wv = weights[k][free].astype(np.float64)
        ok, hit = col >= 0, fcol >= 0
        rows.append(np.flatnonzero(ok)), cols.append(col[ok]), vals.append(-wv[ok])
        brows.append(np.flatnonzero(hit)), bcols.append(fcol[hit]), bvals.append(wv[hit])
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    B = sp.csr_matrix((np.concatenate(bvals), (np.concatenate(brows), np.concatenate(bcols))), shape=(n, nf))
    return A, B, weights


def _textured(h, w, seed):
    """8-bit gray with smooth gradients (quantisation contours), an edge and noise, plus 1 % scribbles."""
    rng = np.random.default_rng(seed)
    y = np.clip(np.cumsum(rng.normal(0, 0.05, (h, w)), axis=1) * 0.2 + 0.5, 0, 1)
    y[:, : w // 3] *= 0.3
    y = np.round(y * 255) / 255
    fixed = rng.random((h, w)) < 0.01
    fixed[h // 2, w // 2] = True
    return y, fixed, rng


def test_numba_builder_matches_the_numpy_one():
    for shape, seed in (((1, 1), 0), ((1, 9), 1), ((7, 1), 2), ((2, 2), 3), ((37, 53), 4), ((120, 90), 5)):
        y, fixed, rng = _textured(*shape, seed)
        if shape == (37, 53):
            y[5:15, 5:20] = 0.5  # flat: the 2e-6 floor
        for lam in (0.0, 0.001):
            A, coupling = build_system(y, fixed, lam)
            A0, B0, w0 = _numpy_build_system(y, fixed, lam)
            A0.sort_indices()
            np.testing.assert_array_equal(A.indptr, A0.indptr)
            np.testing.assert_array_equal(A.indices, A0.indices)
            np.testing.assert_allclose(A.data, A0.data, rtol=0, atol=1e-12)
            values = rng.normal(0, 0.2, shape + (2,))
            np.testing.assert_allclose(coupling(values), B0 @ values[fixed], rtol=0, atol=1e-12)
            np.testing.assert_allclose(affinity_weights(y), w0, rtol=0, atol=1e-12)
    assert A.indices.dtype == np.int32 and A.shape[0] == (~fixed).sum()


def test_multifrontal_solve_agrees_with_spsolve():
    import scipy.sparse.linalg as sla

    for shape, seed, lam, leaf, threads in (((1, 1), 0, 0.0, 16, 1), ((1, 40), 1, 0.0, 4, 1), ((33, 1), 2, 0.01, 4, 1),
                                            ((120, 160), 3, 0.0, 16, 1), ((96, 131), 4, 0.001, 16, 2),
                                            ((64, 64), 5, 0.0, 64, 4)):
        y, fixed, rng = _textured(*shape, seed)
        values = np.zeros(shape + (2,))
        values[fixed] = rng.normal(0, 0.2, (fixed.sum(), 2))
        prior = rng.normal(0, 0.2, shape + (2,))
        grid_rhs = np.where(fixed[..., None], values, lam * prior)
        x = solve_grid(y, fixed, grid_rhs, lam, leaf=leaf, threads=threads)
        assert x.shape == shape + (2,)
        np.testing.assert_allclose(x[fixed], values[fixed], rtol=0, atol=1e-12)  # scribbles stay exactly
        if fixed.all():
            continue
        A, coupling = build_system(y, fixed, lam)
        rhs = coupling(values) + lam * prior[~fixed]
        x_ref = np.stack([sla.spsolve(A.tocsc(), rhs[:, c]) for c in (0, 1)], axis=1).reshape(-1, 2)
        assert np.abs(x[~fixed] - x_ref).max() < 1e-9, shape
        if shape == (120, 160):
            assert np.abs(x_ref).max() > 0.01  # colour did propagate: the comparison means something
            # and the comparison is sharp: a perturbed system (one weight off by 1e-3) is caught
            x_bad = solve_grid(y + (np.arange(y.size).reshape(shape) == 5000) * 1e-3, fixed, grid_rhs, lam)
            assert np.abs(x_bad[~fixed] - x_ref).max() > 1e-9


def test_direct_equals_superlu_in_scribble():
    y, fixed, rng = _textured(90, 120, 6)
    colours = rng.random((90, 120, 3)).astype(np.float32)
    out_direct = scribble(y.astype(np.float32), scribbles=colours, scribble_mask=fixed, solver="direct")
    out_lu = scribble(y.astype(np.float32), scribbles=colours, scribble_mask=fixed, solver="superlu")
    np.testing.assert_allclose(out_direct, out_lu, atol=1e-5)


def test_weights_match_reference_loop():
    rng = np.random.default_rng(0)
    y = rng.random((5, 6))
    y[2:4, 2:5] = 0.5  # a flat patch exercises the 2e-6 floor
    ref = _reference_weights(y)
    ours = affinity_weights(y)
    neighbours = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
    for k, (dy, dx) in enumerate(neighbours):
        for i in range(5):
            for j in range(6):
                expected = ref.get((i, j, dy, dx), 0.0)
                assert ours[k, i, j] == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(ours.sum(axis=0), 1.0, atol=1e-6)


def test_superlu_solve_agrees_with_spsolve():
    rng = np.random.default_rng(2)
    y = np.clip(np.cumsum(rng.normal(0, 0.05, (120, 160)), axis=1) * 0.2 + 0.5, 0, 1)
    y = np.round(y * 255) / 255  # 8-bit steps: the quantisation contours that make this system hard
    fixed = rng.random(y.shape) < 0.01
    A, coupling = build_system(y, fixed)
    values = np.zeros(y.shape + (2,))
    values[fixed] = rng.normal(0, 0.2, (fixed.sum(), 2))
    rhs = coupling(values)
    import scipy.sparse.linalg as sla

    x_ref = np.stack([sla.spsolve(A.tocsc(), rhs[:, c]) for c in (0, 1)], axis=1)  # plain SciPy, per channel
    x_nd = solve(A, rhs, fixed=fixed)  # nested dissection, no pivoting
    x_lu = solve(A, rhs)  # SuperLU's own order
    assert np.abs(x_nd - x_ref).max() < 1e-8
    assert np.abs(x_lu - x_ref).max() < 1e-8
    assert np.abs(x_ref).max() > 0.01  # the test means something: colour did propagate


def test_nested_dissection_is_a_permutation():
    for h, w in ((1, 1), (3, 200), (37, 41), (64, 64)):
        order = nested_dissection(h, w)
        np.testing.assert_array_equal(np.sort(order), np.arange(h * w))
    order = nested_dissection(20, 20, leaf=16)
    assert set(order[-20:]) == set(range(10 * 20, 11 * 20))  # the top separator (middle row) comes last



def test_dissection_tree_eliminates_every_pixel_once_before_its_ring():
    from tinct.colorize import _scribble_kernels as K

    for h, w, leaf in ((1, 1, 16), (1, 50, 4), (37, 41, 16), (20, 64, 1), (64, 64, 64)):
        rect, ax, cut, children, parent, depth = K.nd_tree(h, w, leaf)
        ni, nb = K.front_sizes(rect, ax, cut, h, w)
        buf = np.empty(h * w + 2 * (h + w) + 8, np.int64)
        when = np.full(h * w, -1)
        for node in range(len(ni)):  # postorder
            n = K._eliminated(rect, ax, cut, node, w, buf)
            assert n == ni[node] and (when[buf[:n]] < 0).all()
            when[buf[:n]] = node
        assert (when >= 0).all()  # every pixel eliminated exactly once
        for node in range(len(ni)):
            n = K._ring(rect, node, h, w, buf)
            assert n == nb[node] and (when[buf[:n]] > node).all()  # the ring belongs to ancestors
            assert parent[node] < 0 or node in children[parent[node]]
        assert parent[-1] == -1 and depth[-1] == 0 and nb[-1] == 0

def test_edges_stop_colour_and_scribbles_are_kept():
    gray = _two_regions()
    marked = np.repeat(gray[..., None], 3, axis=2).copy()
    marked[5:8, 3:6] = [0.5, 0.1, 0.1]  # red stroke, dark side
    marked[15:18, 24:27] = [0.5, 0.7, 1.0]  # blue stroke, bright side
    before, gray_before = marked.copy(), gray.copy()
    for space in ("yiq", "lab"):
        out = scribble(gray, scribbles=marked, space=space)
        ab = rgb2lab(out)[..., 1:]
        left, right = ab[:, : 14].reshape(-1, 2).mean(0), ab[:, 18:].reshape(-1, 2).mean(0)
        assert left[0] > 10 and left[0] > left[1]  # reddish: a dominant, positive
        assert right[1] < -10  # bluish: b negative
        # every colorization keeps the input's L
        np.testing.assert_allclose(rgb2lightness(out), rgb2lightness(gray), atol=0.6)
    np.testing.assert_array_equal(marked, before)  # inputs untouched
    np.testing.assert_array_equal(gray, gray_before)


def test_scribbled_pixels_keep_their_chroma_without_keep_lightness():
    gray = _two_regions()
    marked = np.repeat(gray[..., None], 3, axis=2).copy()
    colour = np.array([0.35, 0.28, 0.2])
    marked[4:6, 4:6] = colour
    out = scribble(gray, scribbles=marked, keep_lightness=False)
    yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    got = out[4:6, 4:6].reshape(-1, 3) @ yiq.T
    want = colour @ yiq.T
    np.testing.assert_allclose(got[:, 1:], np.broadcast_to(want[1:], (4, 2)), atol=2e-3)  # I, Q fixed
    np.testing.assert_allclose(got[:, 0], gray[4:6, 4:6].ravel(), atol=2e-3)  # Y of the gray image


def test_mask_and_colours_equal_marked_copy_and_dtype_kept():
    gray = (_two_regions() * 255).round().astype(np.uint8)
    marked = np.repeat(gray[..., None], 3, axis=2).copy()
    marked[3:5, 3:9] = [200, 40, 40]
    mask = np.zeros(gray.shape, bool)
    mask[3:5, 3:9] = True
    a = scribble(gray, scribbles=marked)
    b = scribble(gray, scribbles=marked, scribble_mask=mask)
    c = scribble(gray, scribbles=(mask, marked))
    assert a.dtype == np.uint8 and a.shape == gray.shape + (3,)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_jpeg_like_noise_is_not_a_scribble():
    gray = (_two_regions() * 255).round().astype(np.uint8)
    rng = np.random.default_rng(3)
    noisy = np.clip(np.repeat(gray[..., None], 3, axis=2) + rng.integers(-1, 2, gray.shape + (3,)), 0, 255)
    noisy = noisy.astype(np.uint8)
    noisy[:6] = np.clip(gray[:6].astype(int) + rng.integers(-6, 7, gray[:6].shape), 0, 255)[..., None]  # neutral
    with pytest.raises(ParameterError, match="scribbles"):  # noise alone marks nothing
        scribble(gray, scribbles=noisy)
    noisy[10:12, 20:22] = [40, 200, 40]
    out = scribble(gray, scribbles=noisy)
    ab = rgb2lab(out)[..., 1:]
    assert ab[:, 18:, 0].mean() < -10  # green spread over the bright half, not pinned to noise


def test_bad_inputs_are_named():
    gray = _two_regions()
    with pytest.raises(ParameterError, match="scribbles"):
        scribble(gray, scribbles=np.zeros((5, 5, 3), np.float32))
    with pytest.raises(ParameterError, match="scribbles"):
        scribble(gray)
    with pytest.raises(ParameterError, match="space"):
        scribble(gray, scribbles=np.repeat(gray[..., None], 3, 2), space="hsv")
    with pytest.raises(ParameterError, match="scribble_mask"):
        scribble(gray, scribbles=np.repeat(gray[..., None], 3, 2), scribble_mask=np.zeros(gray.shape, bool))


def test_prior_is_a_soft_term_and_scribbles_stay_hard():
    gray = _two_regions()
    prior_lab = np.zeros(gray.shape + (3,), np.float32)
    prior_lab[..., 0] = rgb2lightness(gray)
    prior_lab[..., 1:] = [0.0, 30.0]  # a yellowish "model" everywhere
    from tinct.color.lab import lab2rgb

    prior = lab2rgb(prior_lab)
    # No scribbles: the result is the prior.
    out = scribble(gray, scribbles=np.repeat(gray[..., None], 3, 2), prior_image=prior, space="lab")
    np.testing.assert_allclose(rgb2lab(out)[..., 1:], rgb2lab(prior)[..., 1:], atol=0.5)
    # A blue stroke fixes its neighbourhood; far away (other region) the prior stays.
    marked = np.repeat(gray[..., None], 3, axis=2).copy()
    marked[10:14, 2:6] = [0.2, 0.3, 0.6]
    out = scribble(gray, scribbles=marked, prior_image=prior, prior_weight=0.01, space="lab")
    ab = rgb2lab(out)[..., 1:]
    assert ab[10:14, 2:6, 1].mean() < -20
    assert ab[:, 20:, 1].mean() > 25


def test_prior_by_method_name():
    gray = _two_regions()
    marked = np.repeat(gray[..., None], 3, axis=2).copy()
    marked[10:14, 2:6] = [0.2, 0.3, 0.6]
    prior = get_method("patchdb")(gray)
    a = scribble(gray, scribbles=marked, prior="patchdb", prior_weight=0.01)
    b = scribble(gray, scribbles=marked, prior_image=prior, prior_weight=0.01)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(a, scribble(gray, scribbles=marked))
    with pytest.raises(ParameterError, match="prior"):
        scribble(gray, scribbles=marked, prior="exemplar")


def test_registered_with_required_scribbles():
    m = get_method("scribble", "colorize")
    assert m.need("scribbles") == "required"
    assert m.input("scribble_mask").kind == "mask"
    with pytest.raises(ParameterError, match="prior_weight"):
        m(_two_regions(), scribbles=np.zeros((24, 32, 3)), prior_weight=-1.0)


def test_large_images_are_solved_on_a_proxy_close_to_the_exact_solution(monkeypatch):
    sc = importlib.import_module("tinct.colorize.scribble")  # the attribute tinct.colorize.scribble is the function

    rng = np.random.default_rng(4)
    h, w = 96, 128
    gray = np.full((h, w), 0.3, np.float32)
    gray[:, w // 2 :] = 0.7  # one vertical edge
    gray += rng.normal(0, 0.01, gray.shape).astype(np.float32)
    marked = np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2)
    marked[20:23, 10:40] = [0.55, 0.15, 0.1]  # red stroke, dark side
    marked[70:73, 80:120] = [0.5, 0.7, 1.0]  # blue stroke, bright side
    exact = scribble(gray, scribbles=marked, solver="direct")
    calls = []
    original = sc._propagate
    monkeypatch.setattr(sc, "_propagate", lambda luma, *a: calls.append(luma.shape) or original(luma, *a))
    proxy = scribble(gray, scribbles=marked, solver="auto", proxy_megapixels=h * w / 5 / 1e6)
    assert calls and calls[0][0] * calls[0][1] <= h * w // 5  # solved on the small proxy
    assert np.array_equal(scribble(gray, scribbles=marked), exact)  # below 0.5 MP 'auto' is the exact solve
    with pytest.raises(ParameterError, match="proxy_megapixels"):
        scribble(gray, scribbles=marked, proxy_megapixels=5.0)
    assert proxy.shape == exact.shape
    lab_p, lab_e = rgb2lab(proxy), rgb2lab(exact)
    # The edge still stops colour: red on the left, blue on the right, as in the exact solve.
    assert lab_p[:, : w // 2 - 3, 1].mean() > 10 and lab_p[:, w // 2 + 3 :, 2].mean() < -10
    err = np.abs(lab_p[..., 1:] - lab_e[..., 1:])
    # Measured: median 1.1, 99th percentile 4.3 a/b units (a just-noticeable difference is about 2.3).
    assert np.median(err) < 2.0 and np.percentile(err, 99) < 6.0
    stroke = np.zeros((h, w), bool)
    stroke[20:23, 10:40] = True
    np.testing.assert_allclose(lab_p[stroke][:, 1:], lab_e[stroke][:, 1:], atol=0.5)  # scribbles kept exactly
    np.testing.assert_allclose(rgb2lightness(proxy), rgb2lightness(gray), atol=0.6)


@pytest.mark.parametrize("solver", ["direct", "superlu"])
def test_exact_solve_that_would_not_fit_in_memory_is_refused_before_allocating(monkeypatch, solver):
    S = importlib.import_module("tinct.colorize.scribble")  # the attribute tinct.colorize.scribble is the function

    gray = np.full((64, 80), 120, np.uint8)
    marked = np.repeat(gray[..., None], 3, axis=2)
    marked[10:14, 10:30] = (200, 40, 40)
    monkeypatch.setattr(S, "available_memory", lambda: 1 << 20)  # 1 MB left
    with pytest.raises(ParameterError, match="needs about .* GB.*solver='auto'"):
        S.scribble(gray, scribbles=marked, solver=solver)
    monkeypatch.setattr(S, "available_memory", lambda: None)  # unknown: no check
    assert S.scribble(gray, scribbles=marked, solver=solver).shape == (64, 80, 3)


def test_stroke_hints_spread_along_the_strokes_with_their_colours():
    from tinct.colorize.scribble import stroke_hints

    mask = np.zeros((100, 200), bool)
    mask[10:13, 5:195] = True  # a long stroke
    mask[80:83, 90:96] = True  # a short one
    colours = np.zeros((mask.sum(), 3))
    ys, xs = np.nonzero(mask)
    colours[:, 0] = xs / 200.0  # each pixel's own colour: red grows to the right
    colours[:, 2] = ys > 50
    hints = stroke_hints(mask, colours, count=40)
    assert hints.shape[1] == 6 and 20 <= len(hints) <= 40
    x, y = hints[:, 0].astype(int), hints[:, 1].astype(int)
    assert mask[y, x].all() and (hints[:, 5] == 0).all()
    np.testing.assert_allclose(hints[:, 2], x / 200.0 * 255.0)  # the picked pixel's own colour
    np.testing.assert_allclose(hints[:, 4], (y > 50) * 255.0)
    assert ((y > 50).sum() >= 1) and x[y < 50].min() < 20 and x[y < 50].max() > 180  # both strokes, the long one
    assert len(stroke_hints(mask, colours, count=10_000)) == mask.sum()  # few pixels: all of them
    assert stroke_hints(mask, colours, count=0).shape == (0, 6)


def _marked_photo():
    """The shipped gray example with three strokes of colours the network would not guess."""
    from tinct.data import example
    from tinct.io import read_image

    gray = read_image(example("old_tom_morris.png")).pixels  # 206 x 270, uint8 gray
    marked = np.repeat(gray[..., None] if gray.ndim == 2 else gray[..., :1], 3, axis=2).copy()
    mask = np.zeros(gray.shape[:2], bool)
    for (r0, r1, c0, c1), colour in (((40, 43, 20, 120), (40, 60, 200)), ((120, 123, 60, 180), (200, 40, 40)),
                                     ((170, 190, 200, 203), (40, 180, 60))):
        marked[r0:r1, c0:c1] = colour
        mask[r0:r1, c0:c1] = True
    return gray, marked, mask


def test_a_cnn_prior_is_given_the_strokes_as_hints_and_agrees_with_them():
    sc = importlib.import_module("tinct.colorize.scribble")  # the attribute tinct.colorize.scribble is the function

    gray, marked, mask = _marked_photo()
    want = rgb2lab(marked[mask].astype(np.float32) / 255.0)[:, 1:]
    hints = sc.stroke_hints(mask, marked[mask].astype(np.float32) / 255.0, 256)
    with_hints = sc._prior_chroma(gray, "auto", None, "lab", gray.shape[:2], hints)
    without = sc._prior_chroma(gray, "auto", None, "lab", gray.shape[:2], None)
    # Measured: mean ab error 27 with the strokes as hints, 56 without (part of it is the gamut at the photo's L).
    err_with, err_without = np.abs(with_hints[mask] - want).mean(), np.abs(without[mask] - want).mean()
    assert err_with < 0.6 * err_without, (err_with, err_without)
    # End to end: away from the strokes (where the prior weighs), the result leans to the strokes' colours.
    from scipy.ndimage import distance_transform_edt

    dist = distance_transform_edt(~mask)
    near = (dist > 3) & (dist < 15)
    blue = np.zeros(mask.shape, bool)
    blue[30:54, 10:130] = True  # around the blue stroke
    args = dict(scribbles=marked, prior="auto", prior_weight=0.01, space="lab")
    b_with = rgb2lab(scribble(gray, prior_hints=256, **args))[near & blue, 2].mean()
    b_without = rgb2lab(scribble(gray, prior_hints=0, **args))[near & blue, 2].mean()
    assert b_with < b_without - 10, (b_with, b_without)  # measured: b -30 with, -2 without


def test_hints_are_fixed_like_scribbles_and_win_where_they_meet_a_stroke():
    from tinct.colorize.scribble import add_hints

    mask = np.zeros((20, 30), bool)
    mask[5, 2:12] = True
    colours = np.tile([[1.0, 0.0, 0.0]], (mask.sum(), 1)).astype(np.float32)
    m, c = add_hints(mask, colours, [(4, 5, "#0000ff"), (20, 15, (0, 255, 0), 2)])
    want = np.zeros((20, 30, 3), np.float32)
    want[mask] = [1, 0, 0]
    want[5, 4] = [0, 0, 1]  # the hint wins over the stroke at its pixel
    yy, xx = np.mgrid[0:20, 0:30]
    disc = (yy - 15) ** 2 + (xx - 20) ** 2 <= 4
    want[disc] = [0, 1, 0]
    np.testing.assert_array_equal(m, mask | disc)
    np.testing.assert_allclose(c, want[m])  # raster order, as parse_scribbles gives them
    with pytest.raises(ParameterError, match=r"hints\[0\]: point \(40, 5\) lies outside"):
        add_hints(mask, colours, [(40, 5, "#fff")])


def test_scribbles_and_hints_combine_through_the_api():
    import tinct

    gray = _two_regions()
    marked = np.repeat(gray[..., None], 3, axis=2).copy()
    marked[10:14, 2:6] = [0.2, 0.3, 0.6]  # blue stroke, dark half
    out = tinct.colorize(gray, scribbles=marked, hints=[(25, 12, "#c83232")])  # a red point, bright half
    ab = rgb2lab(out)[..., 1:]
    assert ab[10:14, 2:6, 1].mean() < -20 and ab[:, 20:, 0].mean() > 20  # each half takes its own colour
    with pytest.raises(ParameterError, match=r"hints\[0\].color"):
        scribble(gray, scribbles=marked, hints=[(1, 1, "red")])


def test_user_hints_reach_a_cnn_prior_with_the_strokes(monkeypatch):
    sc = importlib.import_module("tinct.colorize.scribble")  # the attribute tinct.colorize.scribble is the function

    gray, marked, mask = _marked_photo()
    seen = []
    original = sc._prior_chroma
    monkeypatch.setattr(sc, "_prior_chroma", lambda *a: seen.append(a[-1]) or original(*a))
    scribble(gray, scribbles=marked, prior="auto", prior_hints=10, hints=[(100, 100, "#00ff00", 3)])
    net = seen[0]
    assert 1 < len(net) <= 11 and np.array_equal(net[-1], [100, 100, 0, 255, 0, 3])  # the user's point comes last
    assert mask[net[:-1, 1].astype(int), net[:-1, 0].astype(int)].all()  # the others lie on the strokes
