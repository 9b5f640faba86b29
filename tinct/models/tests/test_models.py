"""Networks, weights files, the registry and the Caffe reader/writer."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tinct.errors import MissingWeightsError, ParameterError, TinctError


def _conv(prefix, cout, cin, k=3):
    return [(f"{prefix}.weight", (cout, cin, k, k)), (f"{prefix}.bias", (cout,))]


def _deconv(prefix, cin, cout):
    return [(f"{prefix}.weight", (cin, cout, 4, 4)), (f"{prefix}.bias", (cout,))]


def _bn(prefix, c):
    return [(f"{prefix}.{n}", (c,)) for n in ("weight", "bias", "running_mean", "running_var")]


# Parameter names and shapes of the authors' PyTorch port, written out from their published model
# definitions (richzhang/colorization, colorizers/eccv16.py and siggraph17.py): each block is an
# nn.Sequential of conv, ReLU, ..., BatchNorm, so the indices count the ReLUs too.
ECCV16_KEYS = (
    _conv("model1.0", 64, 1) + _conv("model1.2", 64, 64) + _bn("model1.4", 64)
    + _conv("model2.0", 128, 64) + _conv("model2.2", 128, 128) + _bn("model2.4", 128)
    + _conv("model3.0", 256, 128) + _conv("model3.2", 256, 256) + _conv("model3.4", 256, 256) + _bn("model3.6", 256)
    + sum((_conv(f"model{b}.{i}", 512, 256 if (b, i) == (4, 0) else 512) for b in (4, 5, 6, 7) for i in (0, 2, 4)), [])
    + sum((_bn(f"model{b}.6", 512) for b in (4, 5, 6, 7)), [])
    + _deconv("model8.0", 512, 256) + _conv("model8.2", 256, 256) + _conv("model8.4", 256, 256)
    + _conv("model8.6", 313, 256, 1) + [("model_out.weight", (2, 313, 1, 1))]
)
SIGGRAPH17_KEYS = (
    _conv("model1.0", 64, 4) + _conv("model1.2", 64, 64) + _bn("model1.4", 64)
    + _conv("model2.0", 128, 64) + _conv("model2.2", 128, 128) + _bn("model2.4", 128)
    + _conv("model3.0", 256, 128) + _conv("model3.2", 256, 256) + _conv("model3.4", 256, 256) + _bn("model3.6", 256)
    + sum((_conv(f"model{b}.{i}", 512, 256 if (b, i) == (4, 0) else 512) for b in (4, 5, 6, 7) for i in (0, 2, 4)), [])
    + sum((_bn(f"model{b}.6", 512) for b in (4, 5, 6, 7)), [])
    + _deconv("model8up.0", 512, 256) + _conv("model3short8.0", 256, 256)
    + _conv("model8.1", 256, 256) + _conv("model8.3", 256, 256) + _bn("model8.5", 256)
    + _deconv("model9up.0", 256, 128) + _conv("model2short9.0", 128, 128)
    + _conv("model9.1", 128, 128) + _bn("model9.3", 128)
    + _deconv("model10up.0", 128, 128) + _conv("model1short10.0", 128, 64)
    + _conv("model10.1", 128, 128)
    + _conv("model_class.0", 529, 256, 1) + _conv("model_out.0", 2, 128, 1)
)


@pytest.mark.parametrize("arch, keys", [("eccv16", ECCV16_KEYS), ("siggraph17", SIGGRAPH17_KEYS)])
def test_state_dict_matches_the_authors_port(arch, keys):
    from tinct.models.loading import build

    sd = {k: tuple(v.shape) for k, v in build(arch).state_dict().items() if not k.endswith("num_batches_tracked")}
    assert sd == dict(keys)


def test_forward_contract_shapes():
    import torch

    from tinct.models.loading import build

    l = torch.full((2, 1, 32, 48), 50.0)  # noqa: E741
    e = build("eccv16").eval()
    s = build("siggraph17").eval()
    with torch.no_grad():
        assert e(l).shape == (2, 313, 8, 12)
        assert s(l).shape == (2, 529, 8, 12)
        assert s.forward_ab(l).shape == (2, 2, 32, 48)
    assert e.output_stride == s.output_stride == 4
    # the port's decode conv holds the bin centres / 110
    from tinct.color import ab_bins

    np.testing.assert_allclose(e.model_out.weight.detach()[:, :, 0, 0].T.numpy() * 110, ab_bins("313"), atol=1e-4)


def test_siggraph_bins_order():
    from tinct.models.siggraph17 import siggraph_bins

    bins = siggraph_bins()
    assert bins.shape == (529, 2)
    # index = 23 * ia + ib with a, b from -110 to 110 in steps of 10
    assert tuple(bins[0]) == (-110, -110) and tuple(bins[1]) == (-110, -100) and tuple(bins[23]) == (-100, -110)


def test_load_bare_state_dict_self_describing_file_and_errors(tmp_path):
    import torch

    from tinct.models.loading import build, load_network, save_network

    torch.manual_seed(0)
    net = build("eccv16")
    torch.save(net.state_dict(), tmp_path / "port.pth")
    save_network(net, tmp_path / "tinct.pt")
    port = load_network(tmp_path / "port.pth", arch="eccv16")
    own = load_network(tmp_path / "tinct.pt")
    assert port.logit_scale == pytest.approx(1 / 0.38) and own.logit_scale == 1.0
    for (k, a), b in zip(own.state_dict().items(), port.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(ParameterError, match="bare state dict"):
        load_network(tmp_path / "port.pth")
    with pytest.raises(ParameterError, match="siggraph17"):
        load_network(tmp_path / "tinct.pt", arch="siggraph17")
    with pytest.raises(TinctError, match="does not fit siggraph17"):
        load_network(tmp_path / "port.pth", arch="siggraph17")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(TinctError, match="cannot read"):
        load_network(tmp_path / "junk.pth", arch="eccv16")
    with pytest.raises(MissingWeightsError, match="not found"):
        load_network(tmp_path / "absent.pth", arch="eccv16")


def test_caffe_writer_and_reader_round_trip(tmp_path):
    import torch

    from tinct.models.caffe import caffemodel_to_state_dict, read_caffemodel
    from tinct.models.loading import build
    from tinct.models.tests.caffe_writer import write_caffe

    torch.manual_seed(0)
    net = build("eccv16", logit_scale=2.0)
    write_caffe(net, tmp_path / "m.prototxt", tmp_path / "m.caffemodel")
    layers = read_caffemodel(tmp_path / "m.caffemodel")
    assert layers["class8_ab"][0].shape == (2, 313, 1, 1)
    assert layers["conv8_313_rh"][0].shape == (1, 313)
    assert layers["bw_conv1_1"][0].shape == (64, 1, 3, 3)
    text = (tmp_path / "m.prototxt").read_text()
    for name in ("bw_conv1_1", "conv8_1", "Deconvolution", "conv8_313_rh", "class8_313_rh", "class8_ab"):
        assert name in text
    state = caffemodel_to_state_dict(layers)
    ref = net.state_dict()
    for k, v in state.items():
        expect = ref[k]
        if k.startswith("model8.6"):
            expect = expect / 2.0  # the file holds the network's own logits (logit_scale divided out)
        torch.testing.assert_close(v, expect, rtol=1e-6, atol=1e-6, msg=k)
    (tmp_path / "bad.caffemodel").write_bytes(b"\x0a\x05ab")
    with pytest.raises(TinctError, match="caffemodel|Caffe"):
        read_caffemodel(tmp_path / "bad.caffemodel")


def test_registry_entries_are_complete():
    from tinct.models.weights import REGISTRY

    for e in REGISTRY.values():
        assert e.arch and e.file and e.licence, e.name
        if e.url:
            assert e.url.startswith("https://") or e.url.startswith("http://eecs.berkeley.edu"), e.name
    assert sum(e.default for e in REGISTRY.values()) <= 1
    assert REGISTRY["eccv16"].sha256_prefix == "9b330a0b" and REGISTRY["siggraph17"].sha256_prefix == "df00044c"


def test_cache_dir_override_and_missing_message(tmp_path, monkeypatch):
    from tinct.models import weights

    monkeypatch.setenv("TINCT_CACHE", str(tmp_path))
    assert weights.cache_dir() == tmp_path
    with pytest.raises(MissingWeightsError, match=r"tinct models download eccv16`.*weights=PATH"):
        weights.find("eccv16")
    with pytest.raises(MissingWeightsError, match="allow-unverified"):
        weights.find("eccv16-caffe")


def test_download_verifies_and_caches(tmp_path, monkeypatch):
    """A file:// URL stands in for the official one: nothing leaves the machine."""
    from tinct.models import weights

    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "w.bin"
    src.write_bytes(b"weights" * 1000)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    good = weights.WeightsEntry(name="t-good", arch="eccv16", file="good.bin", url=src.as_uri(), sha256=digest)
    bad = weights.WeightsEntry(name="t-bad", arch="eccv16", file="bad.bin", url=src.as_uri(), sha256="0" * 64)
    prefix = weights.WeightsEntry(name="t-prefix", arch="eccv16", file="p.bin", url=src.as_uri(),
                                  sha256_prefix=digest[:8])
    unverified = weights.WeightsEntry(name="t-none", arch="eccv16", file="n.bin", url=src.as_uri())
    for e in (good, bad, prefix, unverified):
        monkeypatch.setitem(weights.REGISTRY, e.name, e)
    path = weights.download("t-good", progress=False)
    assert path == tmp_path / "cache" / "good.bin" and path.read_bytes() == src.read_bytes()
    assert weights.find("t-good") == path
    assert weights.download("t-prefix", progress=False).is_file()
    with pytest.raises(TinctError, match="SHA-256"):
        weights.download("t-bad", progress=False)
    assert not (tmp_path / "cache" / "bad.bin").exists()
    assert not list((tmp_path / "cache").glob("*.part"))
    with pytest.raises(TinctError, match="allow-unverified"):
        weights.download("t-none", progress=False)
    assert weights.download("t-none", allow_unverified=True, progress=False).is_file()


def test_onnx_export_runs_in_onnxruntime(tmp_path):
    """Any network exports (here tinct's own compact net, small and quick), with dynamic batch and size."""
    import onnxruntime as ort
    import torch

    from tinct.models.loading import build, export_onnx

    torch.manual_seed(0)
    net = build("tinctnet", width=8).eval()
    export_onnx(net, tmp_path / "t.onnx")
    sess = ort.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    l = np.linspace(0, 100, 2 * 64 * 96, dtype=np.float32).reshape(2, 1, 64, 96)  # noqa: E741
    out = sess.run(None, {"l": l})[0]
    with torch.no_grad():
        ref = net(torch.from_numpy(l)).numpy()
    assert out.shape == (2, 313, 16, 24)
    np.testing.assert_allclose(out, ref, atol=1e-3)
