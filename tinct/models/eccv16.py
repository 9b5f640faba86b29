"""The ECCV 2016 colorization network of Zhang, Isola & Efros, state-dict compatible with the authors' PyTorch port.

Architecture (the authors' ``colorizers/eccv16.py``, rewritten here from the
published description): eight convolution blocks, each conv followed by ReLU
and each block (except the 8th) ended by batch normalisation; blocks 1-3 end
with a stride-2 conv, blocks 5-6 are dilated (2); block 8 starts with a 4x4
stride-2 transposed conv and ends with a 1x1 conv to the 313 bin logits, at
1/4 of the input resolution. Parameter names are the port's ``modelK.I.*``
(indices count ReLUs and norms, as in its ``nn.Sequential`` blocks) plus
``model_out.weight`` (2, 313, 1, 1), the port's 1x1 "decode" conv.

Temperature, established from the port's code: its ``forward`` is
``unnormalize_ab(upsample4(model_out(softmax(model8(...)))))``: a softmax
over the logits, a fixed 1x1 conv whose weights are the bin centres (divided
by ``ab_norm`` = 110), times 110 -- i.e. the *plain mean* of
``softmax(z_pth)``. No temperature appears in the code. The Caffe release
applies ``conv8_313_rh`` (a Scale by 2.606 = 1/0.38) before its softmax, so
the port reproduces the Caffe colours only if that factor is folded into the
port's last conv (``model8.6``): ``z_pth = 2.606 * z_caffe``. tinct
therefore divides the port's last conv (weight and bias) by ``logit_scale``
(from the weights registry; 1/0.38 for the official ``.pth``, 1 for weights
tinct creates or reads from a ``.caffemodel``) so that :meth:`ECCV16.forward`
returns the network's own logits ``z`` and the annealed mean
``softmax(z / T) . centres`` means the same T on every backend. The factor
is divided out of the weights (:meth:`ECCV16.logit_layer`), not out of the
logits, so that the PyTorch, ONNX and Caffe forms of one network convolve
with the same float32 numbers. The folded factor could not be checked
against the official file here (no network access); see the registry note.

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
.. [2] https://github.com/richzhang/colorization (``colorizers/eccv16.py``, BSD-2-Clause).
"""

from __future__ import annotations

import torch
from torch import nn

from tinct.color import ab_bins

L_CENT = 50.0
L_NORM = 100.0
AB_NORM = 110.0


def _block(channels: list[int], strides: list[int], dilation: int = 1, norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for cin, cout, stride in zip(channels[:-1], channels[1:], strides):
        layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=True), nn.ReLU(True)]
    if norm:
        layers.append(nn.BatchNorm2d(channels[-1]))
    return nn.Sequential(*layers)


class ZhangTrunk(nn.Module):
    """Blocks 1-7 that Zhang et al.'s two networks share, under the authors' names (``model1`` ... ``model7``) so
    that their state dicts load: a VGG-like encoder (blocks 1-4), dilated blocks 5-6 and block 7, at 1/8 of the
    input resolution.

    ``in_channels`` is 1 (L) for ECCV16 and 4 (L, hint ab, hint mask) for SIGGRAPH17; ``stride`` is that of the
    last conv of blocks 1-3: 2 for ECCV16, 1 for SIGGRAPH17, which subsamples between the blocks instead.
    """

    output_stride = 4
    input_size = 256
    size_multiple = 8

    def __init__(self, in_channels: int, stride: int, logit_scale: float = 1.0):
        super().__init__()
        self.logit_scale = float(logit_scale)
        self.model1 = _block([in_channels, 64, 64], [1, stride])
        self.model2 = _block([64, 128, 128], [1, stride])
        self.model3 = _block([128, 256, 256, 256], [1, 1, stride])
        self.model4 = _block([256, 512, 512, 512], [1, 1, 1])
        self.model5 = _block([512, 512, 512, 512], [1, 1, 1], dilation=2)
        self.model6 = _block([512, 512, 512, 512], [1, 1, 1], dilation=2)
        self.model7 = _block([512, 512, 512, 512], [1, 1, 1])


class ECCV16(ZhangTrunk):
    """ECCV16 colorization net: L (N, 1, H, W) in [0, 100] -> 313 bin logits (N, 313, H/4, W/4).

    ``H`` and ``W`` must be multiples of 8. ``logit_scale`` is the factor
    folded into the checkpoint's last conv (see the module notes); the
    returned logits are divided by it.
    """

    arch = "eccv16"
    bins = "313"

    def __init__(self, logit_scale: float = 1.0):
        super().__init__(1, 2, logit_scale)
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1, bias=True), nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1, bias=True), nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1, bias=True), nn.ReLU(True),
            nn.Conv2d(256, 313, 1, bias=True),
        )
        # The port's decode conv: bin centres / 110. Kept for state-dict compatibility; tinct decodes
        # with the annealed mean instead (tinct.color.annealed_mean), which at T = 1 equals this conv.
        self.model_out = nn.Conv2d(313, 2, 1, bias=False)
        with torch.no_grad():
            centres = torch.from_numpy(ab_bins("313").copy()).T.reshape(2, 313, 1, 1)
            self.model_out.weight.copy_(centres / AB_NORM)

    def trunk(self, l: torch.Tensor) -> torch.Tensor:  # noqa: E741
        """Everything before the last 1x1 conv: the 256 features at 1/4 resolution."""
        x = (l - L_CENT) / L_NORM
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6, self.model7):
            x = block(x)
        for layer in list(self.model8)[:-1]:
            x = layer(x)
        return x

    def features(self, l: torch.Tensor) -> torch.Tensor:  # noqa: E741
        """The checkpoint's own logits (``logit_scale`` still folded in), as the authors' port computes them."""
        return self.model8[-1](self.trunk(l))

    def logit_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias of the last conv with ``logit_scale`` divided out (float32 division by float32 scale).

        The one place the factor is removed: :meth:`forward`, the ONNX export
        (which traces it) and the tests' Caffe writer all use
        these tensors, so every backend convolves with the same float32 weights.
        """
        conv = self.model8[-1]
        if self.logit_scale == 1.0:
            return conv.weight, conv.bias
        return conv.weight / self.logit_scale, conv.bias / self.logit_scale

    def forward(self, l: torch.Tensor, hint_ab=None, hint_mask=None) -> torch.Tensor:  # noqa: E741
        weight, bias = self.logit_layer()
        return nn.functional.conv2d(self.trunk(l), weight, bias)
