"""Networks from PyTorch modules: ``crosstrain.import_torch(module, example_input)``.

The module is traced with ``torch.fx`` (``symbolic_trace``) and run once on ``example_input``
(``ShapeProp``) for every tensor's shape; the nodes map to layers as ONNX operators do
(:mod:`crosstrain.rollup.onnx_import`): ``nn.Conv2d`` -> ``conv``, ``nn.ConvTranspose2d`` ->
``tconv``, ``nn.Linear`` -> ``fc``, ``nn.MaxPool2d`` / ``nn.AvgPool2d`` /
``nn.Adaptive{Max,Avg}Pool2d`` (an output that divides the input) -> ``pool``, ``+`` of two
tensors -> ``add``; batch norms, activations, dropout, ``nn.Identity``, flattening (``nn.Flatten``,
``torch.flatten``, ``.view`` / ``.reshape`` to ``[N, features]``), a ``+`` of a constant and every
non-tensor value (``x.size(0)``) make no layer. Anything else is one :class:`NetworkError` line
naming the node and what it calls. PyTorch is optional (the ``torch`` extra); without it the
call raises an ImportError naming ``pip install 'crosstrain[torch]'``.
"""

from __future__ import annotations

import operator

from crosstrain.golden.userinput import shown
from crosstrain.rollup.networks import NetBuilder, Network, NetworkError
from crosstrain.rollup.onnx_import import per_sample, single

INSTALL = "pip install 'crosstrain[torch]'"
NO_WORK_MODULES = ("BatchNorm1d", "BatchNorm2d", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "Sigmoid",
                   "Hardsigmoid", "Tanh", "Hardtanh", "ELU", "SELU", "CELU", "GELU", "SiLU",
                   "Hardswish", "Mish", "Softplus", "Softmax", "LogSoftmax", "Dropout", "Dropout2d",
                   "Identity")
NO_WORK_FUNCTIONS = ("relu", "relu_", "relu6", "leaky_relu", "sigmoid", "hardsigmoid", "tanh",
                     "hardtanh", "elu", "selu", "celu", "gelu", "silu", "hardswish", "mish",
                     "softplus", "softmax", "log_softmax", "dropout", "batch_norm", "contiguous")
FLATTENS = ("Flatten", "flatten", "view", "reshape")


def from_module(module, example_input, name: str | None = None) -> Network:
    """The network of ``module`` (a ``torch.nn.Module``) run on ``example_input`` (one tensor,
    ``[N, C, H, W]`` or ``[N, features]``); ``name`` defaults to the module's class name."""
    try:
        import torch
        from torch.fx import symbolic_trace
        from torch.fx.passes.shape_prop import ShapeProp
    except ImportError:
        raise ImportError(f"import_torch needs PyTorch, the `torch` extra: {INSTALL}") from None
    if not isinstance(module, torch.nn.Module):
        raise NetworkError(f"module = {type(module).__name__}: expected a torch.nn.Module")
    if not isinstance(example_input, torch.Tensor):
        raise NetworkError(f"example_input = {type(example_input).__name__}: expected one tensor, "
                           "[N, C, H, W] or [N, features]")
    name = name or type(module).__name__
    try:
        traced = symbolic_trace(module)
    except Exception as e:          # TraceError and what tracing raises from user code
        raise NetworkError(f"{name}: torch.fx cannot trace the module: {_first_line(e)}") from None
    try:
        with torch.no_grad():
            ShapeProp(traced).propagate(example_input)
    except Exception as e:          # the module's own error on this input
        raise NetworkError(f"{name}: the module fails on the example input "
                           f"{list(example_input.shape)}: {_first_line(e)}") from None
    return _Walk(traced, name).network()


def _first_line(e: Exception) -> str:
    return next((l.strip() for l in str(e).splitlines() if l.strip()), type(e).__name__)


def _shape(node):
    meta = node.meta.get("tensor_meta") if hasattr(node, "meta") else None
    return list(meta.shape) if meta is not None and hasattr(meta, "shape") else None


