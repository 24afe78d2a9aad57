"""Neural networks as layer tables: the built-in workloads and a builder that checks shapes.

A :class:`Network` is a flat tuple of :class:`Layer` s, each with its own input shape, so a
layer's cost never depends on how the graph is wired; residual connections appear as ``add``
layers and as layers that read an earlier output (``src``). Layer kinds:

``conv``   2-D convolution, square kernel, symmetric stride and padding.
``tconv``  transposed convolution (ConvTranspose2d semantics, with ``output_padding``).
``fc``     fully connected; a 3-D input is flattened (C*H*W features).
``pool``   max or average pooling (no weights; costed as data movement only).
``add``    element-wise residual add of two equal shapes (no weights).

Shapes are (channels, height, width); fully connected layers have height = width = 1. Batch
normalisation, activations and biases are not modelled (they cost no crossbar work).

:class:`NetBuilder` chains layers the way the built-ins and the network files describe them,
checking every shape; :data:`BUILTIN` lists the built-in networks with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crosstrain.golden.deconv import ConvTranspose, DeconvError, tap_hits
from crosstrain.golden.userinput import shown

KINDS = ("conv", "tconv", "fc", "pool", "add")
WEIGHT_KINDS = ("conv", "tconv", "fc")
# Largest channel count (fc: input features) and pixels per side of any layer's input or output:
# published networks stay below 2^16 channels and 2^13 pixels (gigapixel inputs are tiled).
MAX_SIZE = 1 << 20
# [assumption] Widest weight kernel: published CNN kernels are at most a few tens of taps wide
# (7 in ResNet, 11 in AlexNet); pools may span the whole feature map (global pooling).
MAX_KERNEL = 1024
MAX_NAME_CHARS = 100


class NetworkError(ValueError):
    """An impossible layer or network; one line. ``field`` names the offending key, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Layer:
    """One layer with its input shape; see the module docstring for the kinds."""

    name: str
    kind: str
    in_ch: int
    out_ch: int
    in_h: int = 1
    in_w: int = 1
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    needs_input_error: bool = True   # False when the input is the network input
    # The outputs this layer reads, by layer name ("input" = the network input; an add reads two):
    # the wiring, which a network file or an ONNX export writes back; no part of the cost.
    inputs: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise NetworkError(f"layer {self.name}: unknown type {shown(self.kind)}; use one of "
                               + ", ".join(KINDS), "type")
        top = MAX_KERNEL if self.kind in WEIGHT_KINDS else MAX_SIZE
        for key, lo, hi in (("in_ch", 1, MAX_SIZE), ("out_ch", 1, MAX_SIZE), ("in_h", 1, MAX_SIZE),
                            ("in_w", 1, MAX_SIZE), ("kernel", 1, top), ("stride", 1, MAX_SIZE),
                            ("padding", 0, MAX_SIZE), ("output_padding", 0, MAX_SIZE)):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise NetworkError(f"layer {self.name}: {key} = {shown(v)} is not allowed: an integer "
                                   f"from {lo} to {hi:,}", key)
        # Padding rows beyond the kernel only add outputs that see no input (conv) or crop
        # more than a tap adds (tconv); a pool pads at most half its window (as PyTorch).
        most = self.kernel // 2 if self.kind == "pool" else self.kernel - 1
        if self.padding > most:
            raise NetworkError(f"layer {self.name}: padding = {self.padding} is not allowed with kernel "
                               f"{self.kernel}: at most {most}", "padding")
        if self.kind == "tconv" and self.output_padding >= self.stride:
            raise NetworkError(f"layer {self.name}: output_padding = {self.output_padding} must be "
                               f"below stride ({self.stride})", "output_padding")
        if self.kind != "tconv" and self.output_padding:
            raise NetworkError(f"layer {self.name}: output_padding only applies to tconv layers",
                               "output_padding")
        if self.kind == "tconv":
            try:
                conv_transpose(self)
            except DeconvError as e:
                raise NetworkError(f"layer {self.name}: {e}", str(e).split(" ", 1)[0]) from None
        if self.out_h < 1 or self.out_w < 1:
            raise NetworkError(f"layer {self.name}: kernel {self.kernel}, stride {self.stride} and "
                               f"padding {self.padding} leave no output from a {self.in_h} x "
                               f"{self.in_w} input", "kernel")
        if max(self.out_h, self.out_w) > MAX_SIZE:
            raise NetworkError(f"layer {self.name}: a {self.out_h} x {self.out_w} output is not "
                               f"allowed: at most {MAX_SIZE:,} pixels per side", "stride")
        if self.kind in ("pool", "add") and self.out_ch != self.in_ch:
            raise NetworkError(f"layer {self.name}: a {self.kind} layer keeps its {self.in_ch} "
                               f"channels, not {self.out_ch}", "out_ch")
        if self.kind == "fc" and (self.in_h, self.in_w, self.kernel) != (1, 1, 1):
            raise NetworkError(f"layer {self.name}: fc layers take a flat input", "kernel")

    @property
    def out_h(self) -> int:
        return _out_size(self, self.in_h)

    @property
    def out_w(self) -> int:
        return _out_size(self, self.in_w)

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (self.in_ch, self.in_h, self.in_w)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.out_ch, self.out_h, self.out_w)

    @property
    def has_weights(self) -> bool:
        return self.kind in WEIGHT_KINDS

    @property
    def weights(self) -> int:
        """Weight count (no biases)."""
        return self.in_ch * self.out_ch * self.kernel ** 2 if self.has_weights else 0

    @property
    def macs(self) -> int:
        """Dense multiply-adds of one forward pass of one sample, as a GPU library issues them:
        every kernel tap of every output (conv, padding included) or of every input (tconv)."""
        if self.kind == "conv" or self.kind == "fc":
            return self.out_h * self.out_w * self.weights
        if self.kind == "tconv":
            return self.in_h * self.in_w * self.weights
        return 0

    @property
    def input_values(self) -> int:
        return self.in_ch * self.in_h * self.in_w

    @property
    def output_values(self) -> int:
        return self.out_ch * self.out_h * self.out_w


