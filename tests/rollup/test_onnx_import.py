"""ONNX models in: small graphs built here with onnx.helper the way PyTorch exports the networks
(conv + batch norm + activation, biases, flatten, residual adds), checked against the built-in
definitions of the same networks, and one error line for every model the layer table cannot hold."""

import numpy as np
import pytest

from crosstrain.rollup import onnx_import
from crosstrain.rollup.network_files import load
from crosstrain.rollup.networks import NetworkError, builtin

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def geometry(net):
    """What the cost depends on, layer by layer (names differ between exporters)."""
    return [(l.kind, l.in_shape, l.out_shape, l.kernel, l.stride, l.padding, l.output_padding,
             l.needs_input_error) for l in net.layers]


class Graph:
    """A tiny ONNX graph writer: ``x`` is the current tensor, ``c`` its channels. Weights are
    initializers (with values) or, as ``torch.onnx.export(export_params=False)`` writes them,
    graph inputs with shapes only (the large networks: no megabytes of zeros)."""

    def __init__(self, shape, *, weights_as_inputs=False):
        self.nodes, self.inits, self.params = [], [], []
        self.inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape])]
        self.x, self.c, self.n = "x", shape[0], 0
        self.weights_as_inputs = weights_as_inputs

    def _t(self, stem):
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, dims, stem="w"):
        name = self._t(stem)
        if self.weights_as_inputs:
            self.params.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
        else:
            self.inits.append(numpy_helper.from_array(np.zeros(dims, np.float32), name))
        return name

    def node(self, op, inputs, name=None, **attrs):
        out = self._t(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=name or out, **attrs))
        self.x = out
        return out

    def conv(self, out, k, s=1, p=0, *, bias=False, transpose=False, output_padding=0, name=None,
             x=None, **attrs):
        dims = [self.c, out, k, k] if transpose else [out, self.c, k, k]
        ins = [x or self.x, self.const(dims)] + ([self.const([out], "b")] if bias else [])
        if transpose and output_padding:
            attrs["output_padding"] = [output_padding] * 2
        self.c = out
        return self.node("ConvTranspose" if transpose else "Conv", ins, name, kernel_shape=[k, k],
                         strides=[s, s], pads=[p] * 4, **attrs)

    def bn(self):
        return self.node("BatchNormalization", [self.x] + [self.const([self.c], "bn") for _ in range(4)])

    def act(self, op="Relu", **attrs):
        return self.node(op, [self.x], **attrs)

    def pool(self, op, k, s, p=0, name=None):
        return self.node(op, [self.x], name, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)

    def gemm(self, features, out, bias=True):
        ins = [self.x, self.const([out, features])] + ([self.const([out], "b")] if bias else [])
        self.c = out
        return self.node("Gemm", ins, transB=1)

    def model(self):
        """The model, its output typed by ONNX's own shape inference (the checker wants a shape)."""
        graph = helper.make_graph(self.nodes, "test", self.inputs + self.params, [],
                                  initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        typed = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(model).graph.value_info}
        model.graph.output.append(typed[self.x])
        return model


def vgg8_onnx(**kw):
    """VGG-8 as PyTorch exports it: conv(bias) + BN + ReLU, max pools, flatten, Gemm + ReLU + dropout."""
    g = Graph((3, 32, 32), **kw)
    for ch, pool in [(128, 0), (128, 1), (256, 0), (256, 1), (512, 0), (512, 1)]:
        g.conv(ch, 3, 1, 1, bias=True)
        g.bn()
        g.act()
        if pool:
            g.pool("MaxPool", 2, 2)
    g.node("Flatten", [g.x], axis=1)
    g.gemm(8192, 1024)
    g.act()
    g.node("Dropout", [g.x])
    g.gemm(1024, 10)
    return g.model()


def resnet18_cifar_onnx():
    """torchvision-style ResNet-18 with a CIFAR stem: per block conv-BN-ReLU-conv-BN, the
    downsample conv-BN, Add, ReLU; global average pool, flatten, Gemm."""
    g = Graph((3, 32, 32), weights_as_inputs=True)
    g.conv(64, 3, 1, 1)
    g.bn()
    g.act()
    for stage, out in enumerate([64, 128, 256, 512], 1):
        for blk in range(2):
            stride = 2 if stage > 1 and blk == 0 else 1
            block_in, c_in = g.x, g.c
            g.conv(out, 3, stride, 1)
            g.bn()
            g.act()
            g.conv(out, 3, 1, 1)
            main = g.bn()
            shortcut = block_in
            if stride != 1 or out != c_in:
                g.c = c_in
                g.conv(out, 1, stride, 0, x=block_in)
                shortcut = g.bn()
            g.node("Add", [main, shortcut])
            g.act()
    g.node("GlobalAveragePool", [g.x])
    g.node("Flatten", [g.x], axis=1)
    g.gemm(512, 10)
    return g.model()


