"""Automatic colorization with a CNN that predicts a distribution over quantized ab (seeds 001, 002).

Pipeline, for every backend and network:

1. L of the input at full resolution (``rgb2lightness``; a gray input's own L).
2. L resized, aspect ratio kept, to about ``input_size``\\ :sup:`2` pixels with
   sides a multiple of 8; the network gives bin logits at 1/4 of that.
3. Annealed-mean decoding ``ab = softmax(z / T) . centres`` (T = 0.38 by
   default; 1 = mean, -> 0 = mode) on the network's own logits ``z`` (see
   :mod:`tinct.models.eccv16` for how the authors' port folds 1/0.38 into its
   weights and how tinct divides it out, so T means the same everywhere). This
   decoding runs in tinct's NumPy code on every backend's logits, the
   Caffe/cv2 one included (which still sets ``class8_ab`` = the bin centres
   and ``conv8_313_rh`` = 1/T as the LearnOpenCV tutorial's Caffe deploy file does; OpenCV's own ``class8_ab``
   agrees to float rounding), so equal logits give equal pictures.
4. ab upsampled to full size, guided by the full-resolution L (joint
   bilateral by default, or guided filter; :mod:`tinct.colorize.upsample`)
   or bilinearly.
   Steps 3-4 are confidence-calibrated (:mod:`tinct.colorize.decode`):
   where the predicted distribution is spread over distant colours, the
   colour falls back towards the distribution's muted mean instead of a
   vivid guess; ``vividness`` (0 = gray, 1 = calibrated, 2 = the plain
   annealed mean) sets how far. :func:`colorize_with_confidence` also
   returns the per-pixel confidence.
5. Joined with the input's own L and converted to sRGB with
   ``gamut='chroma'`` (chroma reduced, L and hue kept), so the output's L is
   the input's L to the rounding of the output dtype.

Methods registered here: ``eccv16``, ``siggraph17`` and ``auto`` (the
registry's default weights). :func:`colorize_many` batches many images and
reuses the loaded model (:func:`tinct.models.loading.get_runner` caches it).

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
.. [2] R. Zhang, J.-Y. Zhu et al., "Real-Time User-Guided Image Colorization with
       Learned Deep Priors", SIGGRAPH 2017.
.. [3] K. He, J. Sun, X. Tang, "Guided Image Filtering", TPAMI 2013.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinct.color import DEFAULT_TEMPERATURE, annealed_mean, decode_mode, entropy, lab2rgb, rgb2lightness
from tinct.errors import MissingWeightsError, ParameterError
from tinct.pixels import check_image, output_dtype, restore, split_alpha
from tinct.registry import Input, Param, register

_COMMON = [
    Param("weights", "str", None, "Weights file (.pth, tinct .pt or .caffemodel); default: the registry's cached file.", path=True),
    Param("prototxt", "str", None, "Caffe deploy .prototxt, needed with backend=caffe.", path=True),
    Param("temperature", "float", DEFAULT_TEMPERATURE, "Annealed-mean temperature: 1 = mean, towards 0 = mode.",
          min=0.01, max=100.0),
    Param("input_size", "int", 0, "Network input side (about size^2 pixels, aspect kept); 0 = the model's own.",
          min=0, max=4096),
    Param("device", "str", "auto", "Where the network runs.", choices=("auto", "cpu", "cuda")),
    Param("threads", "int", 0, "CPU threads for inference; 0 = library default.", min=0, max=512),
    Param("upsample", "str", "bilateral", "How ab is brought to full size: joint bilateral or guided filter "
          "(both guided by the full-resolution L), or bilinear.", choices=("bilateral", "guided", "bilinear")),
    Param("backend", "str", "auto", "Inference engine; auto = caffe for .caffemodel with OpenCV<5, else torch.",
          choices=("auto", "torch", "onnx", "caffe")),
]


_VIVIDNESS = Param("vividness", "float", 1.0, "Colour where the model is unsure: 0 = gray, 1 = calibrated default "
                   "(falls back towards neutral where the prediction is spread), 2 = the plain annealed mean.",
                   min=0.0, max=2.0)


# --------------------------------------------------------------------------- helpers
def net_input_shape(height: int, width: int, input_size: int, multiple: int = 8) -> tuple[int, int]:
    """Network input (h, w): about ``input_size**2`` pixels, the image's aspect, sides multiples of ``multiple``."""
    scale = input_size / math.sqrt(height * width)
    h = max(2 * multiple, int(round(height * scale / multiple)) * multiple)
    w = max(2 * multiple, int(round(width * scale / multiple)) * multiple)
    return h, w


