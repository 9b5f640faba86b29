"""The superpixel transfer / exemplar colorization methods (seed 003) on scenes with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.color import rgb2gray, rgb2lab
from tinct.errors import MissingWeightsError, ParameterError, TinctError
from tinct.exemplar import superpixel as sp
from tinct.registry import get_method

H, W = 64, 128
RED = np.array([0.75, 0.3, 0.3], np.float32)
BLUE = np.array([0.3, 0.4, 0.8], np.float32)
GREEN = np.array([0.35, 0.6, 0.3], np.float32)
YELLOW = np.array([0.7, 0.65, 0.25], np.float32)


def stripes(h, w, period=6):
    x = np.arange(w)
    return np.where((x // (period // 2)) % 2 == 0, 1.3, 0.7).astype(np.float32)[None, :].repeat(h, 0)


def scene(smooth_colour, striped_colour, smooth_left=True):
    """Half smooth, half vertically striped; each half its own colour. Returns float RGB (H, W, 3)."""
    img = np.empty((H, W, 3), np.float32)
    half = W // 2
    smooth = np.broadcast_to(smooth_colour, (H, half, 3))
    striped = striped_colour * stripes(H, half)[..., None]
    if smooth_left:
        img[:, :half], img[:, half:] = smooth, striped
    else:
        img[:, :half], img[:, half:] = striped, smooth
    return np.clip(img, 0, 1)


SMOOTH_T = (slice(8, H - 8), slice(8, W // 2 - 8))  # interiors of the target's halves (smooth on the left)
STRIPED_T = (slice(8, H - 8), slice(W // 2 + 8, W - 8))


def mean_ab(img, region):
    lab = rgb2lab(img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else 1.0))
    return lab[region][..., 1:].reshape(-1, 2).mean(0)


@pytest.fixture(scope="module")
def reference():
    # Swapped layout: a spatial copy would give the wrong colours, only matching by texture gives the right ones.
    return scene(RED, BLUE, smooth_left=False)


@pytest.mark.parametrize("backend", ["handcrafted", "auto"])  # auto: tinctnet when its weights ship
def test_colorize_matches_texture_not_position(reference, backend):
    gray = rgb2gray(scene(RED, BLUE, smooth_left=True))
    out = sp.exemplar(gray, reference=reference, backend=backend)
    a_s, b_s = mean_ab(out, SMOOTH_T)
    a_t, b_t = mean_ab(out, STRIPED_T)
    assert a_s > 20 and b_t < -15  # smooth -> red, striped -> blue
    assert a_s - a_t > 20 and b_s - b_t > 20


def test_transfer_matches_texture_and_keeps_lightness(reference):
    target = scene(GREEN, YELLOW, smooth_left=True)
    out = sp.superpixel(target, reference, backend="handcrafted")
    assert out.dtype == np.float32 and out.shape == target.shape
    a_s, _ = mean_ab(out, SMOOTH_T)
    _, b_t = mean_ab(out, STRIPED_T)
    assert a_s > 20 and b_t < -15
    # The target's own L is kept (up to the chroma-only gamut fit).
    dl = np.abs(rgb2lab(out)[..., 0] - rgb2lab(target)[..., 0])
    assert np.percentile(dl, 99) < 1.0


def test_lightness_is_the_input_own_for_colorization(reference):
    gray = (rgb2gray(scene(RED, BLUE)) * 255 + 0.5).astype(np.uint8)
    out = sp.exemplar(gray, reference=(reference * 255).astype(np.uint8))
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    want = rgb2lab(np.repeat(gray[..., None], 3, 2).astype(np.float32) / 255)[..., 0]
    assert np.abs(rgb2lab(out.astype(np.float32) / 255)[..., 0] - want).max() < 1.5


def test_dtypes_alpha_and_inputs_untouched(reference):
    rng = np.random.default_rng(0)
    t16 = (scene(GREEN, YELLOW) * 65535).astype(np.uint16)
    alpha = rng.integers(0, 65536, (H, W, 1), dtype=np.uint16)
    t16a = np.concatenate([t16, alpha], axis=2)
    ref8 = (reference * 255).astype(np.uint8)
    before = (t16a.copy(), ref8.copy())
    out = sp.superpixel(t16a, ref8)
    assert out.dtype == np.uint16 and out.shape == (H, W, 4)
    assert np.array_equal(out[..., 3], alpha[..., 0])
    assert np.array_equal(t16a, before[0]) and np.array_equal(ref8, before[1])
    gray3 = np.repeat(rgb2gray(scene(RED, BLUE))[..., None], 3, axis=2)
    assert sp.exemplar(gray3[..., :1], reference=reference).shape == (H, W, 3)


def test_target_mask_leaves_outside_pixels_bit_exact(reference):
    target = (scene(GREEN, YELLOW) * 255).astype(np.uint8)
    mask = np.zeros((H, W), bool)
    mask[:, : W // 2] = True
    out = sp.superpixel(target, reference, target_mask=mask)
    assert np.array_equal(out[~mask], target[~mask])
    assert not np.array_equal(out[mask], target[mask])
    gray = (rgb2gray(scene(RED, BLUE)) * 255).astype(np.uint8)
    out = sp.exemplar(gray, reference=reference, mask=mask)
    assert np.array_equal(out[~mask], np.repeat(gray[..., None], 3, 2)[~mask])
    assert mean_ab(out, SMOOTH_T)[0] > 20


def test_reference_mask_limits_the_palette(reference):
    target = scene(GREEN, YELLOW)
    only_blue = np.zeros((H, W), bool)
    only_blue[:, : W // 2] = True  # the reference's striped (blue) half
    out = sp.superpixel(target, reference, reference_mask=only_blue)
    blue_ab = rgb2lab(reference[:, : W // 2]).reshape(-1, 3)[:, 1:].mean(0)

    def blue_hue(img):  # cosine between each pixel's ab and the blue's (the gamut fit keeps hue, not chroma)
        ab = rgb2lab(img)[..., 1:]
        return (ab @ blue_ab) / np.maximum(np.linalg.norm(ab, axis=2) * np.linalg.norm(blue_ab), 1e-6)

    assert np.percentile(blue_hue(out), 1) > 0.95  # blue everywhere, no red anywhere
    assert np.percentile(blue_hue(sp.superpixel(target, reference)), 25) < 0.5  # without the mask: red too


def test_several_references_pool_their_superpixels():
    red_smooth = np.broadcast_to(RED, (H, W // 2, 3)).copy()
    blue_striped = np.clip(BLUE * stripes(H, W // 2)[..., None], 0, 1)
    gray = rgb2gray(scene(RED, BLUE))
    out = sp.exemplar(gray, reference=[blue_striped, red_smooth])
    assert mean_ab(out, SMOOTH_T)[1] > 10 and mean_ab(out, STRIPED_T)[1] < -15  # red (b > 0) and blue
    only_blue = sp.exemplar(gray, reference=[blue_striped])
    assert mean_ab(only_blue, SMOOTH_T)[1] < -15


def test_registry_cli_names_and_parameter_errors(reference):
    assert get_method("superpixel", "transfer").reference == "required"
    ex = get_method("exemplar", "colorize")
    assert ex.reference == "required" and ex.mask
    gray = rgb2gray(scene(RED, BLUE))
    with pytest.raises(ParameterError, match="backend"):
        ex(gray, reference=reference, backend="resnet")
    with pytest.raises(ParameterError, match="tau"):
        ex(gray, reference=reference, tau=0.0)
    with pytest.raises(ParameterError, match="reference"):
        sp.exemplar(gray)
    with pytest.raises(ParameterError, match="reference"):
        sp.superpixel(scene(GREEN, YELLOW), [])
    with pytest.raises(ParameterError, match=r"reference\[1\]"):
        sp.exemplar(gray, reference=[reference, np.zeros((3, 3, 5))])
    with pytest.raises(ParameterError, match="reference_mask"):
        sp.superpixel(scene(GREEN, YELLOW), reference, reference_mask=np.zeros((H, W), bool))
    with pytest.raises(ParameterError, match="weights"):
        sp.exemplar(gray, reference=reference, weights="x.pth")  # handcrafted takes no weights


def test_tinctnet_backend_without_weights_is_a_clear_error(monkeypatch, reference):
    from tinct.models import weights as registry

    monkeypatch.setattr(registry, "REGISTRY", {k: v for k, v in registry.REGISTRY.items() if v.arch != "tinctnet"})
    with pytest.raises(MissingWeightsError, match="tinctnet"):
        sp.exemplar(rgb2gray(scene(RED, BLUE)), reference=reference, backend="tinctnet")


def test_vgg_backend_without_weights_names_the_download(monkeypatch, tmp_path, reference):
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="vgg19bn"):
        sp.superpixel(scene(GREEN, YELLOW), reference, backend="vgg19bn")


# --------------------------------------------------------------------------- building blocks
def test_super_features_are_per_superpixel_means():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 7, (20, 30))
    feat = rng.random((20, 30, 4)).astype(np.float32)
    (got,) = sp.super_features(labels, 7, [feat])
    want = np.stack([feat[labels == i].mean(0) for i in range(7)])
    assert np.allclose(got, want, atol=1e-5)
    weights = (rng.random((20, 30)) > 0.5).astype(np.float32)
    (got_w,) = sp.super_features(labels, 7, [feat], weights)
    want_w = np.stack([feat[(labels == i) & (weights > 0)].mean(0) for i in range(7)])
    assert np.allclose(got_w, want_w, atol=1e-5)


def test_correlation_and_attention():
    rng = np.random.default_rng(2)
    f = rng.random((12, 5)).astype(np.float32)
    m = sp.correlation(f, f.copy())
    assert np.allclose(np.diag(m), 1, atol=1e-5) and np.all(np.abs(m) <= 1 + 1e-5)
    assert np.allclose(m, m.T, atol=1e-5)
    f2 = f * 3.0 + 7.0  # centring + normalisation: invariant to scale and offset
    assert np.allclose(sp.correlation(f, f2), m, atol=1e-4)
    ms = [m, sp.correlation(f[:, :3], f[:, :3])]
    for merge in ("mean", "sum"):
        a = sp.attention(ms, 0.015, merge)
        assert np.allclose(a.sum(1), 1, atol=1e-5) and (a >= 0).all()
        assert (a.argmax(1) == np.arange(12)).all()  # tau small: each superpixel picks itself
    flat = sp.attention(ms, 100.0, "mean")
    assert np.allclose(flat, 1 / 12, atol=0.01)
    # eq. 7 (sum before the softmax) is sharper than eq. 3 (mean of softmaxes).
    assert sp.attention(ms, 0.5, "sum").max(1).mean() > sp.attention(ms, 0.5, "mean").max(1).mean()


def test_fusion_kernel_is_sharp_in_colour_and_local():
    # Two superpixels side by side, each of its own gray level: a pixel takes its own superpixel's value.
    labels = np.zeros((10, 20), np.int32)
    labels[:, 10:] = 1
    colour = np.where(labels == 0, 30.0, 70.0)[..., None].astype(np.float32)
    colour += np.random.default_rng(0).normal(0, 0.5, colour.shape).astype(np.float32)
    stats = sp.kernel_stats(labels, 2, colour, 10.0, 0.1)
    values = np.array([[10.0, -5.0], [-20.0, 40.0]], np.float32)
    out = sp.fuse(labels, colour, stats, values, 1.0, 2)
    assert np.allclose(out[labels == 0], values[0], atol=1e-3)
    assert np.allclose(out[labels == 1], values[1], atol=1e-3)
    # With equal colours, only space separates them: the fused value blends smoothly across the border.
    flat = np.full_like(colour, 50.0)
    out = sp.fuse(labels, flat, sp.kernel_stats(labels, 2, flat, 1.0, 0.1), values, 1.0, 2)
    assert out[5, 0, 0] < out[5, 9, 0] < out[5, 10, 0] < out[5, 19, 0] or \
        out[5, 0, 0] > out[5, 9, 0] > out[5, 10, 0] > out[5, 19, 0]
    assert abs(out[5, 0, 0] - 10.0) < abs(out[5, 9, 0] - 10.0)


def test_slic_labels_contiguous_and_scikit_image_fallback(monkeypatch):
    import builtins

    img = scene(RED, BLUE)
    n = sp.default_segments(H, W)
    assert n == 3 * int(np.sqrt(H * W))
    a = sp.slic_labels(img, n)
    real_import = builtins.__import__

    def no_fast_slic(name, *args, **kwargs):
        if name.startswith("fast_slic"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fast_slic)
    b = sp.slic_labels(img, n)
    for labels in (a, b):
        assert labels.dtype == np.int32 and labels.shape == (H, W)
        assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
        assert 0.4 * n <= labels.max() + 1 <= 1.6 * n
    assert sp.working_shape(1000, 500, 256) == (256, 128) and sp.working_shape(10, 20, 256) == (10, 20)


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
    out = sp.superpixel(scene(GREEN, YELLOW), reference, backend="vgg19bn", weights=str(vgg))
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
    out = sp.exemplar(rgb2gray(scene(RED, BLUE)), reference=reference, backend="tinctnet", weights=str(tn))
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
    out = sp.exemplar(g, reference=reference[:6, :9])
    assert out.shape == shape + (3,) and out.dtype == np.uint8
    assert sp.superpixel(np.dstack([g] * 3), reference).shape == shape + (3,)


def test_auto_backend_prefers_installed_tinctnet_weights(monkeypatch, tmp_path, reference):
    from tinct.exemplar import features
    from tinct.models import tinctnet
    from tinct.models import weights as registry

    gray = rgb2gray(scene(RED, BLUE))
    monkeypatch.setattr(registry, "REGISTRY", {k: v for k, v in registry.REGISTRY.items() if v.arch != "tinctnet"})
    assert features.resolve_auto() == "handcrafted"
    assert np.array_equal(sp.exemplar(gray, reference=reference),
                          sp.exemplar(gray, reference=reference, backend="handcrafted"))
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path))
    tinctnet.save(tinctnet.build(width=8, input_size=64), tmp_path / "tn.pt")
    monkeypatch.setitem(registry.REGISTRY, "tn-test", registry.WeightsEntry(name="tn-test", arch="tinctnet",
                                                                            file="tn.pt", url=None, licence="test"))
    assert features.resolve_auto() == "tinctnet"
    assert np.array_equal(sp.exemplar(gray, reference=reference),
                          sp.exemplar(gray, reference=reference, backend="tinctnet", weights=str(tmp_path / "tn.pt")))
    target = scene(GREEN, YELLOW)  # transfer's auto stays handcrafted
    assert np.array_equal(sp.superpixel(target, reference), sp.superpixel(target, reference, backend="handcrafted"))
