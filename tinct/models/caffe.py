"""The original Caffe release of ECCV16: run through ``cv2.dnn`` and read into PyTorch.

* :func:`load_cv2` and :meth:`CaffeNet.run` run the release as the LearnOpenCV
  tutorial [2]_ does:
  ``cv2.dnn.readNetFromCaffe``, the ``class8_ab`` blob set to the 313 bin
  centres (2, 313, 1, 1), the ``conv8_313_rh`` scale blob set to 1/T (1, 313),
  L at the working size in; two deliberate differences make this backend
  compute exactly what PyTorch and onnxruntime compute: the input is the
  PyTorch layout ``(L - 50) / 100`` with ``bw_conv1_1``'s weights x 100 (the
  same function), and Winograd convolution is off. The pipeline decodes the
  ``conv8_313`` logits with tinct's own annealed mean, as on every backend;
  OpenCV's ``class8_ab`` output (the tutorial's result) is available and agrees
  to float rounding. OpenCV 5 removed the Caffe importer ("Caffe importer
  has been removed"), so this needs ``opencv-python-headless<5``.
* :func:`read_caffemodel` is a minimal protobuf reader of ``NetParameter``
  (layer name -> blobs), and :func:`caffemodel_to_state_dict` turns the
  release's blobs into an :class:`~tinct.models.eccv16.ECCV16` state dict
  (``bw_conv1_1`` weights x 100, because the Caffe net takes ``L - 50`` and
  the PyTorch layout ``(L - 50) / 100``; BatchNorm mean and variance divided
  by Caffe's moving-average factor). With it the Caffe files also run on
  OpenCV 5, through PyTorch or ONNX. (The tests write small Caffe models with
  ``tinct/models/tests/caffe_writer.py``.)

Layer names follow the release's ``colorization_deploy_v2.prototxt``:
``bw_conv1_1``, ``conv1_2``, ``conv1_2norm``, ..., ``conv8_1`` (Deconvolution),
``conv8_2``, ``conv8_3``, ``conv8_313``, ``conv8_313_rh`` (Scale),
``class8_313_rh`` (Softmax), ``class8_ab`` (1x1 conv, no bias).

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
.. [2] S. Mallick, "Convolutional Neural Network based Image Colorization using
       OpenCV", LearnOpenCV, 2018.
.. [3] Caffe ``caffe.proto`` (NetParameter = 100: layer; LayerParameter 1: name,
       2: type, 3: bottom, 4: top, 7: blobs; BlobProto 5: data, 7: shape; BlobShape 1: dim).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinct.errors import TinctError
from tinct.models.weights import DEFAULT_TEMPERATURE

# (caffe layer name, torch module prefix, kind, stride, dilation) in network order.
_CONV_LAYERS = [
    ("bw_conv1_1", "model1.0", 1, 1), ("conv1_2", "model1.2", 2, 1),
    ("conv2_1", "model2.0", 1, 1), ("conv2_2", "model2.2", 2, 1),
    ("conv3_1", "model3.0", 1, 1), ("conv3_2", "model3.2", 1, 1), ("conv3_3", "model3.4", 2, 1),
    ("conv4_1", "model4.0", 1, 1), ("conv4_2", "model4.2", 1, 1), ("conv4_3", "model4.4", 1, 1),
    ("conv5_1", "model5.0", 1, 2), ("conv5_2", "model5.2", 1, 2), ("conv5_3", "model5.4", 1, 2),
    ("conv6_1", "model6.0", 1, 2), ("conv6_2", "model6.2", 1, 2), ("conv6_3", "model6.4", 1, 2),
    ("conv7_1", "model7.0", 1, 1), ("conv7_2", "model7.2", 1, 1), ("conv7_3", "model7.4", 1, 1),
    ("conv8_1", "model8.0", 2, 1), ("conv8_2", "model8.2", 1, 1), ("conv8_3", "model8.4", 1, 1),
]
_NORMS = {"conv1_2": "model1.4", "conv2_2": "model2.4", "conv3_3": "model3.6", "conv4_3": "model4.6",
          "conv5_3": "model5.6", "conv6_3": "model6.6", "conv7_3": "model7.6"}
L_SCALE = 100.0  # PyTorch layout divides (L - 50) by 100; Caffe does not.


# --------------------------------------------------------------------------- protobuf wire format
def _parse(buf: bytes) -> dict[int, list]:
    """Decode one message into {field number: [values]}; length-delimited values stay bytes."""
    out: dict[int, list] = {}
    buf = memoryview(buf)  # slices below are views: a 130 MB caffemodel is not copied per field
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            value = buf[pos : pos + 8]
            pos += 8
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            value = buf[pos : pos + length]
            pos += length
        elif wire == 5:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise TinctError(f"caffemodel: unsupported protobuf wire type {wire}")
        if pos > end:
            raise TinctError("caffemodel: truncated protobuf message")
        out.setdefault(number, []).append(value)
    return out


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise TinctError("caffemodel: truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _decode_blob(raw: bytes) -> np.ndarray:
    msg = _parse(raw)
    data_parts = msg.get(5, [])
    # packed (one part) or unpacked repeated float (one 4-byte part per value)
    data = np.frombuffer(data_parts[0] if len(data_parts) == 1 else b"".join(data_parts), "<f4")
    if not len(data) and 8 in msg:  # double_data
        data = np.frombuffer(b"".join(msg[8]), "<f8").astype(np.float32)
    if 7 in msg:
        dims_raw = _parse(msg[7][0]).get(1, [])
        dims: list[int] = []
        for d in dims_raw:
            if isinstance(d, memoryview):  # packed
                p = 0
                while p < len(d):
                    v, p = _read_varint(d, p)
                    dims.append(v)
            else:
                dims.append(d)
    else:  # legacy num, channels, height, width
        dims = [msg.get(k, [1])[0] for k in (1, 2, 3, 4)]
    if int(np.prod(dims)) != data.size:
        raise TinctError(f"caffemodel: blob of shape {dims} holds {data.size} values")
    return data.reshape(dims).copy()


def read_caffemodel(path) -> dict[str, list[np.ndarray]]:
    """Layer name -> list of float32 blobs, from a binary ``.caffemodel`` (new ``layer`` or V1 ``layers``)."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise TinctError(f"weights: cannot read {path}: {exc.strerror or exc}") from None
    net = _parse(buf)
    layers: dict[str, list[np.ndarray]] = {}
    for number, name_field, blob_field in ((100, 1, 7), (2, 4, 6)):
        for raw in net.get(number, []):
            layer = _parse(raw)
            if name_field not in layer:
                continue
            name = bytes(layer[name_field][0]).decode()
            blobs = [_decode_blob(b) for b in layer.get(blob_field, [])]
            if blobs:
                layers[name] = blobs
    if not layers:
        raise TinctError(f"weights: {path} holds no Caffe layers with weights (not a .caffemodel?)")
    return layers