def _out_size(layer: Layer, n: int) -> int:
    k, s, p = layer.kernel, layer.stride, layer.padding
    if layer.kind in ("conv", "pool"):
        return (n + 2 * p - k) // s + 1
    if layer.kind == "tconv":
        return (n - 1) * s - 2 * p + k + layer.output_padding
    return n


def useful_taps(n_in: int, k: int, s: int, p: int, n_out: int) -> int:
    """Kernel taps that read a real input, summed over the convolution outputs along one
    dimension (closed form: :func:`crosstrain.golden.deconv.tap_hits`).

    Output ``o`` reads input ``o*s - p + t`` with tap ``t``; taps landing on padding are not
    useful. (Transposed convolutions: :func:`crosstrain.golden.zeroskip.useful_macs`.)
    """
    return tap_hits(n_out, k, s, p, p + n_in)


def conv_transpose(layer: "Layer") -> ConvTranspose:
    """The :class:`crosstrain.golden.deconv.ConvTranspose` of a ``tconv`` layer (one sample)."""
    return ConvTranspose(in_channels=layer.in_ch, out_channels=layer.out_ch, kernel=layer.kernel,
                         stride=layer.stride, padding=layer.padding,
                         output_padding=layer.output_padding, height=layer.in_h, width=layer.in_w)


@dataclass(frozen=True)
class Network:
    name: str
    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int]
    dataset: str = ""
    description: str = ""

    @property
    def weight_layers(self) -> tuple[Layer, ...]:
        return tuple(l for l in self.layers if l.has_weights)

    @property
    def weights(self) -> int:
        return sum(l.weights for l in self.layers)

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers)


