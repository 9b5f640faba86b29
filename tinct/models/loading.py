"""Build networks by architecture name, load weights files, and run them on a backend.

* :func:`build` -- an untrained network from an arch name and config
  (``eccv16``, ``siggraph17``, ``tinctnet`` or any arch added with :func:`add_arch`).
* :func:`load_network` -- a network in eval mode from a weights file: a bare
  state dict (the authors' ``.pth`` files), tinct's self-describing
  ``{"arch", "config", "state_dict"}`` dictionary, or a ``.caffemodel``.
* :func:`get_runner` -- a cached :class:`Runner` that turns L batches into
  logits (and, for regression heads, ab) on the ``torch``, ``onnx`` or
  ``caffe`` backend; repeated calls with the same file reuse the loaded model.
* :func:`export_onnx` -- ONNX export of any network (dynamic batch and size).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinct.errors import MissingWeightsError, ParameterError, TinctError


def _build_eccv16(logit_scale: float = 1.0, **_):
    from tinct.models.eccv16 import ECCV16

    return ECCV16(logit_scale=logit_scale)


def _build_siggraph17(logit_scale: float = 1.0, **_):
    from tinct.models.siggraph17 import SIGGRAPH17

    return SIGGRAPH17(logit_scale=logit_scale)


def _build_tinctnet(**config):
    from tinct.models import tinctnet

    config.pop("logit_scale", None)
    return tinctnet.build(**config)


ARCHS: dict[str, Callable] = {"eccv16": _build_eccv16, "siggraph17": _build_siggraph17, "tinctnet": _build_tinctnet}


def add_arch(name: str, builder: Callable) -> None:
    """Make ``build(name, **config)`` call ``builder(**config)``."""
    ARCHS[name] = builder


def build(arch: str, **config):
    """An untrained network of architecture ``arch`` built from ``config``."""
    if arch not in ARCHS:
        raise ParameterError(f"arch: unknown architecture {arch!r}; known: {', '.join(sorted(ARCHS))}")
    return ARCHS[arch](**config)


def save_network(net, path, config: dict | None = None, meta: dict | None = None) -> None:
    """Write a self-describing weights file ``{"arch", "config", "state_dict", "meta"}`` (atomically)."""
    import torch

    cfg = dict(config or {})
    if hasattr(net, "logit_scale"):
        cfg.setdefault("logit_scale", float(net.logit_scale))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"arch": net.arch, "config": cfg, "state_dict": net.state_dict(), "meta": dict(meta or {})}, tmp)
    tmp.replace(path)


def file_digest(path: Path) -> str:
    from tinct.models.weights import sha256_of

    return sha256_of(path)


def _entry_for(digest: str):
    from tinct.models.weights import REGISTRY

    for entry in REGISTRY.values():
        if entry.sha256 and entry.sha256 == digest or entry.sha256_prefix and digest.startswith(entry.sha256_prefix):
            return entry
    return None


def load_network(path, arch: str | None = None, device: str = "cpu"):
    """Load a network (eval mode, float32) from a weights file.

    Parameters
    ----------
    path : path-like
        ``.pth``/``.pt`` (bare state dict or tinct dict) or ``.caffemodel`` (ECCV16 only).
    arch : str, optional
        Required for bare state dicts and Caffe files; must agree with a self-describing file.

    Notes
    -----
    A bare ECCV16 state dict is taken to be in the authors' port convention
    (``logit_scale`` = 1/0.38, see :mod:`tinct.models.eccv16`) unless its
    hash matches a registry entry that says otherwise.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"weights: file not found: {path}")
    if path.suffix.lower() == ".caffemodel":
        if arch not in (None, "eccv16"):
            raise ParameterError(f"weights: a .caffemodel is supported for eccv16 only, not {arch!r}")
        from tinct.models.caffe import caffemodel_to_state_dict, read_caffemodel

        net = build("eccv16", logit_scale=1.0)
        _load_state(net, caffemodel_to_state_dict(read_caffemodel(path)), path)
        return net.to(device).eval()
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or foreign
        raise TinctError(f"weights: cannot read {path} as a PyTorch file: {type(exc).__name__}") from None
    if isinstance(blob, dict) and "state_dict" in blob and "arch" in blob:
        file_arch = blob["arch"]
        if arch is not None and file_arch != arch:
            raise ParameterError(f"weights: {path} holds a {file_arch!r} network, not {arch!r}")
        net = build(file_arch, **dict(blob.get("config") or {}))
        state = blob["state_dict"]
    elif isinstance(blob, dict) and all(isinstance(v, torch.Tensor) for v in blob.values()):
        if arch is None:
            raise ParameterError(f"weights: {path} is a bare state dict; say which arch it is")
        entry = _entry_for(file_digest(path))
        scale = entry.logit_scale if entry is not None else (_port_scale(arch))
        net = build(arch, logit_scale=scale)
        state = blob
    else:
        raise TinctError(f"weights: {path} is not a state dict or a tinct weights file")
    _load_state(net, state, path)
    return net.to(device).eval()


