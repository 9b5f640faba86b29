"""Judging uploads from their headers only: the server never decodes pixels, the workers do.

:func:`probe` opens an upload with Pillow *lazily* (it reads the header, not the pixel data) and
checks what can be checked there: a supported format judged from the content (never the file
name), at least one pixel, the pixel limit, the EXIF orientation (so sizes compare upright), and
that the file is not visibly cut short (a PNG must hold its ``IEND`` chunk, a JPEG an
end-of-image marker). Memory stays flat however large the upload; a file whose pixel data turns
out broken fails its job with a one-line error from the worker's :func:`tinct.io.read_image`.
"""

from __future__ import annotations

import mmap
import warnings
from dataclasses import dataclass
from pathlib import Path

#: Formats the workers decode (Pillow's names; MPO is what Pillow calls many camera JPEGs).
FORMATS = ("PNG", "JPEG", "MPO", "TIFF", "WEBP", "BMP")
_ORIENTATION = 0x0112


class UploadError(ValueError):
    """A refused upload: ``status`` (400 or 413) and a one-line message naming the field."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Probe:
    """What the header says: format and the upright size (after the EXIF orientation)."""

    format: str
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width


def _tail_has(path: Path, marker: bytes) -> bool:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.rfind(marker) >= 0


def probe(path: Path, role: str, max_pixels: int) -> Probe:
    """Check an upload from its header; raise :class:`UploadError` naming ``role``."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise UploadError(f"{role}: the upload could not be stored") from None
    if size == 0:
        raise UploadError(f"{role}: the uploaded file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                fmt = im.format or "?"
                width, height = im.size
                orientation = 1
                if fmt in FORMATS:
                    try:
                        orientation = int(im.getexif().get(_ORIENTATION, 1) or 1)
                    except Exception:  # noqa: BLE001 - unreadable EXIF: upright, as read_image does
                        orientation = 1
    except Image.DecompressionBombError:
        raise UploadError(f"{role}: image has more pixels than the limit of {max_pixels:,} (--max-pixels)", 413) from None
    except UnidentifiedImageError:
        raise UploadError(f"{role}: not an image file, or a corrupt one (unrecognised content)") from None
    except Exception as exc:  # noqa: BLE001 - any header failure is a bad file, in one line
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise UploadError(f"{role}: corrupt image header ({text.replace(str(path), 'upload')})") from None
    if fmt not in FORMATS:
        raise UploadError(f"{role}: {fmt} files are not supported; use PNG, JPEG, TIFF, WebP or BMP")
    if width < 1 or height < 1:
        raise UploadError(f"{role}: image has no pixels ({width} x {height})")
    if width * height > max_pixels:
        raise UploadError(f"{role}: image is {width} x {height} = {width * height:,} pixels, over the limit of "
                          f"{max_pixels:,} (--max-pixels)", 413)
    if fmt == "PNG" and not _tail_has(path, b"IEND"):
        raise UploadError(f"{role}: truncated PNG (no IEND chunk)")
    if fmt in ("JPEG", "MPO") and not _tail_has(path, b"\xff\xd9"):
        raise UploadError(f"{role}: truncated JPEG (no end-of-image marker)")
    if orientation in (5, 6, 7, 8) and fmt != "TIFF":  # Pillow reports a TIFF's size already turned
        width, height = height, width
    return Probe(fmt, width, height)