def decode(logits: np.ndarray, bins: str, temperature: float) -> np.ndarray:
    """Annealed mean of (Q, h, w) logits -> (h, w, 2) ab, for any bin table."""
    if bins in ("313", "484"):
        return annealed_mean(logits, bins=bins, temperature=temperature, axis=0)
    z = np.moveaxis(np.asarray(logits, np.float32), 0, -1) / np.float32(temperature)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z @ _centres(bins)


def _centres(bins: str) -> np.ndarray:
    if bins == "529":
        from tinct.models.siggraph17 import siggraph_bins

        return siggraph_bins()
    from tinct.color import ab_bins

    return ab_bins(bins)


def _mode(logits: np.ndarray, bins: str) -> np.ndarray:
    if bins in ("313", "484"):
        return decode_mode(logits, bins=bins, axis=0).astype(np.float32)
    return _centres(bins)[np.argmax(logits, axis=0)]


def _lightness(rgb: np.ndarray) -> np.ndarray:
    """CIELAB L of an image given as (H, W), (H, W, 1) or (H, W, 3).

    Gray input is converted from its one channel (R = G = B, so Y is the
    linearised value itself: the Y row of the sRGB matrix sums to 1) instead of
    being replicated to three channels first; integers go through the exact
    lookup table of :func:`tinct.color.lab.srgb_to_linear`.
    """
    if rgb.ndim == 3 and rgb.shape[2] == 1:
        rgb = rgb[..., 0]
    if rgb.ndim == 3:
        return rgb2lightness(rgb)
    from tinct.color.lab import lab_f, srgb_to_linear

    g = rgb if rgb.dtype.kind == "u" else np.clip(rgb, 0.0, 1.0).astype(np.float32)
    y = srgb_to_linear(g)
    f = lab_f(y)
    f *= np.float32(116.0)
    f -= np.float32(16.0)
    return f


def _assemble(lightness: np.ndarray, ab: np.ndarray, dtype) -> np.ndarray:
    lab = np.empty(lightness.shape + (3,), np.float32)
    lab[..., 0] = lightness
    lab[..., 1:] = ab
    return lab2rgb(lab, gamut="chroma", dtype=dtype)


def _reattach(result: np.ndarray, original: np.ndarray) -> np.ndarray:
    out = restore(result, original)
    if original.ndim == 3 and original.shape[2] == 2:  # gray + alpha
        out = np.concatenate([out, original[..., 1:2].astype(out.dtype, copy=False)], axis=2)
    return out


@dataclass
class Model:
    """What the pipeline needs to know about a loaded model."""

    runner: object
    bins: str
    head: str  # 'logits' or 'regression'
    input_size: int
    multiple: int


def resolve_weights(arch: str, weights: str | None, backend: str, prototxt: str | None):
    """Pick the weights file (and prototxt) and the backend; MissingWeightsError says exactly what is missing."""
    from tinct.models import weights as registry

    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise MissingWeightsError(f"weights: file not found: {path}")
    else:
        name = arch
        if backend == "caffe":
            name = f"{arch}-caffe"
            if name not in registry.REGISTRY:
                raise ParameterError(f"backend: caffe is available for eccv16 only, not {arch!r}")
        path = registry.find(name)
        if backend == "caffe" and prototxt is None:
            prototxt = str(registry.find(registry.get_entry(name).companion))
    caffe_file = path.suffix.lower() == ".caffemodel"
    if backend == "auto":
        from tinct.models.caffe import cv2_has_caffe

        backend = "caffe" if caffe_file and prototxt is not None and cv2_has_caffe() else "torch"
    if backend == "caffe" and not caffe_file:
        raise ParameterError(f"backend: caffe needs a .caffemodel, got {path.name}")
    if prototxt is not None and not Path(prototxt).is_file():
        raise MissingWeightsError(f"prototxt: file not found: {prototxt}")
    return path, backend, prototxt