def dcgan_onnx():
    """The PyTorch DCGAN example: generator (ConvTranspose + BN + ReLU, Tanh) and discriminator
    (Conv + BN + LeakyReLU, Sigmoid), no biases."""
    gen = Graph((100, 1, 1), weights_as_inputs=True)
    gen.conv(512, 4, 1, 0, transpose=True)
    for ch in (256, 128, 64):
        gen.bn()
        gen.act()
        gen.conv(ch, 4, 2, 1, transpose=True)
    gen.act()
    gen.conv(3, 4, 2, 1, transpose=True)
    gen.act("Tanh")
    disc = Graph((3, 64, 64), weights_as_inputs=True)
    for i, ch in enumerate((64, 128, 256, 512)):
        disc.conv(ch, 4, 2, 1)
        if i:
            disc.bn()
        disc.act("LeakyRelu", alpha=0.2)
    disc.conv(1, 4, 1, 0)
    disc.act("Sigmoid")
    return gen.model(), disc.model()


def test_vgg8_is_the_builtin():
    assert geometry(onnx_import.from_model(vgg8_onnx(weights_as_inputs=True))) == \
        geometry(builtin("vgg8-cifar10"))


def test_resnet18_is_the_builtin():
    net = onnx_import.from_model(resnet18_cifar_onnx())
    assert geometry(net) == geometry(builtin("resnet18-cifar10"))
    adds = [l for l in net.layers if l.kind == "add"]
    assert len(adds) == 8 and all(len(l.inputs) == 2 for l in adds)


def test_dcgan_is_the_builtin():
    gen, disc = dcgan_onnx()
    assert geometry(onnx_import.from_model(gen)) == geometry(builtin("dcgan-generator"))
    assert geometry(onnx_import.from_model(disc)) == geometry(builtin("dcgan-discriminator"))


def test_conv_bn_relu_pool_gemm_file_with_weights(tmp_path):
    """Initializers with values, a bias Add after MatMul, a network name from the file."""
    g = Graph((1, 8, 8))
    g.conv(4, 3, 1, 1, bias=True, name="c1")
    g.bn()
    g.act()
    g.pool("AveragePool", 2, 2, name="p1")
    g.node("Reshape", [g.x, _shape(g, [-1, 64])])
    g.node("MatMul", [g.x, g.const([64, 10])], name="head")
    g.node("Add", [g.x, g.const([10], "b")])
    f = tmp_path / "tiny.onnx"
    onnx.save(g.model(), f)
    net = load(f)
    assert net.name == "tiny" and net.input_shape == (1, 8, 8)
    assert [(l.name, l.kind, l.out_shape) for l in net.layers] == [
        ("c1", "conv", (4, 8, 8)), ("p1", "pool", (4, 4, 4)), ("head", "fc", (10, 1, 1))]
    assert net.layers[2].in_ch == 4 * 4 * 4 and not net.layers[0].needs_input_error


def _shape(g, dims):
    name = g._t("shape")
    g.inits.append(numpy_helper.from_array(np.array(dims, np.int64), name))
    return name


def test_conv_transpose_output_padding_and_same_padding():
    g = Graph((8, 4, 4))
    g.conv(4, 3, 2, 1, transpose=True, output_padding=1)       # (4-1)*2 - 2 + 3 + 1 = 8
    g.node("Conv", [g.x, g.const([2, 4, 3, 3])], kernel_shape=[3, 3], auto_pad="SAME_UPPER")
    net = onnx_import.from_model(g.model())
    assert [(l.kind, l.out_shape, l.padding, l.output_padding) for l in net.layers] == [
        ("tconv", (4, 8, 8), 1, 1), ("conv", (2, 8, 8), 1, 0)]


