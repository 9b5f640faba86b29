"""read_image: formats, bit depths, modes, orientation, the pixel guard, and failures."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image, ImageOps

import tinct.io.read as read_mod
from tinct.errors import ImageReadError, ImageTooLargeError, ParameterError, TinctError
from tinct.io import DEFAULT_MAX_PIXELS, ImageFile, orient, read_image, resolve_max_pixels
from tinct.io.tests.badfiles import EXPECTED, FAILING, H, W, make_bad_files, pattern, sixteen_bit


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_bad_files(tmp_path_factory.mktemp("bad"))


def _snapshot(paths):
    return {p: (p.read_bytes(), os.stat(p).st_mtime_ns, os.stat(p).st_mode) for p in paths}


def test_every_bad_file_fails_cleanly_and_no_file_is_modified(files):
    before = _snapshot(files.values())
    for name, path in files.items():
        if name in FAILING:
            with pytest.raises(TinctError) as info:
                read_image(path)
            err = info.value
            assert type(err).__name__ == FAILING[name], (name, err)
            msg = str(err)
            assert "\n" not in msg and str(path) in msg, msg
        else:
            img = read_image(path)
            shape, dtype, has_alpha = EXPECTED[name]
            assert img.pixels.shape == shape, name
            assert img.pixels.dtype == np.dtype(dtype), name
            assert (img.alpha is not None) == has_alpha, name
            if has_alpha:
                assert img.alpha.shape == shape[:2] and img.alpha.dtype == img.pixels.dtype
    assert _snapshot(files.values()) == before
    assert sorted(p.name for p in files.values()) == sorted(p.name for p in next(iter(files.values())).parent.iterdir())


def test_missing_directory_and_permission_errors(tmp_path, monkeypatch):
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageReadError, match="no such file") as info:
        read_image(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(ImageReadError, match="directory"):
        read_image(tmp_path)
    p = tmp_path / "x.png"
    Image.new("RGB", (4, 4)).save(p)

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # Tests may run as root, where chmod 000 does not stop reading: simulate the OS refusing instead.
    monkeypatch.setattr(read_mod, "open", deny, raising=False)
    with pytest.raises(ImageReadError, match="permission denied"):
        read_image(p)


def test_16_bit_values_are_exact(files):
    g = read_image(files["gray16_png"]).pixels
    assert np.array_equal(g, sixteen_bit(channels=1, seed=1))
    rgb = read_image(files["rgb16_png"]).pixels
    assert np.array_equal(rgb, sixteen_bit(channels=3, seed=2))
    rgba = read_image(files["rgba16_png"])
    src = sixteen_bit(channels=4, seed=3)
    assert np.array_equal(rgba.pixels, src[..., :3]) and np.array_equal(rgba.alpha, src[..., 3])
    la = read_image(files["la16_png"])
    src = sixteen_bit(channels=2, seed=4)
    assert np.array_equal(la.pixels, src[..., 0]) and np.array_equal(la.alpha, src[..., 1])
    assert np.array_equal(read_image(files["gray16_tiff"]).pixels, sixteen_bit(channels=1, seed=5))
    assert np.array_equal(read_image(files["rgb16_tiff"]).pixels, sixteen_bit(channels=3, seed=6))


def test_modes_match_pillow_conversions(files):
    pal = read_image(files["palette_png"])
    ref = np.asarray(Image.open(files["palette_png"]).convert("RGBA"))
    assert np.array_equal(pal.pixels, ref[..., :3]) and np.array_equal(pal.alpha, ref[..., 3])
    assert (pal.alpha == 0).any() and (pal.alpha == 255).any()
    cmyk = read_image(files["cmyk_jpeg"])
    assert cmyk.mode == "CMYK" and cmyk.icc_profile is None
    assert np.array_equal(cmyk.pixels, np.asarray(Image.open(files["cmyk_jpeg"]).convert("RGB")))
    bi = read_image(files["bilevel_png"])
    assert set(np.unique(bi.pixels)) <= {0, 255} and bi.pixels.dtype == np.uint8
    la = read_image(files["la_png"])
    ref = np.asarray(Image.open(files["la_png"]))
    assert np.array_equal(la.pixels, ref[..., 0]) and np.array_equal(la.alpha, ref[..., 1])
    assert np.array_equal(read_image(files["one_pixel"]).pixels, [[[12, 34, 56]]])
    assert np.array_equal(read_image(files["rgb_bmp"]).pixels, pattern())
    assert np.array_equal(read_image(files["rgb8_tiff"]).pixels, pattern())


def test_with_alpha(files):
    rgba = read_image(files["rgba_png"])
    stacked = rgba.with_alpha()
    assert stacked.shape == (H, W, 4) and np.array_equal(stacked[..., 3], rgba.alpha)
    la = read_image(files["la_png"]).with_alpha()
    assert la.shape == (H, W, 2)
    plain = read_image(files["rgb_bmp"])
    assert plain.with_alpha() is plain.pixels


@pytest.mark.parametrize("k", range(1, 9))
def test_exif_orientation_all_eight(files, k):
    path = files[f"exif_orient{k}_jpeg"]
    img = read_image(path)
    with Image.open(path) as im:
        assert im.getexif()[0x0112] == k
        expected = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(img.pixels, expected)
    # the marked corner is top-left after turning (JPEG: compare loosely)
    assert img.pixels[1, 1, 0] > 200 and img.pixels[1, 1, 1] < 60
    exif = Image.Exif()
    exif.load(img.exif)
    assert exif.get(0x0112, 1) == 1 and exif[0x010F] == "tinct-test"
    assert img.icc_profile and img.icc_profile == Image.open(path).info["icc_profile"]


def test_orientation_turns_alpha_and_16_bit(tmp_path):
    rgba = np.concatenate([pattern(), (np.arange(H * W).reshape(H, W, 1) % 251).astype(np.uint8)], axis=2)
    im = Image.fromarray(rgba, "RGBA")
    exif = im.getexif()
    exif[0x0112] = 6
    p = tmp_path / "rot.png"
    im.save(p, exif=exif.tobytes())
    img = read_image(p)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(p)))
    assert img.pixels.shape == (W, H, 3)
    assert np.array_equal(img.pixels, expected[..., :3]) and np.array_equal(img.alpha, expected[..., 3])
    # 16-bit colour goes through OpenCV, which must not turn it a second time
    from tinct.io import write_image
    from tinct.io.tests.badfiles import exif_with

    src = sixteen_bit(channels=3, seed=9)
    like = ImageFile(pixels=src, exif=exif_with(8))
    q = write_image(tmp_path / "rot16.png", src, like=like)
    assert np.array_equal(read_image(q).pixels, np.rot90(src, 1))


def test_orient_matches_pillow_for_all_values():
    arr = np.arange(3 * 5 * 2, dtype=np.uint8).reshape(3, 5, 2)[..., 0]
    methods = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
               5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_90}
    assert orient(arr, 1) is arr
    for k, method in methods.items():
        assert np.array_equal(orient(arr, k), np.asarray(Image.fromarray(arr).transpose(method))), k


def test_guard_fires_before_decoding(files, monkeypatch):
    import cv2
    from PIL import ImageFile as PILImageFile

    def boom(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(PILImageFile.ImageFile, "load", boom)
    monkeypatch.setattr(cv2, "imdecode", boom)
    with pytest.raises(ImageTooLargeError, match=r"100000 x 100000.*100,000,000.*TINCT_MAX_PIXELS"):
        read_image(files["huge_header"])
    with pytest.raises(ImageTooLargeError, match="over the limit of 959"):
        read_image(files["rgb16_png"], max_pixels=H * W - 1)


def test_guard_limit_sources(files, monkeypatch):
    assert resolve_max_pixels() == DEFAULT_MAX_PIXELS
    assert read_image(files["rgb_bmp"], max_pixels=H * W).pixels.shape == (H, W, 3)
    monkeypatch.setenv("TINCT_MAX_PIXELS", "100")
    assert resolve_max_pixels() == 100
    with pytest.raises(ImageTooLargeError):
        read_image(files["rgb_bmp"])
    assert read_image(files["rgb_bmp"], max_pixels=10**6).pixels.shape == (H, W, 3)  # argument wins
    monkeypatch.setenv("TINCT_MAX_PIXELS", "2e8")
    assert resolve_max_pixels() == 200_000_000
    monkeypatch.setenv("TINCT_MAX_PIXELS", "lots")
    with pytest.raises(ParameterError, match="TINCT_MAX_PIXELS"):
        read_image(files["rgb_bmp"])
    for bad in (0, -5, 1.5, "10", True):
        with pytest.raises(ParameterError, match="max_pixels"):
            resolve_max_pixels(bad)


def test_pillow_bomb_limit_is_ours_not_pillows(files, monkeypatch):
    # Pillow's own cap (here lowered to 100 pixels) must neither block nor warn: our limit decides.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = read_image(files["rgb_bmp"])  # 960 px > 2 * 100: Pillow alone would raise
    assert img.pixels.shape == (H, W, 3)
    assert Image.MAX_IMAGE_PIXELS == 100  # restored
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 700)  # 960 px: only a warning in Pillow
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(files["rgb_bmp"]).pixels.shape == (H, W, 3)


def test_truncated_stays_an_error_even_if_pillow_was_told_otherwise(files, monkeypatch):
    from PIL import ImageFile as PILImageFile

    monkeypatch.setattr(PILImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(files["truncated_jpeg"])
    assert PILImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is given back


@pytest.mark.parametrize("bits", [8, 16])
def test_truncated_png_with_iend_appended(tmp_path, bits):
    # Cut inside IDAT but append an IEND: the decoder itself (Pillow at 8 bit, OpenCV at 16) must notice.
    from tinct.io.tests.badfiles import png_bytes, png_chunk

    rng = np.random.default_rng(0)
    samples = rng.integers(0, 2**bits, (64, 64, 3)).astype(np.uint16 if bits == 16 else np.uint8)
    full = png_bytes(samples, 2, bits)
    p = tmp_path / "cut.png"
    p.write_bytes(full[: len(full) // 2] + png_chunk(b"IEND", b""))
    with pytest.raises(ImageReadError) as info:
        read_image(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_truncated_16_bit_tiff(tmp_path):
    import tifffile

    p = tmp_path / "cut.tif"
    tifffile.imwrite(p, sixteen_bit(64, 64, 3, seed=3), photometric="rgb")  # header first, pixels after
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 4000])
    with pytest.raises(ImageReadError, match="cut.tif"):
        read_image(p)


def test_float_tiff_and_unsupported_format(tmp_path):
    arr = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    p = tmp_path / "f.tif"
    Image.fromarray(arr, "F").save(p)
    img = read_image(p)
    assert img.pixels.dtype == np.float32 and np.array_equal(img.pixels, arr)
    gif = tmp_path / "x.gif"
    Image.fromarray(pattern()).save(gif)
    with pytest.raises(ImageReadError, match="GIF files are not supported"):
        read_image(gif)


def test_reading_bytes_does_not_touch_the_file(tmp_path):
    # read_image works from one read of the file: a file that is replaced afterwards does not matter.
    p = tmp_path / "a.png"
    Image.fromarray(pattern()).save(p)
    mtime = os.stat(p).st_mtime_ns
    img = read_image(str(p))
    img.pixels[:] = 0  # the arrays are the caller's own, writable
    assert os.stat(p).st_mtime_ns == mtime
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(p.read_bytes()))), pattern())


def test_exif_behind_the_image_data_is_found(tmp_path):
    # PNG allows eXIf after IDAT; Pillow only sees it while decoding, so orientation must be read after that.
    from tinct.io.tests.badfiles import exif_with, png_bytes, png_chunk

    data = png_bytes(pattern(), 2, 8)
    raw = exif_with(6)
    raw = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    p = tmp_path / "late-exif.png"
    p.write_bytes(data[:-12] + png_chunk(b"eXIf", raw) + data[-12:])
    assert np.array_equal(read_image(p).pixels, np.rot90(pattern(), -1))


@pytest.mark.parametrize("k", range(1, 9))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_orientation_applied_exactly_once(tmp_path, k, dtype):
    # Pillow turns TIFF pixels itself on load; OpenCV (16-bit path) does too: neither may be turned twice.
    import tifffile

    src = sixteen_bit(channels=4, seed=11 + k)
    if dtype == np.uint8:
        src = (src >> 8).astype(np.uint8)
    p = tmp_path / "o.tif"
    tifffile.imwrite(p, src, photometric="rgb", extrasamples=["unassalpha"], extratags=[(274, "H", 1, k, True)])
    img = read_image(p)
    expected = orient(src, k)
    assert img.pixels.dtype == dtype
    assert np.array_equal(img.pixels, expected[..., :3]) and np.array_equal(img.alpha, expected[..., 3])


def test_cielab_tiff_becomes_srgb(tmp_path):
    from skimage.color import lab2rgb

    # Pillow's LAB: L * 255 / 100, then a and b as signed bytes
    lab8 = np.array([[[153, 40, 236], [128, 0, 0], [200, 246, 30]]], np.uint8)
    p = tmp_path / "lab.tif"
    Image.fromarray(lab8, "LAB").save(p)
    img = read_image(p)
    f = lab8.astype(np.float64)
    ab = lab8[..., 1:].view(np.int8).astype(np.float64)
    lab = np.stack([f[..., 0] * 100 / 255, ab[..., 0], ab[..., 1]], axis=2)
    expected = lab2rgb(lab) * 255
    assert img.pixels.dtype == np.uint8 and img.mode == "LAB"
    # LittleCMS works with D50 Lab (the ICC connection space) and adapts to sRGB; skimage uses D65 Lab.
    assert np.abs(img.pixels - expected).max() < 8
    assert np.array_equal(img.pixels[0, 1], [119, 119, 119])  # a = b = 0 stays neutral
