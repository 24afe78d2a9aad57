"""Networks that train on the 8x8 digits: the built-in CNN and MLP, and layer files that fit.

A trainable network is a chain of ``conv``, ``tconv``, ``fc`` and ``pool`` layers (the roll-up's
:class:`crosstrain.rollup.networks.Network`, from a built-in or a layer file,
:func:`crosstrain.rollup.network_files.load`) that reads the digits as (1, 8, 8) images or as 64
flat features and ends in 10 values (the class logits). Every weight layer is one crossbar
matrix without bias; a ReLU follows every weight layer but the last; ``pool`` layers are max
pools. Residual ``add`` layers and layers that read an earlier output are refused.

Matrix of each weight layer (rows x columns, rows are what the MVM sums over):
``conv`` ``k*k*Cin x Cout`` (im2col windows); ``fc`` ``Cin x Cout``; ``tconv`` ``Cin x k*k*Cout``
(each input pixel scatters a ``k x k x Cout`` patch; the patches add up, col2im).
"""

from __future__ import annotations

from crosstrain.rollup import network_files
from crosstrain.rollup.networks import Layer, NetBuilder, Network, NetworkError

IMAGE = (1, 8, 8)
FLAT = (64, 1, 1)
CLASSES = 10
TRAINABLE_KINDS = ("conv", "tconv", "fc", "pool")


def digits_cnn() -> Network:
    """conv 3x3 1->8, ReLU, max-pool 2 -> conv 3x3 8->16, ReLU, max-pool 2 -> fc 64->10."""
    b = NetBuilder("digits-cnn", IMAGE, dataset="8x8 digits", description="digits CNN")
    b.conv(8, 3, 1, 1, name="conv1")
    b.pool(2, name="pool1")
    b.conv(16, 3, 1, 1, name="conv2")
    b.pool(2, name="pool2")
    b.fc(CLASSES, name="fc")
    return b.build()


def digits_mlp() -> Network:
    """64-128-64-10 perceptron (ReLU between layers)."""
    b = NetBuilder("digits-mlp", IMAGE, dataset="8x8 digits", description="digits MLP 64-128-64-10")
    for i, n in enumerate((128, 64, CLASSES), 1):
        b.fc(n, name=f"fc{i}")
    return b.build()


BUILTIN = {"digits-cnn": digits_cnn, "digits-mlp": digits_mlp}


def load(source: str) -> Network:
    """A built-in trainable network by name, or a roll-up network (built-in or file) that fits
    the digits; :class:`NetworkError` (one line) otherwise."""
    net = BUILTIN[source]() if source in BUILTIN else network_files.load(source)
    check(net)
    return net


def check(net: Network) -> None:
    """Raise :class:`NetworkError` naming the first reason ``net`` cannot train on the digits."""
    if net.input_shape not in (IMAGE, FLAT):
        raise NetworkError(f"network {net.name}: input {list(net.input_shape)} does not fit the "
                           f"8x8 digits: use {list(IMAGE)} (images) or {list(FLAT)} (flat)")
    shape = net.input_shape
    for layer in net.layers:
        if layer.kind not in TRAINABLE_KINDS:
            raise NetworkError(f"network {net.name}: layer {layer.name} is a {layer.kind} layer; "
                               "training takes chains of " + ", ".join(TRAINABLE_KINDS))
        flat = (shape[0] * shape[1] * shape[2], 1, 1)
        if layer.in_shape != shape and not (layer.kind == "fc" and layer.in_shape == flat):
            raise NetworkError(f"network {net.name}: layer {layer.name} reads {list(layer.in_shape)}"
                               f" but the layer before gives {list(shape)}; training takes "
                               "chains (each layer reads the previous output)")
        shape = layer.out_shape
    if not net.weight_layers:
        raise NetworkError(f"network {net.name}: no conv, tconv or fc layer to train")
    last = net.layers[-1]
    if last.output_values != CLASSES:
        raise NetworkError(f"network {net.name}: the last layer {last.name} gives "
                           f"{last.output_values} values; the digits need {CLASSES} class logits")


def matrix_shape(layer: Layer) -> tuple[int, int]:
    """Rows x columns of the crossbar matrix of a weight layer (see the module docstring)."""
    k2 = layer.kernel ** 2
    if layer.kind == "conv":
        return k2 * layer.in_ch, layer.out_ch
    if layer.kind == "tconv":
        return layer.in_ch, k2 * layer.out_ch
    return layer.in_ch * layer.in_h * layer.in_w, layer.out_ch


def fan_in(layer: Layer) -> float:
    """Inputs each output sums (He initialization): the rows, or for ``tconv`` the inputs that
    reach one output on average (``Cin * k*k / stride**2``)."""
    if layer.kind == "tconv":
        return max(1.0, layer.in_ch * layer.kernel ** 2 / layer.stride ** 2)
    return float(matrix_shape(layer)[0])
