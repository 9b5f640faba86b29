"""Bit-identical outputs through ``.pth``, ONNX and Caffe for weights the tests make (issue 6, "Done when").

With arbitrary float weights the backends cannot agree to the bit: PyTorch
(oneDNN), onnxruntime (MLAS) and OpenCV sum a convolution's products in
different orders and with or without fused multiply-adds; ``test_cnn.py``
checks those agree to float32 noise. Here the weights are random but chosen so
that every operation of the network is *one* correctly rounded IEEE operation
on the same operands, whatever the backend's summation order or kernel:

* every conv: each output channel has a single non-zero tap, at a random
  (input channel, ky, kx), of value +-2^k. A product with a power of two is
  exact and the other products are exact zeros, so each output is
  ``round(w * x + b)`` in any order, with or without FMA. The stride-2
  transposed convs get one tap per (ky % 2, kx % 2) class: still one product
  per output pixel;
* biases, BatchNorm means and shifts: multiples of 1/16; BatchNorm scales
  +-1, +-0.5 or 2 and ``running_var = float32(1 - eps)``, so ``var + eps ==
  1.0`` and 1/sqrt of it is exactly 1: BatchNorm is ``round(x * g + c)``
  with ``c = beta - mean * g`` exact;
* activations stay within tens, far from overflow and underflow.

Only the input's ``(L - 50) / 100`` and these single roundings are inexact,
and every backend does them on the same operands (the Caffe/cv2 backend is
fed the same normalised input, see :class:`tinct.models.caffe.CaffeNet`).

A wrong padding, dilation, stride or kernel flip in any backend moves the
random taps onto other pixels and changes the numbers, which the last test
checks by breaking one layer at a time. Convolution algorithms that transform
the data (OpenCV's Winograd F(6x6, 3x3)) are not exact on these weights; the
Caffe backend runs with Winograd off for that reason (also checked here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinct.registry import get_method

SIZE = 128  # network input side (about SIZE^2 pixels, aspect kept): the dilated layers see 12 x 22
PHOTO = Path(__file__).resolve().parents[2] / "data" / "examples" / "detroit_1915.jpg"


def exact_weights(net, seed: int, l_calib: np.ndarray):
    """Give ``net`` random weights whose float32 arithmetic is one rounding per operation; see the module notes.

    Tap positions and signs, BatchNorm scales and shifts are random. Like a
    data-driven initialisation, each layer is then fitted, in network order, to
    its input on ``l_calib`` (2, 1, h, w), two different pictures: each output
    channel taps an input channel that still tells the two apart (the others
    are constant or have been shifted out through the zero padding), with the
    power of two that brings its spread near 1, and biases (multiples of 1/16)
    that let about 98% of the pixels through the ReLU; BatchNorm means are the
    channel means rounded to 1/16. Without that, chains of single taps die in
    ReLUs, blow up, or walk off the edge, and the logits stop depending on
    the picture.
    """
    import torch

    rng = np.random.default_rng(seed)
    convs, norms = [], []
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and m.bias is not None:
                convs.append(m)
            elif isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_var.fill_(float(np.float32(1.0 - m.eps)))
                m.weight.copy_(torch.from_numpy(rng.choice(np.float32([2.0, 1.0, 0.5, -1.0, -0.5]), size=c)))
                m.bias.copy_(torch.from_numpy(rng.integers(-8, 9, c).astype(np.float32) / 16))
                assert float(np.float32(m.running_var[0].item()) + np.float32(m.eps)) == 1.0
                norms.append(m)
    net.eval()
    done: set = set()

    def per_channel(y):
        return y.transpose(0, 1).reshape(y.shape[1], -1)

    def fit(m, args):
        if m in done:
            return
        done.add(m)
        x = args[0]
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.round(per_channel(x).mean(dim=1) * 16) / 16)
            return
        deconv = isinstance(m, torch.nn.ConvTranspose2d)  # weight (in, out, kh, kw)
        cin, cout, kh, kw = m.weight.shape if deconv else (m.weight.shape[1], m.weight.shape[0], *m.weight.shape[2:])
        apart = (x[0] != x[1]).reshape(cin, -1).float().mean(dim=1).numpy()
        informative = np.flatnonzero(apart >= np.quantile(apart, 0.5))
        w = np.zeros(m.weight.shape, np.float32)
        co = np.arange(cout)
        # A stride-2 transposed conv gives each output pixel the taps of one (ky % 2, kx % 2) class:
        # one tap per class keeps one product per pixel and fills every pixel, not a quarter of them.
        for py, px in ((0, 0), (0, 1), (1, 0), (1, 1)) if deconv else ((None, None),):
            ci = rng.choice(informative, size=cout)
            ky = rng.integers(kh, size=cout) if py is None else py + 2 * rng.integers(kh // 2, size=cout)
            kx = rng.integers(kw, size=cout) if px is None else px + 2 * rng.integers(kw // 2, size=cout)
            sign = rng.choice(np.float32([1.0, -1.0]), size=cout, p=[0.75, 0.25])
            if deconv:
                w[ci, co, ky, kx] = sign
            else:
                w[co, ci, ky, kx] = sign
        m.weight.copy_(torch.from_numpy(w))
        m.bias.zero_()
        y = per_channel(m.forward(x))  # forward(), not __call__: no hooks
        spread = y.std(dim=1).numpy()
        gain = np.exp2(np.clip(np.round(-np.log2(np.maximum(spread, 1e-30))), -6, 6)).astype(np.float32)
        m.weight.mul_(torch.from_numpy(gain).reshape((1, -1, 1, 1) if deconv else (-1, 1, 1, 1)))
        low = torch.quantile(y * torch.from_numpy(gain)[:, None], 0.02, dim=1).numpy()
        bias = (-np.floor(low * 16) + rng.integers(0, 9, low.size)) / 16  # multiples of 1/16
        m.bias.copy_(torch.from_numpy(bias.astype(np.float32)))

    handles = [m.register_forward_pre_hook(fit) for m in convs + norms]
    try:
        with torch.no_grad():
            l_calib = torch.from_numpy(l_calib)
            for run in ("forward_ab", "features", "forward"):  # between them, every layer is called
                if hasattr(net, run):
                    getattr(net, run)(l_calib)
    finally:
        for h in handles:
            h.remove()
    assert len(done) == len(convs) + len(norms)
    return net


def calibration(photo) -> np.ndarray:
    """The photo and the photo upside down, as network inputs (2, 1, h, w)."""
    return np.concatenate([net_input(photo), net_input(np.ascontiguousarray(photo[::-1]))])


def net_input(image) -> np.ndarray:
    """What the pipeline feeds the network for ``image`` at input side SIZE: L (1, 1, h, w)."""
    from types import SimpleNamespace

    from tinct.colorize.cnn import _prepare

    return _prepare(image, SimpleNamespace(input_size=SIZE, multiple=8), SIZE)[2][None, None]


@pytest.fixture(scope="module")
def photo():
    from tinct.io import read_image

    return read_image(PHOTO).pixels  # a real black-and-white photograph, (354, 640) uint8


@pytest.fixture(scope="module")
def eccv16_exact(tmp_path_factory, photo):
    """The same exact-arithmetic ECCV16 as the authors' ``.pth`` (1/0.38 folded in) and as a Caffe model."""
    import torch

    from tinct.models.loading import build, load_network
    from tinct.models.tests.caffe_writer import write_caffe
    from tinct.models.weights import REGISTRY

    d = tmp_path_factory.mktemp("eccv16-exact")
    net = exact_weights(build("eccv16"), seed=6, l_calib=calibration(photo))
    files = {"net": net, "pth": d / "exact.pth", "caffemodel": d / "exact.caffemodel",
             "prototxt": d / "exact.prototxt"}
    scale = REGISTRY["eccv16"].logit_scale  # what the loader assumes for a bare ECCV16 state dict
    with torch.no_grad():  # logit biases that survive x scale / scale (the taps, powers of two, always do)
        bias = net.model8[6].bias
        for _ in range(64):
            moved = (bias * scale) / scale != bias
            if not moved.any():
                break
            bias[moved] += 1 / 16
    port = {k: v.clone() for k, v in net.state_dict().items()}
    for key in ("model8.6.weight", "model8.6.bias"):
        port[key] = port[key] * scale
    torch.save(port, files["pth"])
    write_caffe(net, files["prototxt"], files["caffemodel"])
    # Precondition: folding the factor in and dividing it out again gives back these very weights.
    loaded = load_network(files["pth"], arch="eccv16")
    assert loaded.logit_scale == pytest.approx(1 / 0.38)
    for mine, theirs in zip(loaded.logit_layer(), (net.model8[6].weight, net.model8[6].bias)):
        assert torch.equal(mine, theirs)
    return files


