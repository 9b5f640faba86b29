"""Feature backends for superpixel matching: one interface, three sources of features.

A backend maps a float32 RGB image (h, w, 3) in [0, 1] (a gray image is given
with three equal channels) to a list of three per-pixel feature maps
(h, w, C_l), one per "layer". The superpixel method averages each map inside
each superpixel ("super-features") and correlates them.

Backends
--------
``vgg19bn``
    The first three blocks of VGG-19 with batch normalisation, max-pooling
    removed, as in Carrillo et al. [1]_: the outputs of relu1_2 (64 channels),
    relu2_2 (128) and relu3_1 (256). The layers are numbered exactly as
    torchvision's ``vgg19_bn().features`` (``features.0.weight`` ...
    ``features.15.running_var``), so torchvision's published weights file
    ``vgg19_bn-c79401a0.pth`` loads as it is. tinct does not ship that file:
    ``tinct models download vgg19bn`` fetches it (checksum-verified) into the
    cache, or pass ``weights=PATH``. Block 3 stops at its first convolution:
    the three further 256-channel convolutions would triple the cost at full
    working resolution (there is no pooling) for a "low-level" layer.
``tinctnet``
    The encoder of tinct's own colorization network
    (:mod:`tinct.models.tinctnet`): stem (1/2 resolution), down2 (1/4) and
    down3 (1/8), bilinearly brought back to the working resolution. It sees
    only CIELAB L, so reference and target are matched on the same
    information in transfer and in colorization. Needs tinct's trained
    weights (a registry entry of arch ``'tinctnet'`` or ``weights=PATH``).
``handcrafted``
    Weight-free: a Gaussian-derivative filter bank ("local jet", [2]_) on L at
    three scales (sigma = 1, 2, 4 pixels): smoothed L, |dx|, |dy|, gradient
    magnitude, |dxx|, |dyy|, |dxy|, |Laplacian|, local standard deviation and
    a local-binary-pattern-like contrast sign ratio. Colour is left out on
    purpose: in colour transfer the target's and the reference's palettes
    differ by design, and matching on them pulls the wrong superpixels
    together (measured on the synthetic test scenes). One scale = one layer.
    OpenCV filters, no loops.

References
----------
.. [1] H. Carrillo, M. Clement, A. Bugeau, "Non-local matching of superpixel-based
       deep features for color transfer", VISAPP 2022.
.. [2] J. J. Koenderink, A. J. van Doorn, "Representation of local geometry in
       the visual system", Biological Cybernetics 55, 1987.
.. [3] K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for
       Large-Scale Image Recognition", ICLR 2015.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from tinct.errors import MissingWeightsError, ParameterError, TinctError

BACKENDS = ("handcrafted", "vgg19bn", "tinctnet")

# torchvision vgg19_bn "features" indices up to relu3_1: (conv index, in, out); BN at +1, ReLU at +2.
_VGG_CONVS = ((0, 3, 64), (3, 64, 64), (7, 64, 128), (10, 128, 128), (14, 128, 256))
_VGG_TAPS = (5, 12, 16)  # outputs of relu1_2, relu2_2, relu3_1 (indices of the ReLU modules)
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

_CACHE: dict[tuple, FeatureBackend] = {}
_LOCK = threading.Lock()


class FeatureBackend:
    """Interface: ``layers(rgb) -> [ (h, w, C1), (h, w, C2), (h, w, C3) ]`` float32 maps.

    Attributes
    ----------
    name : str
        Backend name (one of :data:`BACKENDS`).
    """

    name = "base"

    def layers(self, rgb: np.ndarray) -> list[np.ndarray]:  # pragma: no cover - interface
        raise NotImplementedError


# --------------------------------------------------------------------------- handcrafted
class Handcrafted(FeatureBackend):
    """Weight-free multi-scale Gaussian-derivative features (see module docstring)."""

    name = "handcrafted"

    def __init__(self, sigmas=(1.0, 2.0, 4.0)):
        self.sigmas = tuple(float(s) for s in sigmas)

    def layers(self, rgb: np.ndarray) -> list[np.ndarray]:
        import cv2

        from tinct.color import rgb2lightness

        L = np.ascontiguousarray(rgb2lightness(rgb) / np.float32(100.0))
        out = []
        for s in self.sigmas:
            k = int(2 * round(3 * s) + 1)

            def blur(x, s=s, k=k):
                return cv2.GaussianBlur(x, (k, k), s, borderType=cv2.BORDER_REFLECT)

            g = blur(L)
            dx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0 * s
            dy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0 * s
            dxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3) / 4.0 * s * s
            dyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3) / 4.0 * s * s
            dxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3) / 4.0 * s * s
            std = np.sqrt(np.maximum(blur(L * L) - g * g, 0.0))
            # LBP-like: share of the neighbourhood brighter than the centre, with a dead zone of ~1 L unit so
            # that flat areas (and their quantization noise) give 0, not random signs.
            sign = blur(np.clip((L - g) * np.float32(100.0), -1.0, 1.0)) * np.float32(0.5)
            feats = [g, np.abs(dx), np.abs(dy), np.hypot(dx, dy), np.abs(dxx), np.abs(dyy), np.abs(dxy),
                     np.abs(dxx + dyy), std, sign]
            out.append(np.stack(feats, axis=2).astype(np.float32, copy=False))
        return out


# --------------------------------------------------------------------------- VGG-19-BN
def _vgg_module():
    from torch import nn

    layers: list = []
    for idx, cin, cout in _VGG_CONVS:
        while len(layers) < idx:  # the max-pooling slots of torchvision's numbering, removed
            layers.append(nn.Identity())
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=False)]
    net = nn.Module()
    net.features = nn.Sequential(*layers)
    return net


class TorchBackend(FeatureBackend):
    """A backend that runs a PyTorch network on the CPU.

    Parameters
    ----------
    weights : str or Path, optional
        The network's weights file (each backend says which kind). None: the one the weights registry
        has for it (:meth:`default_weights`), else :class:`MissingWeightsError`.
    threads : int
        PyTorch CPU threads (0 = library default).
    """

    def __init__(self, weights=None, threads: int = 0):
        self.net = self.load(self.default_weights() if weights is None else weights)
        self.threads = int(threads)

    @staticmethod
    def default_weights() -> Path:  # pragma: no cover - interface
        raise NotImplementedError

    def load(self, weights):  # pragma: no cover - interface
        """The network, in eval mode, from a weights file."""
        raise NotImplementedError


class VGG19BN(TorchBackend):
    """VGG-19-BN blocks 1-3 without pooling; torchvision key names (see module docstring).

    ``weights``: a torchvision ``vgg19_bn`` state dict (``.pth``); extra keys (deeper layers, classifier)
    are ignored, missing or mis-shaped ones are an error. By default the registry's cached ``vgg19bn`` file.
    """

    name = "vgg19bn"

    @staticmethod
    def default_weights() -> Path:
        from tinct.models.weights import find

        return find("vgg19bn")

    def load(self, weights):
        import torch

        path = Path(weights)
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise MissingWeightsError(f"weights: file not found: {path}") from None
        except Exception as exc:
            raise TinctError(f"weights: cannot read {path} as a PyTorch state dict: {exc}") from None
        if isinstance(blob, dict) and "state_dict" in blob and isinstance(blob["state_dict"], dict):
            blob = blob["state_dict"]
        if not isinstance(blob, dict):
            raise TinctError(f"weights: {path} is not a state dict")
        net = _vgg_module()
        want = net.state_dict()
        missing = [k for k in want if k not in blob]
        if missing:
            raise TinctError(f"weights: {path} is not a torchvision vgg19_bn state dict (missing {missing[0]})")
        for k, v in want.items():
            if tuple(blob[k].shape) != tuple(v.shape):
                raise TinctError(f"weights: {path}: {k} has shape {tuple(blob[k].shape)}, expected {tuple(v.shape)}")
        net.load_state_dict({k: blob[k].float() for k in want})
        return net.eval()

    def layers(self, rgb: np.ndarray) -> list[np.ndarray]:
        import torch

        x = (rgb - _IMAGENET_MEAN) / _IMAGENET_STD
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
        outs = []
        with torch.inference_mode(), _threads(self.threads):
            for i, m in enumerate(self.net.features):
                t = m(t)
                if i in _VGG_TAPS:
                    outs.append(t[0].permute(1, 2, 0).contiguous().numpy())
                if i == _VGG_TAPS[-1]:
                    break
        return outs


# --------------------------------------------------------------------------- tinctnet encoder
class TinctNetEncoder(TorchBackend):
    """Encoder of :mod:`tinct.models.tinctnet` on CIELAB L (stem, down2, down3 outputs).

    ``weights``: a tinctnet weights file (:func:`tinct.models.tinctnet.save`). By default the weights
    registry's ``tinctnet`` entry (the default entry first).
    """

    name = "tinctnet"

    @staticmethod
    def default_weights() -> Path:
        return _tinctnet_weights()

    def load(self, weights):
        from tinct.models import tinctnet

        return tinctnet.load(weights)

    def layers(self, rgb: np.ndarray) -> list[np.ndarray]:
        import torch
        from torch.nn import functional as F

        from tinct.color import rgb2lightness

        h, w = rgb.shape[:2]
        L = rgb2lightness(rgb).astype(np.float32)
        # The encoder strides by 2 three times: pad to a multiple of 8 (reflect), crop after.
        ph, pw = (-h) % 8, (-w) % 8
        Lp = np.pad(L, ((0, ph), (0, pw)), mode="reflect") if (ph or pw) else L
        net = self.net
        with torch.inference_mode(), _threads(self.threads):
            t = torch.from_numpy(np.ascontiguousarray(Lp))[None, None]
            x = (t - 50.0) / 50.0
            if getattr(net, "hints", False):
                x = torch.cat([x, torch.zeros_like(x), torch.zeros_like(x), torch.zeros_like(x)], dim=1)
            e1 = net.stem(x)
            e2 = net.down2(e1)
            e3 = net.down3(e2)
            outs = []
            for e in (e1, e2, e3):
                up = F.interpolate(e, size=Lp.shape, mode="bilinear", align_corners=False)[0, :, :h, :w]
                outs.append(up.permute(1, 2, 0).contiguous().numpy())
        return outs


def _tinctnet_weights() -> Path:
    from tinct.models import weights as registry

    entries = [e for e in registry.entries() if e.arch == "tinctnet"]
    entries.sort(key=lambda e: not e.default)
    if not entries:
        raise MissingWeightsError(
            "backend=tinctnet: no trained tinctnet weights are registered in this installation; "
            "pass weights=PATH (a file written by tinct train) or use backend=handcrafted"
        )
    errors = []
    for e in entries:
        try:
            return registry.find(e.name)
        except MissingWeightsError as exc:
            errors.append(str(exc))
    raise MissingWeightsError(f"backend=tinctnet: {errors[0]}")


class _threads:
    """Context manager: temporarily set torch's intra-op threads (0 = leave as is)."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


