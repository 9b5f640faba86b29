"""The CNN colorization pipeline with random weights the tests make (nothing is downloaded)."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.color import ab_bins, rgb2lab
from tinct.colorize.cnn import colorize_cnn, colorize_many, net_input_shape
from tinct.errors import MissingWeightsError, ParameterError, TinctError
from tinct.registry import get_method

SIZE = 64  # network input side in these tests: small and fast


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:48, 0:72]
    base = np.stack([x / 72, y / 48, 0.5 + 0.3 * np.sin(x / 5)], axis=2)
    return np.clip(base + 0.05 * rng.standard_normal(base.shape), 0, 1).astype(np.float32)


def _run(image, files, key, **kw):
    kw.setdefault("input_size", SIZE)
    kw.setdefault("arch", "eccv16")
    kw.setdefault("vividness", 2.0)  # the plain annealed mean, which these tests compare with the reference ports
    if key == "caffemodel":
        kw.setdefault("prototxt", str(files["prototxt"]))
    return colorize_cnn(image, weights=str(files[key]), return_extras=True, **kw)


def test_same_output_through_pth_tinct_file_onnx_and_caffe(eccv16_files, photo):
    """Same general float weights, every format and backend: logits agree to float32 summation-order noise.

    With arbitrary float weights bit-identity across runtimes is not possible:
    PyTorch (oneDNN), onnxruntime (MLAS) and OpenCV sum the convolutions in
    different orders, with or without fused multiply-adds, and the port's .pth
    (x 1/0.38 folded in) and Caffe (conv1 / 100) layouts round the weights
    differently. Measured on this case: logits within 3e-5 (their std is ~5),
    ab within 1e-3, and at most one uint8 value in 10,000 off by one level.
    The same file on the same backend is bit-identical across reloads;
    ``test_cnn_exact.py`` shows all backends give the same bits on weights
    whose arithmetic is exact.
    """
    from tinct.models import loading

    img = (photo * 255 + 0.5).astype(np.uint8)
    ref, ref_x = _run(img, eccv16_files, "pt", backend="torch")
    loading.clear_cache()
    again, again_x = _run(img, eccv16_files, "pt", backend="torch")
    assert np.array_equal(again, ref) and np.array_equal(again_x["logits"], ref_x["logits"])
    runs = {
        "pth": _run(img, eccv16_files, "pth", backend="torch"),
        "onnx": _run(img, eccv16_files, "pt", backend="onnx"),
        "caffemodel-torch": _run(img, eccv16_files, "caffemodel", backend="torch"),
    }
    from tinct.models.caffe import cv2_has_caffe

    if cv2_has_caffe():
        runs["caffe-cv2"] = _run(img, eccv16_files, "caffemodel", backend="caffe")
    else:  # OpenCV >= 5: the cv2.dnn route must say why it is unavailable
        with pytest.raises(TinctError, match="no Caffe importer"):
            _run(img, eccv16_files, "caffemodel", backend="caffe")
    assert ref_x["ab_lowres"].std() > 1.0  # the random net predicts real, varied colour
    for name, (out, extras) in runs.items():
        assert out.dtype == np.uint8 and out.shape == (48, 72, 3), name
        diff = np.abs(out.astype(np.int16) - ref)
        assert diff.max() <= 1 and (diff > 0).mean() <= 1e-3, name
        np.testing.assert_allclose(extras["ab_lowres"], ref_x["ab_lowres"], atol=2e-3, err_msg=name)
        np.testing.assert_allclose(extras["logits"], ref_x["logits"], atol=2e-4, err_msg=name)


def test_opencv_class8_ab_equals_tinct_decoding(eccv16_files, photo):
    """Seed 001's own result, OpenCV's ``class8_ab`` (conv8_313_rh = 1/T, softmax, bin centres), is tinct's decoding.

    The pipeline decodes the ``conv8_313`` logits with tinct's annealed mean on
    every backend; this checks that it computes what the seed's recipe does
    inside OpenCV, at several temperatures set one after the other on one net.
    """
    from tinct.color import annealed_mean
    from tinct.colorize.cnn import _prepare, load_model
    from tinct.models.caffe import load_cv2

    net = load_cv2(eccv16_files["prototxt"], eccv16_files["caffemodel"])
    model = load_model("eccv16", str(eccv16_files["caffemodel"]), prototxt=str(eccv16_files["prototxt"]),
                       backend="caffe")
    _, _, l_in = _prepare(photo, model, SIZE)
    saturations = []
    for t in (0.38, 1.0, 0.2, 0.38):
        out = net.run(l_in[None, None], t, cv2_ab=True)
        assert out["ab"].shape == (1, 2) + out["logits"].shape[2:]
        mine = np.moveaxis(annealed_mean(out["logits"][0], temperature=t, axis=0), -1, 0)
        np.testing.assert_allclose(out["ab"][0], mine, atol=2e-3, err_msg=f"T={t}")
        saturations.append(np.hypot(*mine).mean())
        _, extras = _run(photo, eccv16_files, "caffemodel", backend="caffe", temperature=t)
        assert np.array_equal(extras["ab_lowres"], np.moveaxis(mine, 0, -1)), t  # what the pipeline uses
    assert saturations[1] < saturations[0] < saturations[2]  # T matters: colder is more saturated
    assert saturations[3] == saturations[0]


def test_temperature_means_the_same_as_the_authors_port(eccv16_files, photo):
    """The port's forward (softmax, 1x1 centre conv, x110) on a bare .pth equals tinct's decoding at T = 0.38."""
    import torch

    from tinct.colorize.cnn import _prepare, load_model
    from tinct.models.loading import load_network

    net = load_network(eccv16_files["pth"], arch="eccv16")
    assert net.logit_scale == pytest.approx(1 / 0.38)
    model = load_model("eccv16", str(eccv16_files["pth"]), backend="torch")
    _, _, l_in = _prepare(photo, model, SIZE)
    with torch.no_grad():
        z = net.features(torch.from_numpy(l_in)[None, None])
        port = (net.model_out(torch.softmax(z, dim=1)) * 110.0)[0].numpy().transpose(1, 2, 0)
    _, extras = _run(photo, eccv16_files, "pth", backend="torch", temperature=0.38)
    np.testing.assert_allclose(extras["ab_lowres"], port, atol=2e-3)
    # T = 1 is the plain mean of the network's own distribution: less saturated than 0.38.
    _, mean = _run(photo, eccv16_files, "pth", backend="torch", temperature=1.0)
    assert np.hypot(*mean["ab_lowres"].reshape(-1, 2).T).mean() < np.hypot(*port.reshape(-1, 2).T).mean()


def test_small_temperature_tends_to_the_mode(eccv16_files, photo):
    _, cold = _run(photo, eccv16_files, "pt", temperature=0.01, upsample="bilinear")
    centres = ab_bins("313")
    logits = cold["logits"]
    mode = centres[np.argmax(logits, axis=0)]
    close = np.abs(cold["ab_lowres"] - mode).max(axis=2) < 1.0
    assert close.mean() > 0.9
    assert cold["entropy"].shape == photo.shape[:2]
    assert (cold["entropy"] >= 0).all() and (cold["entropy"] <= np.log(313) + 1e-3).all()
    assert cold["mode"].shape == photo.shape


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-3), (np.uint16, 5e-3), (np.uint8, 0.5)])
def test_output_keeps_the_input_lightness(eccv16_files, photo, dtype, tol):
    img = photo if dtype == np.float32 else (photo * np.iinfo(dtype).max + 0.5).astype(dtype)
    before = img.copy()
    out = colorize_cnn(img, weights=str(eccv16_files["pt"]), input_size=SIZE)
    assert np.array_equal(img, before)  # input untouched
    assert out.dtype == np.dtype(dtype)
    d = np.abs(rgb2lab(out)[..., 0] - rgb2lab(img)[..., 0])
    assert d.max() <= tol
    assert np.abs(rgb2lab(out)[..., 1:]).mean() > 1.0  # and it did add colour


@pytest.mark.parametrize("shape", [(16, 16), (17, 301), (300, 19, 1), (20, 24, 4)])
def test_any_size_and_channel_layout(eccv16_files, shape):
    rng = np.random.default_rng(0)
    img = (rng.random(shape) * 255).astype(np.uint8)
    out = colorize_cnn(img, weights=str(eccv16_files["pt"]), input_size=SIZE)
    channels = 4 if len(shape) == 3 and shape[2] == 4 else 3
    assert out.shape == shape[:2] + (channels,)
    if channels == 4:  # alpha carried through untouched
        assert np.array_equal(out[..., 3], img[..., -1])


def test_net_input_keeps_aspect():
    assert net_input_shape(512, 768, 256, 8) == (208, 312)
    h, w = net_input_shape(17, 3000, 256, 8)
    assert h % 8 == 0 and w % 8 == 0 and h >= 16 and abs(w / h - 3000 / 17) / (3000 / 17) < 0.9


def _edge_case():
    H, W = 128, 128
    lightness = np.full((H, W), 30.0, np.float32)
    lightness[:, 61:] = 80.0  # sharp edge between columns 60 and 61
    truth = np.zeros((H, W, 2), np.float32)
    truth[:, :61] = (40.0, 20.0)
    truth[:, 61:] = (-30.0, -30.0)
    low = truth.reshape(16, 8, 16, 8, 2).mean(axis=(1, 3))  # what a network at 1/8 resolution would see
    return lightness, truth, low


def test_joint_bilateral_upsampling_keeps_colour_inside_edges():
    """A colour boundary predicted at low resolution snaps to the L edge; bilinear smears it over 8+ pixels."""
    from tinct.colorize.upsample import bilinear_upsample, joint_bilateral_upsample

    lightness, truth, low = _edge_case()
    err_bi = np.abs(bilinear_upsample(low, lightness.shape) - truth).mean()
    err_jb = np.abs(joint_bilateral_upsample(low, lightness) - truth).mean()
    assert err_jb < 0.25 * err_bi


def test_guided_filter_puts_a_step_at_the_l_edge():
    from tinct.colorize.upsample import bilinear_upsample, guided_upsample

    lightness, truth, low = _edge_case()
    step_bi = np.abs(np.diff(bilinear_upsample(low, lightness.shape)[64, :, 0])).max()
    step_gf = np.abs(np.diff(guided_upsample(low, lightness)[64, :, 0]))
    assert step_gf.argmax() == 60 and step_gf.max() > 3 * step_bi


@pytest.mark.parametrize("method, work", [("bilateral", 2_000_000), ("bilateral", 200_000), ("guided", 0)])
def test_upsampling_large_image_in_bands(method, work):
    from tinct.colorize.upsample import upsample_ab

    lightness = np.tile(np.linspace(0, 100, 1500, dtype=np.float32), (900, 1))
    low = np.ones((8, 12, 2), np.float32) * np.float32([10.0, -5.0])
    out = upsample_ab(low, lightness, method, work_pixels=work)
    assert out.shape == (900, 1500, 2)
    np.testing.assert_allclose(out, np.broadcast_to([10.0, -5.0], out.shape), atol=1e-2)  # constant stays constant


def test_registered_method_and_parameter_checks(eccv16_files, photo):
    m = get_method("eccv16", "colorize")
    out = m(photo, weights=str(eccv16_files["pt"]), input_size=SIZE, upsample="bilinear")
    assert out.shape == photo.shape
    with pytest.raises(ParameterError, match="temperature"):
        m(photo, weights=str(eccv16_files["pt"]), temperature=0.0)
    with pytest.raises(ParameterError, match="upsample"):
        m(photo, weights=str(eccv16_files["pt"]), upsample="nearest")
    with pytest.raises(ParameterError, match="input_size"):
        m(photo, weights=str(eccv16_files["pt"]), input_size=8)
    with pytest.raises(ParameterError, match="backend"):
        m(photo, weights=str(eccv16_files["pt"]), backend="caffe")


def test_missing_weights_say_what_and_how(photo):
    with pytest.raises(MissingWeightsError, match="tinct models download eccv16"):
        get_method("eccv16")(photo)
    with pytest.raises(MissingWeightsError, match="tinct models download eccv16-caffe"):
        get_method("eccv16")(photo, backend="caffe")
    with pytest.raises(MissingWeightsError, match="not found"):
        get_method("eccv16")(photo, weights="/nonexistent/w.pth")


def test_auto_without_default_entry_is_a_clear_error(photo, monkeypatch):
    from tinct.models import weights as registry

    for name, entry in list(registry.REGISTRY.items()):
        if entry.default:
            monkeypatch.delitem(registry.REGISTRY, name)
    with pytest.raises(MissingWeightsError, match="no weights entry is marked default"):
        get_method("auto")(photo)


def test_auto_uses_the_default_entry(eccv16_files, photo, monkeypatch):
    import dataclasses
    import shutil

    from tinct.models import weights as registry

    cache = registry.cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copy(eccv16_files["pt"], cache / "test-default.pt")
    for name, entry in list(registry.REGISTRY.items()):
        if entry.default:
            monkeypatch.setitem(registry.REGISTRY, name, dataclasses.replace(entry, default=False))
    entry = registry.WeightsEntry(name="test-default", arch="eccv16", file="test-default.pt", url=None, default=True)
    monkeypatch.setitem(registry.REGISTRY, "test-default", entry)
    out = get_method("auto")(photo, input_size=SIZE, backend="torch")
    ref = colorize_cnn(photo, weights=str(eccv16_files["pt"]), input_size=SIZE)
    assert np.array_equal(out, ref)
    # the default backend runs the same network through ONNX Runtime: the same result up to float rounding
    assert np.allclose(get_method("auto")(photo, input_size=SIZE), ref, atol=1e-4)


def test_colorize_many_batches_and_reuses_the_model(eccv16_files, photo):
    from tinct.models import loading

    loading.clear_cache()
    imgs = [photo, photo[:, ::-1].copy(), photo[:40, :40].copy()]
    seen = []
    outs = list(colorize_many(imgs, weights=str(eccv16_files["pt"]), input_size=SIZE, batch_size=2,
                              progress=seen.append, backend="torch"))
    assert len(loading._CACHE) == 1 and sum(seen) == 3
    for img, out in zip(imgs, outs):
        single = colorize_cnn(img, weights=str(eccv16_files["pt"]), input_size=SIZE, backend="torch")
        np.testing.assert_allclose(out, single, atol=2e-3)  # batched convs may sum in another order


def test_siggraph17_random_weights(tmp_path, photo):
    import torch

    from tinct.models.loading import build

    torch.manual_seed(1)
    net = build("siggraph17").eval()
    path = tmp_path / "sig.pth"
    torch.save(net.state_dict(), path)
    m = get_method("siggraph17")
    reg = m(photo, weights=str(path), input_size=SIZE)
    cls = m(photo, weights=str(path), input_size=SIZE, head="classification")
    assert reg.shape == cls.shape == photo.shape
    assert not np.array_equal(reg, cls)