def _port_scale(arch: str) -> float:
    from tinct.models.weights import REGISTRY

    entry = REGISTRY.get(arch)
    return entry.logit_scale if entry is not None and entry.arch == arch else 1.0


def _load_state(net, state: dict, path: Path) -> None:
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    own = net.state_dict()
    # Old checkpoints (the authors' included) have no BatchNorm ``num_batches_tracked``: harmless at inference.
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        if bad:
            k = bad[0]
            parts.append(f"shape mismatch at {k}: file {tuple(state[k].shape)}, network {tuple(own[k].shape)}")
        raise TinctError(f"weights: {path} does not fit {getattr(net, 'arch', type(net).__name__)}: {'; '.join(parts)}")
    net.load_state_dict(state, strict=False)


# --------------------------------------------------------------------------- ONNX
def export_onnx(net, path, head: str = "logits", opset: int = 17) -> Path:
    """Export ``net`` to ONNX with dynamic batch, height and width.

    ``head='logits'`` exports ``forward`` (bin logits); ``'regression'`` exports
    ``forward_ab`` (networks that have one). Input ``l``: (N, 1, H, W) L in [0, 100].
    """
    import torch

    module = net
    if head == "regression":
        if not hasattr(net, "forward_ab"):
            raise ParameterError(f"head: {getattr(net, 'arch', 'this network')} has no regression head")

        class _Reg(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, l):  # noqa: E741
                return self.inner.forward_ab(l)

        module = _Reg(net).eval()
    else:

        class _Log(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, l):  # noqa: E741
                return self.inner(l)

        module = _Log(net).eval()
    path = Path(path)
    size = int(getattr(net, "input_size", 256))
    dummy = torch.full((1, 1, size, size), 50.0)
    tmp = path.with_name(path.name + ".tmp")
    axes = {"l": {0: "n", 2: "h", 3: "w"}, "out": {0: "n", 2: "oh", 3: "ow"}}
    import warnings

    # The TorchScript exporter on purpose: plain dynamic axes, no onnxscript dependency; it warns that it is legacy.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module.cpu(), (dummy,), str(tmp), input_names=["l"], output_names=["out"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- runners
@dataclass
class Runner:
    """A loaded model on one backend. ``run(l)`` maps L (N, 1, h, w) float32 to a dict of numpy outputs.

    The dict has ``"logits"`` (N, Q, h/s, w/s) for classification heads, or
    ``"ab"`` (N, 2, h, w) for regression heads. Every backend returns logits
    and leaves decoding to tinct (the Caffe/cv2 backend too: its ``net`` is a
    :class:`~tinct.models.caffe.CaffeNet`, whose ``run`` can also return
    OpenCV's own ``class8_ab``).
    """

    arch: str
    bins: str
    head: str
    backend: str
    input_size: int
    size_multiple: int
    output_stride: int
    run: Callable[..., dict]
    net: object = None


_CACHE: dict[tuple, Runner] = {}
_LOCK = threading.Lock()


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise ParameterError(f"device: expected auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise ParameterError("device: cuda requested but PyTorch sees no CUDA device")
    return "cpu"


def get_runner(weights, arch: str | None, *, backend: str = "torch", head: str = "logits", device: str = "cpu",
               prototxt=None, threads: int = 0) -> Runner:
    """A cached :class:`Runner` for ``weights`` (path) on ``backend`` ('torch', 'onnx', 'caffe')."""
    path = Path(weights)
    if not path.is_file():
        raise MissingWeightsError(f"weights: file not found: {path}")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, arch, backend, head, device,
           str(prototxt) if prototxt else None, threads)
    with _LOCK:
        runner = _CACHE.get(key)
        if runner is None:
            runner = _make_runner(path, arch, backend, head, device, prototxt, threads)
            if len(_CACHE) >= 4:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = runner
    return runner


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def _make_runner(path: Path, arch, backend, head, device, prototxt, threads) -> Runner:
    if backend == "caffe":
        return _caffe_runner(path, arch, prototxt, head)
    if backend not in ("torch", "onnx"):
        raise ParameterError(f"backend: expected torch, onnx or caffe, got {backend!r}")
    requested_arch = arch
    if backend == "onnx":
        cached = _cached_onnx_runner(path, arch, head, threads)
        if cached is not None:
            return cached
    net = load_network(path, arch=arch, device="cpu")
    arch = getattr(net, "arch", arch) or "tinctnet"
    common = dict(arch=arch, bins=str(net.bins), head=head, backend=backend,
                  input_size=int(net.input_size), size_multiple=int(getattr(net, "size_multiple", 16)),
                  output_stride=int(net.output_stride), net=net)
    if head == "regression" and not hasattr(net, "forward_ab"):
        raise ParameterError(f"head: {arch} has no regression head")
    if backend == "torch":

        dev = resolve_device(device)
        net.to(dev)

        run = _torch_run(net, dev, head, threads)
        return Runner(run=run, **common)
    # The ONNX graph takes L alone; hints go through the PyTorch network, which is loaded anyway.
    with_hints = _torch_run(net, "cpu", head, threads) if getattr(net, "hints", arch == "siggraph17") else None
    runner = Runner(run=_onnx_run(net, arch, path, head, threads, with_hints), **common)
    _write_json(_onnx_meta_path(path, requested_arch, head), {k: common[k] for k in _META_KEYS} | {
        "hints": bool(getattr(net, "hints", arch == "siggraph17"))})
    return runner


