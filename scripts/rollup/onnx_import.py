"""Networks from ONNX models: ``--network model.onnx``.

The model is read with the ``onnx`` package (the ``onnx`` extra), checked
(``onnx.checker``), every tensor shape is inferred (``onnx.shape_inference``) and the nodes are
walked in their (topological) order:

=========================================================  ==========================================
ONNX operator                                              roll-up layer
=========================================================  ==========================================
``Conv`` (2-D, square kernel, one stride, one padding)     ``conv``
``ConvTranspose`` (same, with ``output_padding``)          ``tconv``
``Gemm``, ``MatMul`` with a constant second operand        ``fc`` (input ``[N, features]``)
``MaxPool``, ``AveragePool``, ``Global{Max,Average}Pool``  ``pool``
``Add`` of two layer outputs                               ``add`` (residual)
=========================================================  ==========================================

No layer (no crossbar work; the output stays the input's layer): ``BatchNormalization``,
activations (:data:`NO_WORK`), ``Dropout``, ``Identity``, an ``Add`` of a constant (a bias),
``Sub`` / ``Mul`` / ``Div`` by a constant (input normalisation), ``Flatten`` / ``Reshape`` /
``Squeeze`` to ``[N, features]``, and every node whose inputs are all
constants (``Constant``, shape arithmetic after ``Shape``). Weights and biases may be
initializers, ``Constant`` outputs or graph inputs (as :mod:`crosstrain.rollup.network_export`
writes them); the one remaining graph input is the network input, ``[N, C, H, W]`` or
``[N, features]``. Every other operator, or an attribute the layer table cannot express
(dilation, groups, a non-square kernel, ...), is one :class:`NetworkError` line
``FILE: node NAME (OP): ...``; so is a file that is not an ONNX model. Each layer's output
shape is checked against ONNX's inferred shape. The network is named after the file; its
description is the model's ``doc_string`` and its dataset the ``dataset`` metadata entry, if any.
"""

from __future__ import annotations

from pathlib import Path

from crosstrain.golden.userinput import shown, shown_path
from crosstrain.rollup.networks import MAX_NAME_CHARS, NetBuilder, Network, NetworkError

WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
POOL_OPS = ("MaxPool", "AveragePool", "GlobalMaxPool", "GlobalAveragePool")
NO_WORK = ("BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "Tanh",
           "Elu", "Selu", "Celu", "Gelu", "HardSwish", "Softplus", "Softsign", "Softmax",
           "LogSoftmax", "Clip", "Dropout", "Identity")
FLATTEN_OPS = ("Flatten", "Reshape", "Squeeze")
SCALE_OPS = ("Sub", "Mul", "Div")      # by a constant (input normalisation): no layer
SUPPORTED = WEIGHT_OPS + POOL_OPS + ("Add",) + NO_WORK + FLATTEN_OPS + SCALE_OPS
# Operand positions that hold weights or per-channel constants, not data.
_PARAM_OPS = WEIGHT_OPS + ("BatchNormalization", "PRelu", "Clip")
INSTALL = "pip install 'crosstrain[onnx]'"


def load(path: str | Path) -> Network:
    """The network of the ONNX model file ``path``."""
    name = shown_path(path)
    try:
        import onnx
    except ImportError:
        raise NetworkError(f"{name}: reading ONNX models needs the onnx package: {INSTALL}") from None
    try:
        model = onnx.load(str(path))
    except OSError as e:
        raise NetworkError(f"cannot read network file {name}: {e.strerror}") from None
    except Exception as e:          # protobuf's DecodeError and friends: not an ONNX file
        raise NetworkError(f"{name}: not an ONNX model ({_first_line(e)})") from None
    return from_model(model, str(path))


def from_model(model, path: str = "<onnx>") -> Network:
    """The network of an ``onnx.ModelProto``; ``path`` names it in errors and gives its name."""
    from onnx import checker, shape_inference
    try:
        checker.check_model(model)
        model = shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as e:          # ValidationError, InferenceError: a malformed model
        raise NetworkError(f"{shown_path(path)}: not a valid ONNX model ({_first_line(e)})") from None
    producer = " ".join(filter(None, (model.producer_name, model.producer_version)))
    meta = {p.key: p.value for p in model.metadata_props}
    return _Walk(model.graph, path).network(
        Path(path).stem, model.doc_string or "ONNX model" + (f" from {producer}" if producer else ""),
        meta.get("dataset", ""))


