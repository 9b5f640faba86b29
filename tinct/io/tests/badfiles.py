"""Awkward and broken image files for tests, made on the fly (nothing is stored in the repository).

``make_bad_files(directory)`` writes every file and returns ``{name: path}``. Names in
:data:`FAILING` must make :func:`tinct.io.read_image` raise (with the default pixel limit);
the rest are valid but awkward and must be read. :data:`EXPECTED` gives, for each valid file,
the shape and dtype of ``pixels`` and whether there is an alpha channel.

Used by ``tinct/io/tests`` and by the CLI tests.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

#: Files read_image must refuse, and the error class name it raises for each.
FAILING = {
    "corrupt_png": "ImageReadError",
    "corrupt_jpeg": "ImageReadError",
    "truncated_png": "ImageReadError",
    "truncated_jpeg": "ImageReadError",
    "zero_byte": "ImageReadError",
    "not_image": "ImageReadError",
    "huge_header": "ImageTooLargeError",
}

H, W = 24, 40  # small and not square, so orientation mistakes show

#: name -> (pixels shape, pixels dtype, has alpha) for the files that must be read.
EXPECTED = {
    "one_pixel": ((1, 1, 3), "uint8", False),
    "gray8_png": ((H, W), "uint8", False),
    "gray16_png": ((H, W), "uint16", False),
    "rgb16_png": ((H, W, 3), "uint16", False),
    "rgba16_png": ((H, W, 3), "uint16", True),
    "la16_png": ((H, W), "uint16", True),
    "gray16_tiff": ((H, W), "uint16", False),
    "rgb16_tiff": ((H, W, 3), "uint16", False),
    "rgb8_tiff": ((H, W, 3), "uint8", False),
    "palette_png": ((H, W, 3), "uint8", True),
    "cmyk_jpeg": ((H, W, 3), "uint8", False),
    "la_png": ((H, W), "uint8", True),
    "rgba_png": ((H, W, 3), "uint8", True),
    "bilevel_png": ((H, W), "uint8", False),
    "rgb_webp": ((H, W, 3), "uint8", False),
    "rgb_bmp": ((H, W, 3), "uint8", False),
    "rgb_jpeg": ((H, W, 3), "uint8", False),
    **{f"exif_orient{k}_jpeg": ((H, W, 3), "uint8", False) for k in range(1, 9)},  # upright after reading
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bytes(samples: np.ndarray, color_type: int, bit_depth: int) -> bytes:
    """A minimal PNG from (H, W, C) samples (C as the colour type needs), unfiltered."""
    h, w = samples.shape[:2]
    dt = ">u2" if bit_depth == 16 else np.uint8
    rows = np.ascontiguousarray(samples.astype(dt)).reshape(h, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return (_PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def huge_header_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` RGB pixels, with almost no data behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (_PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


def pattern(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """(h, w, 3) uint8: smooth gradients (JPEG-friendly) plus a marked top-left corner."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(h + w - 2, 1)], axis=2)
    rgb = rgb.astype(np.uint8)
    rgb[: max(1, h // 4), : max(1, w // 4)] = (255, 0, 0)
    return rgb


def sixteen_bit(h: int = H, w: int = W, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Random uint16 samples using all 16 bits (low bytes matter)."""
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 1 else (h, w, channels)
    return rng.integers(0, 65536, size=shape, dtype=np.uint16)


def srgb_icc() -> bytes:
    """An sRGB ICC profile made by LittleCMS (through Pillow); its header holds the creation time."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_with(orientation: int | None = None, make: str = "tinct-test") -> bytes:
    """An EXIF block with Make (and Orientation, if given)."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = make
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def make_bad_files(directory) -> dict[str, Path]:
    """Write every test file into ``directory`` (created if needed) and return ``{name: path}``."""
    import cv2
    from PIL import Image

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    rng = np.random.default_rng(1234)
    rgb = pattern()
    gray = rgb[..., 1].copy()
    icc = srgb_icc()  # once: LittleCMS stamps the creation time into each profile it makes

    def put(name: str, filename: str, data: bytes) -> None:
        path = d / filename
        path.write_bytes(data)
        out[name] = path

    def save(name: str, filename: str, im, **kwargs) -> None:
        path = d / filename
        im.save(path, **kwargs)
        out[name] = path

    # ---- must fail
    put("corrupt_png", "corrupt.png", _PNG_SIGNATURE + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    put("corrupt_jpeg", "corrupt.jpg", b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    noisy = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # incompressible, so a cut loses pixel rows
    full_png = png_bytes(noisy, 2, 8)
    put("truncated_png", "truncated.png", full_png[: len(full_png) // 2])
    import io

    buf = io.BytesIO()
    Image.fromarray(noisy).save(buf, format="JPEG", quality=90)
    full_jpeg = buf.getvalue()
    put("truncated_jpeg", "truncated.jpg", full_jpeg[: len(full_jpeg) // 2])
    put("zero_byte", "empty.png", b"")
    put("not_image", "notes.jpg", b"This is a text file with a .jpg name, not a picture.\n" * 10)
    put("huge_header", "huge-header.png", huge_header_png())

    # ---- valid but awkward
    put("one_pixel", "one-pixel.png", png_bytes(np.array([[[12, 34, 56]]], np.uint8), 2, 8))
    save("gray8_png", "gray8.png", Image.fromarray(gray, "L"))
    put("gray16_png", "gray16.png", png_bytes(sixteen_bit(channels=1, seed=1)[..., None], 0, 16))
    put("rgb16_png", "rgb16.png", png_bytes(sixteen_bit(channels=3, seed=2), 2, 16))
    put("rgba16_png", "rgba16.png", png_bytes(sixteen_bit(channels=4, seed=3), 6, 16))
    put("la16_png", "la16.png", png_bytes(sixteen_bit(channels=2, seed=4), 4, 16))
    ok, buf16 = cv2.imencode(".tiff", sixteen_bit(channels=1, seed=5))
    assert ok
    put("gray16_tiff", "gray16.tif", buf16.tobytes())
    ok, buf16 = cv2.imencode(".tiff", np.ascontiguousarray(sixteen_bit(channels=3, seed=6)[..., ::-1]))
    assert ok
    put("rgb16_tiff", "rgb16.tif", buf16.tobytes())
    save("rgb8_tiff", "rgb8.tif", Image.fromarray(rgb))
    pal = Image.fromarray(rgb).quantize(colors=16)
    pal.info["transparency"] = 0  # palette entry 0 fully transparent
    save("palette_png", "palette.png", pal, transparency=0)
    cmyk = Image.fromarray(rgb).convert("CMYK")
    save("cmyk_jpeg", "cmyk.jpg", cmyk, quality=95)
    alpha = (np.arange(H * W).reshape(H, W) * 7 % 256).astype(np.uint8)
    save("la_png", "la.png", Image.fromarray(np.stack([gray, alpha], axis=2), "LA"))
    save("rgba_png", "rgba.png", Image.fromarray(np.concatenate([rgb, alpha[..., None]], axis=2), "RGBA"))
    save("bilevel_png", "bilevel.png", Image.fromarray(gray > 128).convert("1"))
    save("rgb_webp", "rgb.webp", Image.fromarray(rgb), quality=90)
    save("rgb_bmp", "rgb.bmp", Image.fromarray(rgb))
    save("rgb_jpeg", "rgb.jpg", Image.fromarray(rgb), quality=95, icc_profile=icc, exif=exif_with())
    # EXIF orientation k: the stored pixels are the upright picture turned so that a viewer applying
    # orientation k shows it upright again.
    from PIL import ImageOps

    for k in range(1, 9):
        stored = _inverse_orient(rgb, k)
        im = Image.fromarray(stored)
        # sanity: Pillow's own transpose brings it back
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(_with_orientation(im, k))), rgb)
        save(f"exif_orient{k}_jpeg", f"exif-orient{k}.jpg", im, quality=95, icc_profile=icc,
             exif=exif_with(k))
    return out


def _with_orientation(im, k: int):
    exif = im.getexif()
    exif[0x0112] = k
    im.info["exif"] = exif.tobytes()
    return im


def _inverse_orient(arr: np.ndarray, k: int) -> np.ndarray:
    """The stored array that EXIF orientation ``k`` turns into ``arr``."""
    inverse = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}[k]
    from tinct.io import orient

    return orient(arr, inverse)