class NetBuilder:
    """Chains layers from an input shape, checking every shape.

    Each method adds one layer reading the previous layer's output, or the output of the
    layer named ``src`` ("input" = the network input), or an explicit ``in_shape`` (a tuple
    whose ``None`` entries are taken from the chained shape). Layers get ``kindN`` names
    unless named; names must be unique.
    """

    def __init__(self, name: str, input_shape, *, dataset: str = "", description: str = ""):
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool)
                                      and 1 <= v <= MAX_SIZE for v in shape):
            raise NetworkError(f"network input {shown(list(input_shape))} is not allowed: three "
                               f"integers [channels, height, width] from 1 to {MAX_SIZE:,}", "input")
        self.name, self.dataset, self.description = name, dataset, description
        self.input_shape = shape
        self.layers: list[Layer] = []
        self.outputs = {"input": shape}
        self.last = "input"

    def _input(self, src, in_shape):
        if src is not None and src not in self.outputs:
            names = list(self.outputs)
            raise NetworkError(f"unknown source layer {shown(src)}; earlier layers are: "
                               + ("…, " if len(names) > 10 else "") + ", ".join(names[-10:]), "from")
        src = self.last if src is None else src
        base = self.outputs[src]
        if in_shape is not None:
            base = tuple(b if g is None else g for g, b in zip(in_shape, base))
        return base, src

    def add_layer(self, kind, *, out_ch=None, kernel=1, stride=1, padding=0, output_padding=0,
                  name=None, src=None, in_shape=None, other=None) -> Layer:
        """One layer of ``kind``; ``other`` is the second input of an ``add`` (see :meth:`add`)."""
        (c, h, w), src = self._input(src, in_shape)
        name = name or f"{kind}{len(self.layers) + 1}"
        if not (len(name) <= MAX_NAME_CHARS and name.isprintable()):
            raise NetworkError(f"layer name {shown(name)} is not allowed: at most {MAX_NAME_CHARS} "
                               "printable characters", "name")
        if name in self.outputs:
            raise NetworkError(f"layer name {name!r} is used twice", "name")
        if kind == "fc":
            c, h, w = c * h * w, 1, 1
        if kind in ("pool", "add"):
            out_ch = c if out_ch is None else out_ch
        if out_ch is None:
            raise NetworkError(f"layer {name}: a {kind} layer needs out_ch", "out_ch")
        layer = Layer(name=name, kind=kind, in_ch=c, out_ch=out_ch, in_h=h, in_w=w, kernel=kernel,
                      stride=stride, padding=padding, output_padding=output_padding,
                      needs_input_error=src != "input",
                      inputs=(src,) if other is None else (src, other))
        self.layers.append(layer)
        self.outputs[name] = layer.out_shape
        self.last = name
        return layer

    def conv(self, out_ch, kernel, stride=1, padding=0, **kw):
        return self.add_layer("conv", out_ch=out_ch, kernel=kernel, stride=stride, padding=padding, **kw)

    def tconv(self, out_ch, kernel, stride=1, padding=0, output_padding=0, **kw):
        return self.add_layer("tconv", out_ch=out_ch, kernel=kernel, stride=stride, padding=padding,
                              output_padding=output_padding, **kw)

    def fc(self, out_ch, **kw):
        return self.add_layer("fc", out_ch=out_ch, **kw)

    def pool(self, kernel, stride=None, padding=0, **kw):
        return self.add_layer("pool", kernel=kernel, stride=stride or kernel, padding=padding, **kw)

    def add(self, other, **kw):
        """Residual add of the previous output (or of layer ``src``) and the output of layer
        ``other``."""
        if other not in self.outputs:
            raise NetworkError(f"unknown source layer {shown(other)} for add", "from")
        first = kw.get("src") or self.last
        mine = self.outputs.get(first)
        if mine is not None and self.outputs[other] != mine:
            raise NetworkError(f"add: shapes differ: {first} gives {list(mine)}, {other} gives "
                               f"{list(self.outputs[other])}", "from")
        return self.add_layer("add", other=other, **kw)

    def build(self) -> Network:
        if not self.layers:
            raise NetworkError(f"network {shown(self.name)} has no layers", "layer")
        return Network(name=self.name, layers=tuple(self.layers), input_shape=self.input_shape,
                       dataset=self.dataset, description=self.description)