def load_model(arch: str | None, weights=None, *, prototxt=None, backend="auto", device="auto", threads=0,
               head="logits") -> Model:
    """Load (or fetch from the cache) the model for ``arch`` with the given weights and backend."""
    from tinct.models.loading import get_runner

    path, backend, prototxt = resolve_weights(arch or "eccv16", weights, backend, prototxt)
    runner = get_runner(path, arch, backend=backend, head=head, device=device, prototxt=prototxt, threads=threads)
    return Model(runner, runner.bins, runner.head, runner.input_size, runner.size_multiple)


def _prepare(image, model: Model, input_size: int):
    arr = check_image(image)
    rgb, _ = split_alpha(arr)
    lightness = _lightness(rgb)
    size = input_size or model.input_size
    if size < 32:
        raise ParameterError(f"input_size: must be 0 (model default) or >= 32, got {size}")
    h, w = net_input_shape(*lightness.shape, size, model.multiple)
    from tinct.colorize.upsample import resize

    l_in = resize(lightness, (h, w))
    return arr, lightness, l_in


def _finish(arr, lightness, out: dict, model: Model, temperature: float, upsample: str, return_extras: bool,
            regions=None, vividness: float = 1.0, calibration=None, hints=None, plain: dict | None = None,
            plain_calibration=None):
    from tinct.colorize.decode import DEFAULT, decode_output
    from tinct.colorize.upsample import bilinear_upsample, upsample_ab

    logits = out.get("logits")
    ab_low, conf_low = decode_output(out, model.bins, temperature, vividness, calibration or DEFAULT)
    if plain is not None and hints is not None and len(hints):
        ab_plain, _ = decode_output(plain, model.bins, temperature, vividness,
                                    plain_calibration or calibration or DEFAULT)
        ab_low = _within_reach(ab_low, ab_plain, hints, lightness.shape)
    ab = upsample_ab(ab_low, lightness, upsample)
    if hints is not None and len(hints):
        from tinct.colorize.hints import apply_hints

        ab = apply_hints(lightness, ab, hints)
    if regions:
        from tinct.colorize.hints import apply_regions

        ab = apply_regions(lightness, ab, regions)
    dtype = output_dtype(arr)
    result = _reattach(_assemble(lightness, ab, dtype), arr)
    if not return_extras:
        return result
    conf = bilinear_upsample(conf_low[..., None], lightness.shape)[..., 0]
    extras: dict = {"ab_lowres": ab_low, "confidence": np.clip(conf, 0.0, 1.0).astype(np.float32)}
    for mask, _ in regions or ():
        extras["confidence"][mask] = 1.0  # the user chose these colours
    if logits is not None:
        ent = entropy(logits, axis=0)
        extras["entropy"] = bilinear_upsample(ent[..., None], lightness.shape)[..., 0]
        mode_ab = upsample_ab(_mode(logits, model.bins), lightness, upsample)
        extras["mode"] = _reattach(_assemble(lightness, mode_ab, dtype), arr)
        extras["logits"] = logits
    return result, extras


def _within_reach(ab_hinted: np.ndarray, ab_plain: np.ndarray, hints: np.ndarray, image_shape) -> np.ndarray:
    """Low-resolution ab with the hinted colours near the hints and the unhinted guess beyond their reach.

    The network spreads even one hint over the whole picture (a pin on one parrot repaints the other), so
    its hinted output counts only within :func:`tinct.colorize.hints.hint_reach`. ``ab_plain`` may come from
    another model (``plain_weights``), on another grid: it is resized to ``ab_hinted``'s.
    """
    from tinct.colorize.hints import hint_reach
    from tinct.colorize.upsample import resize

    if ab_plain.shape != ab_hinted.shape:
        ab_plain = resize(ab_plain, ab_hinted.shape[:2])
    near = hint_reach(hints, image_shape, ab_hinted.shape[:2])[..., None]
    return ab_plain + near * (ab_hinted - ab_plain)