def _colorize(method, image, weights, **kw):
    # the plain annealed mean: a random network is unsure everywhere, so calibration would mute it all
    kw.setdefault("vividness", 2.0)
    return get_method(method)(image, weights=str(weights), input_size=SIZE, return_extras=True, **kw)


def _assert_identical(runs: dict, ref_name: str):
    ref, ref_x = runs[ref_name]
    for name, (out, extras) in runs.items():
        assert out.dtype == np.uint8 and out.shape == ref.shape, name
        assert np.array_equal(extras["logits"], ref_x["logits"]), name
        assert np.array_equal(extras["ab_lowres"], ref_x["ab_lowres"]), name
        assert np.array_equal(extras["entropy"], ref_x["entropy"]), name
        assert np.array_equal(extras["mode"], ref_x["mode"]), name
        assert np.array_equal(out, ref), name


def _assert_not_trivial(net, photo, out, extras):
    """The check means something only if the network's output depends on the picture."""
    import torch

    logits = extras["logits"]
    with torch.no_grad():
        mirrored = net(torch.from_numpy(net_input(np.ascontiguousarray(photo[:, ::-1])))).numpy()[0]
    assert mirrored.shape == logits.shape
    follows = (mirrored != logits).mean(axis=0)  # per pixel: the fraction of logits that follow the picture
    assert follows.mean() > 0.5 and (follows > 0.1).mean() > 0.9
    assert logits.std(axis=(1, 2)).mean() > 0.05  # logits vary over the image
    assert (logits.std(axis=0) > 0.3).all()  # and over the bins at every pixel
    assert extras["ab_lowres"].reshape(-1, 2).std(axis=0).min() > 5.0  # decoded colours vary
    assert len(np.unique(out.reshape(-1, 3), axis=0)) > 1000  # a colour picture, not a tint