# ---- built-in networks ------------------------------------------------------------------------

def mlp(sizes, *, name: str = "", source: str = "") -> Network:
    """Fully connected layers ``sizes[0] -> sizes[1] -> ...`` (``fc1``, ``fc2``, ...)."""
    text = "-".join(map(str, sizes))
    b = NetBuilder(name or f"mlp-{text}", (sizes[0], 1, 1),
                   description=f"MLP {text}" + (f" ({source})" if source else ""))
    for i, n in enumerate(sizes[1:], 1):
        b.fc(n, name=f"fc{i}")
    return b.build()


def mlp_panther() -> Network:
    return mlp((1024, 256, 512, 512, 10), name="mlp-panther", source="PANTHER benchmark MLP")


def mlp_512() -> Network:
    return mlp((512, 512, 512), name="mlp-512", source="PANTHER benchmark MLP")


def vgg8_cifar10() -> Network:
    """NeuroSim V2.1's VGG-8 (NetWork.csv): 3x3 convs, 2x2 max pools, two FC layers."""
    b = NetBuilder("vgg8-cifar10", (3, 32, 32), dataset="CIFAR-10",
                   description="VGG-8 of NeuroSim V2.1 (NetWork.csv)")
    for i, (ch, pool) in enumerate([(128, 0), (128, 1), (256, 0), (256, 1), (512, 0), (512, 1)], 1):
        b.conv(ch, 3, 1, 1, name=f"conv{i}")
        if pool:
            b.pool(2, name=f"pool{i}")
    b.fc(1024, name="fc1")
    b.fc(10, name="fc2")
    return b.build()


def vgg16_imagenet() -> Network:
    """VGG-16 (configuration D of Simonyan & Zisserman 2015), 224 x 224 input."""
    b = NetBuilder("vgg16-imagenet", (3, 224, 224), dataset="ImageNet",
                   description="VGG-16 (configuration D)")
    n = 0
    for stage, (ch, reps) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for _ in range(reps):
            n += 1
            b.conv(ch, 3, 1, 1, name=f"conv{n}")
        b.pool(2, name=f"pool{stage}")
    b.fc(4096, name="fc1")
    b.fc(4096, name="fc2")
    b.fc(1000, name="fc3")
    return b.build()


def _resnet18(name, shape, classes, dataset, imagenet):
    """ResNet-18 (He et al. 2016): basic blocks [2, 2, 2, 2]; the CIFAR form has a 3x3 stem and no
    max pool, the ImageNet form a 7x7 stride-2 stem and a 3x3 stride-2 max pool."""
    b = NetBuilder(name, shape, dataset=dataset, description=f"ResNet-18 for {dataset}")
    if imagenet:
        b.conv(64, 7, 2, 3, name="conv1")
        b.pool(3, 2, 1, name="maxpool")
    else:
        b.conv(64, 3, 1, 1, name="conv1")
    ch = 64
    for stage, out in enumerate([64, 128, 256, 512], 1):
        for blk in range(2):
            stride = 2 if stage > 1 and blk == 0 else 1
            block_in, p = b.last, f"layer{stage}.{blk}"
            b.conv(out, 3, stride, 1, name=f"{p}.conv1")
            b.conv(out, 3, 1, 1, name=f"{p}.conv2")
            if stride != 1 or out != ch:
                main = b.last
                b.conv(out, 1, stride, 0, name=f"{p}.downsample", src=block_in)
                b.add(main, name=f"{p}.add")
            else:
                b.add(block_in, name=f"{p}.add")
            ch = out
    b.pool(b.outputs[b.last][1], name="avgpool")
    b.fc(classes, name="fc")
    return b.build()


