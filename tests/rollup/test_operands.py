"""Host layout of a compiled layer: the tensor <-> GEMM-vector maps are each other's inverses,
and the input-error scatter is the adjoint of the im2col gather."""

import numpy as np
import pytest

from crosstrain.rollup import operands
from crosstrain.rollup.mapper import gemms
from crosstrain.rollup.networks import Layer

CONV = Layer("c", "conv", in_ch=2, out_ch=3, in_h=5, in_w=4, kernel=3, stride=2, padding=1)
TCONV = Layer("t", "tconv", in_ch=2, out_ch=3, in_h=3, in_w=4, kernel=5, stride=3, padding=1,
              output_padding=1)


@pytest.mark.parametrize("layer", [CONV, TCONV], ids=lambda l: l.kind)
def test_gather_and_scatter_are_adjoint(layer):
    """<inputs(x), r> == <x, input_error_from(r)> for random x and rows r (col2im is im2col's
    adjoint), and the GEMM vectors have the mapper's shapes."""
    rng = np.random.default_rng(7)
    x = rng.integers(-5, 6, (2, layer.in_ch, layer.in_h, layer.in_w))
    xs = operands.inputs(layer, x)
    shapes = [(2 * g.vectors, g.rows) for g in gemms(layer, tconv="decomposed") for _ in range(g.groups)]
    assert [v.shape for v in xs] == shapes
    rs = [rng.integers(-5, 6, v.shape) for v in xs]
    lhs = sum(int((v * r).sum()) for v, r in zip(xs, rs))
    assert lhs == int((x * operands.input_error_from(layer, rs, 2)).sum())


@pytest.mark.parametrize("layer", [CONV, TCONV], ids=lambda l: l.kind)
def test_weights_and_outputs_round_trip(layer):
    rng = np.random.default_rng(8)
    k = layer.kernel
    shape = (k, k, layer.in_ch, layer.out_ch) if layer.kind == "conv" else (layer.in_ch, layer.out_ch, k, k)
    w = rng.integers(-9, 10, shape)
    np.testing.assert_array_equal(operands.weights_from(layer, operands.matrices(layer, w)), w)
    y = rng.integers(-9, 10, (2, layer.out_ch, layer.out_h, layer.out_w))
    back = operands.output_from(layer, operands.outputs(layer, y), 2)
    np.testing.assert_array_equal(back, y)       # output_padding <= padding: every window reads


def test_windows_without_pixels_give_zero_outputs():
    """output_padding > padding: the last output row and column of phase 0 read no input pixel;
    they are not computed and come back as 0 (deconv: their output is 0)."""
    layer = Layer("t", "tconv", in_ch=1, out_ch=1, in_h=2, in_w=2, kernel=2, stride=2, output_padding=1)
    y = np.ones((1, 1, layer.out_h, layer.out_w), dtype=np.int64)
    back = operands.output_from(layer, operands.outputs(layer, y), 1)
    assert back[0, 0, :4, :4].all() and not back[0, 0, 4].any() and not back[0, 0, :, 4].any()