def test_eccv16_bit_identical_through_pth_onnx_and_caffe(eccv16_exact, photo):
    """One real photo through ``tinct colorize``'s method on every backend and format: the same bits.

    ``.pth`` (the authors' layout) on PyTorch and onnxruntime, the ``.caffemodel``
    through OpenCV's dnn (seed 001's route) and through tinct's Caffe reader
    into PyTorch: uint8 output, logits, low-resolution ab, entropy and mode all
    ``np.array_equal``.
    """
    from tinct.models.caffe import cv2_has_caffe

    caffe = dict(weights=eccv16_exact["caffemodel"], prototxt=str(eccv16_exact["prototxt"]))
    runs = {
        "pth-torch": _colorize("eccv16", photo, eccv16_exact["pth"], backend="torch"),
        "pth-onnx": _colorize("eccv16", photo, eccv16_exact["pth"], backend="onnx"),
        "caffemodel-torch": _colorize("eccv16", photo, backend="torch", **caffe),
    }
    assert cv2_has_caffe()  # pinned opencv<5: the seed's route must be tested, not skipped
    runs["caffe-cv2"] = _colorize("eccv16", photo, backend="caffe", **caffe)
    _assert_not_trivial(eccv16_exact["net"], photo, *runs["pth-torch"])
    _assert_identical(runs, "pth-torch")


def test_opencv_winograd_is_not_exact(eccv16_exact, photo):
    """Why the Caffe backend turns Winograd off: with it on, the same file gives other logits."""
    import torch

    from tinct.models.caffe import load_cv2

    l_in = net_input(photo)[0, 0]
    with torch.no_grad():
        ref = eccv16_exact["net"](torch.from_numpy(l_in)[None, None]).numpy()
    fast = load_cv2(eccv16_exact["prototxt"], eccv16_exact["caffemodel"], winograd=True)
    if hasattr(fast.net, "enableWinograd"):  # OpenCV >= 4.7
        logits = fast.run(l_in[None, None])["logits"]
        assert not np.array_equal(logits, ref)
        np.testing.assert_allclose(logits, ref, atol=1e-2)  # float noise, not a different network