def colorize_cnn(image, *, arch: str | None = "eccv16", weights=None, prototxt=None,
                 temperature=DEFAULT_TEMPERATURE, input_size=0, device="auto", threads=0, upsample="bilateral",
                 backend="auto", head="logits", return_extras=False, hints=None, regions=None, vividness=1.0,
                 plain_arch: str | None = None, plain_weights=None):
    """Colorize one image with a CNN; see :mod:`tinct.colorize.cnn` for the pipeline.

    ``vividness`` scales the confidence-calibrated colour (:mod:`tinct.colorize.decode`); a regression
    head (SIGGRAPH17's default) also runs the class head for the confidence.

    ``hints`` (an (N, 6) array of :func:`tinct.colorize.hints.parse_hints`) and ``regions`` (a list of
    :func:`tinct.colorize.hints.parse_regions`) steer the colours (:mod:`tinct.colorize.hints`).
    With hints, the colours beyond their reach come from the same network without hints, or from
    ``plain_weights`` (``plain_arch``) when given: ``auto`` passes its automatic model there, so that
    a first pin changes its surroundings, not the whole picture.
    Returns the image (caller's dtype, alpha kept) or, with ``return_extras``,
    ``(image, extras)`` where extras holds ``entropy`` (H, W) nats,
    ``mode`` (the image decoded with each pixel's most probable bin),
    ``ab_lowres``, ``confidence`` (H, W) float32 in [0, 1] and ``logits`` (classification heads only).
    """
    from tinct.colorize.decode import calibration_for_model, check_vividness

    vividness = check_vividness(vividness)
    model = load_model(arch, weights, prototxt=prototxt, backend=backend, device=device, threads=threads, head=head)
    arr, lightness, l_in = _prepare(image, model, input_size)
    points = _hint_points(hints, regions, lightness.shape)
    hint_in = _hint_input(points, l_in.shape, lightness.shape)
    out = _run_with_confidence(model, arch, weights, prototxt, backend, device, threads, l_in[None, None], hint_in)
    first = {k: v[0] for k, v in out.items()}
    plain = plain_cal = None
    if hint_in is not None:
        if plain_weights is None:
            plain_model, plain_arch, plain_weights, plain_in = model, arch, weights, l_in
        else:
            plain_model = load_model(plain_arch, plain_weights, backend=backend, device=device, threads=threads)
            plain_in = _prepare(image, plain_model, input_size)[2]
        res = _run_with_confidence(plain_model, plain_arch, plain_weights, prototxt, backend, device, threads,
                                   plain_in[None, None])
        plain = {k: v[0] for k, v in res.items()}
        plain_cal = calibration_for_model(plain_arch, plain_weights)
    return _finish(arr, lightness, first, model, temperature, upsample, return_extras, regions=regions,
                   vividness=vividness, calibration=calibration_for_model(arch, weights), hints=points, plain=plain,
                   plain_calibration=plain_cal)


def _run_with_confidence(model: Model, arch, weights, prototxt, backend, device, threads, batch, hint_in=None):
    """The network's outputs; for a regression head also the class head's ``logits``, which the confidence
    of :mod:`tinct.colorize.decode` needs (a second pass: the regression head has no distribution)."""
    out = dict(model.runner.run(batch, hints=hint_in) if hint_in is not None else model.runner.run(batch))
    if model.head == "regression":
        cls = load_model(arch, weights, prototxt=prototxt, backend=backend, device=device, threads=threads,
                         head="logits")
        out["logits"] = (cls.runner.run(batch, hints=hint_in) if hint_in is not None else cls.runner.run(batch)
                         )["logits"]
    return out


def _hint_points(hints, regions, image_shape) -> np.ndarray:
    """User hints as an (N, 6) array checked against the image (and the regions' sizes checked too)."""
    from tinct.colorize import hints as guidance

    points = guidance.parse_hints(hints) if hints is not None else np.zeros((0, 6))
    guidance.check_hints(points, image_shape)
    if regions:
        # Regions are composited exactly (apply_regions), not told to the network: outside a region the
        # result must stay the automatic one, and the network spreads hints well beyond their mask.
        guidance.check_regions(regions, image_shape)
    return points


def _hint_input(points: np.ndarray, net_shape, image_shape):
    """The network's hint channels for ``points``, or None when there are none."""
    from tinct.colorize.hints import rasterize

    if len(points) == 0:
        return None
    ab, mask = rasterize(points, image_shape, net_shape)
    return ab[None], mask[None]