def resnet18_cifar10() -> Network:
    return _resnet18("resnet18-cifar10", (3, 32, 32), 10, "CIFAR-10", imagenet=False)


def resnet18_imagenet() -> Network:
    return _resnet18("resnet18-imagenet", (3, 224, 224), 1000, "ImageNet", imagenet=True)


def dcgan_generator() -> Network:
    """PyTorch DCGAN example generator (nz=100, ngf=64): 1x1 -> 64x64 by transposed convs."""
    b = NetBuilder("dcgan-generator", (100, 1, 1), dataset="64x64 images",
                   description="DCGAN generator (PyTorch example, nz=100, ngf=64)")
    b.tconv(512, 4, 1, 0, name="tconv1")
    for i, ch in enumerate([256, 128, 64, 3], 2):
        b.tconv(ch, 4, 2, 1, name=f"tconv{i}")
    return b.build()


def dcgan_discriminator() -> Network:
    """PyTorch DCGAN example discriminator (ndf=64): 64x64 -> 1 by stride-2 4x4 convs."""
    b = NetBuilder("dcgan-discriminator", (3, 64, 64), dataset="64x64 images",
                   description="DCGAN discriminator (PyTorch example, ndf=64)")
    for i, ch in enumerate([64, 128, 256, 512], 1):
        b.conv(ch, 4, 2, 1, name=f"conv{i}")
    b.conv(1, 4, 1, 0, name="conv5")
    return b.build()


BUILTIN = {f.__name__.replace("_", "-"): f for f in (
    mlp_panther, mlp_512, vgg8_cifar10, vgg16_imagenet, resnet18_cifar10, resnet18_imagenet,
    dcgan_generator, dcgan_discriminator)}


@dataclass(frozen=True)
class Gan:
    """A generator and a discriminator trained against each other: ``crosstrain estimate``
    costs one GAN training iteration of the pair (crosstrain.rollup.gan lists its passes).

    The properties ``estimate``'s JSON reports of a network cover both models: the input is the
    generator's noise, the layers are the generator's then the discriminator's, ``macs`` is one
    sample's forward pass through both.
    """

    name: str
    generator: Network
    discriminator: Network
    description: str = ""

    def __post_init__(self):
        made, taken = self.generator.layers[-1].out_shape, self.discriminator.input_shape
        if made != taken:
            raise NetworkError(f"GAN {self.name}: the generator makes {list(made)} but the "
                               f"discriminator takes {list(taken)}", "input")

    @property
    def dataset(self) -> str:
        return self.discriminator.dataset

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.generator.input_shape

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self.generator.layers + self.discriminator.layers

    @property
    def weight_layers(self) -> tuple[Layer, ...]:
        return self.generator.weight_layers + self.discriminator.weight_layers

    @property
    def weights(self) -> int:
        return self.generator.weights + self.discriminator.weights

    @property
    def macs(self) -> int:
        return self.generator.macs + self.discriminator.macs


def dcgan() -> Gan:
    """The PyTorch DCGAN example's generator and discriminator, trained together."""
    return Gan("dcgan", dcgan_generator(), dcgan_discriminator(),
               "DCGAN of the PyTorch example: generator nz=100, ngf=64 and discriminator ndf=64")


#: Built-in GANs (``--network`` of ``crosstrain estimate``; not single networks).
GANS = {"dcgan": dcgan}


def builtin(name: str) -> Network:
    """A built-in network by name (see :data:`BUILTIN`)."""
    if name not in BUILTIN:
        also = f" (GANs: {', '.join(GANS)}, in crosstrain estimate only)" if name in GANS else ""
        raise NetworkError(f"unknown network {shown(name)}: built-in networks are {', '.join(BUILTIN)}, "
                           f"or give a .csv, .toml or .onnx file{also}")
    return BUILTIN[name]()
