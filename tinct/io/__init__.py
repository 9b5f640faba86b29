"""Safe image files: :func:`read_image` and :func:`write_image`.

Reading applies EXIF orientation, keeps 16 bit, turns palette and CMYK into RGB, carries alpha
separately, and refuses decompression bombs before decoding. Writing is atomic, keeps ICC profile and
EXIF, and never replaces an input. Every failure is a :class:`~tinct.errors.TinctError` with a
one-line message that names the file.
"""

from tinct.io.read import (
    DEFAULT_MAX_PIXELS,
    ENV_MAX_PIXELS,
    ImageFile,
    orient,
    read_image,
    read_provenance,
    resolve_max_pixels,
)
from tinct.io.write import WRITE_FORMATS, check_output_path, encode_image, write_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ENV_MAX_PIXELS",
    "WRITE_FORMATS",
    "ImageFile",
    "check_output_path",
    "encode_image",
    "orient",
    "read_image",
    "read_provenance",
    "resolve_max_pixels",
    "write_image",
]
