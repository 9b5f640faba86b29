"""Exemplar colorization and colour transfer by non-local matching of superpixel features (seed 003).

Methods ``superpixel`` (transfer) and ``exemplar`` (colorization) live in
:mod:`tinct.exemplar.superpixel`; feature backends in :mod:`tinct.exemplar.features`.
"""
