"""Non-local matching of superpixel features (Carrillo et al. 2022; Leduc et al. 2024), shared by two methods.

The ``superpixel`` colour transfer (:mod:`tinct.transfer.superpixel`) and the ``exemplar`` colorization
(:mod:`tinct.colorize.exemplar`) differ only in how they read the target and merge the attention; the
superpixels, features, attention and colour fusion they share live here: :mod:`tinct.exemplar.matching`, with
the feature backends in :mod:`tinct.exemplar.features`.
"""
