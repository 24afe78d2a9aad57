"""Transposed-convolution workloads: the DCGAN generator and an FCN-8s-style decoder.

Layer shapes:

- ``dcgan``: the generator of the PyTorch DCGAN example (Radford et al., ICLR 2016; reference
  sheet section 4): z = 100 -> ConvT(100->512, k4 s1 p0) 4x4 -> (512->256, k4 s2 p1) 8x8 ->
  (256->128) 16x16 -> (128->64) 32x32 -> (64->3) 64x64; BatchNorm + ReLU before every layer but
  the first, whose input is the latent vector.
- ``fcn8s``: the upsampling path of FCN-8s (Long et al., CVPR 2015) on a 224x224 image with the
  21 PASCAL VOC classes: 2x (k4 s2) from the 7x7 class scores, fused with the pool4 scores, 2x
  again, fused with the pool3 scores, then 8x (k16 s8). [assumption] Padding 1 and 4 replace the
  original's crop layers so that sizes come out exact (7 -> 14 -> 28 -> 224).

:func:`layer_inputs` produces each layer's input as fixed-point codes from one seeded forward
pass with random weights: DCGAN inputs after BatchNorm (batch statistics) + ReLU, so about half
are exact zeros; FCN inputs are signed score maps (the previous layer's output scaled to unit
variance plus a unit-variance skip map). These are synthetic activations with realistic sign and
sparsity structure, not trained ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.deconv import ConvTranspose, DeconvError, polyphase
from crosstrain.golden.encoding import to_fixed


@dataclass(frozen=True)
class Layer:
    name: str
    spec: ConvTranspose
    relu_input: bool          # input passed through BatchNorm + ReLU (DCGAN)


def _ct(cin, cout, k, s, p, hw):
    return ConvTranspose(in_channels=cin, out_channels=cout, kernel=k, stride=s, padding=p,
                         height=hw, width=hw)


NETWORKS: dict[str, tuple[Layer, ...]] = {
    "dcgan": (
        Layer("ct1", _ct(100, 512, 4, 1, 0, 1), relu_input=False),
        Layer("ct2", _ct(512, 256, 4, 2, 1, 4), relu_input=True),
        Layer("ct3", _ct(256, 128, 4, 2, 1, 8), relu_input=True),
        Layer("ct4", _ct(128, 64, 4, 2, 1, 16), relu_input=True),
        Layer("ct5", _ct(64, 3, 4, 2, 1, 32), relu_input=True),
    ),
    "fcn8s": (
        Layer("upscore2", _ct(21, 21, 4, 2, 1, 7), relu_input=False),
        Layer("upscore_pool4", _ct(21, 21, 4, 2, 1, 14), relu_input=False),
        Layer("upscore8", _ct(21, 21, 16, 8, 4, 28), relu_input=False),
    ),
}


def network(name: str) -> tuple[Layer, ...]:
    if name not in NETWORKS:
        raise DeconvError(f"unknown network {name!r}: choose one of {', '.join(NETWORKS)}")
    return NETWORKS[name]


def layer_inputs(name: str, cfg: HardwareConfig, *, batch: int = 1, seed: int = 0,
                 frac_bits: int | None = None) -> list[np.ndarray]:
    """Each layer's input (batch, in_channels, height, width) as ``precision.input_bits`` codes.

    ``frac_bits`` defaults to ``precision.weight_frac_bits`` (PANTHER's 4.12 format for all values).
    """
    layers = network(name)
    if batch < 1:
        raise DeconvError(f"batch = {batch}: must be a positive integer")
    rng = np.random.default_rng(seed)
    f = cfg.precision.weight_frac_bits if frac_bits is None else frac_bits
    first = layers[0].spec
    x = rng.standard_normal((batch, first.in_channels, first.height, first.width))
    inputs = []
    for i, layer in enumerate(layers):
        spec = layer.spec
        if i:
            if layer.relu_input:
                mean = x.mean(axis=(0, 2, 3), keepdims=True)
                std = x.std(axis=(0, 2, 3), keepdims=True) + 1e-5
                x = np.maximum((x - mean) / std, 0.0)
            else:
                x = x / (x.std() + 1e-12) + rng.standard_normal(x.shape)
        inputs.append(to_fixed(x, cfg.precision.input_bits, f))
        w = rng.normal(0.0, 0.02, (spec.in_channels, spec.out_channels, spec.kernel, spec.kernel))
        x = polyphase(spec, x, w)
    return inputs
