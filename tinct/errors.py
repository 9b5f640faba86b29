"""Every failure tinct reports on purpose is a :class:`TinctError`.

The CLI, the web service and the batch runner catch this one base class and show
its one-line message; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TinctError(Exception):
    """Base class: a failure with a one-line message meant for the user."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep messages on one line whatever the caller passed in.
        super().__init__(" ".join(str(message).split()))


class ImageReadError(TinctError):
    """A file could not be read as an image (missing, corrupt, truncated, unsupported)."""


class ImageTooLargeError(ImageReadError):
    """An image exceeds the configured pixel limit (decompression-bomb guard)."""


class ImageWriteError(TinctError):
    """A result could not be written, or writing would overwrite something it must not."""


class ParameterError(TinctError, ValueError):
    """A method parameter or input array is invalid; the message names the parameter."""


class UnknownMethodError(TinctError, KeyError):
    """No method of that name is registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class MissingDependencyError(TinctError):
    """A feature needs an optional dependency that is not installed; the message names the extra."""


class MissingWeightsError(TinctError):
    """A model needs weights that are not available locally."""