def test_siggraph17_bit_identical_through_pth_and_onnx(tmp_path, photo):
    """SIGGRAPH17 has no Caffe release: ``.pth`` on PyTorch and onnxruntime, both heads.

    The classification head (529 logits, decoded by tinct) gives the same bits.
    The regression head ends in ``tanh``, which PyTorch and onnxruntime
    approximate differently in the last bits; it is compared to float noise.
    """
    import torch

    from tinct.models.loading import build

    net = exact_weights(build("siggraph17"), seed=17, l_calib=calibration(photo))
    path = tmp_path / "exact-sig.pth"
    torch.save(net.state_dict(), path)
    runs = {b: _colorize("siggraph17", photo, path, backend=b, head="classification") for b in ("torch", "onnx")}
    _assert_not_trivial(net, photo, *runs["torch"])
    _assert_identical(runs, "torch")
    reg = {b: get_method("siggraph17")(photo, weights=str(path), input_size=SIZE, backend=b) for b in ("torch", "onnx")}
    diff = np.abs(reg["torch"].astype(np.int16) - reg["onnx"])
    assert diff.max() <= 1 and (diff > 0).mean() <= 1e-3


def _break_prototxt(src: Path, dst: Path, layer: str, old: str, new: str) -> Path:
    lines = src.read_text().splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if f'name: "{layer}"' in line]
    assert len(hits) == 1 and old in lines[hits[0]]
    lines[hits[0]] = lines[hits[0]].replace(old, new)
    dst.write_text("".join(lines))
    return dst


@pytest.mark.parametrize("fault", ["dilation", "strided-flip", "deconv-flip", "same-padding", "torch-dilated-flip"])
def test_exactness_check_catches_a_broken_layer(eccv16_exact, photo, tmp_path, fault):
    """The bit-identity check is sensitive: one layer broken in one backend changes the logits.

    Each fault keeps every shape, as a conversion bug would: in OpenCV, the
    dilated ``conv6_2`` run undilated, the kernel of the stride-2 ``conv1_2``
    or of the transposed ``conv8_1`` flipped; in PyTorch, ``conv1_2`` padded
    on the bottom/right only (TensorFlow's SAME padding: the stride grid moves
    one pixel) or the dilated ``model5.0``'s kernel flipped.
    """
    import torch

    from tinct.models.caffe import load_cv2

    l_in = net_input(photo)[0, 0]
    batch = torch.from_numpy(l_in[None, None])
    net = eccv16_exact["net"]
    with torch.no_grad():
        ref = net(batch).numpy()
    prototxt, caffemodel = eccv16_exact["prototxt"], eccv16_exact["caffemodel"]
    if fault in ("same-padding", "torch-dilated-flip"):
        seq, index = (net.model1, 2) if fault == "same-padding" else (net.model5, 0)
        original = seq[index]
        with torch.no_grad():
            if fault == "same-padding":
                conv = torch.nn.Conv2d(original.in_channels, original.out_channels, 3, stride=2, padding=0)
                conv.weight.copy_(original.weight)
                replacement = torch.nn.Sequential(torch.nn.ZeroPad2d((0, 2, 0, 2)), conv)
            else:
                conv = torch.nn.Conv2d(original.in_channels, original.out_channels, 3, padding=2, dilation=2)
                conv.weight.copy_(torch.flip(original.weight, dims=(2, 3)))
                replacement = conv
            conv.bias.copy_(original.bias)
            seq[index] = replacement
            try:
                broken = net(batch).numpy()
            finally:
                seq[index] = original
    else:
        if fault == "dilation":
            prototxt = _break_prototxt(prototxt, tmp_path / "b.prototxt", "conv6_2", "pad: 2 dilation: 2", "pad: 1")
        cnet = load_cv2(prototxt, caffemodel)
        if fault != "dilation":
            layer = cnet.net.getLayer(cnet.net.getLayerId("conv1_2" if fault == "strided-flip" else "conv8_1"))
            w, b = layer.blobs[0], layer.blobs[1]
            layer.blobs = [np.ascontiguousarray(w[:, :, ::-1, ::-1]), b]
        broken = cnet.run(l_in[None, None])["logits"]
    assert broken.shape == ref.shape
    assert not np.array_equal(broken, ref)
    with torch.no_grad():
        assert np.array_equal(net(batch).numpy(), ref)  # the shared network is intact again
