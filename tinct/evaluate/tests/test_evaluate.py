"""``tinct evaluate`` end to end: the gray baseline and a method in one table, refusals, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinct.color import lab2rgb


def _lab_image(L, a, b, shape=(32, 48)):
    lab = np.empty(shape + (3,), np.float32)
    lab[..., 0], lab[..., 1], lab[..., 2] = L, a, b
    return lab


@pytest.fixture
def colour_folder(tmp_path):
    from tinct.io import write_image

    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:40, 0:56]
    for i in range(3):
        lab = _lab_image(30 + 40 * (x / 56), 40 * np.sin(y / 7 + i), -30 + 10 * i, (40, 56))
        rgb = lab2rgb(lab)
        write_image(tmp_path / f"c{i}.png", (np.clip(rgb + 0.01 * rng.standard_normal(rgb.shape), 0, 1) * 255
                                             ).astype(np.uint8))
    write_image(tmp_path / "gray.png", np.full((40, 56), 128, np.uint8))
    return tmp_path


def test_evaluate_gray_baseline_and_sheet(colour_folder, tmp_path_factory):
    from tinct.evaluate.run import evaluate_folder, format_table

    out = tmp_path_factory.mktemp("out")
    report = evaluate_folder("gray", colour_folder, sheet=out / "sheet.png")
    res = report["results"]["gray"]
    assert res["images"] == 3 and res["colorfulness"] == pytest.approx(0.0, abs=0.5)
    assert 0 < res["auc"] < 100 and res["colorfulness_truth"] > 10
    assert report["skipped"] == [{"image": "gray.png", "reason": "grayscale: no colour ground truth"}]
    assert (out / "sheet.png").is_file()
    assert "| gray | 3 |" in format_table(report)
    assert res["spurious"] == 0.0 and "spurious %" in format_table(report)


def test_evaluate_a_colorize_method_with_gray_in_the_same_table(colour_folder, tmp_path):
    import torch

    from tinct.evaluate.run import evaluate_folder
    from tinct.models import tinctnet

    torch.manual_seed(0)
    path = tmp_path / "w.pt"
    tinctnet.save(tinctnet.build(width=8), path)  # any self-describing network file: tinct's compact net is quick
    report = evaluate_folder("auto", colour_folder, limit=2, params={"weights": str(path), "input_size": 64})
    assert set(report["results"]) == {"gray", "auto"}
    assert report["results"]["auto"]["images"] == 2 and "seconds_per_image" in report["results"]["auto"]
    assert len(report["per_image"]["auto"]) == 2
    res, gray = report["results"]["auto"], report["results"]["gray"]
    for key in ("psnr", "auc", "auc_rebal", "colorfulness", "spurious"):
        assert res[f"{key}_vs_gray"] == pytest.approx(res[key] - gray[key])
    assert 0.0 <= res["spurious"] <= 100.0 and gray["spurious"] == 0.0


def test_evaluate_refuses_methods_it_cannot_feed(colour_folder):
    from tinct import registry
    from tinct.evaluate.run import check_method

    def method(name, need):
        if hasattr(registry, "Input"):  # the registry declares inputs as Input records
            kind = "image" if need == "reference" else need
            return registry.Method(name, "colorize", lambda x: x, "test", inputs=(registry.Input(need, kind, True),))
        return registry.Method(name, "colorize", lambda x: x, "test", **{need: "required"})

    ref = method("needs-ref", "reference")
    scrib = method("needs-scribbles", "scribbles")
    assert "--reference" in check_method(ref, None)
    assert check_method(ref, "some.png") is None
    assert "scribbles" in check_method(scrib, None)


def test_cli_evaluate_and_models(colour_folder, tmp_path, capsys):
    from tinct.apps.cli import main

    report = tmp_path / "r.json"
    assert main(["evaluate", "--method", "gray", str(colour_folder), "-o", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["results"]["gray"]["images"] == 3
    assert "| gray | 3 |" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    assert "eccv16" in capsys.readouterr().out
    # no checksum published for the Caffe file: refused before any network access
    assert main(["models", "download", "eccv16-caffe"]) == 2
    assert "allow-unverified" in capsys.readouterr().err
    assert main(["evaluate", "--method", "eccv16", str(colour_folder), "-p", "weights=/nonexistent.pth"]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_export_onnx(tmp_path):
    import onnx
    import torch

    from tinct.apps.cli import main
    from tinct.models import tinctnet

    torch.manual_seed(0)
    tinctnet.save(tinctnet.build(width=8), tmp_path / "w.pt")
    out = tmp_path / "w.onnx"
    assert main(["models", "export-onnx", "--weights", str(tmp_path / "w.pt"), "-o", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)))
    assert main(["models", "export-onnx", "--weights", str(tmp_path / "w.pt"), "-o", str(out)]) == 2  # no overwrite
