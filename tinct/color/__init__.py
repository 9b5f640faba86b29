"""Colour science shared by every method: CIELAB, gray, quantized ab."""

from tinct.color.gray import REC601, lightness2rgb, rgb2gray, rgb2lightness
from tinct.color.lab import lab2rgb, lab2rgb_linear, linear_to_srgb, rgb2lab, srgb_to_linear
from tinct.color.quantize import (
    DEFAULT_TEMPERATURE,
    ab_bins,
    annealed_mean,
    decode_mode,
    encode_nearest,
    encode_soft,
    entropy,
    probabilities_to_ab,
    soft_to_dense,
)

__all__ = [
    "REC601",
    "DEFAULT_TEMPERATURE",
    "ab_bins",
    "annealed_mean",
    "decode_mode",
    "encode_nearest",
    "encode_soft",
    "entropy",
    "lab2rgb",
    "lab2rgb_linear",
    "lightness2rgb",
    "linear_to_srgb",
    "probabilities_to_ab",
    "rgb2gray",
    "rgb2lab",
    "rgb2lightness",
    "soft_to_dense",
    "srgb_to_linear",
]
