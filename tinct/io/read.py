"""Reading image files safely into NumPy arrays.

:func:`read_image` turns any PNG, JPEG, TIFF, WebP or BMP file into an
:class:`ImageFile`: pixels as (H, W) gray or (H, W, 3) RGB in uint8 or uint16,
alpha carried separately and untouched, EXIF orientation applied, ICC profile
and EXIF kept for writing back. The file is read once into memory and never
written to.

Safety
------
- The pixel count is checked from the header, before any pixel is decoded
  (decompression bombs): :class:`~tinct.errors.ImageTooLargeError`.
- Truncated files are errors: Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES`` is
  never set, a PNG must reach its ``IEND`` chunk, and OpenCV decodes that fail
  are reported.
- Every failure is a :class:`~tinct.errors.ImageReadError` with a one-line
  message that names the file.

References
----------
.. [1] CIPA DC-008-2019 (Exif 2.32), tag 0x0112 "Orientation".
.. [2] W3C, "Portable Network Graphics (PNG) Specification (Third Edition)", 2025.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import struct
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinct.errors import ImageReadError, ImageTooLargeError, ParameterError

DEFAULT_MAX_PIXELS = 100_000_000
"""Default limit on width * height; override with ``max_pixels=`` or ``TINCT_MAX_PIXELS``."""

ENV_MAX_PIXELS = "TINCT_MAX_PIXELS"

#: Formats read_image accepts (Pillow's names). MPO is what Pillow calls many camera JPEGs.
READ_FORMATS = ("PNG", "JPEG", "MPO", "TIFF", "WEBP", "BMP")

_ORIENTATION = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow's bomb limit and LOAD_TRUNCATED_IMAGES are process-wide globals. We only change them briefly,
# under this lock: lift the bomb limit to read the header of a file whose size *our* limit then judges,
# and switch truncated loading off if other code switched it on.
_PIL_LOCK = threading.Lock()


@dataclass
class ImageFile:
    """An image read from a file, with what is needed to write a result back.

    Attributes
    ----------
    pixels : ndarray
        (H, W) gray or (H, W, 3) RGB, uint8 or uint16 (float32 only for a float TIFF),
        already turned upright according to the EXIF orientation.
    alpha : ndarray or None
        (H, W) alpha of the same dtype as ``pixels``, oriented like them, values untouched.
    icc_profile : bytes or None
        The embedded ICC profile. None for CMYK sources, which are converted to sRGB.
    exif : bytes or None
        The EXIF block, with Orientation reset to 1 when the pixels were turned.
    format : str
        Pillow's format name: 'PNG', 'JPEG', 'TIFF', 'WEBP', 'BMP', ...
    path : Path or None
        Where the image came from.
    mode : str
        The source's Pillow mode ('P', 'CMYK', 'I;16', 'RGBA', ...), for messages.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None
    format: str = ""
    path: Path | None = None
    mode: str = ""

    def with_alpha(self) -> np.ndarray:
        """Pixels with alpha as the last channel ((H, W, 2) or (H, W, 4)), or the pixels alone."""
        if self.alpha is None:
            return self.pixels
        px = self.pixels if self.pixels.ndim == 3 else self.pixels[..., None]
        return np.concatenate([px, self.alpha[..., None].astype(px.dtype, copy=False)], axis=2)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`pixels`."""
        return self.pixels.shape


def resolve_max_pixels(max_pixels: int | None = None) -> int:
    """The pixel limit in force: the argument, else ``$TINCT_MAX_PIXELS``, else the default."""
    name = "max_pixels"
    value = max_pixels
    if value is None:
        env = os.environ.get(ENV_MAX_PIXELS, "").strip()
        if not env:
            return DEFAULT_MAX_PIXELS
        name = ENV_MAX_PIXELS
        try:
            value = int(env.replace("_", ""))
        except ValueError:
            try:
                number = float(env)  # accept 2e8
            except ValueError:
                number = 0.5
            if not number.is_integer():
                raise ParameterError(f"{name}: expected a positive whole number of pixels, got {env!r}") from None
            value = int(number)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ParameterError(f"{name}: expected a positive whole number of pixels, got {value!r}")
    return int(value)


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn ``array`` (H, W, ...) upright for an EXIF orientation value 1..8.

    Matches :func:`PIL.ImageOps.exif_transpose`; unknown values leave the array as it is.
    """
    if orientation == 2:
        out = array[:, ::-1]
    elif orientation == 3:
        out = array[::-1, ::-1]
    elif orientation == 4:
        out = array[::-1]
    elif orientation == 5:
        out = array.swapaxes(0, 1)
    elif orientation == 6:
        out = np.rot90(array, -1)
    elif orientation == 7:
        out = array.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        out = np.rot90(array, 1)
    else:
        return array
    return np.ascontiguousarray(out)


