"""Patch-database colorization: build, save/load, match, colorize, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from tinct.color.gray import rgb2lightness
from tinct.color.lab import lab2rgb, rgb2lab
from tinct.colorize.patchdb import DEFAULT_DB, PatchDatabase, build_database, patchdb
from tinct.errors import ImageReadError, ParameterError, TinctError
from tinct.registry import get_method


def _scene(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Synthetic 'landscape': smooth bright blue sky above, textured dark green grass below."""
    rng = np.random.default_rng(seed)
    lab = np.zeros((h, w, 3), np.float32)
    horizon = h // 2 + rng.integers(-4, 5)
    rows = np.arange(h)[:, None]
    sky = rows < horizon
    lab[..., 0] = np.where(sky, 80 - rows * 0.2, 35 + rng.normal(0, 12, (h, w)))
    lab[..., 1] = np.where(sky, -5, -35)
    lab[..., 2] = np.where(sky, -35, 35)
    return (lab2rgb(lab) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("patchdb")
    db = build_database((_scene(s) for s in range(12)), per_image=150, max_vectors=1500, sources_text="synthetic")
    path = d / "db.npz"
    db.save(path)
    return path


def test_database_roundtrip(db_path):
    db = PatchDatabase.load(db_path)
    assert len(db.ab) == 1500 and db.features.shape == (1500, 18) and db.sources == "synthetic"
    np.testing.assert_allclose(np.linalg.norm(db.features, axis=1), 1.0, atol=2e-3)  # unit vectors: cosine
    assert set(np.unique(db.cls)) == {0, 1}
    # bright class is the sky (b < 0), dark class the grass (b > 0)
    assert db.ab[db.cls == 1, 1].mean() < -20 and db.ab[db.cls == 0, 1].mean() > 20


def test_colorizes_sky_and_grass_keeping_lightness(db_path):
    truth = _scene(99)
    gray = rgb2lightness(truth)
    gray_img = lab2rgb(np.dstack([gray, np.zeros_like(gray), np.zeros_like(gray)]), dtype=np.uint8)
    before = gray_img.copy()
    out = patchdb(gray_img, database=str(db_path), segments=60, k=5)
    assert out.dtype == np.uint8 and out.shape == truth.shape
    np.testing.assert_array_equal(gray_img, before)
    ab = rgb2lab(out)[..., 1:]
    assert ab[:10, :, 1].mean() < -15  # blue sky on top
    assert ab[-10:, :, 1].mean() > 15 and ab[-10:, :, 0].mean() < -15  # green grass below
    np.testing.assert_allclose(rgb2lightness(out), rgb2lightness(gray_img), atol=1.0)
    err_ours = np.abs(ab - rgb2lab(truth)[..., 1:]).mean()
    err_gray = np.abs(rgb2lab(truth)[..., 1:]).mean()
    assert err_ours < 0.5 * err_gray


def test_float_and_alpha_inputs(db_path):
    gray = rgb2lightness(_scene(5)) / 100.0
    rgba = np.dstack([np.repeat(gray[..., None], 3, 2), np.full(gray.shape, 0.5)]).astype(np.float32)
    out = patchdb(rgba, database=str(db_path), segments=30)
    assert out.dtype == np.float32 and out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


def test_bad_database_and_params(tmp_path, db_path):
    gray = rgb2lightness(_scene(1)).astype(np.float32) / 100
    with pytest.raises(ImageReadError, match="no such patch database"):
        patchdb(gray, database=str(tmp_path / "missing.npz"))
    junk = tmp_path / "junk.npz"
    np.savez(junk, a=np.zeros(3))
    with pytest.raises(ImageReadError, match="not a tinct patch database"):
        patchdb(gray, database=str(junk))
    with pytest.raises(ParameterError, match="segments"):
        get_method("patchdb")(gray, database=str(db_path), segments=0)
    with pytest.raises(TinctError, match="no colour images"):
        build_database([np.full((20, 20, 3), 128, np.uint8)])


def test_shipped_default_database():
    assert DEFAULT_DB.is_file() and DEFAULT_DB.stat().st_size <= 5_000_000
    db = PatchDatabase.load(DEFAULT_DB)
    assert len(db.ab) >= 10_000 and "bsds500" in db.sources


def test_cli_build(tmp_path):
    from tinct.cli import main
    from tinct.io import write_image

    src = tmp_path / "imgs"
    src.mkdir()
    for s in range(4):
        write_image(src / f"s{s}.png", _scene(s))
    out = tmp_path / "db.npz"
    assert main(["patchdb", "build", str(src), "-o", str(out), "--per-image", "20"]) == 0
    assert len(PatchDatabase.load(out).ab) == 80
    assert main(["patchdb", "build", str(src), "-o", str(out)]) == 2  # exists, no --overwrite
    assert main(["patchdb", "build", str(tmp_path / "nope"), "-o", str(tmp_path / "x.npz")]) == 2