class _Walk:
    """``where`` maps each traced tensor node to the builder output holding it."""

    def __init__(self, traced, name):
        self.traced, self.name = traced, name
        self.modules = dict(traced.named_modules())
        self.where: dict = {}

    def network(self) -> Network:
        inputs = [n for n in self.traced.graph.nodes if n.op == "placeholder"]
        if len(inputs) != 1:
            raise NetworkError(f"{self.name}: forward() takes {len(inputs)} inputs; one network "
                               "input is modelled")
        shape = per_sample(_shape(inputs[0]))
        if shape is None:
            raise NetworkError(f"{self.name}: example input shape {_shape(inputs[0])}: expected "
                               "[N, C, H, W] or [N, features]")
        self.builder = NetBuilder(self.name, shape, description="PyTorch module (torch.fx)")
        self.where[inputs[0]] = "input"
        for node in self.traced.graph.nodes:
            if node.op in ("placeholder", "output", "get_attr") or _shape(node) is None:
                continue                            # inputs, parameters, sizes: no layer
            try:
                self._node(node)
            except NetworkError as e:
                who = node.target if node.op == "call_module" else node.name
                raise NetworkError(f"{self.name}: node {shown(who)} ({self._what(node)}): {e}",
                                   e.field) from None
        return self.builder.build()

    def _what(self, node) -> str:
        if node.op == "call_module":
            return type(self.modules[node.target]).__name__
        return getattr(node.target, "__name__", str(node.target))

    def _tensors(self, node):
        return [a for a in node.args if hasattr(a, "op") and _shape(a) is not None]

    def _source(self, arg) -> str:
        if arg not in self.where:
            raise NetworkError(f"input {shown(arg.name)} is not the output of a modelled layer")
        return self.where[arg]

    def _node(self, node):
        what = self._what(node)
        data = self._tensors(node)
        if what in ("add", "iadd") and node.op != "call_module" and len(data) == 2:
            a, b = (self._source(x) for x in data)
            self._layer(node, self.builder.add(b, src=a, name=node.name))
        elif what in ("add", "iadd") and node.op != "call_module" or what in NO_WORK_MODULES \
                or (node.op != "call_module" and what in NO_WORK_FUNCTIONS):
            self.where[node] = self._source(data[0])
        elif what in FLATTENS:
            src = self._source(data[0])
            c, h, w = self.builder.outputs[src]
            out = _shape(node)
            if per_sample(out) not in ((c * h * w, 1, 1), (c, h, w)):
                raise NetworkError(f"reshaping [N, {c}, {h}, {w}] to {out}: only flattening to "
                                   f"[N, {c * h * w}] is modelled")
            self.where[node] = src
        elif node.op == "call_module":
            self._module(node, self.modules[node.target], self._source(data[0]))
        else:
            raise NetworkError(f"{what} is not supported; supported: nn.Conv2d, nn.ConvTranspose2d, "
                               "nn.Linear, pooling, +, flattening, batch norm, activations, dropout")

    def _module(self, node, m, src):
        kind = type(m).__name__
        c, h, w = self.builder.outputs[src]
        name = node.target if node.target not in self.builder.outputs else node.name   # reused module
        if kind == "Linear":
            if len(_shape(node.args[0])) != 2:
                raise NetworkError(f"an input of shape {_shape(node.args[0])}: only [N, features] "
                                   "is modelled")
            layer = self.builder.fc(m.out_features, name=name, src=src)
        elif kind in ("Conv2d", "ConvTranspose2d"):
            if m.groups != 1:
                raise NetworkError(f"groups = {m.groups}: grouped and depthwise convolutions are "
                                   "not modelled")
            single(m.dilation, "dilation", must=1)
            k = single(m.kernel_size, "kernel", rule="square kernels")
            s = single(m.stride, "stride")
            p = (k - 1) // 2 if m.padding == "same" else 0 if m.padding == "valid" else \
                single(m.padding, "padding")
            if m.padding == "same" and k % 2 == 0:
                raise NetworkError(f"padding 'same' with an even kernel {k} pads unevenly")
            if kind == "Conv2d":
                layer = self.builder.conv(m.out_channels, k, s, p, name=name, src=src)
            else:
                layer = self.builder.tconv(m.out_channels, k, s, p, name=name, src=src,
                                           output_padding=single(m.output_padding, "output_padding"))
        elif kind in ("MaxPool2d", "AvgPool2d"):
            if kind == "MaxPool2d":
                single(m.dilation, "dilation", must=1)
            k = single(m.kernel_size, "kernel", rule="square kernels")
            s, p = single(m.stride or k, "stride"), single(m.padding, "padding")
            if m.ceil_mode and any((n + 2 * p - k) % s for n in (h, w)):
                raise NetworkError("ceil_mode = True rounds this output up; the layer table rounds down")
            layer = self.builder.pool(k, s, p, name=name, src=src)
        elif kind in ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d"):
            o = single(m.output_size if isinstance(m.output_size, tuple) else (m.output_size,) * 2,
                       "output_size")
            if h != w or o is None or h % o:
                raise NetworkError(f"output_size {m.output_size} of a {h} x {w} input: only a "
                                   "square pool whose output divides the input is modelled")
            layer = self.builder.pool(h // o, name=name, src=src)
        else:
            raise NetworkError(f"nn.{kind} is not supported; supported: nn.Conv2d, "
                               "nn.ConvTranspose2d, nn.Linear, pooling, batch norm, activations, "
                               "dropout, nn.Flatten, nn.Identity")
        self._layer(node, layer)

    def _layer(self, node, layer):
        got = per_sample(_shape(node))
        if got != layer.out_shape:
            raise NetworkError(f"PyTorch gives output shape {list(got or [])}, the {layer.kind} "
                               f"layer {list(layer.out_shape)}")
        self.where[node] = layer.name
