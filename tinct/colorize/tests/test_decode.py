"""Confidence-calibrated decoding (tinct.colorize.decode), the vividness parameter and the public confidence map."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinct.color import ab_bins, annealed_mean, encode_nearest
from tinct.colorize import decode as D
from tinct.errors import ParameterError
from tinct.registry import get_method

SIZE = 64


def _logits_for(weights_by_ab: list[tuple[tuple[float, float], float]], shape=(4, 5)) -> np.ndarray:
    """(313, h, w) logits whose softmax puts the given mass on the bins nearest the given ab values."""
    p = np.full(313, 1e-6, np.float64)
    for ab, mass in weights_by_ab:
        p[int(encode_nearest(np.float32(ab)))] += mass
    p /= p.sum()
    return np.broadcast_to(np.log(p).astype(np.float32)[:, None, None], (313,) + shape).copy()


def test_a_sure_prediction_keeps_its_vivid_colour():
    logits = _logits_for([((60.0, 60.0), 1.0)])
    ab, conf = D.calibrated_decode(logits, "313", 0.38, 1.0)
    centre = ab_bins("313")[int(encode_nearest(np.float32([60.0, 60.0])))]
    assert conf.shape == (4, 5) and conf.dtype == np.float32 and np.all(conf == 1.0)
    np.testing.assert_allclose(ab, np.broadcast_to(centre, ab.shape), atol=0.05)


def test_a_torn_prediction_falls_back_towards_neutral():
    """Half blue, half red (far apart): the plain annealed mean picks a vivid colour; calibration mutes it."""
    logits = _logits_for([((-10.0, -50.0), 0.7), ((60.0, 40.0), 0.3)])
    plain = annealed_mean(logits, temperature=0.38, axis=0)
    ab, conf = D.calibrated_decode(logits, "313", 0.38, 1.0)
    assert np.hypot(*plain[0, 0]) > 40  # the vivid guess
    assert np.all(conf == 0.0)
    assert np.hypot(*ab[0, 0]) < 25  # not vivid any more (the spurious-colour threshold)
    st = D.statistics(logits, "313", 0.38)
    assert st["spread"][0, 0] > 40 and st["mode_mass"][0, 0] < 0.75


def test_spread_measures_distance_between_rival_colours_not_their_number():
    near = _logits_for([((40.0, 40.0), 0.5), ((40.0, 50.0), 0.5)])  # two neighbouring bins: no doubt about hue
    far = _logits_for([((40.0, 40.0), 0.5), ((-40.0, -40.0), 0.5)])
    s_near, s_far = D.statistics(near, "313", 0.38), D.statistics(far, "313", 0.38)
    assert s_near["entropy"][0, 0] == pytest.approx(s_far["entropy"][0, 0], abs=1e-3)  # entropy cannot tell them
    assert s_near["spread"][0, 0] == pytest.approx(5.0, abs=0.5) and s_far["spread"][0, 0] > 50


def test_vividness_scale():
    logits = _logits_for([((-10.0, -50.0), 0.5), ((60.0, 40.0), 0.3), ((20.0, 10.0), 0.2)])
    plain = annealed_mean(logits, temperature=0.38, axis=0)
    cal, _ = D.calibrated_decode(logits, "313", 0.38, 1.0)
    assert np.all(D.calibrated_decode(logits, "313", 0.38, 0.0)[0] == 0.0)  # gray
    np.testing.assert_allclose(D.calibrated_decode(logits, "313", 0.38, 0.5)[0], 0.5 * cal, atol=1e-5)
    assert np.array_equal(D.calibrated_decode(logits, "313", 0.38, 2.0)[0], plain)  # the old decoding, bit for bit
    # above 1 the confidence band widens as 1 / (2 - v): pixels count as sure (full colour) gradually
    spread_20 = _logits_for([((30.0, 0.0), 0.5), ((30.0, 40.0), 0.5)])  # spread 20: unsure at v = 1
    st = D.statistics(spread_20, "313", 0.38)
    assert st["spread"][0, 0] == pytest.approx(20.0, abs=0.5)
    conf = {v: float(D.calibrated_decode(spread_20, "313", 0.38, v)[1][0, 0]) for v in (1.0, 1.5)}
    assert conf[1.0] == conf[1.5] <= 0.05  # the returned confidence describes the model, not the setting
    used = {v: float(D.confidence_from_spread(st["spread"], D.widened(D.DEFAULT, v))[0, 0]) for v in (1.0, 1.25, 1.5)}
    assert used[1.0] < used[1.25] < used[1.5] and used[1.5] > 0.99
    chroma = {v: float(np.hypot(*D.calibrated_decode(spread_20, "313", 0.38, v)[0][0, 0])) for v in (1.0, 1.5, 2.0)}
    assert chroma[1.0] <= D.DEFAULT.cap / (1 - conf[1.0]) + 1e-3 and chroma[1.5] == pytest.approx(chroma[2.0])


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 2.01, math.inf, "1", None, True])
def test_bad_vividness_is_a_parameter_error_naming_it(bad):
    with pytest.raises(ParameterError, match="^vividness"):
        D.check_vividness(bad)


def test_calibration_lookup():
    assert D.calibration_for("tinctnet-v2") is D.CALIBRATIONS["tinctnet-v2"]
    assert D.calibration_for("unknown-model") is D.DEFAULT
    assert D.calibration_for_model(None, "/somewhere/tinctnet-v2.pt") is D.CALIBRATIONS["tinctnet-v2"]
    assert D.calibration_for_model("eccv16", None) is D.DEFAULT


def test_regression_head_uses_class_confidence():
    ab = np.full((8, 10, 2), 50.0, np.float32)
    sure = _logits_for([((50.0, 50.0), 1.0)], shape=(2, 3))
    torn = _logits_for([((-10.0, -50.0), 0.5), ((60.0, 40.0), 0.5)], shape=(2, 3))
    out_sure, c_sure = D.calibrated_regression(ab, sure, "313", 1.0)
    out_torn, c_torn = D.calibrated_regression(ab, torn, "313", 1.0)
    assert c_sure.shape == (8, 10) and np.all(c_sure == 1.0) and np.array_equal(out_sure, ab)
    assert np.all(c_torn == 0.0) and np.hypot(*out_torn[0, 0]) < 25
    no_logits, c = D.calibrated_regression(ab, None, "313", 0.5)
    assert np.all(c == 1.0) and np.allclose(no_logits, 25.0)


# --------------------------------------------------------------------------- through the registered methods
@pytest.fixture(scope="module")
def tinct_weights(tmp_path_factory):
    import torch

    from tinct.models import tinctnet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "w.pt"
    tinctnet.save(tinctnet.build(width=8), path)
    return str(path)


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:48, 0:72]
    base = np.stack([x / 72, y / 48, 0.5 + 0.3 * np.sin(x / 5)], axis=2)
    return np.clip(base + 0.05 * rng.standard_normal(base.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("method", ["auto", "eccv16", "siggraph17"])
def test_every_cnn_method_declares_vividness_and_refuses_nan(method, photo):
    m = get_method(method)
    p = m.param("vividness")
    assert p.default == 1.0 and p.min == 0.0 and p.max == 2.0
    for bad in (float("nan"), 2.5, -1.0):
        with pytest.raises(ParameterError, match="^vividness"):
            m(photo, weights="/nonexistent.pt", vividness=bad)  # refused before the weights are looked for
    with pytest.raises(ParameterError, match="^vividness"):
        m.parse(["vividness=nan"])


def test_colorize_with_confidence_returns_exactly_the_method_result(tinct_weights, photo):
    from tinct.colorize.cnn import colorize_with_confidence

    img = (photo * 65535).astype(np.uint16)
    img = np.concatenate([img, np.full(img.shape[:2] + (1,), 40000, np.uint16)], axis=2)  # alpha
    for v in (0.0, 1.0, 2.0):
        result, conf = colorize_with_confidence(img, "auto", weights=tinct_weights, input_size=SIZE, vividness=v)
        expected = get_method("auto")(img, weights=tinct_weights, input_size=SIZE, vividness=v)
        assert np.array_equal(result, expected) and result.dtype == np.uint16 and result.shape == (48, 72, 4)
        assert conf.shape == (48, 72) and conf.dtype == np.float32 and conf.min() >= 0 and conf.max() <= 1
    with pytest.raises(ParameterError, match="^bogus"):
        colorize_with_confidence(img, "auto", weights=tinct_weights, bogus=1)
    with pytest.raises(ParameterError, match="^method"):
        colorize_with_confidence(img, "reinhard")


def test_confidence_of_a_one_pixel_image(tinct_weights):
    from tinct.colorize.cnn import colorize_with_confidence

    result, conf = colorize_with_confidence(np.array([[128]], np.uint8), "auto", weights=tinct_weights)
    assert result.shape == (1, 1, 3) and conf.shape == (1, 1) and 0.0 <= float(conf[0, 0]) <= 1.0


def test_gray_at_vividness_zero_keeps_lightness(tinct_weights, photo):
    out = get_method("auto")(photo, weights=tinct_weights, input_size=SIZE, vividness=0.0)
    assert np.abs(out - out.mean(axis=2, keepdims=True)).max() < 2e-3  # neutral


def test_siggraph17_regression_confidence_from_the_class_head(tmp_path, photo):
    import torch

    from tinct.colorize.cnn import colorize_with_confidence
    from tinct.models.loading import build

    torch.manual_seed(1)
    path = tmp_path / "sig.pth"
    torch.save(build("siggraph17").eval().state_dict(), path)
    out, conf = colorize_with_confidence(photo, "siggraph17", weights=str(path), input_size=SIZE)
    assert out.shape == photo.shape and conf.shape == photo.shape[:2]
    plain = get_method("siggraph17")(photo, weights=str(path), input_size=SIZE, vividness=2.0)
    gray = get_method("siggraph17")(photo, weights=str(path), input_size=SIZE, vividness=0.0)
    from tinct.color import rgb2lab

    unsure = conf == 0.0
    chroma = np.hypot(*np.moveaxis(rgb2lab(out)[..., 1:], -1, 0))
    assert chroma[unsure].max() <= D.DEFAULT.cap + 0.5  # unsure colour is capped below vivid
    assert plain.shape == out.shape
    assert np.abs(gray - gray.mean(axis=2, keepdims=True)).max() < 2e-3


def test_colorize_many_takes_vividness(tinct_weights, photo):
    from tinct.colorize.cnn import colorize_many

    one = get_method("auto")(photo, weights=tinct_weights, input_size=SIZE, vividness=0.5)
    many = list(colorize_many([photo, photo], arch=None, weights=tinct_weights, input_size=SIZE, vividness=0.5))
    for m in many:
        np.testing.assert_allclose(m, one, atol=2e-3)  # batched convs may sum in another order
    with pytest.raises(ParameterError, match="^vividness"):
        list(colorize_many([photo], arch=None, weights=tinct_weights, vividness=float("nan")))
