"""The command line, end to end: results, names, and clean failures on bad files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinct.apps.cli import main
from tinct.io import read_image, write_image
from tinct.io.files import output_names
from tinct.io.tests.badfiles import FAILING, make_bad_files


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return make_bad_files(tmp_path_factory.mktemp("files"))


@pytest.fixture()
def pair(tmp_path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    target = tmp_path / "target.png"
    reference = tmp_path / "reference.jpg"
    write_image(target, rng.integers(60, 200, (30, 40, 3), dtype=np.uint8))
    write_image(reference, (rng.integers(40, 220, (20, 20, 3)) * [1.0, 0.6, 0.3]).astype(np.uint8))
    return target, reference


def snapshot(paths) -> dict:
    return {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", sorted(FAILING))
@pytest.mark.parametrize("role", ["target", "reference"])
def test_bad_file_fails_cleanly_and_touches_nothing(files, pair, tmp_path, capsys, name, role):
    target, reference = pair
    bad = files[name]
    args = [bad, "-r", reference] if role == "target" else [target, "-r", bad]
    before = snapshot([bad, target, reference])
    out_dir = tmp_path / "out"
    code, out, err = run_cli(capsys, "transfer", *args, "-o", out_dir)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinct: error:") and "Traceback" not in err
    assert str(bad.name) in lines[0]
    assert snapshot([bad, target, reference]) == before
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_bad_file_as_a_real_process_prints_no_traceback(files, pair, tmp_path):
    target, _ = pair
    proc = subprocess.run(
        [sys.executable, "-m", "tinct", "transfer", str(target), "-r", str(files["truncated_jpeg"]), "-o",
         str(tmp_path / "o.png")], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    "name", ["one_pixel", "gray16_png", "rgb16_png", "rgba_png", "la_png", "palette_png", "cmyk_jpeg",
             "rgb16_tiff", "exif_orient6_jpeg", "rgb_webp", "rgb_bmp", "bilevel_png"],
)
def test_awkward_but_valid_targets_are_transferred(files, pair, tmp_path, capsys, name):
    _, reference = pair
    src = files[name]
    before = snapshot([src])
    out = tmp_path / f"result{src.suffix if src.suffix in ('.png', '.tif') else '.png'}"
    code, _, err = run_cli(capsys, "transfer", src, "-r", reference, "-o", out)
    assert code == 0, err
    original, result = read_image(src), read_image(out)
    assert result.pixels.shape[:2] == original.pixels.shape[:2]
    assert result.pixels.dtype == original.pixels.dtype
    if original.alpha is not None:
        assert np.array_equal(result.alpha, original.alpha)
    assert snapshot([src]) == before


def test_transfer_on_every_published_pair(shared, tmp_path, capsys):
    root = shared / "data" / "eval" / "transfer-pairs"
    rows = list(csv.DictReader(open(root / "pairs.csv")))
    assert len(rows) >= 8
    for row in rows:
        out = tmp_path / f"{row['pair_id']}.png"
        code, _, err = run_cli(capsys, "transfer", root / row["target"], "-r", root / row["reference"], "-o", out)
        assert code == 0, err
        t, o = read_image(root / row["target"]).pixels, read_image(out).pixels
        assert o.shape[:2] == t.shape[:2]
        assert np.abs(o.astype(int) - t[..., :3]).mean() > 1  # the colours really moved


def test_never_overwrites_an_input_even_when_asked(pair, capsys):
    target, reference = pair
    before = snapshot([target])
    code, _, err = run_cli(capsys, "transfer", target, "-r", reference, "-o", target, "--overwrite")
    assert code == 2 and "target.png" in err
    assert snapshot([target]) == before


def test_existing_output_needs_overwrite(pair, tmp_path, capsys):
    target, reference = pair
    out = tmp_path / "o.png"
    assert run_cli(capsys, "transfer", target, "-r", reference, "-o", out)[0] == 0
    assert run_cli(capsys, "transfer", target, "-r", reference, "-o", out)[0] == 2
    assert run_cli(capsys, "transfer", target, "-r", reference, "-o", out, "--overwrite")[0] == 0


def test_masks_params_and_json_summary(pair, tmp_path, capsys):
    target, reference = pair
    mask = np.zeros((30, 40), np.uint8)
    mask[:, :20] = 255
    mask_path = tmp_path / "mask.png"
    write_image(mask_path, mask)
    out = tmp_path / "masked.png"
    code, stdout, _ = run_cli(capsys, "transfer", target, "-r", reference, "--target-mask", mask_path,
                              "-p", "strength=0.8", "-o", out, "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["method"] == "reinhard" and summary["written"][0]["output"] == str(out)
    t, o = read_image(target).pixels, read_image(out).pixels
    assert np.array_equal(o[:, 20:], t[:, 20:]) and not np.array_equal(o[:, :20], t[:, :20])


@pytest.mark.parametrize(
    "argv, message",
    [(["-p", "strength=3"], "strength: must be <= 1.0"), (["-m", "nope"], "unknown transfer method 'nope'"),
     (["-p", "nope=1"], "nope: not a parameter"), (["--format", "gif"], "--format")],
)
def test_bad_options_exit_2_with_one_line(pair, tmp_path, capsys, argv, message):
    target, reference = pair
    code, _, err = run_cli(capsys, "transfer", target, "-r", reference, "-o", tmp_path, *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_many_files_one_bad_the_rest_still_written(files, pair, tmp_path, capsys):
    target, reference = pair
    out = tmp_path / "many"
    code, stdout, err = run_cli(capsys, "transfer", target, files["zero_byte"], files["gray8_png"], "-r", reference,
                                "-o", out)
    assert code == 2 and "empty.png" in err
    assert sorted(p.name for p in out.iterdir()) == ["gray8.reinhard.png", "target.reinhard.png"]
    assert "2 written, 1 failed" in stdout


def test_output_names_are_deterministic_and_never_collide(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    inputs = [(a / "x.jpg", a.parent), (b / "x.jpg", b.parent), (a / "y.png", a)]
    names = output_names(inputs, tmp_path / "out", "reinhard", None)
    assert len(set(names)) == 3
    assert names == output_names(inputs, tmp_path / "out", "reinhard", None)
    assert names[2] == tmp_path / "out" / "y.reinhard.png"
    # Same stem from two folders given as files: both get a path hash, never one overwriting the other.
    flat = [(a / "x.jpg", a), (b / "x.jpg", b)]
    n1, n2 = output_names(flat, tmp_path / "out", "m", ".png")
    assert n1 != n2 and n1.name.startswith("x.m-") and n1.suffix == ".png"


def test_methods_listing_and_version(capsys):
    code, out, _ = run_cli(capsys, "methods")
    assert code == 0 and "reinhard" in out
    code, out, _ = run_cli(capsys, "methods", "--json")
    schema = {m["name"]: m for m in json.loads(out)}
    assert schema["reinhard"]["params"]["strength"]["maximum"] == 1.0
    assert main(["--version"]) == 0 and "tinct 0.1.0" in capsys.readouterr().out


def test_demo_writes_what_it_says(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "demo", "-o", tmp_path / "demo", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["written"], "demo wrote nothing"
    for item in summary["written"]:
        assert read_image(item["output"]).pixels.size > 0
    # Running it again replaces its own files instead of failing.
    assert run_cli(capsys, "demo", "-o", tmp_path / "demo")[0] == 0


def test_missing_weights_are_reported_once_not_per_file(pair, tmp_path, capsys):
    target, _ = pair
    other = tmp_path / "other.png"
    other.write_bytes(target.read_bytes())
    code, _, err = run_cli(capsys, "colorize", target, other, "-m", "eccv16", "-o", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and "weights" in err


def test_progress_bar_is_forced_by_the_flag(pair, tmp_path, capsys):
    target, reference = pair
    other = tmp_path / "t2.png"
    other.write_bytes(target.read_bytes())
    code, _, err = run_cli(capsys, "transfer", target, other, "-r", reference, "-o", tmp_path / "o", "--progress")
    assert code == 0 and "reinhard" in err and "2/2" in err


def test_colorize_writes_one_named_file_or_into_a_folder(tmp_path, capsys):
    rng = np.random.default_rng(1)
    gray = np.repeat(rng.integers(40, 200, (24, 32, 1), dtype=np.uint8), 3, axis=2)
    marked = gray.copy()
    marked[2:6, 2:12] = (200, 30, 30)
    write_image(tmp_path / "gray.png", gray)
    write_image(tmp_path / "marked.png", marked)
    out = tmp_path / "result.png"
    code, _, err = run_cli(capsys, "colorize", tmp_path / "gray.png", "--scribbles", tmp_path / "marked.png", "-o", out)
    assert code == 0, err
    assert out.is_file() and read_image(out).pixels[3, 5, 0] > read_image(out).pixels[3, 5, 2]
    # An existing folder whose name ends like an image still gets generated names inside it.
    folder = tmp_path / "shots.png"
    folder.mkdir()
    assert run_cli(capsys, "colorize", tmp_path / "gray.png", "--scribbles", tmp_path / "marked.png", "-o", folder)[0] == 0
    assert [p.name for p in folder.iterdir()] == ["gray.scribble.png"]


def test_transfer_exports_a_lut_that_reproduces_it(tmp_path, capsys):
    from tinct.color import rgb2lab
    from tinct.data import TRANSFER_PAIR, example

    target, reference = (str(example(n)) for n in TRANSFER_PAIR)
    out, cube = tmp_path / "t.png", tmp_path / "t.cube"
    assert main(["transfer", target, "-r", reference, "-m", "mkl", "-o", str(out), "--export-lut", str(cube),
                 "--lut-size", "17"]) == 0
    assert "LUT_3D_SIZE 17" in cube.read_text()
    assert main(["lut", "apply", str(cube), target, "-o", str(tmp_path / "applied.png")]) == 0
    a, b = (read_image(p).pixels / 255.0 for p in (out, tmp_path / "applied.png"))
    assert np.linalg.norm(rgb2lab(a) - rgb2lab(b), axis=-1).mean() < 1.5
    capsys.readouterr()
    for argv, message in [(["-m", "superpixel"], "not a pointwise transfer"),
                          (["--mask", target], "masked transfers are not LUT-able")]:
        assert main(["transfer", target, "-r", reference, "-o", str(tmp_path / "x.png"),
                     "--export-lut", str(tmp_path / "x.cube"), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.cube").exists()
