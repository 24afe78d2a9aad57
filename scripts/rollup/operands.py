"""The host's side of a compiled layer (:mod:`crosstrain.rollup.compiler`): layer tensors into the
tile buffer and back.

Tensors (integers): fc ``x`` (N, in), ``w`` (in, out), outputs (N, out); conv ``x`` (N, Cin, H,
W), ``w`` (K, K, Cin, Cout), outputs (N, Cout, Ho, Wo), GEMM rows in (ky, kx, c) order;
transposed conv as :mod:`crosstrain.golden.deconv` (``w`` (Cin, Cout, K, K)), GEMM group ``k``
of geometry class ``g`` being a phase group of :attr:`ConvTranspose.phases` with that geometry,
its vectors the windows that read an input pixel (:func:`crosstrain.golden.deconv.phase_inputs`,
row major). What the im2col / address generator does in hardware is done here in numpy.
"""

from __future__ import annotations

import numpy as np

from crosstrain.golden import deconv
from crosstrain.golden.windows import col2im, im2col
from crosstrain.rollup.compiler import Compiled
from crosstrain.rollup.mapper import gemms
from crosstrain.rollup.networks import Layer, conv_transpose


def tconv_phases(layer: Layer) -> list[deconv.Phase]:
    """The phase group behind every GEMM group of a transposed conv, in region order: the
    mapper's geometry classes, each filled with the phases of that geometry in phase order."""
    spec = conv_transpose(layer)
    free = [ph for ph in spec.phases if ph.y.read_count and ph.x.read_count]
    out = []
    for x in gemms(layer, tconv="decomposed"):
        mine = [ph for ph in free if ph.slots * layer.in_ch == x.rows
                and ph.y.read_count * ph.x.read_count == x.vectors][:x.groups]
        assert len(mine) == x.groups, "the mapper's phase classes and deconv's phases disagree"
        free = [ph for ph in free if ph not in mine]
        out.extend(mine)
    return out


def inputs(layer: Layer, x: np.ndarray) -> list[np.ndarray]:
    """MVM input vectors of every GEMM group: (batch * vectors, rows) each."""
    x = np.asarray(x, dtype=np.int64)
    if layer.kind == "fc":
        return [x.reshape(len(x), -1)]
    if layer.kind == "conv":
        return [im2col(x.transpose(0, 2, 3, 1), layer.kernel, layer.stride, layer.padding)]
    spec = conv_transpose(layer)
    return [deconv.phase_inputs(spec, x, ph)[:, :ph.y.read_count, :ph.x.read_count]
            .reshape(-1, ph.slots * layer.in_ch) for ph in tconv_phases(layer)]


def outputs(layer: Layer, y: np.ndarray) -> list[np.ndarray]:
    """Output-side vectors (outputs or output errors) of every GEMM group: (batch * vectors, cols)."""
    y = np.asarray(y, dtype=np.int64)
    if layer.kind == "fc":
        return [y]
    if layer.kind == "conv":
        return [y.transpose(0, 2, 3, 1).reshape(-1, layer.out_ch)]
    spec = conv_transpose(layer)
    return [deconv.phase_view(spec, y, ph)[:, :, :ph.y.read_count, :ph.x.read_count]
            .transpose(0, 2, 3, 1).reshape(-1, layer.out_ch) for ph in tconv_phases(layer)]


def matrices(layer: Layer, w: np.ndarray) -> list[np.ndarray]:
    """The weight matrix of every GEMM group (rows x cols)."""
    w = np.asarray(w, dtype=np.int64)
    if layer.kind == "fc":
        return [w]
    if layer.kind == "conv":
        return [w.reshape(-1, layer.out_ch)]
    spec = conv_transpose(layer)
    return [deconv.phase_matrix(spec, w, ph) for ph in tconv_phases(layer)]


