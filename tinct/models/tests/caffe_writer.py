"""A Caffe writer for the tests: an ECCV16 network as a deploy prototxt and a binary ``.caffemodel``.

The files follow the layout of the authors' release (``colorization_deploy_v2.prototxt``), written in the
protobuf wire format without the protobuf package, so that the tests can build small Caffe models and check
:func:`tinct.models.caffe.read_caffemodel`, :func:`~tinct.models.caffe.caffemodel_to_state_dict` and the
``cv2.dnn`` backend against PyTorch. Only the tests write Caffe files, so the writer lives here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinct.models.caffe import _CONV_LAYERS, _NORMS, L_SCALE


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _wrap(number: int, parts: list[bytes]) -> list[bytes]:
    """A length-delimited field around already-encoded parts, without copying them."""
    return [_varint(number << 3 | 2), _varint(sum(len(p) for p in parts))] + parts


def _blob(array: np.ndarray) -> list[bytes]:
    arr = np.ascontiguousarray(array, dtype="<f4")
    shape = b"".join(_varint(int(d)) for d in arr.shape)
    return [_field(7, _field(1, shape))] + _wrap(5, [arr.tobytes()])


def _layer(name: str, type_: str, blobs: list[np.ndarray]) -> list[bytes]:
    parts = [_field(1, name.encode()), _field(2, type_.encode())]
    for b in blobs:
        parts += _wrap(7, _blob(b))
    return _wrap(100, parts)


def _prototxt(net) -> str:
    lines = ['name: "LtoAB"',
             'layer { name: "data_l" type: "Input" top: "data_l" '
             f"input_param {{ shape {{ dim: 1 dim: 1 dim: {net.input_size} dim: {net.input_size} }} }} }}"]
    bottom = "data_l"
    mods = dict(net.named_modules())
    for name, prefix, stride, dilation in _CONV_LAYERS:
        mod = mods[prefix]
        deconv = name == "conv8_1"
        top = name.replace("bw_", "")
        param = (f"num_output: {mod.out_channels} kernel_size: {mod.kernel_size[0]} stride: {stride} "
                 f"pad: {mod.padding[0]}" + (f" dilation: {dilation}" if dilation > 1 else ""))
        kind = "Deconvolution" if deconv else "Convolution"
        lines.append(f'layer {{ name: "{name}" type: "{kind}" bottom: "{bottom}" top: "{top}" '
                     f"convolution_param {{ {param} }} }}")
        lines.append(f'layer {{ name: "relu{top[4:]}" type: "ReLU" bottom: "{top}" top: "{top}" }}')
        bottom = top
        if name in _NORMS:
            lines.append(f'layer {{ name: "{name}norm" type: "BatchNorm" bottom: "{top}" top: "{top}norm" '
                         "batch_norm_param { use_global_stats: true } }")
            lines.append(f'layer {{ name: "{name}norm_scale" type: "Scale" bottom: "{top}norm" top: "{top}norm" '
                         "scale_param { bias_term: true } }")
            bottom = top + "norm"
    lines += [
        f'layer {{ name: "conv8_313" type: "Convolution" bottom: "{bottom}" top: "conv8_313" '
        "convolution_param { num_output: 313 kernel_size: 1 stride: 1 dilation: 1 } }",
        'layer { name: "conv8_313_rh" type: "Scale" bottom: "conv8_313" top: "conv8_313_rh" '
        "scale_param { bias_term: false } }",
        'layer { name: "class8_313_rh" type: "Softmax" bottom: "conv8_313_rh" top: "class8_313_rh" }',
        'layer { name: "class8_ab" type: "Convolution" bottom: "class8_313_rh" top: "class8_ab" '
        "convolution_param { num_output: 2 kernel_size: 1 stride: 1 dilation: 1 bias_term: false } }",
    ]
    return "\n".join(lines) + "\n"


def write_caffe(net, prototxt_path, caffemodel_path) -> None:
    """Write an ECCV16 network as a deploy prototxt + binary caffemodel (the release's layout).

    The logits written for ``conv8_313`` are the network's own (``logit_scale``
    divided out, :meth:`~tinct.models.eccv16.ECCV16.logit_layer`: the very
    float32 weights the PyTorch network uses), the ``conv8_313_rh`` blob holds 1
    and ``class8_ab`` the bin centres; :meth:`tinct.models.caffe.CaffeNet.run`
    overwrites both, as the LearnOpenCV tutorial does.
    """
    from tinct.color import ab_bins

    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    out: list[bytes] = [_field(1, b"LtoAB")]
    for name, prefix, _, _ in _CONV_LAYERS:
        w = sd[prefix + ".weight"]
        if name == "bw_conv1_1":
            w = w / np.float32(L_SCALE)
        kind = "Deconvolution" if name == "conv8_1" else "Convolution"
        out += _layer(name, kind, [w, sd[prefix + ".bias"]])
        if name in _NORMS:
            p = _NORMS[name]
            stats = [sd[p + ".running_mean"], sd[p + ".running_var"], np.ones(1, np.float32)]
            out += _layer(name + "norm", "BatchNorm", stats)
            out += _layer(name + "norm_scale", "Scale", [sd[p + ".weight"], sd[p + ".bias"]])
    weight, bias = (t.detach().cpu().numpy().astype(np.float32) for t in net.logit_layer())
    out += _layer("conv8_313", "Convolution", [weight, bias])
    out += _layer("conv8_313_rh", "Scale", [np.ones((1, 313), np.float32)])
    centres = ab_bins("313").T.reshape(2, 313, 1, 1)
    out += _layer("class8_ab", "Convolution", [centres])
    Path(prototxt_path).write_text(_prototxt(net))
    with open(caffemodel_path, "wb") as fh:
        fh.writelines(out)
