import pytest
import torch

from tinct.errors import ParameterError, TinctError
from tinct.models import tinctnet


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    m = tinctnet.build(width=8)
    m.eval()
    for mod in m.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return m


def test_contract_shapes_and_attributes(net):
    assert net.bins == "313" and net.output_stride == 4 and net.input_size == 256 and net.arch == "tinctnet"
    with torch.no_grad():
        out = net(torch.rand(2, 1, 64, 48) * 100)
    assert out.shape == (2, 313, 16, 12)
    assert tinctnet.build(bins="484", width=8, hints=False)(torch.rand(1, 1, 32, 32) * 100).shape == (1, 484, 8, 8)


def test_hints_steer_the_output_and_empty_hints_equal_no_hints(net):
    lum = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        plain = net(lum)
        empty = net(lum, torch.zeros(1, 2, 32, 32), torch.zeros(1, 1, 32, 32))
        mask = torch.zeros(1, 1, 32, 32)
        mask[..., 10, 10] = 1
        hinted = net(lum, torch.full((1, 2, 32, 32), 60.0) * mask, mask)
    torch.testing.assert_close(plain, empty)
    assert not torch.allclose(plain, hinted)


def test_build_validates_config():
    with pytest.raises(ParameterError, match="bins"):
        tinctnet.build(bins="100")
    with pytest.raises(ParameterError, match="width"):
        tinctnet.build(width=2)
    with pytest.raises(ParameterError, match="input_size"):
        tinctnet.build(input_size=100)


def test_save_load_roundtrip_fp16_and_bn_folding(net, tmp_path):
    path = tmp_path / "w.pt"
    tinctnet.save(net, path, meta={"steps": 3})
    blob = torch.load(path, weights_only=True)
    assert blob["arch"] == "tinctnet" and blob["config"]["width"] == 8 and blob["meta"]["steps"] == 3
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    loaded = tinctnet.load(path)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.modules())  # folded
    lum = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        torch.testing.assert_close(loaded(lum), net(lum), atol=0.05, rtol=0.01)


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(TinctError, match="not found"):
        tinctnet.load(tmp_path / "none.pt")
    torch.save({"arch": "other", "state_dict": {}}, tmp_path / "x.pt")
    with pytest.raises(TinctError, match="not a tinctnet"):
        tinctnet.load(tmp_path / "x.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(TinctError, match="cannot read"):
        tinctnet.load(tmp_path / "junk.pt")


def test_shipped_default_weights_verify_and_colorize_offline():
    import numpy as np

    from tinct.color import rgb2lab
    from tinct.models import weights as registry
    from tinct.registry import get_method

    entry = registry.default_entry()
    assert entry.name == "tinctnet-v2" and entry.arch == "tinctnet" and entry.packaged and entry.url is None
    path = registry.find(entry.name)
    registry.verify(entry, path)  # SHA-256 of the packaged file
    assert path.stat().st_size <= 20 * 2**20
    blob = torch.load(path, weights_only=True)
    assert blob["config"]["input_size"] == entry.input_size
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    y, x = np.mgrid[0:96, 0:128]
    gray = ((x + y) % 256).astype(np.uint8)  # a gray ramp, (H, W)
    out = get_method("auto")(gray, threads=1)
    assert out.shape == (96, 128, 3) and out.dtype == np.uint8
    lab = rgb2lab(out)
    assert np.hypot(lab[..., 1], lab[..., 2]).mean() > 1.0  # it adds colour ...
    ref = rgb2lab(np.repeat(gray[..., None], 3, axis=2))
    assert np.abs(lab[..., 0] - ref[..., 0]).mean() < 1.5  # ... and keeps the lightness
