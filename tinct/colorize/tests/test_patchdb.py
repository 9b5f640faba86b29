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
    from tinct.apps.cli import main
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


# --- label masks -------------------------------------------------------------------------------------------------

def _labelled_folder(tmp_path, n=4, classes_txt=None):
    """Photos of sky over grass, with label images: 1 = sky, 2 = vegetation (default table) on the true split.

    The grass of every second image is painted red and labelled 'earth' (3) instead, so that restricting the
    match to vegetation or earth changes the colour that the same gray texture gets.
    """
    from tinct.io import write_image

    src, lab = tmp_path / "photos", tmp_path / "labels"
    src.mkdir()
    (lab / "sub").mkdir(parents=True)
    for s in range(n):
        img = _scene(s)
        lab_img = rgb2lab(img)
        sky = lab_img[..., 2] < 0
        labels = np.where(sky, 1, 2).astype(np.uint8)
        if s % 2:
            lab_img[~sky, 1:] = [40, 30]  # reddish earth, same L texture
            img = lab2rgb(lab_img, dtype=np.uint8)
            labels[~sky] = 3
        sub = "sub/" if s == 0 else ""
        (src / sub).mkdir(exist_ok=True)
        write_image(src / f"{sub}s{s}.png", img)
        write_image(lab / f"{sub}s{s}.png", labels)
    if classes_txt is not None:
        (lab / "classes.txt").write_text(classes_txt)
    return src, lab


def test_build_with_labels_and_restrict_classes(tmp_path):
    from tinct.apps.cli import main

    src, lab = _labelled_folder(tmp_path)
    out = tmp_path / "db.npz"
    assert main(["patchdb", "build", str(src), "--labels", str(lab), "-o", str(out), "--per-image", "300"]) == 0
    db = PatchDatabase.load(out)
    assert db.class_names[:4] == ("unlabelled", "sky", "vegetation", "earth")
    assert len(db.labels) == len(db.ab) == 1200
    # each vector's label is the class of its centre pixel: sky blue, vegetation green, earth red
    assert db.ab[db.labels == 1, 1].mean() < -20
    assert db.ab[db.labels == 2, 0].mean() < -20 and db.ab[db.labels == 3, 0].mean() > 20
    gray = rgb2lightness(_scene(99)).astype(np.float32) / 100
    bottom = slice(-10, None)
    green = rgb2lab(patchdb(gray, database=str(out), segments=60, classes="sky,vegetation"))[bottom, :, 1:]
    red = rgb2lab(patchdb(gray, database=str(out), segments=60, classes="sky,3"))[bottom, :, 1:]
    assert green[..., 0].mean() < -15 and red[..., 0].mean() > 15  # the restriction decides the grass colour
    # per-pixel label map: bottom half earth, top free
    lm = np.zeros(gray.shape, np.uint8)
    lm[gray.shape[0] // 2 + 6:] = 3
    out_lm = rgb2lab(patchdb(gray, database=str(out), segments=60, label_map=lm, classes="sky,vegetation"))
    assert out_lm[bottom, :, 1].mean() > 15 and out_lm[:10, :, 2].mean() < -15  # earth below, sky still blue
    with pytest.raises(ParameterError, match="classes: 'lava' is not a class"):
        patchdb(gray, database=str(out), classes="lava,sky")
    with pytest.raises(ParameterError, match="no vectors of classes"):
        patchdb(gray, database=str(out), classes="skin")
    with pytest.raises(ParameterError, match="label_map"):
        patchdb(gray, database=str(out), label_map=np.zeros((3, 3), int))


def test_old_database_without_labels_still_works(db_path):
    db = PatchDatabase.load(db_path)
    assert db.labels is None and db.class_names == ()
    gray = rgb2lightness(_scene(3)).astype(np.float32) / 100
    a = patchdb(gray, database=str(db_path), segments=30)
    np.testing.assert_array_equal(a, patchdb(gray, database=str(db_path), segments=30, classes=""))
    with pytest.raises(ParameterError, match="no label masks"):
        patchdb(gray, database=str(db_path), classes="sky")
    with pytest.raises(ParameterError, match="no label masks"):
        patchdb(gray, database=str(db_path), label_map=np.zeros(gray.shape, np.uint8))


def test_labels_class_table_and_bad_label_folders(tmp_path):
    from tinct.apps.cli import main
    from tinct.colorize.patchdb import read_class_table
    from tinct.io import write_image

    src, lab = _labelled_folder(tmp_path, n=2, classes_txt="# mine\n1 heaven\n2, lawn\n3 soil\n")
    assert read_class_table(lab) == ("unlabelled", "heaven", "lawn", "soil")
    out = tmp_path / "db.npz"
    assert main(["patchdb", "build", str(src), "--labels", str(lab), "-o", str(out), "--per-image", "50"]) == 0
    assert PatchDatabase.load(out).class_names == ("unlabelled", "heaven", "lawn", "soil")
    gray = rgb2lightness(_scene(7)).astype(np.float32) / 100
    assert patchdb(gray, database=str(out), segments=20, classes="heaven,lawn").shape == gray.shape + (3,)
    (lab / "classes.txt").write_text("1 sky\nx water\n")
    assert main(["patchdb", "build", str(src), "--labels", str(lab), "-o", str(tmp_path / "b.npz")]) == 2
    (lab / "classes.txt").write_text("1 sky\n")  # ids 2 and 3 in the images are not in the table
    with pytest.raises(ParameterError, match="class id 3 is not in the class table"):
        from tinct.colorize.patchdb import iter_labelled
        build_database(iter_labelled(src, lab), class_names=read_class_table(lab))
    (lab / "classes.txt").unlink()
    write_image(lab / "s1.png", np.zeros((5, 5), np.uint8), overwrite=True)  # wrong size
    assert main(["patchdb", "build", str(src), "--labels", str(lab), "-o", str(tmp_path / "c.npz")]) == 2
    (lab / "s1.png").unlink()  # missing label image
    assert main(["patchdb", "build", str(src), "--labels", str(lab), "-o", str(tmp_path / "d.npz")]) == 2
    assert main(["patchdb", "build", str(src), "--labels", str(tmp_path / "nope"), "-o", str(tmp_path / "e.npz")]) == 2
