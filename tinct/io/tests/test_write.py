"""write_image: round trips, metadata, alpha, atomicity, never overwriting."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import tinct.io.write as write_mod
from tinct.errors import ImageWriteError, ParameterError
from tinct.io import ImageFile, check_output_path, read_image, write_image
from tinct.io.tests.badfiles import exif_with, make_bad_files, pattern, sixteen_bit, srgb_icc

H, W = 24, 40


def _image(dtype, channels, seed=0, h=H, w=W):
    rng = np.random.default_rng(seed)
    top = 65536 if dtype == np.uint16 else 256
    shape = (h, w) if channels == 1 else (h, w, channels)
    return rng.integers(0, top, size=shape, dtype=dtype)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ext=st.sampled_from([".png", ".tif"]),
    dtype=st.sampled_from([np.uint8, np.uint16]),
    channels=st.sampled_from([1, 2, 3, 4]),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_lossless_round_trip_is_exact(ext, dtype, channels, h, w, seed):
    arr = _image(dtype, channels, seed, h, w)
    keep = arr.copy()
    with tempfile.TemporaryDirectory() as d:
        p = write_image(Path(d) / f"x{ext}", arr)
        img = read_image(p)
    assert np.array_equal(arr, keep)  # the caller's array is untouched
    assert img.pixels.dtype == arr.dtype
    if ext == ".tif" and dtype == np.uint16 and channels == 2:  # written as RGBA, documented
        arr = arr[..., [0, 0, 0, 1]]
    assert np.array_equal(img.with_alpha(), arr)


@pytest.mark.parametrize("ext", [".bmp", ".webp"])
def test_8_bit_exact_for_bmp_and_lossless_webp(tmp_path, ext):
    arr = _image(np.uint8, 3, 5)
    p = write_image(tmp_path / f"x{ext}", arr, quality=100)  # WebP quality 100 is lossless
    assert np.array_equal(read_image(p).pixels, arr)


def test_lossy_and_8_bit_only_formats(tmp_path):
    rgb = pattern()
    img = read_image(write_image(tmp_path / "a.jpg", rgb, quality=95))
    assert img.pixels.dtype == np.uint8 and np.abs(img.pixels.astype(int) - rgb).mean() < 3
    wide = rgb.astype(np.uint16) * 257
    for ext in (".jpg", ".webp", ".bmp"):
        back = read_image(write_image(tmp_path / f"w{ext}", wide, quality=100)).pixels
        assert back.dtype == np.uint8
        err = np.abs(back.astype(int) - rgb)
        assert err.mean() < 3 if ext == ".jpg" else err.max() == 0  # JPEG: chroma subsampling at edges
    # float in [0, 1]: 8 bit, or 16 bit when the source was 16 bit and the format keeps it
    f = rgb.astype(np.float32) / 255
    assert read_image(write_image(tmp_path / "f.png", f)).pixels.dtype == np.uint8
    like = ImageFile(pixels=wide)
    back = read_image(write_image(tmp_path / "f16.png", f, like=like)).pixels
    assert back.dtype == np.uint16 and np.array_equal(back, wide)
    assert read_image(write_image(tmp_path / "f16.jpg", f, like=like)).pixels.dtype == np.uint8


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
def test_icc_and_exif_are_kept(tmp_path, ext):
    files = make_bad_files(tmp_path / "in")
    src = read_image(files["exif_orient6_jpeg"])
    out = write_image(tmp_path / f"out{ext}", src.pixels, like=src)
    with Image.open(out) as im:
        assert src.icc_profile and im.info.get("icc_profile") == src.icc_profile
        exif = im.getexif()
        assert exif[0x010F] == "tinct-test"
        assert exif.get(0x0112, 1) == 1  # already upright: must not be turned again
    assert read_image(out).pixels.shape == src.pixels.shape


def test_icc_and_exif_kept_at_16_bit(tmp_path):
    icc = srgb_icc()
    rgb = sixteen_bit(channels=3, seed=3)
    like = ImageFile(pixels=rgb, icc_profile=icc, exif=exif_with(1))
    p = write_image(tmp_path / "a.png", rgb, like=like)
    img = read_image(p)
    assert np.array_equal(img.pixels, rgb) and img.icc_profile == icc
    exif = Image.Exif()
    exif.load(img.exif)
    assert exif[0x010F] == "tinct-test"
    gray = sixteen_bit(channels=1, seed=4)
    g = read_image(write_image(tmp_path / "g.png", gray, like=like))
    assert np.array_equal(g.pixels, gray) and g.icc_profile == icc
    t = read_image(write_image(tmp_path / "a.tif", rgb, like=like))
    assert np.array_equal(t.pixels, rgb) and t.icc_profile == icc


def test_alpha_carried_untouched(tmp_path):
    files = make_bad_files(tmp_path / "in")
    for name in ("rgba_png", "la_png", "rgba16_png", "la16_png", "palette_png"):
        src = read_image(files[name])
        for ext in (".png", ".tif"):
            out = write_image(tmp_path / f"{name}{ext}", src.pixels, like=src, alpha=src.alpha)
            back = read_image(out)
            expected = src.pixels
            if name == "la16_png" and ext == ".tif":  # 16-bit gray + alpha TIFF is written as RGBA (documented)
                expected = np.repeat(expected[..., None], 3, axis=2)
            assert np.array_equal(back.pixels, expected), (name, ext)
            assert np.array_equal(back.alpha, src.alpha), (name, ext)
    src = read_image(files["rgba_png"])
    back = read_image(write_image(tmp_path / "a.webp", src.pixels, alpha=src.alpha, quality=100))
    assert np.array_equal(back.alpha, src.alpha)
    jpg = read_image(write_image(tmp_path / "a.jpg", src.pixels, alpha=src.alpha))
    assert jpg.alpha is None  # JPEG has no alpha
    # alpha of another bit depth or kind is rescaled exactly
    back = read_image(write_image(tmp_path / "b.png", src.pixels.astype(np.uint16) * 257, alpha=src.alpha))
    assert np.array_equal(back.alpha, src.alpha.astype(np.uint16) * 257)
    mask = src.alpha > 100
    back = read_image(write_image(tmp_path / "m.png", src.pixels, alpha=mask))
    assert np.array_equal(back.alpha, np.where(mask, 255, 0))


def test_never_overwrite_unless_asked(tmp_path):
    p = tmp_path / "out.png"
    write_image(p, pattern())
    before = p.read_bytes()
    with pytest.raises(ImageWriteError, match="exists.*overwrite") as info:
        write_image(p, np.zeros((H, W, 3), np.uint8))
    assert str(p) in str(info.value)
    with pytest.raises(ImageWriteError, match="exists"):
        check_output_path(p)
    assert p.read_bytes() == before
    os.chmod(p, 0o640)
    write_image(p, np.zeros((H, W, 3), np.uint8), overwrite=True)
    assert read_image(p).pixels.max() == 0
    assert os.stat(p).st_mode & 0o777 == 0o640  # the replaced file's permissions are kept


def test_inputs_are_protected_even_with_overwrite(tmp_path, monkeypatch):
    src = tmp_path / "in.png"
    write_image(src, pattern())
    before = src.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(src)
    hard = tmp_path / "hard.png"
    os.link(src, hard)
    monkeypatch.chdir(tmp_path)
    for target in (src, Path("in.png"), tmp_path / "sub" / ".." / "in.png", link, hard):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(ImageWriteError, match="input"):
            write_image(target, np.zeros((H, W, 3), np.uint8), overwrite=True, protect=[src])
        with pytest.raises(ImageWriteError, match="input"):
            check_output_path(target, overwrite=True, protect=["in.png"])
    assert src.read_bytes() == before


def test_bad_destinations_and_parameters(tmp_path):
    rgb = pattern()
    with pytest.raises(ImageWriteError, match=r"unknown image extension '\.xyz'"):
        write_image(tmp_path / "a.xyz", rgb)
    with pytest.raises(ImageWriteError, match="no extension"):
        write_image(tmp_path / "noext", rgb)
    with pytest.raises(ImageWriteError, match="does not exist"):
        write_image(tmp_path / "missing" / "a.png", rgb)
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ImageWriteError, match="directory"):
        write_image(tmp_path / "d.png", rgb, overwrite=True)
    for q in (0, 101, 9.5, True):
        with pytest.raises(ParameterError, match="quality"):
            write_image(tmp_path / "q.jpg", rgb, quality=q)
    with pytest.raises(ParameterError, match="alpha"):
        write_image(tmp_path / "a.png", rgb, alpha=np.zeros((3, 3), np.uint8))
    with pytest.raises(ParameterError, match="alpha"):
        write_image(tmp_path / "a.png", np.zeros((H, W, 4), np.uint8), alpha=np.zeros((H, W), np.uint8))
    with pytest.raises(ParameterError, match="image"):
        write_image(tmp_path / "a.png", np.zeros((H, W, 5), np.uint8))
    with pytest.raises(ParameterError, match="image.*dtype"):
        write_image(tmp_path / "a.png", np.zeros((H, W, 2), np.int64))
    with pytest.raises(ParameterError, match="image.*NaN"):
        write_image(tmp_path / "a.png", np.full((H, W, 3), np.nan, np.float32))
    assert sorted(os.listdir(tmp_path)) == ["d.png"]  # nothing was written


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(set(os.listdir(directory)) - keep)


@pytest.mark.parametrize("where", ["fsync", "replace", "link", "interrupt"])
def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch, where):
    p = tmp_path / "out.png"
    write_image(p, pattern())
    before = p.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    overwrite = True
    if where == "fsync":
        monkeypatch.setattr(write_mod.os, "fsync", fail)
    elif where == "replace":
        monkeypatch.setattr(write_mod.os, "replace", fail)
    elif where == "link":  # no-overwrite path: a new file, hard link refused and the fallback rename fails
        p.unlink()
        before = None
        overwrite = False
        monkeypatch.setattr(write_mod.os, "link", fail)
        monkeypatch.setattr(write_mod.os, "replace", fail)
    else:
        def interrupt(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(write_mod.os, "fsync", interrupt)
    expected = KeyboardInterrupt if where == "interrupt" else ImageWriteError
    with pytest.raises(expected) as info:
        write_image(p, np.zeros((H, W, 3), np.uint8), overwrite=overwrite)
    if expected is ImageWriteError:
        assert "No space left on device" in str(info.value) and str(p) in str(info.value)
    monkeypatch.undo()
    if before is None:
        assert not p.exists()
        assert _leftovers(tmp_path, set()) == []
    else:
        assert p.read_bytes() == before
        assert _leftovers(tmp_path, {"out.png"}) == []


def test_encoder_failure_creates_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(write_mod, "_pillow", broken)
    with pytest.raises(ImageWriteError, match="PNG encoding failed.*encoder exploded"):
        write_image(tmp_path / "a.png", pattern())
    assert os.listdir(tmp_path) == []


def test_race_on_new_file_does_not_clobber(tmp_path, monkeypatch):
    # Another process creates the destination between the check and the rename: it must survive.
    p = tmp_path / "out.png"
    real = write_mod._atomic_write

    def sneaky(path, data, overwrite):
        path.write_bytes(b"theirs")
        return real(path, data, overwrite)

    monkeypatch.setattr(write_mod, "_atomic_write", sneaky)
    with pytest.raises(ImageWriteError, match="exists"):
        write_image(p, pattern())
    assert p.read_bytes() == b"theirs"
    assert _leftovers(tmp_path, {"out.png"}) == []


def test_new_files_get_normal_permissions(tmp_path):
    p = write_image(tmp_path / "a.png", pattern())
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(p).st_mode & 0o777 == 0o666 & ~mask