#: What a Runner needs to know about a network without loading it (kept beside its ONNX export).
_META_KEYS = ("arch", "bins", "head", "backend", "input_size", "size_multiple", "output_stride")


def _onnx_meta_path(path: Path, arch, head: str) -> Path:
    return onnx_cache_path(path, arch or "auto", head).with_suffix(".json")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _cached_onnx_runner(path: Path, arch, head: str, threads: int) -> Runner | None:
    """A Runner from an earlier ONNX export and its metadata, without importing PyTorch.

    Importing PyTorch and warming it up costs about 1.5 CPU seconds, ten times an ONNX Runtime session, and
    is most of what a one-image `tinct colorize` pays; once a network has been exported (on its first ONNX
    run) later processes start from the export. Hints need the PyTorch network: it is loaded on first use.
    """
    meta_path = _onnx_meta_path(path, arch, head)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    onnx_path = onnx_cache_path(path, meta["arch"], head)
    if not onnx_path.is_file() or any(k not in meta for k in _META_KEYS):
        return None
    lazy: dict = {}

    def with_hints(l, temperature=None, hints=None):  # noqa: E741
        if "run" not in lazy:
            lazy["run"] = _torch_run(load_network(path, arch=arch, device="cpu"), "cpu", head, threads)
        return lazy["run"](l, temperature, hints)

    run = _onnx_session_run(onnx_path, meta["arch"], head, threads, with_hints if meta.get("hints") else None)
    return Runner(run=run, net=None, **{k: meta[k] for k in _META_KEYS})


def _torch_run(net, dev, head: str, threads: int):
    """``run(l, temperature=None, hints=None)`` on a PyTorch network; ``hints`` = (ab (N, 2, h, w), mask (N, 1, h, w))."""
    import torch

    def run(l, temperature=None, hints=None):  # noqa: E741
        prev = torch.get_num_threads()
        if threads:
            torch.set_num_threads(int(threads))
        try:
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(l, np.float32)).to(dev)
                extra = ()
                if hints is not None:
                    if not getattr(net, "hints", True):
                        raise ParameterError("hints: this network was built without hint inputs")
                    extra = tuple(torch.from_numpy(np.ascontiguousarray(h, np.float32)).to(dev) for h in hints)
                if head == "regression":
                    return {"ab": net.forward_ab(x, *extra).float().cpu().numpy()}
                return {"logits": net(x, *extra).float().cpu().numpy()}
        finally:
            if threads:
                torch.set_num_threads(prev)

    return run


def onnx_cache_path(path: Path, arch: str, head: str) -> Path:
    from tinct.models.weights import cache_dir

    # v2: logit_scale divided out of the last conv's weights (v1 exports divided the logits)
    digest = hashlib.sha256(f"{file_digest(path)}:{arch}:{head}:v2".encode()).hexdigest()[:16]
    return cache_dir() / "onnx" / f"{arch}-{head}-{digest}.onnx"


def _onnx_run(net, arch: str, path: Path, head: str, threads: int, with_hints=None):
    onnx_path = onnx_cache_path(path, arch, head)
    if not onnx_path.is_file():
        onnx_path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(net, onnx_path, head="regression" if head == "regression" else "logits")
    return _onnx_session_run(onnx_path, arch, head, threads, with_hints)


def _onnx_session_run(onnx_path: Path, arch: str, head: str, threads: int, with_hints=None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])

    def run(l, temperature=None, hints=None):  # noqa: E741
        if hints is not None:
            if with_hints is None:
                raise ParameterError(f"hints: {arch} takes no hints")
            return with_hints(l, temperature, hints)
        out = session.run(None, {"l": np.ascontiguousarray(l, np.float32)})[0]
        return {"ab": out} if head == "regression" else {"logits": out}

    return run


def _caffe_runner(path: Path, arch, prototxt, head) -> Runner:
    from tinct.models import caffe
    from tinct.models.weights import DEFAULT_TEMPERATURE

    if arch not in (None, "eccv16"):
        raise ParameterError(f"backend: caffe is available for eccv16 only, not {arch!r}")
    if head == "regression":
        raise ParameterError("head: the Caffe ECCV16 release has no regression head")
    if prototxt is None:
        raise ParameterError("prototxt: backend=caffe needs the deploy .prototxt beside the .caffemodel")
    net = caffe.load_cv2(prototxt, path)

    def run(l, temperature=None, hints=None):  # noqa: E741
        if hints is not None:
            raise ParameterError("hints: the Caffe ECCV16 network takes no hints")
        return {"logits": net.run(l, DEFAULT_TEMPERATURE if temperature is None else temperature)["logits"]}

    return Runner(arch="eccv16", bins="313", head="logits", backend="caffe", input_size=224, size_multiple=8,
                  output_stride=4, run=run, net=net)
