"""TinctNet: tinct's own compact colorization network.

A small U-Net-style encoder-decoder (about 2.5 M parameters) that maps CIELAB
lightness, optionally with sparse colour hints, to per-pixel logits over the
quantized ab bins at 1/4 of the input resolution. It follows the contract of
:mod:`tinct.models`:

``forward(l, hint_ab=None, hint_mask=None) -> logits (N, Q, H/4, W/4)``

with ``l`` in L units (0..100), ``hint_ab`` in ab units and ``hint_mask`` in
{0, 1}. Without hints the hint channels are zero, which is exactly how the
network was trained for automatic colorization (SIGGRAPH17-style training with
randomly sampled hint points, a share of them with no hint at all).

Layout (channels, resolution relative to the input)::

    stem   3x3/2  -> 32 @1/2, 3x3 -> 32
    down2  3x3/2  -> 64 @1/4, 3x3 -> 64
    down3  3x3/2  -> 128 @1/8, 2 x 3x3
    down4  3x3/2  -> 256 @1/16, residual dilated (d=2) block + global context
    up3    x2, 1x1 -> 128, + skip(1/8), 2 x 3x3
    up2    x2, 1x1 -> 128, + 1x1 skip(1/4), 3x3
    head   1x1 -> Q logits @1/4

The weights file is a ``torch.save`` dictionary ``{"arch": "tinctnet",
"config": {...}, "state_dict": {...}, "meta": {...}}``; :func:`build` makes
the network from ``config`` and :func:`load` does both steps.

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
.. [2] R. Zhang, J.-Y. Zhu, P. Isola, X. Geng, A. S. Lin, T. Yu, A. A. Efros,
       "Real-Time User-Guided Image Colorization with Learned Deep Priors", SIGGRAPH 2017.
.. [3] O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks for
       Biomedical Image Segmentation", MICCAI 2015.
"""

from __future__ import annotations

from pathlib import Path

from tinct.errors import ParameterError, TinctError

ARCH = "tinctnet"
DEFAULT_CONFIG = {"bins": "313", "width": 32, "hints": True, "input_size": 256}


def _net_class():
    import torch
    from torch import nn
    from torch.nn import functional as F

    def conv(cin, cout, stride=1, dilation=1):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    class _Residual(nn.Module):
        def __init__(self, ch, dilation):
            super().__init__()
            self.a = conv(ch, ch, dilation=dilation)
            self.b = nn.Sequential(
                nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(ch)
            )

        def forward(self, x):
            return F.relu(x + self.b(self.a(x)))

    class TinctNet(nn.Module):
        """Compact U-Net colorizer; see the module docstring for the layout."""

        arch = ARCH
        output_stride = 4

        def __init__(self, bins: str = "313", width: int = 32, hints: bool = True, input_size: int = 256):
            super().__init__()
            from tinct.color import ab_bins

            self.bins = str(bins)
            self.input_size = int(input_size)
            self.hints = bool(hints)
            q = len(ab_bins(self.bins))
            w = self.width = int(width)
            cin = 4 if self.hints else 1
            self.stem = nn.Sequential(conv(cin, w, 2), conv(w, w))
            self.down2 = nn.Sequential(conv(w, 2 * w, 2), conv(2 * w, 2 * w))
            self.down3 = nn.Sequential(conv(2 * w, 4 * w, 2), conv(4 * w, 4 * w), conv(4 * w, 4 * w))
            self.down4 = nn.Sequential(conv(4 * w, 8 * w, 2), _Residual(8 * w, 2))
            self.context = nn.Sequential(nn.Conv2d(8 * w, 8 * w, 1), nn.ReLU(inplace=True))
            self.lat3 = nn.Conv2d(8 * w, 4 * w, 1)
            self.up3 = nn.Sequential(conv(4 * w, 4 * w), conv(4 * w, 4 * w))
            self.lat2 = nn.Conv2d(4 * w, 4 * w, 1)
            self.skip2 = nn.Conv2d(2 * w, 4 * w, 1)
            self.up2 = conv(4 * w, 4 * w)
            self.head = nn.Conv2d(4 * w, q, 1)

        def config(self) -> dict:
            return {"bins": self.bins, "width": self.width, "hints": self.hints, "input_size": self.input_size}

        def forward(self, l, hint_ab=None, hint_mask=None):  # noqa: E741
            x = (l - 50.0) / 50.0
            if self.hints:
                n, _, h, w = l.shape
                if hint_ab is None:
                    hint_ab = l.new_zeros((n, 2, h, w))
                if hint_mask is None:
                    hint_mask = (hint_ab.abs().sum(1, keepdim=True) > 0).to(l.dtype)
                x = torch.cat([x, hint_ab / 110.0 * hint_mask, hint_mask], dim=1)
            e1 = self.stem(x)
            e2 = self.down2(e1)
            e3 = self.down3(e2)
            e4 = self.down4(e3)
            e4 = e4 + self.context(e4.mean(dim=(2, 3), keepdim=True))
            d3 = F.interpolate(self.lat3(e4), size=e3.shape[-2:], mode="bilinear", align_corners=False)
            d3 = self.up3(d3 + e3)
            d2 = F.interpolate(self.lat2(d3), size=e2.shape[-2:], mode="bilinear", align_corners=False)
            d2 = self.up2(d2 + self.skip2(e2))
            return self.head(d2)

    return TinctNet


def build(bins: str = "313", width: int = 32, hints: bool = True, input_size: int = 256):
    """Construct an untrained TinctNet (``torch.nn.Module``) from its config.

    Parameters
    ----------
    bins : {'313', '484'}
        The ab quantization the logits refer to (:func:`tinct.color.ab_bins`).
    width : int
        Channels of the first stage; later stages use 2x, 4x and 8x this.
    hints : bool
        Whether the network takes ab + mask hint channels (SIGGRAPH17-style).
    input_size : int
        The side the network is meant to run at during inference (L is resized to it).
    """
    if str(bins) not in ("313", "484"):
        raise ParameterError(f"bins: expected '313' or '484', got {bins!r}")
    if not (isinstance(width, int) and 4 <= width <= 256):
        raise ParameterError(f"width: must be an integer in [4, 256], got {width!r}")
    if not (isinstance(input_size, int) and input_size >= 32 and input_size % 16 == 0):
        raise ParameterError(f"input_size: must be a multiple of 16 and >= 32, got {input_size!r}")
    return _net_class()(bins=str(bins), width=width, hints=bool(hints), input_size=input_size)


def save(model, path, meta: dict | None = None, half: bool = True) -> None:
    """Write a self-describing weights file (config inside); fp16 tensors when ``half``."""
    import torch

    config = model.config()
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"arch": ARCH, "config": config, "state_dict": state, "meta": dict(meta or {})}, tmp)
    tmp.replace(path)


def load(path, device: str = "cpu"):
    """Build a TinctNet from a weights file written by :func:`save`; returns it in eval mode (fp32)."""
    import torch

    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TinctError(f"weights: file not found: {path}") from None
    except Exception as exc:  # corrupt or foreign file
        raise TinctError(f"weights: cannot read {path}: {exc}") from None
    if not isinstance(blob, dict) or blob.get("arch") != ARCH:
        raise TinctError(f"weights: {path} is not a {ARCH} weights file")
    model = build(**blob["config"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    return fuse_batchnorm(model.eval()).to(device)


def fuse_batchnorm(model):
    """Fold every eval-mode BatchNorm into the convolution before it (same outputs, fewer ops)."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                    module[i] = fuse_conv_bn_eval(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
    return model