def test_shape_arithmetic_before_reshape_is_no_layer():
    """x.view(x.size(0), -1) in the old exporter: Shape, Gather, Unsqueeze, Concat, Reshape."""
    g = Graph((2, 4, 4))
    g.conv(3, 3, 1, 1)
    conv = g.x
    shape = g.node("Shape", [conv])
    g.inits.append(numpy_helper.from_array(np.array(0, np.int64), "zero"))
    batch = g.node("Gather", [shape, "zero"], axis=0)
    g.inits.append(numpy_helper.from_array(np.array([0], np.int64), "axes"))
    n = g.node("Unsqueeze", [batch, "axes"])
    g.inits.append(numpy_helper.from_array(np.array([-1], np.int64), "minus1"))
    dims = g.node("Concat", [n, "minus1"], axis=0)
    g.node("Reshape", [conv, dims])
    g.gemm(48, 5, bias=False)
    net = onnx_import.from_model(g.model())
    assert [(l.kind, l.in_shape, l.out_shape) for l in net.layers] == [
        ("conv", (2, 4, 4), (3, 4, 4)), ("fc", (48, 1, 1), (5, 1, 1))]


def test_input_normalisation_is_no_layer():
    """(x - mean) / std before the stem: the stem still reads the network input (no input error)."""
    g = Graph((3, 8, 8))
    g.node("Sub", [g.x, g.const([1, 3, 1, 1], "mean")])
    g.node("Div", [g.x, g.const([1, 3, 1, 1], "std")])
    g.conv(4, 3, 1, 1)
    net = onnx_import.from_model(g.model())
    assert [(l.kind, l.needs_input_error) for l in net.layers] == [("conv", False)]


def test_product_of_two_layer_outputs():
    g = Graph((2, 4, 4))
    a = g.conv(2, 1)
    g.node("Mul", ["x", a], name="gate")
    assert "node 'gate' (Mul): an element-wise Mul of two layer outputs" in _error(g.model())


def _error(model) -> str:
    with pytest.raises(NetworkError) as e:
        onnx_import.from_model(model, "m.onnx")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("m.onnx: ")
    return msg


def test_unsupported_operator_is_one_line_naming_node_and_operator():
    g = Graph((2, 4, 4))
    g.conv(2, 3, 1, 1)
    g.node("Resize", [g.x, "", _shape_f(g, [1, 1, 2, 2])], name="up", mode="nearest")
    assert "node 'up' (Resize): operator Resize is not supported" in _error(g.model())


def _shape_f(g, scales):
    name = g._t("scales")
    g.inits.append(numpy_helper.from_array(np.array(scales, np.float32), name))
    return name


@pytest.mark.parametrize("attrs, words", [
    ({"group": 2}, "group = 2"),
    ({"dilations": [2, 2]}, "dilations = [2, 2]"),
    ({"strides": [1, 2]}, "strides = [1, 2]"),
])
def test_conv_attribute_the_table_cannot_hold(attrs, words):
    g = Graph((4, 8, 8))
    w = g.const([4, 4 // attrs.get("group", 1), 3, 3])
    g.node("Conv", [g.x, w], name="odd", kernel_shape=[3, 3], **attrs)
    msg = _error(g.model())
    assert "node 'odd' (Conv)" in msg and words in msg


def test_non_square_kernel():
    g = Graph((4, 8, 8))
    g.node("Conv", [g.x, g.const([4, 4, 3, 1])], name="k31", kernel_shape=[3, 1])
    assert "kernel = [3, 1]: only square kernels is modelled" in _error(g.model())


def test_reshape_that_is_not_a_flatten():
    g = Graph((4, 4, 4))
    g.conv(4, 1)
    g.node("Reshape", [g.x, _shape(g, [-1, 16, 2, 2])], name="fold")
    assert "node 'fold' (Reshape): reshaping [N, 4, 4, 4] to [?, 16, 2, 2]" in _error(g.model())


def test_two_data_inputs():
    g = Graph((2, 4, 4))
    g.inputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 4, 4]))
    g.node("Add", ["x", "y"])
    assert "2 data inputs (x, y)" in _error(g.model())


def test_matmul_of_two_activations():
    g = Graph((4, 1, 1))
    g.inputs[0] = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    a = g.node("Relu", ["x"])
    g.node("MatMul", ["x", a], name="mm")
    assert "node 'mm' (MatMul)" in _error(g.model())


def test_not_an_onnx_file_is_one_line(tmp_path):
    f = tmp_path / "junk.onnx"
    f.write_bytes(b"name,type\nconv1,conv\n")
    with pytest.raises(NetworkError) as e:
        load(f)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{f}: not ") and "ONNX model" in msg


def test_missing_file(tmp_path):
    with pytest.raises(NetworkError, match="cannot read network file .*nope.onnx"):
        load(tmp_path / "nope.onnx")


def test_without_onnx_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    with pytest.raises(NetworkError, match=r"pip install 'crosstrain\[onnx\]'"):
        load(tmp_path / "m.onnx")
