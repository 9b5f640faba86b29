"""The one pipeline every front end calls (tinct.pipeline), and the public API on top of it."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinct
from tinct.data import TRANSFER_PAIR, example
from tinct.errors import ImageTooLargeError, ImageWriteError, MissingDependencyError, ParameterError
from tinct.io import read_image, write_image
from tinct.pipeline import make_job, run_file, run_files, select_method


@pytest.fixture(scope="module")
def pair():
    return [read_image(example(n)).pixels for n in TRANSFER_PAIR]


def test_one_place_switches_auto_to_exemplar_or_scribble():
    assert select_method(None, "colorize").name == "auto"
    assert select_method(None, "transfer").name == "reinhard"
    assert select_method("auto", "colorize", ["reference"]).name == "exemplar"
    assert select_method(None, "colorize", ["scribbles", "reference"]).name == "scribble"
    assert select_method("patchdb", "colorize", ["reference"]).name == "patchdb"  # a named method is kept


@pytest.mark.parametrize("method, kind, inputs, message", [
    ("reinhard", "transfer", {}, "reference: method 'reinhard' needs a reference image"),
    ("reinhard", "transfer", {"scribbles": np.zeros((2, 2))}, "scribbles: method 'reinhard' does not use it"),
    ("patchdb", "colorize", {"reference": np.zeros((2, 2, 3))}, "reference: method 'patchdb' does not use it"),
    ("reinhard", "transfer", {"reference": np.zeros((2, 2, 3)), "reference_mask": None, "mask": np.ones((2, 2))},
     None),
])
def test_inputs_are_checked_against_the_registry(method, kind, inputs, message):
    if message is None:
        job = make_job(method, kind, inputs=inputs)
        assert set(job.inputs) == {"reference", "target_mask"}  # the image's mask is a transfer's target_mask
        return
    with pytest.raises(ParameterError, match=message):
        make_job(method, kind, inputs=inputs)


def test_mask_sizes_are_checked_against_what_they_belong_to(pair):
    target, reference = pair
    job = make_job("reinhard", "transfer", inputs={"reference": reference, "mask": np.ones((5, 7), np.uint8)})
    with pytest.raises(ParameterError, match=r"mask: size 7x5 does not match the image's"):
        tinct.pipeline.run_array(job, target)
    job = make_job("reinhard", "transfer", inputs={"reference": reference,
                                                   "reference_mask": np.ones(target.shape[:2], np.uint8)})
    if reference.shape[:2] != target.shape[:2]:
        with pytest.raises(ParameterError, match="reference_mask: size .* does not match the reference's"):
            tinct.pipeline.run_array(job, target)


def test_run_file_writes_atomically_returns_a_record_and_protects_inputs(tmp_path):
    src, ref = (example(n) for n in TRANSFER_PAIR)
    job = make_job("reinhard", "transfer", inputs={"reference": ref})
    out = tmp_path / "sub" / "out.png"
    rec = run_file(job, src, out)
    assert out.is_file() and rec["output"] == str(out) and set(rec["timings"]) == {"read_s", "method_s", "write_s", "cpu_s"}
    with pytest.raises(ImageWriteError, match="exists"):
        run_file(job, src, out)
    job.overwrite = True
    with pytest.raises(ImageWriteError, match="input"):
        run_file(job, src, ref)  # the reference is an input too
    done, failed = run_files(job, [(src, tmp_path / "a.png"), (tmp_path / "missing.png", tmp_path / "b.png")])
    assert len(done) == 1 and len(failed) == 1 and "missing.png" in failed[0]["error"]


def test_the_pixel_limit_comes_from_one_place(tmp_path, monkeypatch):
    src, ref = (example(n) for n in TRANSFER_PAIR)
    monkeypatch.setenv("TINCT_MAX_PIXELS", "100")
    with pytest.raises(ImageTooLargeError):
        make_job("reinhard", "transfer", inputs={"reference": ref})  # the reference is read under it too
    monkeypatch.delenv("TINCT_MAX_PIXELS")
    big = tmp_path / "big.png"
    write_image(big, np.zeros((200, 200, 3), np.uint8))
    job = make_job("reinhard", "transfer", inputs={"reference": ref}, max_pixels=128 * 128)
    with pytest.raises(ImageTooLargeError):
        run_file(job, big, tmp_path / "o.png")
    assert run_file(job, src, tmp_path / "o.png")["output"].endswith("o.png")


def test_sidecar_hints_steer_one_file_of_a_folder(tmp_path):
    gray = read_image(example("old_tom_morris.png")).pixels
    for name in ("a.png", "b.png"):
        write_image(tmp_path / name, gray)
    (tmp_path / "a.hints.json").write_text(json.dumps([{"x": 100, "y": 60, "color": "#1f3a93", "radius": 3}]))
    job = make_job("auto", "colorize")
    done, failed = run_files(job, [(tmp_path / n, tmp_path / "out" / n) for n in ("a.png", "b.png")])
    assert not failed and done[0]["hints"].endswith("a.hints.json") and "hints" not in done[1]
    a, b = (read_image(tmp_path / "out" / n).pixels for n in ("a.png", "b.png"))
    assert not np.array_equal(a, b)


def test_the_api_works_every_time_and_the_packages_export_their_methods(pair):
    target, reference = pair
    first = tinct.transfer(target, reference, method="reinhard")
    second = tinct.transfer(target, reference, method="reinhard")  # a module-shadowing bug broke this call once
    assert np.array_equal(first, second)
    importlib.import_module("tinct.transfer.reinhard")  # importing submodules must not change tinct.transfer

    assert np.array_equal(tinct.transfer(target, reference), first)
    gray = read_image(example("old_tom_morris.png")).pixels
    assert np.array_equal(tinct.colorize(gray), tinct.colorize(gray, method="auto"))
    from tinct.colorize import auto, eccv16, exemplar, patchdb, scribble, siggraph17  # noqa: F401
    from tinct.transfer import gmm, mkl, reinhard, sliced, superpixel  # noqa: F401

    assert callable(auto) and reinhard(target, reference).shape == target.shape
    with pytest.raises(ParameterError, match="bogus: not a parameter of method 'reinhard'"):
        tinct.transfer(target, reference, bogus=1)


def test_import_tinct_is_light():
    code = "import sys, tinct; print(sorted(m for m in ('torch', 'numpy', 'scipy', 'tinct.transfer') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_method_whose_extra_is_missing_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r'pip install "tinct\[cnn\]"'):
        make_job("auto", "colorize")


def test_methods_are_found_through_the_entry_point_group(tmp_path, monkeypatch):
    from tinct import registry

    pkg = tmp_path / "tinct_plugin_probe.py"
    pkg.write_text(
        "from tinct.registry import register\n"
        "@register('probe-method', kind='colorize', summary='test plugin')\n"
        "def probe(image):\n"
        "    '''Parameters\n    ----------\n    References\n    ----------\n    '''\n"
        "    return image\n")
    dist = tmp_path / "tinct_plugin_probe-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinct-plugin-probe\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tinct.methods]\nprobe = tinct_plugin_probe\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert registry.get_method("probe-method", "colorize").summary == "test plugin"
    finally:
        registry._REGISTRY.pop("probe-method", None)


def test_cli_nits_are_one_line_errors(tmp_path, capsys):
    from tinct.apps.cli import main

    src, ref = (str(example(n)) for n in TRANSFER_PAIR)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [
        (["transfer", src, "-r", ref, "-o", str(blocker / "x.png")], "exists and is not a folder"),
        (["transfer", src, "-r", ref, "--max-pixels", "lots"], "--max-pixels: expected a positive whole number"),
        (["transfer", src, "-r", ref, "--bogus"], "unrecognized arguments: --bogus"),
        (["batch", src, str(tmp_path / "o"), "--plugin", "no_such_module_x"], "plugin: cannot import"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert main(["transfer", src, "-r", ref, "--max-pixels", "1e11", "-o", str(tmp_path / "ok.png")]) == 0
    capsys.readouterr()
    assert main(["transfer", src, "-r", ref, "-o", str(tmp_path / "ok.png")]) == 2
    assert "--overwrite replaces it" in capsys.readouterr().err


def test_save_confidence_writes_a_gray_map_beside_the_output_and_keeps_existing_files(tmp_path):
    one = tmp_path / "one.png"
    write_image(one, np.array([[128]], np.uint8))  # a 1x1 image works too
    job = make_job("auto", "colorize", save_confidence=True)
    rec = run_file(job, one, tmp_path / "one.auto.png")
    conf = read_image(rec["confidence"]).pixels
    assert rec["confidence"].endswith("one.auto.confidence.png") and conf.shape == (1, 1) and conf.dtype == np.uint8
    (tmp_path / "two.auto.confidence.png").write_bytes(b"mine")
    with pytest.raises(ImageWriteError, match="exists"):
        run_file(job, one, tmp_path / "two.auto.png")
    assert (tmp_path / "two.auto.confidence.png").read_bytes() == b"mine" and not (tmp_path / "two.auto.png").exists()
    with pytest.raises(ParameterError, match="confidence map: method 'patchdb' has none"):
        make_job("patchdb", "colorize", save_confidence=True)


def test_auto_starts_without_pytorch_once_its_network_is_exported(tmp_path):
    code = ("import sys, numpy as np, tinct; out = tinct.colorize(np.full((8, 8), 120, np.uint8)); "
            "print(out.shape, 'torch' in sys.modules)")
    env = {**__import__("os").environ, "TINCT_CACHE": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert first.stdout.split()[-1] == "True"  # the first run exports the network to ONNX with PyTorch
    assert second.stdout.strip() == "(8, 8, 3) False"


def test_colorize_reports_the_input_colour_and_skips_colour_inputs_when_asked(tmp_path, capsys):
    from tinct.apps.cli import main

    gray = read_image(example("old_tom_morris.png")).pixels.astype(np.float32) / 255
    folder = tmp_path / "scans"
    folder.mkdir()
    write_image(folder / "gray.png", (gray * 255).astype(np.uint8))
    write_image(folder / "sepia.png", (np.stack([gray, gray * 0.85, gray * 0.65], -1) * 255).astype(np.uint8))
    write_image(folder / "colour.jpg", read_image(example(TRANSFER_PAIR[1])).pixels)
    assert main(["colorize", str(folder), "-o", str(tmp_path / "a"), "--json"]) == 0
    out, err = capsys.readouterr()
    kinds = {Path(w["input"]).name: w["input_colour"] for w in json.loads(out)["written"]}
    assert kinds == {"gray.png": "gray", "sepia.png": "tinted", "colour.jpg": "colour"}
    assert err.count("\n") == 1 and "colour.jpg: a colour image; its colours are replaced" in err
    assert main(["colorize", str(folder), "-o", str(tmp_path / "b"), "--skip-colour"]) == 0
    out = capsys.readouterr().out
    assert "skipped " in out and "colour.jpg" in out and "2 written, 0 failed, 1 skipped" in out
    assert not list((tmp_path / "b").glob("colour*"))


def test_outputs_record_how_they_were_made_unless_told_not_to(tmp_path):
    from tinct.io import read_provenance

    src, ref = (example(n) for n in TRANSFER_PAIR)
    run_file(make_job("reinhard", "transfer", inputs={"reference": ref}, params={"strength": 0.5}), src,
             tmp_path / "a.png")
    rec = read_provenance(tmp_path / "a.png")
    assert rec["method"] == "reinhard" and rec["params"]["strength"] == 0.5 and rec["inputs"] == ["reference"]
    run_file(make_job("reinhard", "transfer", inputs={"reference": ref}, provenance=False), src, tmp_path / "b.jpg")
    assert read_provenance(tmp_path / "b.jpg") is None


def test_hints_pick_the_model_that_is_better_with_them_and_the_output_says_so(tmp_path):
    from tinct.io import read_provenance
    from tinct.models.weights import default_entry

    assert default_entry().name == "tinctnet-v2" and default_entry(guided=True).name == "tinctnet-v5"
    src = example("old_tom_morris.png")
    run_file(make_job("auto", "colorize"), src, tmp_path / "a.png")
    run_file(make_job("auto", "colorize", inputs={"hints": [(50, 40, "#1f3a93")]}), src, tmp_path / "b.png")
    assert read_provenance(tmp_path / "a.png")["model"] == "tinctnet-v2"
    assert read_provenance(tmp_path / "b.png")["model"] == "tinctnet-v5"
