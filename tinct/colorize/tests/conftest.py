"""Shared by the colorization tests: a private weights cache, one inference thread, and random-weight
networks saved in every format the CNN pipeline reads (made once per test session)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Keep ONNX exports and registry lookups out of the user's real cache."""
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path_factory.getbasetemp() / "tinct-cache"))


@pytest.fixture(autouse=True)
def _one_thread():
    """One inference thread: on the shared 2-core CI box this is faster and steadier than two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def random_eccv16(seed: int = 0):
    import torch

    from tinct.models.loading import build

    torch.manual_seed(seed)
    net = build("eccv16").eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics and affine terms
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
        # Logits spread enough that T visibly matters.
        net.model8[6].weight.mul_(1000.0)
    return net


@pytest.fixture(scope="session")
def eccv16_files(tmp_path_factory):
    """dict: net, pth (bare state dict, authors' layout), pt (tinct file), caffemodel, prototxt.

    The .pth is written as the authors' port stores ECCV16: with the Caffe
    temperature factor 1/0.38 folded into the last conv (``model8.6``), so all
    four files describe the same network.
    """
    import torch

    from tinct.models.loading import save_network
    from tinct.models.tests.caffe_writer import write_caffe

    d = tmp_path_factory.mktemp("eccv16")
    net = random_eccv16()
    files = {"net": net, "pth": d / "random.pth", "pt": d / "random.pt", "caffemodel": d / "random.caffemodel",
             "prototxt": d / "random.prototxt"}
    port = {k: v.clone() for k, v in net.state_dict().items()}
    for key in ("model8.6.weight", "model8.6.bias"):
        port[key] = port[key] * (1.0 / 0.38)
    torch.save(port, files["pth"])
    save_network(net, files["pt"])
    write_caffe(net, files["prototxt"], files["caffemodel"])
    return files