def suggest_colours(image, x: float, y: float, k: int = 8, *, method: str = "auto", hints=None, weights=None,
                    input_size: int = 0) -> list[dict]:
    """The ``k`` most likely colours the network predicts at point (x, y) of ``image``, for a colour picker.

    Parameters
    ----------
    image : ndarray
        The gray (or colour) image, as for :func:`auto`.
    x, y : float
        Column and row in pixels of ``image``.
    k : int
        How many colours, 1..64.
    method : {'auto', 'siggraph17'}
        Which network; the others have no distribution to ask.
    hints : optional
        Hints already placed (the distribution at a point depends on them).

    Returns
    -------
    list of dict
        ``{"color": "#rrggbb", "probability": p, "ab": [a, b]}``, most probable first, each shown at
        the image's own lightness at that point.

    References
    ----------
    .. [1] R. Zhang et al., "Real-Time User-Guided Image Colorization with Learned Deep Priors",
           SIGGRAPH 2017 (its interface suggests colours from the predicted distribution).
    """
    from tinct.colorize.hints import check_hints, suggestions_from_logits

    if method not in ("auto", "siggraph17"):
        raise ParameterError(f"method: suggestions come from auto or siggraph17, not {method!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 64:
        raise ParameterError(f"k: expected an integer in 1..64, got {k!r}")
    arch = "siggraph17" if method == "siggraph17" else None
    if method == "auto" and weights is None:
        from tinct.models import weights as registry

        entry = registry.default_entry(guided=True)
        if entry is None:
            raise MissingWeightsError("method 'auto': no default weights are installed")
        weights, arch = str(registry.find(entry.name)), entry.arch
    model = load_model(arch, weights, head="logits")
    arr, lightness, l_in = _prepare(image, model, input_size)
    point = np.array([[x, y, 0, 0, 0, 0]], np.float64)
    if not (np.isfinite(point[0, 0]) and np.isfinite(point[0, 1])):
        raise ParameterError(f"x, y: must be finite numbers, got ({x!r}, {y!r})")
    check_hints(point, lightness.shape, "point")
    points = _hint_points(hints, None, lightness.shape)
    out = model.runner.run(l_in[None, None], hints=_hint_input(points, l_in.shape, lightness.shape))
    return suggestions_from_logits(out["logits"][0], model.bins, float(lightness[int(y), int(x)]), x, y,
                                   lightness.shape, k)


@dataclass
class _Decoding:
    """A loaded model with the decoding settings of one call (what ``colorize_many`` and ``ab_predictor`` share)."""

    model: Model
    arch: str | None
    weights: object
    params: dict
    temperature: float
    upsample: str
    input_size: int
    vividness: float
    calibration: object

    @classmethod
    def load(cls, arch, params: dict) -> _Decoding:
        from tinct.colorize.decode import calibration_for_model, check_vividness

        p = dict(params)
        temperature = p.pop("temperature", DEFAULT_TEMPERATURE)
        upsample = p.pop("upsample", "bilateral")
        input_size = p.pop("input_size", 0)
        vividness = check_vividness(p.pop("vividness", 1.0))
        weights = p.pop("weights", None)
        return cls(load_model(arch, weights, **p), arch, weights, p, temperature, upsample, input_size, vividness,
                   calibration_for_model(arch, weights))

    def run_grouped(self, l_ins: list):
        """Yield ``(indices, outputs)`` for the network inputs, one batch per input shape."""
        groups: dict = {}
        for i, l_in in enumerate(l_ins):
            groups.setdefault(l_in.shape, []).append(i)
        p = self.params
        for idx in groups.values():
            batch = np.stack([l_ins[i] for i in idx])[:, None]
            yield idx, _run_with_confidence(self.model, self.arch, self.weights, p.get("prototxt"),
                                            p.get("backend", "auto"), p.get("device", "auto"), p.get("threads", 0),
                                            batch)


def ab_predictor(arch: str | None = "eccv16", **params) -> Callable[..., list]:
    """A function from a list of CIELAB lightness arrays (H, W) to their full-resolution ab (float32 (H, W, 2)).

    The function takes ``hints=``, a list with each frame's colour hints (or None), too.

    The steps of :func:`colorize_cnn` up to, not including, the conversion to RGB: network input from L,
    the network on a batch (frames of one size together), calibrated decoding, ab upsampled guided by L.
    Video uses it so that a frame is rebuilt from its own L and its (temporally filtered) ab once. The
    model is loaded once, when this is called.
    """
    from tinct.colorize.decode import decode_output
    from tinct.colorize.upsample import resize, upsample_ab

    dec = _Decoding.load(arch, params)
    size = dec.input_size or dec.model.input_size

    def finish(res: dict, lightness: np.ndarray, points=None, plain: dict | None = None) -> np.ndarray:
        ab_low, _ = decode_output(res, dec.model.bins, dec.temperature, dec.vividness, dec.calibration)
        if plain is not None:  # as in colorize_cnn: hinted colours near the hints, the plain guess beyond
            ab_plain, _ = decode_output(plain, dec.model.bins, dec.temperature, dec.vividness, dec.calibration)
            ab_low = _within_reach(ab_low, ab_plain, points, lightness.shape)
        ab = upsample_ab(ab_low, lightness, dec.upsample)
        if points is not None and len(points):
            from tinct.colorize.hints import apply_hints

            ab = apply_hints(lightness, ab, points)
        return ab.astype(np.float32, copy=False)

    def run(lightnesses: list, hints: list | None = None) -> list:
        hints = hints or [None] * len(lightnesses)
        l_ins = [resize(lt, net_input_shape(*lt.shape, size, dec.model.multiple)) for lt in lightnesses]
        out: list = [None] * len(l_ins)
        plain = [i for i, h in enumerate(hints) if h is None]
        for idx, res in dec.run_grouped([l_ins[i] for i in plain]):
            for j, i in enumerate(idx):
                out[plain[i]] = finish({k: v[j] for k, v in res.items()}, lightnesses[plain[i]])
        for i, h in enumerate(hints):  # frames with the user's hints: one at a time, with their hint channels
            if h is None:
                continue
            points = _hint_points(h, None, lightnesses[i].shape)
            p = dec.params
            args = (dec.model, dec.arch, dec.weights, p.get("prototxt"), p.get("backend", "auto"),
                    p.get("device", "auto"), p.get("threads", 0), l_ins[i][None, None])
            res = _run_with_confidence(*args, _hint_input(points, l_ins[i].shape, lightnesses[i].shape))
            plain = _run_with_confidence(*args)
            out[i] = finish({k: v[0] for k, v in res.items()}, lightnesses[i], points,
                            {k: v[0] for k, v in plain.items()})
        return out

    return run


def colorize_many(images: Iterable, *, arch: str | None = "eccv16", batch_size: int = 8,
                  progress: Callable[[int], None] | None = None, return_extras: bool = False, **params):
    """Colorize many images with one loaded model, batching images whose network input shapes agree.

    ``images`` is an iterable of arrays (or of callables returning arrays, so
    files can be read lazily). Yields results in input order; ``progress(n)``
    is called after each chunk with the number of images finished.
    """
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ParameterError(f"batch_size: must be an integer >= 1, got {batch_size!r}")
    dec = _Decoding.load(arch, params)
    chunk: list = []

    def flush():
        prepared = [_prepare(img() if callable(img) else img, dec.model, dec.input_size) for img in chunk]
        outs: list = [None] * len(prepared)
        for idx, out in dec.run_grouped([l_in for _, _, l_in in prepared]):
            for j, i in enumerate(idx):
                outs[i] = {k: v[j] for k, v in out.items()}
        results = [_finish(a, lt, o, dec.model, dec.temperature, dec.upsample, return_extras, vividness=dec.vividness,
                           calibration=dec.calibration)
                   for (a, lt, _), o in zip(prepared, outs)]
        if progress is not None:
            progress(len(results))
        return results

    for img in images:
        chunk.append(img)
        if len(chunk) == batch_size:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


# --------------------------------------------------------------------------- registered methods
@register(
    "eccv16",
    kind="colorize",
    summary="Automatic colorization with the ECCV 2016 network of Zhang et al. (needs weights).",
    params=_COMMON + [_VIVIDNESS],
    extra="cnn",
)
def eccv16(image, *, weights=None, prototxt=None, temperature=DEFAULT_TEMPERATURE, input_size=0, device="auto",
           threads=0, upsample="bilateral", backend="auto", vividness=1.0, return_extras=False):
    """Colorize with the ECCV16 network (PyTorch ``.pth``, tinct file, or the Caffe release).

    Parameters
    ----------
    image : (H, W[, 1|2|3|4]) ndarray
        Gray or colour (its own L is kept); uint8, uint16 or float in [0, 1].
    weights : str, optional
        Weights file. Default: the registry entry ``eccv16`` (or ``eccv16-caffe``
        with ``backend='caffe'``) in the cache; missing -> MissingWeightsError
        naming the ``tinct models download`` command.
    prototxt : str, optional
        The Caffe deploy file for a ``.caffemodel``.
    temperature : float, default 0.38
        Annealed-mean temperature (paper's value).
    input_size : int, default 0
        Network input side; 0 = the model's (256 for the PyTorch port, 224 Caffe).
    device : {'auto', 'cpu', 'cuda'}
    threads : int
        CPU threads (0 = library default).
    upsample : {'bilateral', 'guided', 'bilinear'}
        Joint bilateral (default, measured best), guided filter, or plain bilinear (the LearnOpenCV tutorial's).
    backend : {'auto', 'torch', 'onnx', 'caffe'}
    vividness : float, default 1
        0 = gray, 1 = confidence-calibrated (colour falls back towards neutral where the predicted
        distribution is spread), 2 = the plain annealed mean; :mod:`tinct.colorize.decode`.
    return_extras : bool
        API only: also return a dict with ``entropy``, ``mode``, ``ab_lowres``, ``confidence``.

    Returns
    -------
    ndarray
        (H, W, 3[+alpha]) colour image of the input's dtype.

    References
    ----------
    .. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
    """
    return colorize_cnn(image, arch="eccv16", weights=weights, prototxt=prototxt, temperature=temperature,
                        input_size=input_size, device=device, threads=threads, upsample=upsample, backend=backend,
                        return_extras=return_extras, vividness=vividness)


@register(
    "siggraph17",
    kind="colorize",
    summary="Colorization with the SIGGRAPH 2017 network of Zhang et al., automatic or from colour hints (needs weights).",
    params=[p for p in _COMMON if p.name not in ("prototxt", "backend")] + [
        Param("backend", "str", "auto", "Inference engine (auto = torch).", choices=("auto", "torch", "onnx")),
        Param("head", "str", "regression", "Output used: the regression head (as the authors' demo) or the "
              "529-bin classification head decoded by annealed mean.", choices=("regression", "classification")),
        _VIVIDNESS,
    ],
    inputs=[
        Input("hints", "hints", help="colour points: a JSON file or list of {x, y, color[, radius]}"),
        Input("regions", "regions", help="(mask, colour) pairs: MASK=#RRGGBB"),
    ],
    extra="cnn",
)
def siggraph17(image, *, hints=None, regions=None, weights=None, temperature=DEFAULT_TEMPERATURE, input_size=0,
               device="auto", threads=0, upsample="bilateral", backend="auto", head="regression", vividness=1.0,
               return_extras=False):
    """Colorize with the SIGGRAPH17 network, automatically or steered by user colour hints and regions.

    Parameters are those of :func:`eccv16` (no Caffe path) plus ``head``:
    ``'regression'`` uses the full-resolution ab of ``model_out`` (what the
    authors' port returns; ``temperature`` has no effect), ``'classification'``
    decodes the 529-bin ``model_class`` logits by annealed mean. ``vividness`` as for :func:`eccv16`; with
    the regression head the confidence comes from the class head (one more pass of the network).

    References
    ----------
    .. [1] R. Zhang, J.-Y. Zhu, P. Isola, X. Geng, A. S. Lin, T. Yu, A. A. Efros,
           "Real-Time User-Guided Image Colorization with Learned Deep Priors", SIGGRAPH 2017.
    """
    return colorize_cnn(image, arch="siggraph17", weights=weights, temperature=temperature, input_size=input_size,
                        device=device, threads=threads, upsample=upsample,
                        backend="torch" if backend == "auto" else backend,
                        head="regression" if head == "regression" else "logits", return_extras=return_extras,
                        hints=hints, regions=regions, vividness=vividness)


@register(
    "auto",
    kind="colorize",
    summary="tinct's own network, automatic or steered by colour hints (the weights entries marked default and guided_default).",
    params=[p for p in _COMMON if p.name not in ("prototxt", "backend")] + [
        Param("backend", "str", "auto", "Inference engine: auto = ONNX Runtime on the CPU when installed (no PyTorch start-up once the network has been exported), else torch.", choices=("auto", "torch", "onnx")),
        _VIVIDNESS,
    ],
    inputs=[
        Input("hints", "hints", help="colour points: a JSON file or list of {x, y, color[, radius]}"),
        Input("regions", "regions", help="(mask, colour) pairs: MASK=#RRGGBB"),
    ],
    extra="cnn",
)
def auto(image, *, hints=None, regions=None, weights=None, temperature=DEFAULT_TEMPERATURE, input_size=0,
         device="auto", threads=0, upsample="bilateral", backend="auto", vividness=1.0, return_extras=False):
    """Colorize with the registry's default network (tinct's own, shipped with the package).

    With ``weights`` given, the file's own architecture is used (a tinct
    self-describing file). Without, the registry entry marked ``default`` is
    loaded (``tinctnet-v2``, see ``docs/models/tinctnet-v2.md``); if there is
    none or its file is absent, MissingWeightsError says which.

    Parameters
    ----------
    image : (H, W[, 1|2|3|4]) ndarray
        Gray or colour (its own L is kept); uint8, uint16 or float in [0, 1].
    hints : list or array, optional
        User colour points, in any form :func:`tinct.colorize.hints.parse_hints` takes.
    regions : list, optional
        ``(mask, colour)`` pairs: inside each mask the result takes that colour on the image's own L.
    weights : str, optional
        A tinct weights file to use instead of the default entry.
    temperature : float, default 0.38
        Annealed-mean temperature: 1 is the mean of the predicted distribution, towards 0 its mode.
    input_size : int, default 0
        Network input side; 0 = the model's own.
    device : {'auto', 'cpu', 'cuda'}
    threads : int
        CPU threads (0 = library default).
    upsample : {'bilateral', 'guided', 'bilinear'}
        How the low-resolution ab is brought to full size, guided by the full-resolution L.
    backend : {'auto', 'torch', 'onnx'}
    vividness : float, default 1
        0 = gray, 1 = confidence-calibrated default, 2 = the plain annealed mean (:mod:`tinct.colorize.decode`).
    return_extras : bool
        API only: also return a dict with ``entropy``, ``mode``, ``ab_lowres``, ``confidence``.

    Returns
    -------
    ndarray
        (H, W, 3[+alpha]) colour image of the input's dtype.

    References
    ----------
    .. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
    """
    from tinct.models import weights as registry

    plain: dict = {}
    if weights is None:
        # Regions are composited on the automatic result and never reach the network: only hints pick the
        # model that is better with them.
        guided = hints is not None and len(hints) > 0
        entry = registry.default_entry(guided=guided)
        if entry is None:
            raise MissingWeightsError(
                "method 'auto': no weights entry is marked default in tinct.models.weights (tinct's own network "
                "is not installed); use --method eccv16 with --param weights=PATH, or pass weights=PATH"
            )
        automatic = registry.default_entry() if guided else None
        if automatic is not None and automatic.name != entry.name:
            # Beyond the hints' reach the picture stays what the user saw without them (the automatic model).
            plain = {"plain_arch": automatic.arch, "plain_weights": str(registry.find(automatic.name))}
        weights = str(registry.find(entry.name))
        arch = entry.arch
    else:
        arch = None
    if backend == "auto":
        backend = "onnx" if device != "cuda" and _has_onnxruntime() else "torch"
    return colorize_cnn(image, arch=arch, weights=weights, temperature=temperature, input_size=input_size,
                        device=device, threads=threads, upsample=upsample, backend=backend,
                        return_extras=return_extras, hints=hints, regions=regions, vividness=vividness, **plain)


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def colorize_with_confidence(image, method: str = "auto", **params):
    """Colorize with a CNN method and also return where it is sure: ``(result, confidence)``.

    Parameters
    ----------
    image : ndarray
        As for the method (gray or colour; uint8, uint16 or float; alpha kept).
    method : {'auto', 'eccv16', 'siggraph17'}
        A registered CNN colorization method.
    **params
        The method's registered parameters and inputs (``vividness``, ``hints``, ...), validated as the
        registry validates them.

    Returns
    -------
    result : ndarray
        Exactly what ``get_method(method)(image, **params)`` returns.
    confidence : ndarray
        float32 (H, W) in [0, 1] at the input's size: 1 where the predicted distribution is concentrated
        (its colour is shown as decoded), 0 where it is spread over distant colours (the colour fell back
        towards neutral); 1 inside user regions. See :mod:`tinct.colorize.decode`.

    References
    ----------
    .. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
    """
    from tinct.registry import get_method

    if method not in ("auto", "eccv16", "siggraph17"):
        raise ParameterError(f"method: a confidence map comes from auto, eccv16 or siggraph17, not {method!r}")
    if "return_extras" in params:
        raise ParameterError("return_extras: not a parameter of colorize_with_confidence")
    m = get_method(method, "colorize")
    for key in params:
        if m.input(key) is None:
            m.param(key)  # ParameterError naming an unknown parameter, before any work
    result, extras = m.func(image, **params, return_extras=True)
    return result, extras["confidence"]
