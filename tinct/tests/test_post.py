"""Post-processing: white balance, contrast, recipes."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.color.gray import rgb2lightness
from tinct.color.lab import rgb2lab
from tinct.errors import ParameterError
from tinct.post import apply_post, auto_contrast, parse_post, white_balance, white_balance_gains


def _scene(cast=(1.0, 0.8, 0.6), seed=0):
    """Random neutral-ish scene under a coloured light (cast multiplies linear RGB)."""
    from tinct.color.lab import linear_to_srgb, srgb_to_linear

    rng = np.random.default_rng(seed)
    base = rng.uniform(0.05, 0.9, (40, 50, 1)) * rng.uniform(0.9, 1.1, (40, 50, 3))
    base[5:10, 5:10] = 0.95  # a white object
    lin = srgb_to_linear(base.astype(np.float32)) * np.float32(cast)
    return linear_to_srgb(lin)


@pytest.mark.parametrize("method", ["grayworld", "whitepatch", "percentile"])
def test_white_balance_removes_a_cast(method):
    img = (_scene() * 255).round().astype(np.uint8)
    before = img.copy()
    out = white_balance(img, method)
    np.testing.assert_array_equal(img, before)
    assert out.dtype == np.uint8 and out.shape == img.shape
    cast_before = np.abs(rgb2lab(img)[..., 1:].mean(axis=(0, 1))).max()
    cast_after = np.abs(rgb2lab(out)[..., 1:].mean(axis=(0, 1))).max()
    assert cast_before > 8 and cast_after < 0.35 * cast_before


def test_gray_world_gains_and_neutral_image():
    gains = white_balance_gains(_scene(cast=(1.0, 0.5, 0.25)), "grayworld")
    assert gains[2] > gains[1] > gains[0]
    gray = np.full((10, 12, 3), 0.4, np.float32)
    np.testing.assert_allclose(white_balance(gray, "grayworld"), gray, atol=1e-5)


def test_contrast_stretches_lightness_only():
    lab_img = _scene(cast=(1, 1, 1)) * 0.5 + 0.25  # low contrast
    out = auto_contrast(lab_img, 1.0)
    lo, hi = np.percentile(rgb2lightness(out), [1, 99])
    assert lo < 3 and hi > 95
    lo0, hi0 = np.percentile(rgb2lightness(lab_img), [1, 99])
    assert hi0 - lo0 < 60


def test_apply_post_keeps_input_lightness_unless_contrast():
    gray = (_scene(cast=(1, 1, 1))[..., 0] * 255).astype(np.uint8)
    colour = (_scene() * 255).round().astype(np.uint8)  # stands for a colorization of `gray`
    from tinct.post import keep_lightness

    colour = keep_lightness(colour, gray)
    out = apply_post(colour, "wb", keep_lightness_of=gray)
    np.testing.assert_allclose(rgb2lightness(out), rgb2lightness(gray), atol=1.2)
    assert np.abs(rgb2lab(out)[..., 1:].mean(axis=(0, 1))).max() < 4
    both = apply_post(colour, "wb=grayworld,contrast=1", keep_lightness_of=gray)
    assert np.percentile(rgb2lightness(both), 99) > np.percentile(rgb2lightness(gray), 99) + 3
    rgba = np.dstack([colour, np.full(gray.shape, 7, np.uint8)])
    out4 = apply_post(rgba, "percentile:97,contrast")
    assert out4.shape == rgba.shape and (out4[..., 3] == 7).all()


def test_parse_post_and_errors():
    assert parse_post("wb,contrast") == [("wb", None), ("contrast", None)]
    assert parse_post(" wb=whitepatch , contrast=2.5") == [("wb", "whitepatch"), ("contrast", "2.5")]
    assert parse_post("grayworld") == [("wb", "grayworld")]
    for bad, word in [("", "empty"), ("sharpen", "unknown step"), ("wb=foo", "unknown white balance"),
                      ("contrast=x", "number"), ("contrast=50", "clip percent"), ("wb=percentile:20", "percentile"),
                      ("wb=", "empty value")]:
        with pytest.raises(ParameterError, match=word):
            parse_post(bad)
    with pytest.raises(ParameterError, match="keep_lightness_of"):
        apply_post(np.zeros((4, 4, 3), np.float32), "wb", keep_lightness_of=np.zeros((5, 4), np.float32))
