"""Superpixel matching shared by the superpixel transfer and exemplar colorization.

Building blocks, feature backends, and what both methods must do alike.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinct.color import rgb2gray
from tinct.colorize.exemplar import exemplar
from tinct.errors import ParameterError, TinctError
from tinct.exemplar import matching
from tinct.exemplar.tests.scenes import (
    BLUE,
    GREEN,
    RED,
    SMOOTH_T,
    STRIPED_T,
    YELLOW,
    H,
    W,
    mean_ab,
    scene,
    swapped_reference,
)
from tinct.registry import get_method
from tinct.transfer.superpixel import superpixel


@pytest.fixture(scope="module")
def reference():
    # Swapped layout: a spatial copy would give the wrong colours, only matching by texture gives the right ones.
    return swapped_reference()


def test_dtypes_alpha_and_inputs_untouched(reference):
    rng = np.random.default_rng(0)
    t16 = (scene(GREEN, YELLOW) * 65535).astype(np.uint16)
    alpha = rng.integers(0, 65536, (H, W, 1), dtype=np.uint16)
    t16a = np.concatenate([t16, alpha], axis=2)
    ref8 = (reference * 255).astype(np.uint8)
    before = (t16a.copy(), ref8.copy())
    out = superpixel(t16a, ref8)
    assert out.dtype == np.uint16 and out.shape == (H, W, 4)
    assert np.array_equal(out[..., 3], alpha[..., 0])
    assert np.array_equal(t16a, before[0]) and np.array_equal(ref8, before[1])
    gray3 = np.repeat(rgb2gray(scene(RED, BLUE))[..., None], 3, axis=2)
    assert exemplar(gray3[..., :1], reference=reference).shape == (H, W, 3)


def test_target_mask_leaves_outside_pixels_bit_exact(reference):
    target = (scene(GREEN, YELLOW) * 255).astype(np.uint8)
    mask = np.zeros((H, W), bool)
    mask[:, : W // 2] = True
    out = superpixel(target, reference, target_mask=mask)
    assert np.array_equal(out[~mask], target[~mask])
    assert not np.array_equal(out[mask], target[mask])
    gray = (rgb2gray(scene(RED, BLUE)) * 255).astype(np.uint8)
    out = exemplar(gray, reference=reference, mask=mask)
    assert np.array_equal(out[~mask], np.repeat(gray[..., None], 3, 2)[~mask])
    assert mean_ab(out, SMOOTH_T)[0] > 20


def test_registry_cli_names_and_parameter_errors(reference):
    assert get_method("superpixel", "transfer").need("reference") == "required"
    ex = get_method("exemplar", "colorize")
    assert ex.need("reference") == "required" and ex.need("mask") == "optional"
    gray = rgb2gray(scene(RED, BLUE))
    with pytest.raises(ParameterError, match="backend"):
        ex(gray, reference=reference, backend="resnet")
    with pytest.raises(ParameterError, match="tau"):
        ex(gray, reference=reference, tau=0.0)
    with pytest.raises(ParameterError, match="reference"):
        exemplar(gray)
    with pytest.raises(ParameterError, match="reference"):
        superpixel(scene(GREEN, YELLOW), [])
    with pytest.raises(ParameterError, match=r"reference\[1\]"):
        exemplar(gray, reference=[reference, np.zeros((3, 3, 5))])
    with pytest.raises(ParameterError, match="reference_mask"):
        superpixel(scene(GREEN, YELLOW), reference, reference_mask=np.zeros((H, W), bool))
    with pytest.raises(ParameterError, match="weights"):
        exemplar(gray, reference=reference, weights="x.pth")  # handcrafted takes no weights


# --------------------------------------------------------------------------- building blocks
def test_super_features_are_per_superpixel_means():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 7, (20, 30))
    feat = rng.random((20, 30, 4)).astype(np.float32)
    (got,) = matching.super_features(labels, 7, [feat])
    want = np.stack([feat[labels == i].mean(0) for i in range(7)])
    assert np.allclose(got, want, atol=1e-5)
    weights = (rng.random((20, 30)) > 0.5).astype(np.float32)
    (got_w,) = matching.super_features(labels, 7, [feat], weights)
    want_w = np.stack([feat[(labels == i) & (weights > 0)].mean(0) for i in range(7)])
    assert np.allclose(got_w, want_w, atol=1e-5)


def test_correlation_and_attention():
    rng = np.random.default_rng(2)
    f = rng.random((12, 5)).astype(np.float32)
    m = matching.correlation(f, f.copy())
    assert np.allclose(np.diag(m), 1, atol=1e-5) and np.all(np.abs(m) <= 1 + 1e-5)
    assert np.allclose(m, m.T, atol=1e-5)
    f2 = f * 3.0 + 7.0  # centring + normalisation: invariant to scale and offset
    assert np.allclose(matching.correlation(f, f2), m, atol=1e-4)
    ms = [m, matching.correlation(f[:, :3], f[:, :3])]
    for merge in ("mean", "sum"):
        a = matching.attention(ms, 0.015, merge)
        assert np.allclose(a.sum(1), 1, atol=1e-5) and (a >= 0).all()
        assert (a.argmax(1) == np.arange(12)).all()  # tau small: each superpixel picks itself
    flat = matching.attention(ms, 100.0, "mean")
    assert np.allclose(flat, 1 / 12, atol=0.01)
    # eq. 7 (sum before the softmax) is sharper than eq. 3 (mean of softmaxes).
    assert matching.attention(ms, 0.5, "sum").max(1).mean() > matching.attention(ms, 0.5, "mean").max(1).mean()


def test_fusion_kernel_is_sharp_in_colour_and_local():
    # Two superpixels side by side, each of its own gray level: a pixel takes its own superpixel's value.
    labels = np.zeros((10, 20), np.int32)
    labels[:, 10:] = 1
    colour = np.where(labels == 0, 30.0, 70.0)[..., None].astype(np.float32)
    colour += np.random.default_rng(0).normal(0, 0.5, colour.shape).astype(np.float32)
    stats = matching.kernel_stats(labels, 2, colour, 10.0, 0.1)
    values = np.array([[10.0, -5.0], [-20.0, 40.0]], np.float32)
    out = matching.fuse(labels, colour, stats, values, 1.0, 2)
    assert np.allclose(out[labels == 0], values[0], atol=1e-3)
    assert np.allclose(out[labels == 1], values[1], atol=1e-3)
    # With equal colours, only space separates them: the fused value blends smoothly across the border.
    flat = np.full_like(colour, 50.0)
    out = matching.fuse(labels, flat, matching.kernel_stats(labels, 2, flat, 1.0, 0.1), values, 1.0, 2)
    assert out[5, 0, 0] < out[5, 9, 0] < out[5, 10, 0] < out[5, 19, 0] or \
        out[5, 0, 0] > out[5, 9, 0] > out[5, 10, 0] > out[5, 19, 0]
    assert abs(out[5, 0, 0] - 10.0) < abs(out[5, 9, 0] - 10.0)


def test_slic_labels_contiguous_and_scikit_image_fallback(monkeypatch):
    import builtins

    img = scene(RED, BLUE)
    n = matching.default_segments(H, W)
    assert n == 3 * int(np.sqrt(H * W))
    a = matching.slic_labels(img, n)
    real_import = builtins.__import__

    def no_fast_slic(name, *args, **kwargs):
        if name.startswith("fast_slic"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fast_slic)
    b = matching.slic_labels(img, n)
    for labels in (a, b):
        assert labels.dtype == np.int32 and labels.shape == (H, W)
        assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
        assert 0.4 * n <= labels.max() + 1 <= 1.6 * n
    assert matching.working_shape(1000, 500, 256) == (256, 128) and matching.working_shape(10, 20, 256) == (10, 20)


def test_vgg_and_tinctnet_backends_with_files_the_test_writes(tmp_path, reference):
    import torch

    from tinct.exemplar import features
    from tinct.models import tinctnet

    # A torchvision-shaped vgg19_bn state dict: our keys plus deeper layers and a classifier, which are ignored.
    torch.manual_seed(0)
    net = features._vgg_module()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    for k in state:
        if k.endswith("running_var"):
            state[k] = torch.rand_like(state[k]) + 0.5
    state["features.17.weight"] = torch.zeros(256, 256, 3, 3)
    state["classifier.0.weight"] = torch.zeros(4, 4)
    assert "features.14.weight" in state and "features.15.running_mean" in state and "features.6.weight" not in state
    vgg = tmp_path / "vgg19_bn.pth"
    torch.save(state, vgg)
    be = features.get_backend("vgg19bn", str(vgg))
    maps = be.layers(np.random.default_rng(0).random((20, 24, 3)).astype(np.float32))
    assert [m.shape for m in maps] == [(20, 24, 64), (20, 24, 128), (20, 24, 256)]  # no pooling
    # Same as running the torch layers by hand.
    x = torch.from_numpy(((np.full((20, 24, 3), 0.5, np.float32) - features._IMAGENET_MEAN)
                          / features._IMAGENET_STD).transpose(2, 0, 1).copy())[None]
    net.load_state_dict({k: state[k] for k in net.state_dict()})
    with torch.no_grad():
        ref0 = net.eval().features[:6](x)[0].permute(1, 2, 0).numpy()
    assert np.allclose(be.layers(np.full((20, 24, 3), 0.5, np.float32))[0], ref0, atol=1e-4)
    out = superpixel(scene(GREEN, YELLOW), reference, backend="vgg19bn", weights=str(vgg))
    assert out.shape == (H, W, 3) and np.isfinite(out).all()

    bad = dict(state)
    bad["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(TinctError, match="features.0.weight"):
        features.get_backend("vgg19bn", str(tmp_path / "bad.pth"))

    tn = tmp_path / "tinctnet.pt"
    tinctnet.save(tinctnet.build(width=8, input_size=64), tn)
    be = features.get_backend("tinctnet", str(tn))
    maps = be.layers(np.random.default_rng(0).random((21, 30, 3)).astype(np.float32))
    assert [m.shape for m in maps] == [(21, 30, 8), (21, 30, 16), (21, 30, 32)]
    out = exemplar(rgb2gray(scene(RED, BLUE)), reference=reference, backend="tinctnet", weights=str(tn))
    assert out.shape == (H, W, 3) and np.isfinite(out).all()


def test_cli_colorize_and_transfer(tmp_path, reference):
    from tinct.apps.cli import main
    from tinct.io import read_image, write_image

    gray = tmp_path / "gray.png"
    ref = tmp_path / "ref.png"
    target = tmp_path / "target.png"
    write_image(gray, (rgb2gray(scene(RED, BLUE)) * 255).astype(np.uint8))
    write_image(ref, (reference * 255).astype(np.uint8))
    write_image(target, (scene(GREEN, YELLOW) * 255).astype(np.uint8))
    assert main(["colorize", str(gray), "--reference", str(ref), "-o", str(tmp_path / "out")]) == 0
    out = read_image(tmp_path / "out" / "gray.exemplar.png").pixels
    assert mean_ab(out, SMOOTH_T)[0] > 20
    assert main(["transfer", str(target), "--reference", str(ref), "--method", "superpixel", "-p", "tau=0.03",
                 "-o", str(tmp_path / "out")]) == 0
    out = read_image(tmp_path / "out" / "target.superpixel.png").pixels
    assert mean_ab(out, STRIPED_T)[1] < -15
    assert main(["colorize", str(gray), "--reference", str(ref), "-p", "backend=nope", "-o", str(tmp_path)]) == 2
    from tinct.models import tinctnet

    tinctnet.save(tinctnet.build(width=8, input_size=64), tmp_path / "tn.pt")
    for cmd, inp, method in (("colorize", gray, "exemplar"), ("transfer", target, "superpixel")):
        argv = [cmd, str(inp), "-r", str(ref), "-p", "backend=tinctnet", "-p", f"weights={tmp_path / 'tn.pt'}",
                "-o", str(tmp_path / "tn")]
        assert main(argv + (["--method", method] if cmd == "transfer" else [])) == 0
        assert read_image(tmp_path / "tn" / f"{inp.stem}.{method}.png").pixels.shape == (H, W, 3)


@pytest.mark.parametrize("shape", [(1, 1), (2, 300), (5, 7)])
def test_tiny_images(shape, reference):
    g = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = exemplar(g, reference=reference[:6, :9])
    assert out.shape == shape + (3,) and out.dtype == np.uint8
    assert superpixel(np.dstack([g] * 3), reference).shape == shape + (3,)


def test_auto_backend_prefers_installed_tinctnet_weights(monkeypatch, tmp_path, reference):
    from tinct.exemplar import features
    from tinct.models import tinctnet
    from tinct.models import weights as registry

    gray = rgb2gray(scene(RED, BLUE))
    monkeypatch.setattr(registry, "REGISTRY", {k: v for k, v in registry.REGISTRY.items() if v.arch != "tinctnet"})
    assert features.resolve_auto() == "handcrafted"
    assert np.array_equal(exemplar(gray, reference=reference),
                          exemplar(gray, reference=reference, backend="handcrafted"))
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path))
    tinctnet.save(tinctnet.build(width=8, input_size=64), tmp_path / "tn.pt")
    monkeypatch.setitem(registry.REGISTRY, "tn-test", registry.WeightsEntry(name="tn-test", arch="tinctnet",
                                                                            file="tn.pt", url=None, licence="test"))
    assert features.resolve_auto() == "tinctnet"
    assert np.array_equal(exemplar(gray, reference=reference),
                          exemplar(gray, reference=reference, backend="tinctnet", weights=str(tmp_path / "tn.pt")))
    target = scene(GREEN, YELLOW)  # transfer's auto stays handcrafted
    assert np.array_equal(superpixel(target, reference), superpixel(target, reference, backend="handcrafted"))


def test_lightness_shift_moves_only_colours_out_of_gamut_and_by_the_least_amount():
    from tinct.color import lab2rgb
    from tinct.exemplar.matching import lightness_shift

    L = np.array([[50.0, 92.0, 92.0]], np.float32)
    ab = np.array([[[20.0, 10.0], [-10.0, -60.0], [0.0, 5.0]]], np.float32)  # fits; a vivid blue at L 92; fits
    shift = lightness_shift(L, ab)
    assert shift[0, 0] == 0 and shift[0, 2] == 0
    assert shift[0, 1] < -5  # vivid blue lives lower
    # The moved colour is closer (Delta E) to the wanted one than keeping L and shrinking chroma.
    want = np.array([92.0, -10.0, -60.0], np.float32)
    keep_l = lab2rgb(want[None], gamut="chroma")
    moved = lab2rgb(np.array([[92.0 + shift[0, 1], -10.0, -60.0]], np.float32), gamut="chroma")
    from tinct.color import rgb2lab

    assert np.linalg.norm(rgb2lab(moved)[0] - want) < np.linalg.norm(rgb2lab(keep_l)[0] - want)