def weights_from(layer: Layer, mats: list[np.ndarray]) -> np.ndarray:
    """:func:`matrices`' inverse: the layer's weight tensor."""
    if layer.kind == "fc":
        return mats[0]
    k = layer.kernel
    if layer.kind == "conv":
        return mats[0].reshape(k, k, layer.in_ch, layer.out_ch)
    s, w = layer.stride, np.zeros((layer.in_ch, layer.out_ch, k, k), dtype=np.int64)
    for ph, m in zip(tconv_phases(layer), mats):
        sub = m.reshape(ph.y.taps, ph.x.taps, layer.in_ch, layer.out_ch).transpose(2, 3, 0, 1)
        w[:, :, ph.y.phase::s, ph.x.phase::s] = sub
    return w


def output_from(layer: Layer, rows: list[np.ndarray], batch: int) -> np.ndarray:
    """:func:`outputs`' inverse: the output tensor (windows without an input pixel give 0)."""
    if layer.kind == "fc":
        return rows[0]
    if layer.kind == "conv":
        return rows[0].reshape(batch, layer.out_h, layer.out_w, -1).transpose(0, 3, 1, 2)
    spec = conv_transpose(layer)
    y = np.zeros((batch, layer.out_ch, layer.out_h, layer.out_w), dtype=np.int64)
    for ph, r in zip(tconv_phases(layer), rows):
        ry, rx = ph.y.read_count, ph.x.read_count
        deconv.phase_view(spec, y, ph)[:, :, :ry, :rx] = r.reshape(batch, ry, rx, -1).transpose(0, 3, 1, 2)
    return y


def input_error_from(layer: Layer, rows: list[np.ndarray], batch: int) -> np.ndarray:
    """The input error from the transposed MVMs' rows: every row value added back onto the input
    pixel its MVM input row read (col2im; rows that read padding are dropped)."""
    if layer.kind == "fc":
        return rows[0]
    c, h, w = layer.in_ch, layer.in_h, layer.in_w
    if layer.kind == "conv":
        return col2im(rows[0], (batch, h, w, c), layer.kernel, layer.stride,
                      layer.padding).transpose(0, 3, 1, 2)
    m = layer.kernel                           # window q, slot j lands on row q - j >= -(K-1)
    dx = np.zeros((batch, c, h + 2 * m, w + 2 * m), dtype=np.int64)
    for ph, r in zip(tconv_phases(layer), rows):
        ty, tx, ry, rx = ph.y.taps, ph.x.taps, ph.y.read_count, ph.x.read_count
        g = r.reshape(batch, ry, rx, ty, tx, c)
        for jy in range(ty):
            for jx in range(tx):
                y0, x0 = m + ph.y.q_lo - jy, m + ph.x.q_lo - jx
                dx[:, :, y0:y0 + ry, x0:x0 + rx] += g[:, :, :, jy, jx].transpose(0, 3, 1, 2)
    return dx[:, :, m:m + h, m:m + w]


def pack(comp: Compiled, x: np.ndarray, w: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The tile buffer before the program runs: inputs ``x``, weights ``w``, output errors ``e``."""
    buf = np.zeros(comp.tile.buffer_depth, dtype=np.int64)
    xs, es, ms = inputs(comp.layer, x), outputs(comp.layer, e), matrices(comp.layer, w)
    for k, reg in enumerate(comp.regions):
        at = reg.addresses()
        buf[at[:, :reg.rows]] = xs[k]
        buf[at[:, reg.field("e"):reg.field("dx")]] = es[k]
        buf[reg.weights:reg.end] = ms[k].ravel()
    return buf


def unpack(comp: Compiled, buf: np.ndarray, unit_weights: list[np.ndarray]):
    """``(y, dx, w)`` after the program: the output, the input error and the weights the units of
    layer copy 0 hold (after any CRS)."""
    ys, dxs, mats = [], [], []
    for n, reg in enumerate(comp.regions):
        rec = buf[reg.addresses()]
        ys.append(rec[:, reg.field("y"):reg.field("e")])
        dxs.append(rec[:, reg.field("dx"):])
        m = np.zeros((reg.rows, reg.cols), dtype=np.int64)
        for b in comp.blocks:
            if b.region == n and b.copy == 0:
                m[b.r0:b.r1, b.c0:b.c1] = unit_weights[b.unit][:b.r1 - b.r0, :b.c1 - b.c0]
        mats.append(m)
    L = comp.layer
    return (output_from(L, ys, comp.batch), input_error_from(L, dxs, comp.batch), weights_from(L, mats))