# --------------------------------------------------------------------------- factory
def resolve_auto() -> str:
    """What ``backend='auto'`` means for colorization: ``'tinctnet'`` when tinct's trained weights are
    installed, else ``'handcrafted'``.

    The order follows the split-image colorization benchmark (``benchmarks/exemplar.py``): the tinctnet
    encoder matched best (tinctnet-v1: +0.8 to +0.9 dB PSNR over the handcrafted bank on kodak24 and
    bsds500-test100; tinctnet-v2, first 12 images of each: +0.45 and +0.92 dB),
    the weight-free bank is the fallback that always works. Transfer's ``'auto'`` is ``'handcrafted'``
    (see :func:`tinct.exemplar.matching.recolour`).
    """
    try:
        _tinctnet_weights()
    except MissingWeightsError:
        return "handcrafted"
    return "tinctnet"


def get_backend(name: str, weights=None, threads: int = 0) -> FeatureBackend:
    """Return a (cached) feature backend by name.

    Parameters
    ----------
    name : {'auto', 'handcrafted', 'vgg19bn', 'tinctnet'}
        ``'auto'``: see :func:`resolve_auto`.
    weights : str or Path, optional
        Weights file for the network backends; ignored (must be None) for ``handcrafted``.
    threads : int
        PyTorch CPU threads for the network backends.

    Raises
    ------
    ParameterError
        Unknown backend, or weights given to ``handcrafted``.
    MissingWeightsError
        A network backend without weights.
    """
    if name == "auto":
        if weights is not None:
            raise ParameterError("weights: with a weights file, name its backend (backend=vgg19bn or tinctnet)")
        name = resolve_auto()
    if name not in BACKENDS:
        raise ParameterError(f"backend: expected one of auto, {', '.join(BACKENDS)}, got {name!r}")
    if name == "handcrafted":
        if weights is not None:
            raise ParameterError("weights: backend=handcrafted uses no weights file")
        return Handcrafted()
    cls = VGG19BN if name == "vgg19bn" else TinctNetEncoder
    if weights is None:  # resolve now, so that the cache is keyed by the file actually used
        weights = cls.default_weights()
    p = Path(weights)
    if not p.is_file():
        raise MissingWeightsError(f"weights: file not found: {p}")
    key = (name, str(p.resolve()), int(threads), p.stat().st_mtime_ns, p.stat().st_size)
    with _LOCK:
        backend = _CACHE.get(key)
        if backend is None:
            backend = cls(weights, threads=threads)
            _CACHE.clear()  # keep one network in memory
            _CACHE[key] = backend
    return backend