def _fail(path, what: str) -> ImageReadError:
    return ImageReadError(f"cannot read {path}: {what}")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise _fail(path, "it is a directory, not an image file")
        with open(path, "rb") as f:
            data = f.read()
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except PermissionError:
        raise _fail(path, "permission denied") from None
    except IsADirectoryError:
        raise _fail(path, "it is a directory, not an image file") from None
    except OSError as exc:
        raise _fail(path, exc.strerror or str(exc)) from None
    if not data:
        raise _fail(path, "the file is empty (0 bytes)")
    return data


def _open(data: bytes, path):
    """Open (header only) with Pillow, returning the lazy image; bomb checks are left to us."""
    from PIL import Image, UnidentifiedImageError

    def attempt():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))

    try:
        try:
            return attempt()
        except Image.DecompressionBombError:
            # Pillow's cap (about 179 MP) is not ours: read the header without it, then judge the size ourselves.
            with _PIL_LOCK:
                saved = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None
                try:
                    return attempt()
                finally:
                    Image.MAX_IMAGE_PIXELS = saved
    except UnidentifiedImageError:
        raise _fail(path, "not an image file, or a corrupt one (unrecognised content)") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad file, reported in one line
        raise _fail(path, f"corrupt image header ({_reason(exc)})") from None


@contextlib.contextmanager
def _strict_loading():
    """Decode with Pillow's ``LOAD_TRUNCATED_IMAGES`` off, even if other code in the process turned it on."""
    from PIL import ImageFile as PILImageFile

    if not PILImageFile.LOAD_TRUNCATED_IMAGES:
        yield
        return
    with _PIL_LOCK:
        PILImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            PILImageFile.LOAD_TRUNCATED_IMAGES = True


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _bit_depth(im, data: bytes) -> int:
    """Bits per sample of the source, where Pillow may have reduced it (PNG, TIFF); else 8."""
    if im.format == "PNG" and data[:8] == _PNG_SIGNATURE and len(data) >= 26:
        return data[24]
    if im.format == "TIFF":
        bits = im.tag_v2.get(258)
        if bits is not None:
            return max(bits) if isinstance(bits, tuple | list) else int(bits)
    return 8


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's stderr logging (libpng/libtiff warnings) during a decode; failures are reported by us."""
    try:
        from cv2.utils import logging as cvlog

        level = cvlog.getLogLevel()
        cvlog.setLogLevel(cvlog.LOG_LEVEL_SILENT)
    except Exception:  # noqa: BLE001 - older OpenCV without the logging API: just decode
        yield
        return
    try:
        yield
    finally:
        cvlog.setLogLevel(level)


@functools.cache
def _opencv_orients_tiff() -> bool:
    """Whether this OpenCV's TIFF decoder applies the Orientation tag itself (it ignores the flag asking it not to)."""
    import cv2

    # 2 x 1 RGB, 16 bit, uncompressed, Orientation = 2 (mirrored): does pixel 0 come back as pixel 1?
    entries = [(256, 3, 1, 2), (257, 3, 1, 1), (258, 3, 3, 0), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, 0), (274, 3, 1, 2), (277, 3, 1, 3), (278, 3, 1, 1), (279, 4, 1, 12)]
    ifd_offset = 8
    extra = ifd_offset + 2 + 12 * len(entries) + 4
    bits_offset, strip_offset = extra, extra + 6
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 258:
            value = bits_offset
        elif tag == 273:
            value = strip_offset
        fmt = "<HHII" if typ == 4 or tag == 258 else "<HHIHH"
        ifd += struct.pack(fmt, tag, typ, count, value) if fmt == "<HHII" else struct.pack(fmt, tag, typ, count, value, 0)
    data = b"II*\x00" + struct.pack("<I", ifd_offset) + ifd + b"\x00" * 4
    data += struct.pack("<HHH", 16, 16, 16) + struct.pack("<6H", 1, 2, 3, 4, 5, 6)
    with _quiet_opencv():
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return arr is not None and int(arr[0, 0, 2]) == 4


