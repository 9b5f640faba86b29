"""Colour transfer: the target image takes the colours of a reference image."""

from tinct.transfer.reinhard import reinhard

__all__ = ["reinhard"]
