import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage import color as skcolor

from tinct.color import lab2rgb, rgb2gray, rgb2lab, rgb2lightness
from tinct.errors import ParameterError


def test_rgb2lab_matches_skimage_over_whole_srgb_cube():
    # Every 8-bit colour: 16.7 M values, as one 4096 x 4096 image.
    v = np.arange(256, dtype=np.uint8)
    cube = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(4096, 4096, 3)
    ours = rgb2lab(cube)
    assert ours.dtype == np.float32
    ref = skcolor.rgb2lab(cube[::2, ::2])
    assert np.abs(ours[::2, ::2] - ref).max() < 1e-4
    ref = skcolor.rgb2lab(cube[1::2, 1::2])
    assert np.abs(ours[1::2, 1::2] - ref).max() < 1e-4


def test_float_and_uint16_paths_agree_with_skimage():
    rng = np.random.default_rng(0)
    rgb = rng.random((64, 64, 3))
    assert np.abs(rgb2lab(rgb.astype(np.float32)) - skcolor.rgb2lab(rgb.astype(np.float32))).max() < 1e-4
    u16 = rng.integers(0, 65536, (32, 32, 3), dtype=np.uint16)
    assert np.abs(rgb2lab(u16) - skcolor.rgb2lab(u16 / 65535.0)).max() < 1e-4


def test_lab2rgb_matches_skimage_inside_gamut():
    rng = np.random.default_rng(1)
    lab = skcolor.rgb2lab(rng.random((50, 50, 3)))
    assert np.abs(lab2rgb(lab) - skcolor.lab2rgb(lab)).max() < 1e-4


@settings(max_examples=50, deadline=None)
@given(arrays(np.uint8, (8, 8, 3)))
def test_round_trip_uint8_is_exact(rgb):
    back = lab2rgb(rgb2lab(rgb), dtype=np.uint8)
    assert np.array_equal(back, rgb)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0, 100), st.floats(-128, 127), st.floats(-128, 127),
)
def test_lab2rgb_always_in_gamut(l_, a, b):
    for gamut in ("clip", "chroma"):
        rgb = lab2rgb(np.array([[l_, a, b]], np.float32), gamut=gamut)
        assert np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1


def test_chroma_gamut_keeps_hue_and_lightness_better_than_clipping():
    # A very saturated out-of-gamut blue: chroma reduction keeps the hue angle.
    lab = np.array([[40.0, 60.0, -120.0]], np.float32)
    fit = rgb2lab(lab2rgb(lab, gamut="chroma"))[0]
    clip = rgb2lab(lab2rgb(lab, gamut="clip"))[0]
    hue = np.arctan2(lab[0, 2], lab[0, 1])
    err_fit = abs(np.arctan2(fit[2], fit[1]) - hue)
    err_clip = abs(np.arctan2(clip[2], clip[1]) - hue)
    assert err_fit < 0.02 and err_fit < err_clip
    assert abs(fit[0] - 40) < 0.5


def test_neutral_colours_have_zero_chroma():
    gray = np.repeat(np.linspace(0, 1, 11, dtype=np.float32)[:, None], 3, axis=1)
    lab = rgb2lab(gray)
    # skimage's rounded matrix and white point leave |a|, |b| ~ 5e-3 on neutrals; tinct keeps its constants.
    assert np.abs(lab[:, 1:]).max() < 1e-2
    assert lab[0, 0] == pytest.approx(0, abs=1e-4) and lab[-1, 0] == pytest.approx(100, abs=1e-3)


def test_gray_conversions():
    rgb = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], np.float32)
    assert np.allclose(rgb2gray(rgb)[0], [0.299, 0.587, 0.114])
    u8 = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.abs(rgb2lightness(u8) - skcolor.rgb2lab(u8)[..., 0]).max() < 1e-4
    assert rgb2lightness(u8[..., 0]).shape == (16, 16)


def test_bad_shapes_raise_parameter_error():
    with pytest.raises(ParameterError):
        rgb2lab(np.zeros((4, 4, 2)))
    with pytest.raises(ParameterError):
        lab2rgb(np.zeros((4, 4, 3)), gamut="wrap")


@pytest.mark.parametrize("chroma", [1.0, 1.5, 2.0])
def test_uint8_output_path_within_one_level_of_exact_path(chroma):
    # uint8 output goes through OpenCV's table-based conversion; it must round like the exact one.
    rgb = np.random.default_rng(5).integers(0, 256, (200_000, 3), dtype=np.uint8)
    lab = rgb2lab(rgb)
    lab[:, 1:] *= chroma
    fast = lab2rgb(lab, dtype=np.uint8).astype(int)
    exact = np.round(lab2rgb(lab) * 255).astype(int)
    assert np.abs(fast - exact).max() <= 1
    assert (fast != exact).mean() < 0.01
    if chroma == 1.0:
        assert np.array_equal(fast, rgb)
