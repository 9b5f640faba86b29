"""Colour transfer: the target image takes the colours of a reference image."""

from tinct.transfer.gmm import gmm
from tinct.transfer.mkl import mkl
from tinct.transfer.reinhard import reinhard
from tinct.transfer.sliced import sliced

__all__ = ["gmm", "mkl", "reinhard", "sliced"]
