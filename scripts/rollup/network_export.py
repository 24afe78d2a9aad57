"""Networks out to files: our CSV layer table, NeuroSim's NetWork.csv and ONNX.

Each writer gives a file that :func:`crosstrain.rollup.network_files.load` reads back as the
same layers (kinds, shapes, kernels, strides, paddings; the CSV and ONNX files also keep the
names and the wiring, :attr:`Layer.inputs`). A network a format cannot hold is one
:class:`NetworkError` line naming the layer:

- CSV: an ``add`` whose inputs are both other than the previous layer (the table's ``add``
  always adds the previous output).
- NeuroSim: rows hold a plain chain of convolutions with "same" padding and fully connected
  layers, each optionally followed by a 2x2 stride-2 pool; no ``tconv``, ``add`` or branches.
- ONNX: anything the layer table holds. Weights are graph inputs with their shapes (no values:
  the roll-up has none, and the file stays small), biases are left out; a ``pool`` over its whole
  input is written as ``AveragePool``, other pools as ``MaxPool`` (the table does not tell them
  apart; both are data movement only). The description is the model's ``doc_string``, the
  dataset a ``dataset`` metadata entry.
"""

from __future__ import annotations

import csv
import io

from crosstrain.rollup.network_files import CSV_COLUMNS
from crosstrain.rollup.networks import Network, NetworkError
from crosstrain.rollup.onnx_import import INSTALL

FORMATS = ("onnx", "csv", "neurosim")
SUFFIX = {"onnx": ".onnx", "csv": ".csv", "neurosim": ".csv"}
ONNX_OPSET = 17
ONNX_IR_VERSION = 8                 # what ONNX Runtime 1.14 and later read for opset 17


def to_csv(net: Network) -> str:
    """Our CSV layer table (docs/estimate.md), one row per layer, every value written out."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    prev = "input"
    for i, l in enumerate(net.layers):
        src = l.inputs[0] if l.inputs else prev
        if l.kind == "add":
            if prev not in l.inputs:
                raise NetworkError(f"layer {l.name}: an add of {' and '.join(l.inputs)}, neither the "
                                   "previous layer: the CSV table cannot hold it")
            src = l.inputs[1] if l.inputs[0] == prev else l.inputs[0]
        elif src == prev:
            src = ""
        shape = net.input_shape if i == 0 else ("", "", "")
        window = ("", "", "") if l.kind == "add" else (l.kernel, l.stride, l.padding)
        w.writerow([l.name, l.kind, *shape, l.out_ch if l.has_weights else "", *window,
                    l.output_padding if l.kind == "tconv" else "", src])
        prev = l.name
    return f"# {net.name}: {net.description}\n" + buf.getvalue()


def to_neurosim(net: Network) -> str:
    """NeuroSim V2.1's NetWork.csv: one row of eight integers per weight layer."""
    rows, prev = [], "input"
    for l in net.layers:
        wired = not l.inputs or l.inputs == (prev,)
        if l.kind == "pool" and rows and wired and rows[-1][6] == 0 and \
                (l.kernel, l.stride, l.padding) == (2, 2, 0):
            rows[-1][6] = 1
        elif l.kind == "fc" and wired:
            rows.append([1, 1, l.in_ch, 1, 1, l.out_ch, 0, 1])
        elif l.kind == "conv" and wired and l.padding == (l.kernel - 1) // 2 and \
                (l.in_h, l.in_w, l.kernel) != (1, 1, 1):
            rows.append([l.in_h, l.in_w, l.in_ch, l.kernel, l.kernel, l.out_ch, 0, l.stride])
        else:
            raise NetworkError(f"layer {l.name} ({_describe(l)}): NeuroSim rows hold a chain of "
                               "'same'-padded convolutions and fully connected layers, each "
                               "optionally followed by a 2x2 stride-2 pool")
        prev = l.name
    return "".join(",".join(map(str, r)) + "\n" for r in rows)


def _describe(l) -> str:
    s = f"{l.kind} k{l.kernel} s{l.stride} p{l.padding}"
    return s + (f" from {', '.join(l.inputs)}" if l.inputs else "")


def to_onnx(net: Network):
    """An ``onnx.ModelProto`` of the network (checked with ``onnx.checker``)."""
    try:
        from onnx import TensorProto, checker, helper
    except ImportError:
        raise NetworkError(f"writing ONNX models needs the onnx package: {INSTALL}") from None
    nodes, weights = [], []
    rank = {"input": 4}

    def weight(layer, dims) -> str:
        name = f"{layer.name}.weight"
        weights.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
        return name

    def reshaped(tensor, want, layer):
        """``tensor`` as a rank-``want`` tensor: a Flatten to [N, F] or a Reshape to [N, F, 1, 1]."""
        if rank[tensor] == want:
            return tensor
        out = f"{layer.name}.in{want}d"
        if want == 2:
            nodes.append(helper.make_node("Flatten", [tensor], [out], name=out, axis=1))
        else:
            shape = helper.make_tensor(f"{out}.shape", TensorProto.INT64, [4], [-1, layer.in_ch, 1, 1])
            nodes.append(helper.make_node("Constant", [], [shape.name], name=shape.name, value=shape))
            nodes.append(helper.make_node("Reshape", [tensor, shape.name], [out], name=out))
        rank[out] = want
        return out

    prev = "input"
    for l in net.layers:
        ins = l.inputs or (prev,)
        k2 = [l.kernel, l.kernel]
        window = dict(kernel_shape=k2, strides=[l.stride] * 2, pads=[l.padding] * 4)
        if l.kind == "fc":
            w = weight(l, [l.out_ch, l.in_ch])
            node = helper.make_node("Gemm", [reshaped(ins[0], 2, l), w], [l.name], transB=1)
        elif l.kind == "add":
            want = max(rank[x] for x in ins)
            node = helper.make_node("Add", [reshaped(x, want, l) for x in ins], [l.name])
        else:
            x = reshaped(ins[0], 4, l)
            if l.kind == "conv":
                w = weight(l, [l.out_ch, l.in_ch, l.kernel, l.kernel])
                node = helper.make_node("Conv", [x, w], [l.name], **window)
            elif l.kind == "tconv":
                w = weight(l, [l.in_ch, l.out_ch, l.kernel, l.kernel])
                node = helper.make_node("ConvTranspose", [x, w], [l.name],
                                        output_padding=[l.output_padding] * 2, **window)
            else:
                whole = l.kernel == l.in_h == l.in_w
                node = helper.make_node("AveragePool" if whole else "MaxPool", [x], [l.name], **window)
        node.name = l.name
        nodes.append(node)
        rank[l.name] = 2 if l.kind == "fc" else max(rank[x] for x in ins) if l.kind == "add" else 4
        prev = l.name
    last = net.layers[-1]
    out_dims = ["N", last.out_ch] + ([last.out_h, last.out_w] if rank[last.name] == 4 else [])
    graph = helper.make_graph(
        nodes, net.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *net.input_shape]), *weights],
        [helper.make_tensor_value_info(last.name, TensorProto.FLOAT, out_dims)])
    model = helper.make_model(graph, producer_name="crosstrain",
                              opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = ONNX_IR_VERSION
    model.doc_string = net.description
    if net.dataset:
        helper.set_model_props(model, {"dataset": net.dataset})
    checker.check_model(model)
    return model


def export(net: Network, fmt: str) -> bytes:
    """The file contents of ``net`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "onnx":
        return to_onnx(net).SerializeToString()
    if fmt == "csv":
        return to_csv(net).encode()
    if fmt == "neurosim":
        return to_neurosim(net).encode()
    raise NetworkError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
