"""Image-quality metrics (no method implementations here; light imports only)."""

from tinct.metrics.transfer import (
    delta_e,
    edge_preservation,
    sliced_wasserstein,
    ssim_lightness,
    transfer_scores,
)

__all__ = ["delta_e", "edge_preservation", "sliced_wasserstein", "ssim_lightness", "transfer_scores"]