def _decode_opencv(data: bytes, path, gray: bool):
    """Full-precision decode of 16-bit colour PNG/TIFF (Pillow truncates those to 8 bit).

    ``gray`` marks a gray + alpha source, which OpenCV hands back as BGRA with equal channels.
    """
    import cv2

    with _quiet_opencv():
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None:
        raise _fail(path, "corrupt or truncated 16-bit image data")
    if arr.ndim == 2:
        return arr, None
    alpha = np.ascontiguousarray(arr[..., 3]) if arr.shape[2] == 4 else None
    if gray or arr.shape[2] < 3:
        return np.ascontiguousarray(arr[..., 0]), alpha
    # cvtColor: a fast contiguous channel swap (a reversed-stride numpy copy is several times slower)
    return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB), alpha


def _cmyk_to_rgb(im, icc: bytes | None):
    """CMYK -> sRGB through the embedded ICC profile when there is one, else Pillow's naive formula."""
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except Exception:  # noqa: BLE001 - a broken profile falls back to the naive conversion
            pass
    return im.convert("RGB")


def _decode_pillow(im, path, icc: bytes | None):
    """Pixels, alpha and the icc profile that still applies, from a loaded Pillow image."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L")), None, icc
    if mode in ("L", "I;16", "I;16L", "I;16B", "I;16N"):
        px = np.asarray(im)
        return px.astype(np.uint16) if px.dtype != np.uint8 else px, None, icc
    if mode == "I":
        px = np.asarray(im)
        if px.size and (px.min() < 0 or px.max() > 65535):
            raise _fail(path, "32-bit integer pixels outside 0..65535 are not supported")
        return px.astype(np.uint16), None, icc
    if mode == "F":
        return np.asarray(im, dtype=np.float32).copy(), None, icc
    if mode in ("LA", "La"):
        arr = np.asarray(im.convert("LA") if mode == "La" else im)
        return np.ascontiguousarray(arr[..., 0]), np.ascontiguousarray(arr[..., 1]), icc
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
        if has_alpha:
            return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3]), icc
        return arr, None, icc
    if mode == "CMYK":
        rgb = _cmyk_to_rgb(im, icc)
        return np.asarray(rgb), None, None
    if mode in ("RGBA", "RGBa"):
        arr = np.asarray(im.convert("RGBA") if mode == "RGBa" else im)
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3]), icc
    if mode == "RGB":
        return np.asarray(im), None, icc
    if mode in ("RGBX", "YCbCr"):
        return np.asarray(im.convert("RGB")), None, icc
    if mode == "LAB":
        # Pillow's LAB is 8-bit CIELAB; convert through ImageCms to sRGB.
        from PIL import ImageCms

        tr = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
        return np.asarray(ImageCms.applyTransform(im, tr)), None, None
    raise _fail(path, f"unsupported pixel mode {mode!r}")


def _exif_tags(im):
    """The EXIF tags as a PIL.Image.Exif, without making Pillow decode pixels it has not decoded."""
    from PIL import Image

    if im.format == "TIFF":
        return im.getexif()  # the TIFF's own IFD0, from the header
    exif = Image.Exif()
    raw = im.info.get("exif")
    if raw:
        exif.load(raw.encode("latin-1") if isinstance(raw, str) else raw)
    return exif


def _exif_bytes(im, tags, orientation: int) -> bytes | None:
    """The EXIF block to carry, with Orientation reset to 1 when the pixels were turned."""
    from PIL import Image

    raw = im.info.get("exif")
    if im.format == "TIFF":
        # A TIFF's IFD0 holds the image structure (strips, compression): keep only descriptive tags.
        src = tags
        out = Image.Exif()
        for tag in (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298):
            if tag in src:
                out[tag] = src[tag]
        if len(out) == 0:
            return None
        return out.tobytes()
    if not raw:
        return None
    if isinstance(raw, str):
        raw = raw.encode("latin-1")
    if orientation in (0, 1) or tags is None:
        return bytes(raw)
    tags[_ORIENTATION] = 1
    return tags.tobytes()


def read_image(path, *, max_pixels: int | None = None) -> ImageFile:
    """Read an image file into an :class:`ImageFile`.

    Parameters
    ----------
    path : str or Path
        A PNG, JPEG, TIFF, WebP or BMP file.
    max_pixels : int, optional
        Refuse images with more than this many pixels (width * height), checked from the header
        before decoding. Default: ``$TINCT_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`.

    Returns
    -------
    ImageFile
        Pixels (H, W) gray or (H, W, 3) RGB, uint8 or uint16, upright; alpha separately.
        Palette images become RGB (+ alpha from their transparency), CMYK becomes sRGB (through the
        embedded ICC profile when there is one), 1-bit becomes uint8 0/255 gray, 16-bit gray
        becomes uint16 (H, W), 16-bit colour PNG/TIFF keep all 16 bits (decoded with OpenCV).

    Raises
    ------
    ImageReadError
        Missing file, directory, permission denied, empty, not an image, corrupt, truncated,
        unsupported format or pixel mode.
    ImageTooLargeError
        More pixels than the limit.
    ParameterError
        ``max_pixels`` (or ``$TINCT_MAX_PIXELS``) is not a positive integer.

    Notes
    -----
    Multi-frame files (animated WebP, multi-page TIFF) give their first frame. Orientation is taken
    from EXIF tag 0x0112 [1]_ (TIFF: the same baseline tag); all eight values are applied.
    """
    from PIL import Image

    limit = resolve_max_pixels(max_pixels)
    path = Path(os.fspath(path)).expanduser()
    data = _read_bytes(path)
    im = _open(data, path)
    try:
        fmt = im.format or "?"
        if fmt not in READ_FORMATS:
            raise _fail(path, f"{fmt} files are not supported; use PNG, JPEG, TIFF, WebP or BMP")
        width, height = im.size
        if width * height > limit:
            raise ImageTooLargeError(
                f"cannot read {path}: image is {width} x {height} = {width * height:,} pixels, over the limit of "
                f"{limit:,}; raise it with max_pixels= (--max-pixels) or the environment variable {ENV_MAX_PIXELS}"
            )
        if width < 1 or height < 1:
            raise _fail(path, f"image has no pixels ({width} x {height})")
        if fmt == "PNG" and data.rfind(b"IEND") < 0:
            raise _fail(path, "truncated PNG (no IEND chunk)")
        mode = im.mode
        # 16-bit colour PNG/TIFF: Pillow would decode to 8 bit, so OpenCV decodes instead (and reports
        # truncation); Pillow is left at the header to avoid decoding twice.
        sixteen = fmt in ("PNG", "TIFF") and mode in ("RGB", "RGBA", "LA", "RGBX", "CMYK") and _bit_depth(im, data) > 8
        if not sixteen:
            try:
                with warnings.catch_warnings(), _strict_loading():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    im.load()
            except ImageReadError:
                raise
            except MemoryError:
                raise _fail(path, f"not enough memory to decode {width} x {height} pixels") from None
            except Exception as exc:  # noqa: BLE001 - every decoder failure is a bad file
                text = str(exc).lower()
                what = "truncated" if "truncat" in text or isinstance(exc, EOFError) else "corrupt"
                raise _fail(path, f"{what} {fmt} data ({_reason(exc)})") from None
        icc = im.info.get("icc_profile") or None
        # Read after load(): Pillow finds a PNG's eXIf chunk behind the image data only while decoding.
        try:
            exif_tags = _exif_tags(im)
            orientation = int(exif_tags.get(_ORIENTATION, 1) or 1)
        except Exception:  # noqa: BLE001 - unreadable EXIF: treat as upright, keep going
            exif_tags, orientation = None, 1
        pending = orientation  # what is still to be applied to the decoded pixels
        if sixteen:
            if mode == "CMYK":
                raise _fail(path, "16-bit CMYK TIFF is not supported; convert it to RGB first")
            # 16-bit gray + alpha PNG (colour type 4): Pillow calls it RGBA.
            gray = mode == "LA" or (fmt == "PNG" and data[25] == 4)
            try:
                pixels, alpha = _decode_opencv(data, path, gray)
            except MemoryError:
                raise _fail(path, f"not enough memory to decode {width} x {height} pixels") from None
            if fmt == "TIFF" and orientation > 1 and _opencv_orients_tiff():
                pending = 1  # OpenCV's TIFF decoder has turned the pixels already
            # Pillow reports a TIFF's size already turned for orientations 5..8 (and turns TIFF pixels on
            # load, then drops the tag); OpenCV may or may not have turned them: compare sizes either way.
            if sorted(pixels.shape[:2]) != sorted((height, width)):
                raise _fail(path, "OpenCV and Pillow disagree on the image size")
        else:
            pixels, alpha, icc = _decode_pillow(im, path, icc)
        exif = None
        try:
            exif = _exif_bytes(im, exif_tags, orientation)
        except Exception:  # noqa: BLE001 - broken EXIF is dropped, not fatal
            exif = None
    finally:
        im.close()
    pixels = orient(pixels, pending)
    if alpha is not None:
        alpha = orient(alpha, pending)
        if alpha.dtype != pixels.dtype and pixels.dtype.kind == "u":
            alpha = _rescale(alpha, pixels.dtype)
    if not pixels.flags.writeable:
        pixels = pixels.copy()
    if alpha is not None and not alpha.flags.writeable:
        alpha = alpha.copy()
    return ImageFile(pixels=pixels, alpha=alpha, icc_profile=icc, exif=exif, format=fmt, path=path, mode=mode)


def _rescale(arr: np.ndarray, dtype) -> np.ndarray:
    """Exact integer rescale between uint8 and uint16 (x * 257 and its inverse)."""
    dtype = np.dtype(dtype)
    if arr.dtype == dtype:
        return arr
    if arr.dtype == np.uint8 and dtype == np.uint16:
        return arr.astype(np.uint16) * np.uint16(257)
    if arr.dtype == np.uint16 and dtype == np.uint8:
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return arr.astype(dtype)


def read_provenance(path) -> dict | None:
    """The provenance record tinct wrote into ``path`` (see :func:`tinct.io.write_image`), or None.

    Reads the XMP packet (PNG ``iTXt`` ``XML:com.adobe.xmp``, JPEG APP1, TIFF tag 700, WebP ``XMP``
    chunk) without decoding the pixels, and returns the JSON of its ``tinct:provenance`` element.

    Raises
    ------
    ImageReadError
        The file is missing, unreadable or not an image (one line naming it).

    References
    ----------
    .. [1] Adobe, "XMP Specification Part 3: Storage in Files", 2020.
    """
    import json
    import re
    from xml.sax.saxutils import unescape

    path = Path(os.fspath(path)).expanduser()
    im = _open(_read_bytes(path), path)
    try:
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
        if xmp is None and hasattr(im, "tag_v2"):
            xmp = im.tag_v2.get(700)
    except Exception as exc:  # noqa: BLE001 - a damaged metadata block is a bad file, in one line
        raise _fail(path, f"corrupt metadata ({_reason(exc)})") from None
    finally:
        im.close()
    if xmp is None:
        return None
    if isinstance(xmp, (bytes, bytearray)):
        xmp = bytes(xmp).decode("utf-8", "replace")
    match = re.search(r"<tinct:provenance>(.*?)</tinct:provenance>", str(xmp), re.S)
    if match is None:
        return None
    try:
        record = json.loads(unescape(match.group(1)))
    except ValueError:
        raise _fail(path, "the tinct provenance record is not valid JSON") from None
    return record if isinstance(record, dict) else None
