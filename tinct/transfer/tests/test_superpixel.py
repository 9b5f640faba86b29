"""The superpixel colour transfer (Carrillo et al. 2022) on scenes with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.color import rgb2lab
from tinct.errors import MissingWeightsError
from tinct.exemplar.tests.scenes import GREEN, SMOOTH_T, STRIPED_T, YELLOW, H, W, mean_ab, scene, swapped_reference
from tinct.transfer.superpixel import superpixel


@pytest.fixture(scope="module")
def reference():
    # Swapped layout: a spatial copy would give the wrong colours, only matching by texture gives the right ones.
    return swapped_reference()


def test_transfer_matches_texture_and_keeps_lightness(reference):
    target = scene(GREEN, YELLOW, smooth_left=True)
    out = superpixel(target, reference, backend="handcrafted", gamut="chroma")
    assert out.dtype == np.float32 and out.shape == target.shape
    a_s, _ = mean_ab(out, SMOOTH_T)
    _, b_t = mean_ab(out, STRIPED_T)
    assert a_s > 20 and b_t < -15
    # The target's own L is kept (up to the chroma-only gamut fit).
    dl = np.abs(rgb2lab(out)[..., 0] - rgb2lab(target)[..., 0])
    assert np.percentile(dl, 99) < 1.0


def test_bright_target_keeps_the_references_chroma_by_giving_up_lightness(reference):
    # Pale colours (L about 90): the reference's red and blue cannot exist there at their own chroma.
    target = scene(np.array([0.93, 0.92, 0.88], np.float32), np.array([0.9, 0.9, 0.93], np.float32))
    ref_chroma = np.hypot(*rgb2lab(reference)[..., 1:].reshape(-1, 2).T).mean()

    def chroma(img):
        return np.hypot(*rgb2lab(img)[..., 1:].reshape(-1, 2).T).mean()

    kept = superpixel(target, reference, gamut="chroma")
    moved = superpixel(target, reference)
    assert chroma(kept) < 0.4 * ref_chroma  # the paper's fit washes the colours out (0.31 here)
    assert chroma(moved) > 0.65 * ref_chroma  # 0.74: minimum Delta E trades some chroma for less L change
    # same hue in each half: the mean ab directions agree
    for half in (SMOOTH_T, STRIPED_T):
        a, b = np.array(mean_ab(kept, half)), np.array(mean_ab(moved, half))
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.95
    # L moved (darker: vivid colours live lower), yet keeps the target's structure (the stripes)
    l_t, l_m = rgb2lab(target)[..., 0], rgb2lab(moved)[..., 0]
    assert l_m.mean() < l_t.mean() - 5
    assert np.corrcoef(l_t[STRIPED_T].ravel(), l_m[STRIPED_T].ravel())[0, 1] > 0.9


def test_reference_mask_limits_the_palette(reference):
    target = scene(GREEN, YELLOW)
    only_blue = np.zeros((H, W), bool)
    only_blue[:, : W // 2] = True  # the reference's striped (blue) half
    out = superpixel(target, reference, reference_mask=only_blue)
    blue_ab = rgb2lab(reference[:, : W // 2]).reshape(-1, 3)[:, 1:].mean(0)

    def blue_hue(img):  # cosine between each pixel's ab and the blue's (the gamut fit keeps hue, not chroma)
        ab = rgb2lab(img)[..., 1:]
        return (ab @ blue_ab) / np.maximum(np.linalg.norm(ab, axis=2) * np.linalg.norm(blue_ab), 1e-6)

    assert np.percentile(blue_hue(out), 1) > 0.95  # blue everywhere, no red anywhere
    assert np.percentile(blue_hue(superpixel(target, reference)), 25) < 0.5  # without the mask: red too


def test_vgg_backend_without_weights_names_the_download(monkeypatch, tmp_path, reference):
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="vgg19bn"):
        superpixel(scene(GREEN, YELLOW), reference, backend="vgg19bn")