def caffemodel_to_state_dict(layers: dict[str, list[np.ndarray]]) -> dict:
    """Convert ECCV16 Caffe blobs to an :class:`~tinct.models.eccv16.ECCV16` state dict (logit_scale 1)."""
    import torch

    state = {}
    try:
        for name, prefix, _, _ in _CONV_LAYERS + [("conv8_313", "model8.6", 1, 1)]:
            w, b = layers[name][0], layers[name][1]
            if name == "bw_conv1_1":
                w = w * np.float32(L_SCALE)
            state[prefix + ".weight"] = torch.from_numpy(np.ascontiguousarray(w, np.float32))
            state[prefix + ".bias"] = torch.from_numpy(np.ascontiguousarray(b.reshape(-1), np.float32))
        for conv, prefix in _NORMS.items():
            blobs = layers[conv + "norm"]
            factor = float(blobs[2].reshape(-1)[0]) if len(blobs) > 2 else 1.0
            factor = 1.0 / factor if factor != 0 else 0.0
            state[prefix + ".running_mean"] = torch.from_numpy(blobs[0].reshape(-1) * np.float32(factor))
            state[prefix + ".running_var"] = torch.from_numpy(blobs[1].reshape(-1) * np.float32(factor))
            scale = layers.get(conv + "norm_scale")
            n = blobs[0].size
            state[prefix + ".weight"] = torch.from_numpy(scale[0].reshape(-1).copy() if scale else np.ones(n, np.float32))
            state[prefix + ".bias"] = torch.from_numpy(
                scale[1].reshape(-1).copy() if scale and len(scale) > 1 else np.zeros(n, np.float32))
    except (KeyError, IndexError) as exc:
        raise TinctError(f"weights: Caffe model lacks the ECCV16 layer/blob {exc}") from None
    from tinct.color import ab_bins

    # The port's decode conv (bin centres / 110); the release leaves class8_ab for the user to fill in.
    centres = ab_bins("313").T.reshape(2, 313, 1, 1) / np.float32(110.0)
    state["model_out.weight"] = torch.from_numpy(np.ascontiguousarray(centres, np.float32))
    return state


# --------------------------------------------------------------------------- running through cv2.dnn
def cv2_has_caffe() -> bool:
    import cv2

    return hasattr(cv2.dnn, "readNetFromCaffe")


_FIRST_CONV = ("bw_conv1_1", "conv1_1")  # OpenCV may list the release's first layer under its top's name


