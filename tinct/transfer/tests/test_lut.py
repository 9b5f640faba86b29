"""3-D LUTs: .cube writing and reading, application (8/16-bit, float, alpha), fitting from transfers, the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.apps.cli import main
from tinct.errors import ImageWriteError, ParameterError
from tinct.metrics.transfer import delta_e
from tinct.registry import get_method
from tinct.transfer.lut import (
    CubeError,
    Lut,
    apply_lut,
    export_lut,
    fit_lut,
    identity_lattice,
    lut_from_map,
    read_cube,
    write_cube,
)
from tinct.transfer.sliced import trilinear


def _identity(size=9):
    return lut_from_map(lambda x: x, size)


def _pair(seed=0, h=96, w=128):
    """A smooth colourful target and a differently coloured reference (uint8)."""
    import cv2

    rng = np.random.default_rng(seed)
    t = cv2.resize(rng.uniform(0, 255, (6, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    r = cv2.resize(rng.uniform(0, 255, (6, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    r[..., 0] = r[..., 0] * 0.5 + 120  # warm the reference
    return np.clip(t, 0, 255).astype(np.uint8), np.clip(r, 0, 255).astype(np.uint8)


def test_cube_file_order_red_fastest(tmp_path):
    path = write_cube(tmp_path / "id.cube", _identity(3))
    lines = [ln for ln in path.read_text().splitlines() if ln and ln[0].isdigit()]
    assert len(lines) == 27
    assert lines[1].split() == ["0.500000", "0.000000", "0.000000"]  # red moves first
    assert lines[3].split() == ["0.000000", "0.500000", "0.000000"]
    assert lines[9].split() == ["0.000000", "0.000000", "0.500000"]
    assert "LUT_3D_SIZE 3" in path.read_text()


def test_round_trip_and_no_overwrite(tmp_path):
    rng = np.random.default_rng(1)
    lut = Lut(rng.uniform(0, 1, (5, 5, 5, 3)).astype(np.float32), title="x")
    path = write_cube(tmp_path / "a.cube", lut)
    back = read_cube(path)
    assert back.size == 5 and back.title == "x"
    np.testing.assert_allclose(back.table, lut.table, atol=1e-6)
    with pytest.raises(ImageWriteError, match="exists"):
        write_cube(path, lut)
    write_cube(path, lut, overwrite=True)


def test_identity_lut_keeps_8_and_16_bit_images():
    rng = np.random.default_rng(2)
    img8 = rng.integers(0, 256, (31, 17, 3), dtype=np.uint8)
    assert np.array_equal(apply_lut(_identity(), img8), img8)
    img16 = rng.integers(0, 65536, (13, 11, 3), dtype=np.uint16)
    out16 = apply_lut(_identity(), img16)
    assert out16.dtype == np.uint16 and np.abs(out16.astype(int) - img16).max() <= 1
    imgf = rng.uniform(0, 1, (7, 5, 3))
    outf = apply_lut(_identity(), imgf)
    assert outf.dtype == np.float32 and np.abs(outf - imgf).max() < 1e-5


def test_apply_matches_numpy_trilinear_alpha_and_gray():
    rng = np.random.default_rng(3)
    lut = Lut(rng.uniform(0, 1, (7, 7, 7, 3)).astype(np.float32))
    img = rng.uniform(0, 1, (20, 30, 3)).astype(np.float32)
    ref = trilinear(lut.table, img.reshape(-1, 3)).reshape(img.shape)
    np.testing.assert_allclose(apply_lut(lut, img), ref, atol=1e-5)
    rgba = np.concatenate([(img * 255).astype(np.uint8), np.full((20, 30, 1), 77, np.uint8)], axis=2)
    out = apply_lut(lut, rgba)
    assert out.shape == (20, 30, 4) and (out[..., 3] == 77).all()
    gray = (img[..., 0] * 255).astype(np.uint8)
    assert apply_lut(lut, gray).shape == (20, 30, 3)
    before = img.copy()
    apply_lut(lut, img)
    assert np.array_equal(img, before)  # input untouched


def test_domain_is_honoured(tmp_path):
    path = tmp_path / "d.cube"
    rows = identity_lattice(2) * 0.5  # nodes at 0 and 2 hold 0 and 0.5: output = input / 4
    path.write_text("# comment\nTITLE \"half\"\nLUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n\n"
                    + "\n".join(" ".join(f"{v:.6f}" for v in r) for r in rows) + "\n")
    lut = read_cube(path)
    assert lut.domain_max == (2.0, 2.0, 2.0)
    out = apply_lut(lut, np.array([[[0.5, 1.0, 0.25]]], np.float32))
    np.testing.assert_allclose(out[0, 0], [0.125, 0.25, 0.0625], atol=1e-6)


@pytest.mark.parametrize("text, match", [
    ("LUT_3D_SIZE 2\n0 0 0\n1 0 0\n", "has 2 table rows, LUT_3D_SIZE 2 needs 8"),
    ("LUT_3D_SIZE 2\nDOMAIN_MIN 1 0 0\nDOMAIN_MAX 0 1 1\n" + "0 0 0\n" * 8, "bad domain"),
    ("LUT_3D_SIZE 2\nDOMAIN_MIN 0 0\n" + "0 0 0\n" * 8, "expected 3 numbers"),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 zero 0\n", "not a number"),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 0\n", "expected 3 numbers"),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 nan 0\n", "non-finite"),
    ("LUT_1D_SIZE 4\n0 0 0\n", "1-D LUT"),
    ("hello world\n", "no LUT_3D_SIZE"),
    ("LUT_3D_SIZE 1\n0 0 0\n", "outside 2..256"),
    ("LUT_3D_SIZE two\n", "not an integer"),
])
def test_bad_cube_files_are_one_line_errors(tmp_path, text, match):
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(CubeError, match=match) as info:
        read_cube(path)
    assert "\n" not in str(info.value) and "bad.cube" in str(info.value)


def test_binary_and_missing_cube(tmp_path):
    path = tmp_path / "bin.cube"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CubeError, match="not text"):
        read_cube(path)
    with pytest.raises(CubeError, match="no such file"):
        read_cube(tmp_path / "none.cube")


@pytest.mark.parametrize("method, params, limit", [
    ("reinhard", {}, 1.0), ("reinhard", {"strength": 0.5, "keep_lightness": True}, 1.0),
    ("mkl", {}, 1.0), ("mkl", {"color_space": "lab"}, 1.0), ("gmm", {}, 1.5),
    ("sliced", {"regrain": 0, "iterations": 5}, 0.5),
])
def test_fitted_lut_reproduces_the_transfer(method, params, limit):
    target, reference = _pair()
    expected = get_method(method)(target, reference, **params)
    lut = fit_lut(method, target, reference, 33, **params)
    got = apply_lut(lut, target)
    assert got.dtype == np.uint8
    assert delta_e(got, expected) <= limit
    assert delta_e(target, expected) > 3 * limit  # the transfer does change the colours


def test_fit_on_16_bit():
    target, reference = _pair(4)
    t16 = target.astype(np.uint16) * 257
    lut = fit_lut("mkl", t16, reference)
    out = apply_lut(lut, t16)
    assert out.dtype == np.uint16
    assert delta_e(out, get_method("mkl")(t16, reference)) <= 1.0


def test_not_lutable_is_refused_in_one_line():
    target, reference = _pair()
    mask = np.ones(target.shape[:2], bool)
    with pytest.raises(ParameterError, match="target_mask: masked transfers are not LUT-able"):
        fit_lut("reinhard", target, reference, target_mask=mask)
    with pytest.raises(ParameterError, match="feather"):
        fit_lut("mkl", target, reference, feather=3.0)
    with pytest.raises(ParameterError, match="not a pointwise transfer"):
        fit_lut("superpixel", target, reference)
    gray = np.repeat(target[..., :1], 3, axis=2)
    with pytest.raises(ParameterError, match="reference: is grayscale"):
        fit_lut("reinhard", target, gray)
    with pytest.raises(ParameterError, match="lut_size"):
        fit_lut("mkl", target, reference, size=1)


def test_export_lut_writes_a_readable_cube(tmp_path):
    target, reference = _pair()
    lut = export_lut("reinhard", target, reference, tmp_path / "r.cube", size=17)
    back = read_cube(tmp_path / "r.cube")
    assert back.size == 17 and back.title == "tinct reinhard"
    np.testing.assert_allclose(back.table, lut.table, atol=1e-6)


def test_cli_lut_export_and_apply_image(tmp_path):
    from tinct.io import read_image, write_image

    target, reference = _pair()
    write_image(tmp_path / "t.png", target)
    write_image(tmp_path / "r.png", reference)
    cube = tmp_path / "look.cube"
    assert main(["lut", "export", str(tmp_path / "t.png"), "-r", str(tmp_path / "r.png"), "-m", "mkl",
                 "-o", str(cube)]) == 0
    assert main(["lut", "apply", str(cube), str(tmp_path / "t.png"), "-o", str(tmp_path / "o.png")]) == 0
    out = read_image(tmp_path / "o.png").pixels
    assert delta_e(out, get_method("mkl")(target, reference)) < 1.0
    # never replaces a file without --overwrite, and never the input
    assert main(["lut", "apply", str(cube), str(tmp_path / "t.png"), "-o", str(tmp_path / "o.png")]) == 2
    assert main(["lut", "apply", str(cube), str(tmp_path / "t.png"), "-o", str(tmp_path / "t.png"),
                 "--overwrite"]) == 2
    assert np.array_equal(read_image(tmp_path / "t.png").pixels, target)


def test_cli_lut_bad_cube_exit_2(tmp_path, capsys):
    from tinct.io import write_image

    write_image(tmp_path / "t.png", _pair()[0])
    (tmp_path / "bad.cube").write_text("LUT_3D_SIZE 3\n0 0 0\n")
    assert main(["lut", "apply", str(tmp_path / "bad.cube"), str(tmp_path / "t.png"), "-o",
                 str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs 27" in err
    assert not (tmp_path / "o.png").exists()
