"""Provenance: write_image(provenance=...) records what made a file; read_provenance reads it back."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import tinct.io.write as write_mod
from tinct.errors import ImageReadError, ImageWriteError, ParameterError
from tinct.io import ImageFile, read_image, read_provenance, write_image
from tinct.io.tests.badfiles import exif_with, make_bad_files, sixteen_bit, srgb_icc

PROV = {
    "method": "auto",
    "model": "tinctnet-v2",
    "model_version": "2",
    "settings": {"vividness": np.float32(1.0), "temperature": 0.38, "upsample": "bilateral", "size": np.int64(3)},
    "input": "scan <1919> & \"family\" é.tif",  # characters XML and JSON must escape
}


def _expected():
    from tinct import __version__

    return {"software": "tinct", "tinct_version": __version__, "method": "auto", "model": "tinctnet-v2",
            "model_version": "2", "settings": {"vividness": 1.0, "temperature": 0.38, "upsample": "bilateral",
                                               "size": 3},
            "input": PROV["input"]}


def _image(dtype, channels, seed=0):
    rng = np.random.default_rng(seed)
    top = 65536 if dtype == np.uint16 else 256
    shape = (20, 30) if channels == 1 else (20, 30, channels)
    return rng.integers(0, top, size=shape, dtype=dtype)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"])
@pytest.mark.parametrize("dtype, channels", [(np.uint8, 3), (np.uint8, 1), (np.uint8, 4), (np.uint16, 3),
                                             (np.uint16, 1), (np.uint16, 4), (np.uint16, 2)])
def test_round_trip_in_every_format_and_depth(tmp_path, ext, dtype, channels):
    img = _image(dtype, channels)
    out = write_image(tmp_path / f"out{ext}", img, provenance=PROV)
    assert read_provenance(out) == _expected()
    back = read_image(out)
    if ext in (".png", ".tif", ".tiff"):  # lossless: the pixels are untouched by the record
        assert back.pixels.dtype == dtype  # 16 bit in, 16 bit out
        colour = img[..., 0] if channels == 2 else img[..., :3] if channels == 4 else img
        got = back.pixels[..., 0] if channels == 2 and back.pixels.ndim == 3 else back.pixels  # TIFF: LA as RGBA
        assert np.array_equal(got, colour)


def test_png_also_names_the_software_for_other_tools(tmp_path):
    out = write_image(tmp_path / "a.png", _image(np.uint8, 3), provenance={"method": "reinhard"})
    with Image.open(out) as im:
        assert im.info["Software"].startswith("tinct ")
        assert "XML:com.adobe.xmp" in im.info


def test_no_provenance_writes_none_and_files_are_otherwise_identical(tmp_path):
    img = _image(np.uint8, 3)
    plain = write_image(tmp_path / "plain.png", img)
    assert read_provenance(plain) is None
    assert read_provenance(write_image(tmp_path / "plain.jpg", img)) is None
    assert read_provenance(write_image(tmp_path / "plain.bmp", img, provenance=PROV)) is None  # no room in BMP


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
def test_source_icc_and_exif_are_kept_beside_the_record(tmp_path, ext):
    files = make_bad_files(tmp_path / "in")
    src = read_image(files["exif_orient6_jpeg"])
    out = write_image(tmp_path / f"out{ext}", src.pixels, like=src, provenance=PROV)
    assert read_provenance(out) == _expected()
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == src.icc_profile
        assert im.getexif()[0x010F] == "tinct-test"


def test_sixteen_bit_with_metadata_keeps_record_icc_and_depth(tmp_path):
    rgb = sixteen_bit(channels=3, seed=3)
    like = ImageFile(pixels=rgb, icc_profile=srgb_icc(), exif=exif_with(1))
    for ext in (".png", ".tif"):
        out = write_image(tmp_path / f"a{ext}", rgb, like=like, provenance=PROV)
        img = read_image(out)
        assert np.array_equal(img.pixels, rgb) and img.icc_profile == like.icc_profile
        assert read_provenance(out) == _expected()


def test_atomic_writer_keeps_the_old_file_when_encoding_the_record_fails(tmp_path):
    target = tmp_path / "a.png"
    write_image(target, _image(np.uint8, 3))
    before = target.read_bytes()
    with pytest.raises(ParameterError, match="^provenance"):
        write_image(target, _image(np.uint8, 3, seed=1), overwrite=True, provenance={"bad": object()})
    with pytest.raises(ParameterError, match="^provenance"):
        write_image(target, _image(np.uint8, 3, seed=1), overwrite=True, provenance=["not", "a", "dict"])
    with pytest.raises(ParameterError, match="^provenance"):
        write_image(target, _image(np.uint8, 3, seed=1), overwrite=True, provenance={"x": float("nan")})
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no temporary left behind
    with pytest.raises(ImageWriteError):  # never overwrites without being asked, record or not
        write_image(target, _image(np.uint8, 3), provenance=PROV)


def test_overwrite_replaces_the_record(tmp_path):
    target = write_image(tmp_path / "a.jpg", _image(np.uint8, 3), provenance={"method": "eccv16"})
    write_image(target, _image(np.uint8, 3), provenance={"method": "auto"}, overwrite=True)
    assert read_provenance(target)["method"] == "auto"


def test_read_provenance_of_bad_files_is_one_line(tmp_path):
    files = make_bad_files(tmp_path / "bad")
    for name in ("zero_byte", "not_image", "corrupt_png"):
        with pytest.raises(ImageReadError) as err:
            read_provenance(files[name])
        assert "\n" not in str(err.value) and str(files[name]) in str(err.value)
    with pytest.raises(ImageReadError, match="no such file"):
        read_provenance(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="directory"):
        read_provenance(tmp_path)


def test_foreign_xmp_is_not_provenance(tmp_path):
    out = tmp_path / "x.jpg"
    Image.fromarray(_image(np.uint8, 3)).save(out, xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    assert read_provenance(out) is None


def test_record_is_xmp_with_creator_tool():
    packet = write_mod._xmp_packet(write_mod.provenance_record({"method": "auto"})).decode()
    assert packet.startswith("<?xpacket begin=") and "<xmp:CreatorTool>tinct " in packet
    assert "&quot;" not in packet or "<tinct:provenance>" in packet


def test_cli_info_prints_the_record_and_one_line_errors(tmp_path, capsys):
    import json

    from tinct.apps.cli import main

    made = write_image(tmp_path / "made.png", _image(np.uint16, 3), provenance=PROV)
    plain = write_image(tmp_path / "plain.jpg", _image(np.uint8, 3))
    assert main(["info", str(made)]) == 0
    out = capsys.readouterr().out
    assert "PNG 30x20 RGB 16-bit" in out and "made by tinct" in out
    assert "method: auto" in out and "model: tinctnet-v2" in out and '"vividness": 1.0' in out
    assert main(["info", str(plain)]) == 0
    assert "provenance: none" in capsys.readouterr().out
    assert main(["info", "--json", str(made)]) == 0
    assert json.loads(capsys.readouterr().out) == _expected()
    assert main(["info", "--json", str(made), str(plain)]) == 0
    assert json.loads(capsys.readouterr().out) == {str(made): _expected(), str(plain): None}
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    for bad in (tmp_path / "bad.png", tmp_path / "missing.png", tmp_path):
        assert main(["info", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("tinct: error:") and "Traceback" not in err