class CaffeNet:
    """An ECCV16 Caffe model loaded in ``cv2.dnn`` (as the LearnOpenCV tutorial does), computing what PyTorch does.

    Made by :func:`load_cv2`. On loading:

    * Winograd convolution is switched off unless ``winograd=True``: its
      F(6x6, 3x3) transforms multiply by non-dyadic constants and round
      differently from a direct convolution, even on weights whose arithmetic
      is otherwise exact (logits off by up to ~3e-4 there). With it off this
      backend gives the same bits as PyTorch and onnxruntime on such weights;
      it costs about 1.7x the time of a forward pass (docs/cnn-colorization.md).
    * ``bw_conv1_1``'s weights are multiplied by 100 (as :func:`caffemodel_to_state_dict`
      does) and :meth:`run` feeds ``(L - 50) / 100``, computed as the PyTorch
      network computes its input, instead of the tutorial's ``L - 50``: the same
      function, with the first layer's input and weights the same float32
      numbers on every backend.

    :meth:`run` sets ``class8_ab`` to the 313 bin centres and ``conv8_313_rh``
    to 1/T exactly as the tutorial does, and returns the ``conv8_313`` logits
    (tinct decodes them with :func:`tinct.color.annealed_mean`, like the
    other backends) and, when asked, OpenCV's own ``class8_ab`` annealed mean.
    """

    def __init__(self, net, winograd: bool = False):
        import threading

        self.net = net
        self.winograd = bool(winograd)
        if hasattr(net, "enableWinograd"):  # OpenCV >= 4.7; older versions have no Winograd path
            net.enableWinograd(self.winograd)
        ids = [i for i in (net.getLayerId(n) for n in _FIRST_CONV) if i >= 0]
        if not ids:
            raise TinctError("weights: the Caffe model has no bw_conv1_1 layer (not the ECCV16 release?)")
        layer = net.getLayer(ids[0])
        blobs = list(layer.blobs)
        if not blobs or blobs[0].ndim != 4 or blobs[0].shape[1] != 1:
            raise TinctError("weights: bw_conv1_1 of the Caffe model is not a convolution on the L channel")
        layer.blobs = [blobs[0] * np.float32(L_SCALE)] + blobs[1:]
        self._lock = threading.Lock()  # a cv2.dnn Net holds per-call state (input, layer blobs)

    def run(self, l_in: np.ndarray, temperature: float = DEFAULT_TEMPERATURE, cv2_ab: bool = False) -> dict:
        """Forward a batch ``l_in`` (N, 1, h, w) of L in [0, 100].

        Returns ``{"logits": (N, 313, h/4, w/4)}`` (``conv8_313``), plus
        ``"ab"`` (N, 2, h/4, w/4), OpenCV's ``class8_ab``, when ``cv2_ab``.
        """
        from tinct.color import ab_bins
        from tinct.models.eccv16 import L_CENT, L_NORM

        x = (np.asarray(l_in, np.float32) - np.float32(L_CENT)) / np.float32(L_NORM)
        centres = ab_bins("313").T.reshape(2, 313, 1, 1).astype(np.float32)
        with self._lock:
            net = self.net
            net.getLayer(net.getLayerId("class8_ab")).blobs = [centres]
            net.getLayer(net.getLayerId("conv8_313_rh")).blobs = [np.full([1, 313], 1.0 / temperature, np.float32)]
            net.setInput(np.ascontiguousarray(x, np.float32))
            if cv2_ab:
                logits, ab = net.forward(["conv8_313", "class8_ab"])
                return {"logits": np.array(logits, np.float32), "ab": np.array(ab, np.float32)}
            return {"logits": np.array(net.forward("conv8_313"), np.float32)}


def load_cv2(prototxt, caffemodel, winograd: bool = False) -> CaffeNet:
    """``cv2.dnn.readNetFromCaffe`` with tinct's errors, as a :class:`CaffeNet`; TinctError on OpenCV >= 5."""
    import cv2

    if not cv2_has_caffe():
        raise TinctError(
            f"backend: OpenCV {cv2.__version__} has no Caffe importer (removed in OpenCV 5); "
            "install opencv-python-headless<5 for cv2.dnn, or use backend=torch/onnx with the same files"
        )
    for p, what in ((prototxt, "prototxt"), (caffemodel, "weights")):
        if not Path(p).is_file():
            raise TinctError(f"{what}: file not found: {p}")
    try:
        net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    except cv2.error as exc:
        raise TinctError(f"weights: OpenCV cannot read {caffemodel} with {prototxt}: {str(exc).splitlines()[-1]}") from None
    return CaffeNet(net, winograd=winograd)
