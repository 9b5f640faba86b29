"""Exemplar colorization (Leduc et al. 2024) on scenes with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.color import rgb2gray, rgb2lab
from tinct.colorize.exemplar import exemplar
from tinct.errors import MissingWeightsError
from tinct.exemplar.tests.scenes import BLUE, RED, SMOOTH_T, STRIPED_T, H, W, mean_ab, scene, stripes, swapped_reference


@pytest.fixture(scope="module")
def reference():
    # Swapped layout: a spatial copy would give the wrong colours, only matching by texture gives the right ones.
    return swapped_reference()


@pytest.mark.parametrize("backend", ["handcrafted", "auto"])  # auto: tinctnet when its weights ship
def test_colorize_matches_texture_not_position(reference, backend):
    gray = rgb2gray(scene(RED, BLUE, smooth_left=True))
    out = exemplar(gray, reference=reference, backend=backend)
    a_s, b_s = mean_ab(out, SMOOTH_T)
    a_t, b_t = mean_ab(out, STRIPED_T)
    assert a_s > 20 and b_t < -15  # smooth -> red, striped -> blue
    assert a_s - a_t > 20 and b_s - b_t > 20


def test_lightness_is_the_input_own_for_colorization(reference):
    gray = (rgb2gray(scene(RED, BLUE)) * 255 + 0.5).astype(np.uint8)
    out = exemplar(gray, reference=(reference * 255).astype(np.uint8))
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    want = rgb2lab(np.repeat(gray[..., None], 3, 2).astype(np.float32) / 255)[..., 0]
    assert np.abs(rgb2lab(out.astype(np.float32) / 255)[..., 0] - want).max() < 1.5


def test_several_references_pool_their_superpixels():
    red_smooth = np.broadcast_to(RED, (H, W // 2, 3)).copy()
    blue_striped = np.clip(BLUE * stripes(H, W // 2)[..., None], 0, 1)
    gray = rgb2gray(scene(RED, BLUE))
    out = exemplar(gray, reference=[blue_striped, red_smooth])
    assert mean_ab(out, SMOOTH_T)[1] > 10 and mean_ab(out, STRIPED_T)[1] < -15  # red (b > 0) and blue
    only_blue = exemplar(gray, reference=[blue_striped])
    assert mean_ab(only_blue, SMOOTH_T)[1] < -15


def test_tinctnet_backend_without_weights_is_a_clear_error(monkeypatch, reference):
    from tinct.models import weights as registry

    monkeypatch.setattr(registry, "REGISTRY", {k: v for k, v in registry.REGISTRY.items() if v.arch != "tinctnet"})
    with pytest.raises(MissingWeightsError, match="tinctnet"):
        exemplar(rgb2gray(scene(RED, BLUE)), reference=reference, backend="tinctnet")
