"""tinct: colour for pictures.

Automatic colorization, colorization from a reference photo or scribbles, and
colour transfer between images. Every method is a plain function on NumPy
arrays, registered once in :mod:`tinct.registry` and reachable from the Python
API, the ``tinct`` command line, the web service and batch runs.

>>> import tinct
>>> result = tinct.transfer(target, reference, method="reinhard")  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from tinct.errors import TinctError  # noqa: E402


def transfer(target, reference, method: str = "reinhard", **params):
    """Recolour ``target`` with the colours of ``reference`` using a registered transfer method."""
    from tinct.registry import get_method

    return get_method(method, "transfer")(target, reference, **params)


def colorize(image, method: str = "auto", **params):
    """Colorize a gray ``image`` using a registered colorization method."""
    from tinct.registry import get_method

    return get_method(method, "colorize")(image, **params)


def read_image(path, **kwargs):
    """Read an image file; see :func:`tinct.io.read_image`."""
    from tinct.io import read_image as _read

    return _read(path, **kwargs)


def write_image(path, image, **kwargs):
    """Write an image file atomically; see :func:`tinct.io.write_image`."""
    from tinct.io import write_image as _write

    return _write(path, image, **kwargs)


__all__ = ["TinctError", "__version__", "colorize", "read_image", "transfer", "write_image"]