def _first_line(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    return next(l.strip() for l in text.splitlines() if l.strip())


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _dims(value_info) -> list | None:
    """The dimensions of a tensor's type (None for an unknown one), or None without a shape."""
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def single(values, what: str, *, must=None, rule: str = ""):
    """The one value of ``values`` (one per dimension, or a scalar), else a :class:`NetworkError`
    naming ``what``; ``must`` is the only value the layer table holds, if any."""
    vals = list(values) if isinstance(values, (list, tuple)) else [values]
    if len(set(vals)) != 1 or (must is not None and vals[0] != must):
        rule = rule or (f"{what} {must}" if must is not None else f"one {what} for every dimension")
        raise NetworkError(f"{what} = {vals}: only {rule} is modelled")
    return vals[0]


def per_sample(dims) -> tuple[int, int, int] | None:
    """(C, H, W) of an ``[N, C, H, W]`` or ``[N, F]`` shape with known sizes, else None."""
    if dims is None or len(dims) not in (2, 4) or any(d is None for d in dims[1:]):
        return None
    return tuple(dims[1:]) if len(dims) == 4 else (dims[1], 1, 1)


class _Walk:
    """One pass over a graph: ``where`` maps each data tensor to the builder output that holds
    it (a layer name or ``"input"``); ``const`` holds the constant tensors."""

    def __init__(self, graph, path):
        self.graph, self.path = graph, shown_path(path)
        self.shapes = {vi.name: _dims(vi) for vi in (*graph.input, *graph.value_info, *graph.output)}
        self.shapes |= {t.name: list(t.dims) for t in graph.initializer}
        params = {x for n in graph.node if n.op_type in _PARAM_OPS for x in n.input[1:]}
        self.const = {t.name for t in graph.initializer} | {vi.name for vi in graph.input
                                                            if vi.name in params}
        self.where: dict[str, str] = {}

    def network(self, name, description, dataset) -> Network:
        inputs = [vi for vi in self.graph.input if vi.name not in self.const]
        if len(inputs) != 1:
            raise NetworkError(f"{self.path}: the model has {len(inputs)} data inputs ("
                               + ", ".join(vi.name for vi in inputs) + "); one network input is modelled")
        dims = _dims(inputs[0])
        shape = per_sample(dims)
        if shape is None:
            raise NetworkError(f"{self.path}: input {shown(inputs[0].name)} has shape {_show(dims)}; "
                               "expected [N, C, H, W] or [N, features] with known sizes")
        self.builder = NetBuilder(name, shape, dataset=dataset, description=description)
        self.where[inputs[0].name] = "input"
        for i, node in enumerate(self.graph.node):
            label = f"node {shown(node.name) if node.name else f'#{i}'} ({node.op_type})"
            try:
                self._node(node)
            except NetworkError as e:
                raise NetworkError(f"{self.path}: {label}: {e}", e.field) from None
        try:
            return self.builder.build()
        except NetworkError as e:
            raise NetworkError(f"{self.path}: {e}") from None

    # ---- one node ------------------------------------------------------------------------------

    def _node(self, node):
        op = node.op_type
        if op in ("Constant", "Shape", "Size") or all(x in self.const for x in node.input if x):
            self.const.update(node.output)          # constants and shape arithmetic: no work
            return
        if node.domain not in ("", "ai.onnx") or op not in SUPPORTED:
            domain = f" (domain {node.domain})" if node.domain else ""
            raise NetworkError(f"operator {op}{domain} "
                               "is not supported; supported: " + ", ".join(WEIGHT_OPS + POOL_OPS)
                               + ", Add, Flatten, Reshape, Squeeze, BatchNormalization, activations "
                               "(docs/networks.md)")
        data = [x for x in node.input if x and x not in self.const]
        if op == "Add" and len(data) == 2:
            a, b = (self._source(x) for x in data)
            self._layer(node, self.builder.add(b, src=a, name=self._name(node)))
        elif op in SCALE_OPS and len(data) == 2:
            raise NetworkError(f"an element-wise {op} of two layer outputs is not modelled")
        elif op in ("Add",) + NO_WORK + SCALE_OPS:     # a bias, a normalisation, an activation
            self.where[node.output[0]] = self._source(data[0])
        elif op in FLATTEN_OPS:
            self._flatten(node, data[0])
        elif op in POOL_OPS:
            self._pool(node, self._source(data[0]))
        else:
            self._weights(node, data)

    def _source(self, tensor) -> str:
        if tensor not in self.where:
            raise NetworkError(f"input {shown(tensor)} is not the output of a modelled layer")
        return self.where[tensor]

    def _name(self, node) -> str | None:
        """The node's name as the layer name, unless empty, taken or too long (then ``kindN``)."""
        n = node.name
        ok = n and n not in self.builder.outputs and len(n) <= MAX_NAME_CHARS and n.isprintable()
        return n if ok else None

    def _layer(self, node, layer):
        got = per_sample(self.shapes.get(node.output[0]))
        if got is not None and got != layer.out_shape:
            raise NetworkError(f"ONNX infers output shape {list(got)}, the {layer.kind} layer "
                               f"gives {list(layer.out_shape)}")
        self.where[node.output[0]] = layer.name

    def _flatten(self, node, tensor):
        src = self._source(tensor)
        c, h, w = self.builder.outputs[src]
        out = self.shapes.get(node.output[0])
        if out is None and node.op_type == "Flatten" and _attrs(node).get("axis", 1) == 1:
            out = [None, c * h * w]
        # [N, features] (a fully connected layer checks the count), or [N, C, H, W] unchanged
        if out is None or (len(out) != 2 or out[1] not in (None, c * h * w)) and \
                per_sample(out) != (c, h, w):
            raise NetworkError(f"reshaping [N, {c}, {h}, {w}] to {_show(out)}: only flattening "
                               f"to [N, {c * h * w}] is modelled")
        self.where[node.output[0]] = src

    def _pool(self, node, src):
        c, h, w = self.builder.outputs[src]
        if node.op_type.startswith("Global"):
            if h != w:
                raise NetworkError(f"a global pool of a {h} x {w} input: only square pools are modelled")
            k, s, p = h, h, 0
        else:
            a = _attrs(node)
            k, s, p = self._window(a, a.get("kernel_shape", []), (h, w))
            if a.get("ceil_mode", 0) and any((n + 2 * p - k) % s for n in (h, w)):
                raise NetworkError("ceil_mode = 1 rounds this output up; the layer table rounds down")
        self._layer(node, self.builder.pool(k, s, p, name=self._name(node), src=src))

    def _weights(self, node, data):
        op, a = node.op_type, _attrs(node)
        src = self._source(data[0])
        if node.input[0] != data[0]:
            raise NetworkError(f"the data operand must come first, not a constant {shown(node.input[0])}")
        weight = self.shapes.get(node.input[1]) if len(node.input) > 1 else None
        if weight is None or None in weight:
            raise NetworkError(f"weight {shown(node.input[1]) if len(node.input) > 1 else ''} has no "
                               "known shape")
        name = self._name(node)
        if op in ("Gemm", "MatMul"):
            if a.get("transA", 0):
                raise NetworkError("transA = 1 is not modelled")
            rank = len(self.shapes.get(data[0]) or [0, 0])
            if len(weight) != 2 or rank != 2:
                raise NetworkError(f"a rank-{rank} input times a {_show(weight)} weight: only "
                                   "[N, features] x [features, out] is modelled")
            features, out = weight[::-1] if a.get("transB", 0) else weight
            c, h, w = self.builder.outputs[src]
            if features != c * h * w:
                raise NetworkError(f"weight shape {_show(weight)} does not take the {c * h * w} "
                                   "input features")
            self._layer(node, self.builder.fc(out, name=name, src=src))
            return
        c, h, w = self.builder.outputs[src]
        if a.get("group", 1) != 1:
            raise NetworkError(f"group = {a['group']}: grouped and depthwise convolutions are not modelled")
        if len(weight) != 4:
            raise NetworkError(f"weight shape {_show(weight)}: only 2-D convolutions are modelled")
        k, s, p = self._window(a, a.get("kernel_shape", weight[2:]), (h, w))
        if weight[op == "Conv"] != c:          # Conv: [out, in, k, k]; ConvTranspose: [in, out, k, k]
            raise NetworkError(f"weight shape {_show(weight)} does not take the {c} input channels")
        if op == "Conv":
            layer = self.builder.conv(weight[0], k, s, p, name=name, src=src)
        else:
            if "output_shape" in a:
                raise NetworkError("the output_shape attribute is not modelled: give pads and "
                                   "output_padding")
            op_ = set(a.get("output_padding", [0, 0]))
            if len(op_) != 1:
                raise NetworkError(f"output_padding = {a['output_padding']}: only one value for both "
                                   "dimensions is modelled")
            layer = self.builder.tconv(weight[1], k, s, p, output_padding=op_.pop(), name=name, src=src)
        self._layer(node, layer)

    def _window(self, a, kernel, size) -> tuple[int, int, int]:
        """(kernel, stride, padding) of a square 2-D window with one stride and one padding."""
        if len(kernel) != 2:
            raise NetworkError(f"kernel_shape = {list(kernel)}: only 2-D windows are modelled")
        k = single(kernel, "kernel", rule="square kernels")
        single(a.get("dilations", 1), "dilations", must=1)
        s = single(a.get("strides", 1), "strides")
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):          # total padding (out - 1) * s + k - n
            pads = [max((-(-n // s) - 1) * s + k - n, 0) / 2 for n in size]
            if any(p != int(p) for p in pads):
                raise NetworkError(f"auto_pad = {auto} pads {size} unevenly: only one padding on "
                                   "every side is modelled")
            return k, s, int(single(pads, "padding"))
        return k, s, 0 if auto == "VALID" else single(a.get("pads", 0), "pads")


def _show(dims) -> str:
    return "unknown" if dims is None else "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
