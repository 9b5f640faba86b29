"""CIELAB in PyTorch for training batches (sRGB, D65), matching :func:`tinct.color.rgb2lab`.

Training converts whole batches on the training device, so it needs the same
conversion as :mod:`tinct.color.lab` expressed in tensor operations.

References
----------
.. [1] IEC 61966-2-1 (sRGB); CIE 15:2004 (CIELAB).
"""

from __future__ import annotations

# The constants of the NumPy conversion. f is written again in torch operations (tinct.color.lab.lab_f is
# NumPy's) because batches stay on the training device.
from tinct.color.lab import F_INV_THRESHOLD, F_OFFSET, F_SLOPE, F_THRESHOLD, WHITE_D65, XYZ_FROM_RGB


def rgb_to_lab(rgb):
    """(N, 3, H, W) sRGB in [0, 1] -> (N, 3, H, W) Lab (L in [0, 100]), float32."""
    import torch

    rgb = rgb.float().clamp(0, 1)
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = torch.tensor(XYZ_FROM_RGB, dtype=lin.dtype, device=lin.device)
    xyz = torch.einsum("ij,njhw->nihw", m, lin)
    xyz = xyz / torch.tensor(WHITE_D65, dtype=lin.dtype, device=lin.device).view(1, 3, 1, 1)
    f = torch.where(xyz > F_THRESHOLD, xyz.clamp_min(1e-12) ** (1.0 / 3.0), F_SLOPE * xyz + F_OFFSET)
    L = 116.0 * f[:, 1:2] - 16.0
    a = 500.0 * (f[:, 0:1] - f[:, 1:2])
    b = 200.0 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([L, a, b], dim=1)


def lab_to_rgb(lab):
    """(N, 3, H, W) Lab -> sRGB in [0, 1] (clipped), float32; for previews and contact sheets."""
    import torch

    lab = lab.float()
    L, a, b = lab[:, 0:1], lab[:, 1:2], lab[:, 2:3]
    fy = (L + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0
    f = torch.cat([fx, fy, fz], dim=1)
    xyz = torch.where(f > F_INV_THRESHOLD, f**3, (f - F_OFFSET) / F_SLOPE)
    xyz = xyz * torch.tensor(WHITE_D65, dtype=lab.dtype, device=lab.device).view(1, 3, 1, 1)
    m = torch.linalg.inv(torch.tensor(XYZ_FROM_RGB, dtype=torch.float64)).to(lab.dtype).to(lab.device)
    lin = torch.einsum("ij,njhw->nihw", m, xyz).clamp(0, 1)
    rgb = torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055, 12.92 * lin)
    return rgb.clamp(0, 1)
