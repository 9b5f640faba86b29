"""The SIGGRAPH 2017 colorization network (Zhang, Zhu et al.), state-dict compatible with the authors' PyTorch port.

Input: L, hint ab and hint mask concatenated (4 channels; automatic mode =
no hints). A VGG-like encoder (blocks 1-4, sub-sampling by taking every 2nd
pixel between blocks 1-2, 2-3, 3-4), dilated blocks 5-6, block 7, then a
U-Net style decoder with transposed convs and 3x3 shortcut convs from blocks
3, 2 and 1 (``model8up``/``model3short8``, ``model9up``/``model2short9``,
``model10up``/``model1short10``). Two heads: ``model_class`` (529 logits of a
23 x 23 ab grid, at 1/4 resolution, from block 8) and ``model_out``
(regression ab in [-1, 1] via tanh, times 110, full resolution). The port's
``forward`` returns the regression head, which is what tinct's ``siggraph17``
method uses by default; :meth:`SIGGRAPH17.forward` follows tinct's network
contract and returns the class logits, :meth:`SIGGRAPH17.forward_ab` the
regression ab.

The 529 bins: a, b in {-110, -100, ..., 110}, index = 23 * ia + ib (a-major),
as in the authors' training code (``encode_ab_ind``: ``ab_max`` = 110,
``ab_quant`` = 10, ``A`` = 23).

References
----------
.. [1] R. Zhang, J.-Y. Zhu, P. Isola, X. Geng, A. S. Lin, T. Yu, A. A. Efros,
       "Real-Time User-Guided Image Colorization with Learned Deep Priors",
       SIGGRAPH 2017.
.. [2] https://github.com/richzhang/colorization (``colorizers/siggraph17.py``, BSD-2-Clause).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tinct.models.eccv16 import AB_NORM, L_CENT, L_NORM, ZhangTrunk

CLASSES = 529


def siggraph_bins() -> np.ndarray:
    """The 529 ab centres (a, b) of the SIGGRAPH17 class head, float32 (529, 2), index = 23 * ia + ib."""
    axis = np.arange(-110, 111, 10, dtype=np.float32)
    aa, bb = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([aa.ravel(), bb.ravel()], axis=1)


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=True))


def _short(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=True))


def _relu_block(channels: list[int]) -> nn.Sequential:
    """ReLU, then (conv, ReLU) pairs, then BN: the port's model8 / model9 layout."""
    layers: list[nn.Module] = [nn.ReLU(True)]
    for cin, cout in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=True), nn.ReLU(True)]
    layers.append(nn.BatchNorm2d(channels[-1]))
    return nn.Sequential(*layers)


class SIGGRAPH17(ZhangTrunk):
    """SIGGRAPH17 net: L (N, 1, H, W) in [0, 100] (+ optional hints) -> 529 logits at 1/4 resolution.

    ``H`` and ``W`` must be multiples of 8.
    """

    arch = "siggraph17"
    bins = "529"
    head = "regression"  # what the authors' port returns; the pipeline's default for this net

    def __init__(self, logit_scale: float = 1.0):
        super().__init__(4, 1, logit_scale)
        self.model8up = _up(512, 256)
        self.model3short8 = _short(256, 256)
        self.model8 = _relu_block([256, 256, 256])
        self.model9up = _up(256, 128)
        self.model2short9 = _short(128, 128)
        self.model9 = _relu_block([128, 128])
        self.model10up = _up(128, 128)
        self.model1short10 = _short(64, 128)
        self.model10 = nn.Sequential(nn.ReLU(True), nn.Conv2d(128, 128, 3, padding=1, bias=True), nn.LeakyReLU(0.2))
        self.model_class = nn.Sequential(nn.Conv2d(256, CLASSES, 1, bias=True))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1, bias=True), nn.Tanh())

    def _encode(self, l, hint_ab, hint_mask):  # noqa: E741
        if hint_ab is None:
            hint_ab = torch.zeros_like(l).repeat(1, 2, 1, 1)
        if hint_mask is None:
            hint_mask = torch.zeros_like(l)
        x = torch.cat(((l - L_CENT) / L_NORM, hint_ab / AB_NORM, hint_mask), dim=1)
        c1 = self.model1(x)
        c2 = self.model2(c1[:, :, ::2, ::2])
        c3 = self.model3(c2[:, :, ::2, ::2])
        c4 = self.model4(c3[:, :, ::2, ::2])
        c7 = self.model7(self.model6(self.model5(c4)))
        c8 = self.model8(self.model8up(c7) + self.model3short8(c3))
        return c1, c2, c8

    def forward(self, l: torch.Tensor, hint_ab=None, hint_mask=None) -> torch.Tensor:  # noqa: E741
        _, _, c8 = self._encode(l, hint_ab, hint_mask)
        if self.logit_scale == 1.0:
            return self.model_class(c8)
        conv = self.model_class[0]  # the factor divided out of the weights, as ECCV16.logit_layer does
        return nn.functional.conv2d(c8, conv.weight / self.logit_scale, conv.bias / self.logit_scale)

    def forward_ab(self, l: torch.Tensor, hint_ab=None, hint_mask=None) -> torch.Tensor:  # noqa: E741
        """Regression head: ab (N, 2, H, W) in CIELAB units, as the authors' port returns."""
        c1, c2, c8 = self._encode(l, hint_ab, hint_mask)
        c9 = self.model9(self.model9up(c8) + self.model2short9(c2))
        c10 = self.model10(self.model10up(c9) + self.model1short10(c1))
        return self.model_out(c10) * AB_NORM
