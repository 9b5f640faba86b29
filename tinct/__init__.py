"""tinct: colour for pictures.

Automatic colorization, colorization from a reference photo or scribbles, and
colour transfer between images. Every method is a plain function on NumPy
arrays, registered once in :mod:`tinct.registry` and reachable from the Python
API, the ``tinct`` command line, the web service and batch runs.

>>> import tinct
>>> result = tinct.transfer(target, reference, method="reinhard")  # doctest: +SKIP
>>> colour = tinct.colorize(gray)  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from tinct.errors import TinctError  # noqa: E402


def __getattr__(name: str):
    # ``tinct.colorize`` and ``tinct.transfer`` are callable subpackages (see tinct._callable), imported
    # on first use so that ``import tinct`` stays light.
    if name in ("colorize", "transfer"):
        import importlib

        return importlib.import_module(f"tinct.{name}")
    raise AttributeError(f"module 'tinct' has no attribute {name!r}")


def read_image(path, **kwargs):
    """Read an image file; see :func:`tinct.io.read_image`."""
    from tinct.io import read_image as _read

    return _read(path, **kwargs)


def write_image(path, image, **kwargs):
    """Write an image file atomically; see :func:`tinct.io.write_image`."""
    from tinct.io import write_image as _write

    return _write(path, image, **kwargs)


__all__ = ["TinctError", "__version__", "colorize", "read_image", "transfer", "write_image"]
