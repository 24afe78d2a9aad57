"""A layer compiled to a tile program and run by the golden interpreter gives, bit for bit, what
golden computes for the layer directly; the references are independent (integer definitions of
the layer, or golden's crossbar / OPA on the whole GEMM matrix, never the program)."""

import numpy as np
import pytest

from crosstrain.golden import crossbar, cycles, deconv, interpreter, isa
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.opa import UpdateArrays
from crosstrain.rollup import compiler, operands
from crosstrain.rollup import mapper
from crosstrain.rollup.mapper import Technique, gemms
from crosstrain.rollup.networks import Layer, conv_transpose

SMALL = {"crossbar.rows": 8, "crossbar.cols": 8, "precision.weight_bits": 8,
         "precision.weight_frac_bits": 4, "precision.input_bits": 6, "precision.error_bits": 6,
         "precision.update_slices": 8}
EXACT = HardwareConfig().with_overrides({**SMALL, "precision.update_slice_bits": (12,)})
# ADCs that clip and update cells that saturate: only golden itself is a reference
LOSSY = HardwareConfig().with_overrides({**SMALL, "converters.adc_bits": 3,
                                         "precision.update_slice_bits": (3,)})

FC = Layer("fc1", "fc", in_ch=20, out_ch=12)
CONV = Layer("conv1", "conv", in_ch=3, out_ch=5, in_h=5, in_w=5, kernel=3, padding=1)
TCONV = Layer("tconv1", "tconv", in_ch=3, out_ch=4, in_h=3, in_w=3, kernel=4, stride=2, padding=1)
# kernel 3, no padding: phase groups of 16, 12, 12 and 9 windows per sample (unequal LOOPs)
UNEVEN = Layer("tconv2", "tconv", in_ch=3, out_ch=4, in_h=3, in_w=3, kernel=3, stride=2)
BATCH = 2


def shapes(layer, batch=BATCH):
    if layer.kind == "fc":
        return (batch, layer.in_ch), (layer.in_ch, layer.out_ch), (batch, layer.out_ch)
    x = (batch, layer.in_ch, layer.in_h, layer.in_w)
    y = (batch, layer.out_ch, layer.out_h, layer.out_w)
    k = layer.kernel
    w = (k, k, layer.in_ch, layer.out_ch) if layer.kind == "conv" else (layer.in_ch, layer.out_ch, k, k)
    return x, w, y


def data(layer, seed, lo=-31, hi=32, batch=BATCH):
    rng = np.random.default_rng(seed)
    xs, ws, ys = shapes(layer, batch)
    return (rng.integers(lo, hi, xs), rng.integers(-20, 21, ws), rng.integers(lo, hi, ys))


def run(layer, cfg, x, w, e, *, crs_samples=BATCH, replication=1, batch=BATCH):
    tile = compiler.tile_for(layer, cfg, units=60, batch=batch)
    comp = compiler.compile_layer(layer, cfg, tile, batch=batch, replication=replication,
                                  technique=Technique(crs_samples=crs_samples))
    words = isa.disassemble(comp.binary(), tile)          # through the binary format
    assert words == comp.program
    res = interpreter.run(words, tile, cfg, operands.pack(comp, x, w, e))
    return comp, res, operands.unpack(comp, res.buffer, [u.weights for u in res.units])


def conv_direct(x, w, s, p):
    """The convolution by its definition (loops over outputs and taps)."""
    n, c, h, wd = x.shape
    k, o = w.shape[0], w.shape[3]
    ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    y = np.zeros((n, o, ho, wo), dtype=np.int64)
    for i in range(ho):
        for j in range(wo):
            for ky in range(k):
                for kx in range(k):
                    r, q = i * s - p + ky, j * s - p + kx
                    if 0 <= r < h and 0 <= q < wd:
                        y[:, :, i, j] += x[:, :, r, q] @ w[ky, kx]
    return y


def conv_grads(x, w, g, s, p):
    """dL/dx and dL/dw of :func:`conv_direct` by the same loops."""
    n, c, h, wd = x.shape
    k = w.shape[0]
    dx, dw = np.zeros(x.shape, np.int64), np.zeros(w.shape, np.int64)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            for ky in range(k):
                for kx in range(k):
                    r, q = i * s - p + ky, j * s - p + kx
                    if 0 <= r < h and 0 <= q < wd:
                        dx[:, :, r, q] += g[:, :, i, j] @ w[ky, kx].T
                        dw[ky, kx] += x[:, :, r, q].T @ g[:, :, i, j]
    return dx, dw


def reference(layer, x, w, e):
    """Forward output, input error and weight gradient from the layer's definition."""
    if layer.kind == "fc":
        return x @ w, e @ w.T, x.T @ e
    if layer.kind == "conv":
        return (conv_direct(x, w, layer.stride, layer.padding),
                *conv_grads(x, w, e, layer.stride, layer.padding))
    spec = conv_transpose(layer)
    dw = np.zeros(w.shape, np.int64)
    # dL/dw by the scatter definition: out[.., iy*s+ky-p, ix*s+kx-p] += x * w[:, :, ky, kx]
    s, p, k = layer.stride, layer.padding, layer.kernel
    for ky in range(k):
        for kx in range(k):
            for iy in range(layer.in_h):
                for ix in range(layer.in_w):
                    oy, ox = iy * s + ky - p, ix * s + kx - p
                    if 0 <= oy < layer.out_h and 0 <= ox < layer.out_w:
                        dw[:, :, ky, kx] += x[:, :, iy, ix].T @ e[:, :, oy, ox]
    return deconv.scatter(spec, x, w), deconv.backward_input_strided(spec, e, w), dw


def rounded(w, dw, cfg):
    """The weights after OPAs adding ``dw`` to the wide weight and one CRS (round half up)."""
    drop = cfg.precision.update_slices * cfg.device.bits_per_cell - cfg.precision.weight_bits
    top = (1 << (cfg.precision.weight_bits - 1)) - 1
    return np.clip(((w << drop) + dw + (1 << (drop - 1))) >> drop, -top - 1, top)


@pytest.mark.parametrize("layer", [FC, CONV, TCONV, UNEVEN], ids=lambda l: l.name)
def test_layer_matches_its_definition(layer):
    x, w, e = data(layer, seed=1)
    comp, res, (y, dx, w_new) = run(layer, EXACT, x, w, e)
    y_ref, dx_ref, dw = reference(layer, x, w, e)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(w_new, rounded(w, dw, EXACT))
    assert (w_new != w).mean() > 0.3                        # the update moved most weights
    assert res.counts["CRS"] == len(comp.blocks) and res.counts["MVM"] > 0


@pytest.mark.parametrize("layer", [FC, CONV, TCONV], ids=lambda l: l.kind)
def test_clipping_and_saturation_match_golden_on_the_gemm(layer):
    """With clipping ADCs and saturating update cells, the blocks of every GEMM group together
    give what golden's crossbar and OPA give for the whole matrix."""
    x, w, e = data(layer, seed=2, lo=-31, hi=32)
    w = np.clip(w * 6, -128, 127)
    comp, res, (y, dx, w_new) = run(layer, LOSSY, x, w, e, crs_samples=1)
    err = LOSSY.with_overrides({"precision.input_bits": LOSSY.precision.error_bits})
    xs, es = operands.inputs(layer, x), operands.outputs(layer, e)
    ys, dxs, mats = [], [], []
    for xv, ev, m in zip(xs, es, operands.matrices(layer, w)):
        ys.append(crossbar.mvm(m, xv, LOSSY))
        dxs.append(crossbar.mvm(m, ev, err, transposed=True))
        upd, per = UpdateArrays(LOSSY, m), len(xv) // BATCH
        for s in range(BATCH):                              # CRS after every sample
            upd.opa(xv[s * per:(s + 1) * per], ev[s * per:(s + 1) * per])
            m = upd.crs()
        mats.append(m)
        assert upd.events.opa_saturated or layer.kind == "fc"
    np.testing.assert_array_equal(y, operands.output_from(layer, ys, BATCH))
    np.testing.assert_array_equal(dx, operands.input_error_from(layer, dxs, BATCH))
    np.testing.assert_array_equal(w_new, operands.weights_from(layer, mats))
    ideal = reference(layer, x, w, e)[0]
    assert not np.array_equal(y, ideal)                     # the ADCs did clip


def test_program_follows_the_mapper():
    """Units = the mapper's blocks; MVM / MTVM / OPA words per vector per block."""
    tile = compiler.tile_for(TCONV, EXACT, units=60, batch=BATCH)
    comp = compiler.compile_layer(TCONV, EXACT, tile, batch=BATCH)
    parts = gemms(TCONV, tconv="decomposed")
    blocks = sum(g.groups * np.prod(g.blocks(EXACT)) for g in parts)
    assert len(comp.blocks) == blocks
    assert len(comp.regions) == sum(g.groups for g in parts) == TCONV.stride ** 2
    res = interpreter.run(comp.program, tile, EXACT, np.zeros(tile.buffer_depth, np.int64))
    per_block = sum(g.groups * np.prod(g.blocks(EXACT)) * g.vectors * BATCH for g in parts)
    assert res.counts["MVM"] == res.counts["MTVM"] == res.counts["OPA"] == per_block
    assert res.counts["CRS"] == 0                           # 2 samples, default cadence 256
    assert dict(res.counts) == isa.executed(comp.program)   # counted while running = counted statically
    assert res.counts["SYNC"] == 1


def test_replicas_split_the_vectors_and_stay_equal():
    x, w, e = data(FC, seed=3)
    comp, res, (y, dx, w_new) = run(FC, EXACT, x, w, e, replication=2)
    y_ref, dx_ref, dw = reference(FC, x, w, e)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    for b in comp.blocks:
        twin = next(c for c in comp.blocks if (c.region, c.r0, c.c0, c.copy) == (b.region, b.r0, b.c0, 0))
        np.testing.assert_array_equal(res.units[b.unit].weights, res.units[twin.unit].weights)
    assert res.counts["MVM"] == BATCH * 6                  # 3 x 2 blocks, vectors split in two


@pytest.mark.parametrize("crs", [1, BATCH])
@pytest.mark.parametrize("layer", [FC, TCONV], ids=lambda l: l.kind)
def test_phase_cycles_are_the_rollups(layer, crs):
    """Per unit, the forward and backward phases are the roll-up's back-to-back MVM cycles for
    the unit's vectors (mapper.mvm_cycles) plus the last output's trip to the buffer (one cycle
    into the output register, two for the STORE's read and write: golden/interpreter.py); the
    gradient the OPAs' cycles plus the cycle the unit takes to finish the last; CRS crs_cycles
    plus that cycle each. Units overlap: the program takes far less than their busy cycles summed."""
    tile = compiler.tile_for(layer, EXACT, units=60, batch=BATCH)
    comp = compiler.compile_layer(layer, EXACT, tile, batch=BATCH, technique=Technique(crs_samples=crs))
    res = interpreter.run(comp.program, tile, EXACT)
    n = max(reg.vectors for reg in comp.regions)
    err = mapper.view(EXACT, precision__input_bits=EXACT.precision.error_bits)
    assert res.phase_cycles["forward"] == mapper.mvm_cycles(cycles.mvm_schedule(EXACT), n) + 3
    assert res.phase_cycles["backward"] == mapper.mvm_cycles(
        cycles.mvm_schedule(err, transposed=True), n) + 3
    assert res.phase_cycles["gradient"] == n * cycles.opa_cycles(EXACT) + BATCH // crs   # per stretch
    assert res.phase_cycles["crs"] == BATCH // crs * (cycles.crs_cycles(EXACT) + 1)   # stretches add up
    busy = [u.busy for u in res.units[:len(comp.blocks)]]
    assert max(busy) <= res.cycles < sum(busy) / 2


def test_too_few_units_is_one_line():
    tile = isa.TileParams(units=4, buffer_depth=1 << 16, max_length=8)
    with pytest.raises(compiler.CompileError, match=r"needs 6 crossbar units.*--units 6") as e:
        compiler.compile_layer(FC, EXACT, tile, batch=BATCH)
    assert "\n" not in str(e.value)


def test_small_buffer_and_weightless_layer_are_refused():
    tile = isa.TileParams(units=8, buffer_depth=100, max_length=8)
    with pytest.raises(compiler.CompileError, match="needs a buffer of"):
        compiler.compile_layer(FC, EXACT, tile, batch=BATCH)
    pool = Layer("pool1", "pool", in_ch=3, out_ch=3, in_h=4, in_w=4, kernel=2, stride=2)
    with pytest.raises(compiler.CompileError, match="has no weights"):
        compiler.tile_for(pool, EXACT, units=8, batch=BATCH)


@pytest.mark.parametrize("seed", range(6))
def test_random_layers_match_their_definition(seed):
    """Seeded random shapes (kind, channels, size, kernel, stride, padding, batch split into
    CRS chunks) on 8 x 8 crossbars; the seed is in the test id."""
    rng = np.random.default_rng(seed)
    kind = ("fc", "conv", "tconv")[seed % 3]
    cin, cout = (int(v) for v in rng.integers(1, 12 if kind == "fc" else 5, 2))
    if kind == "fc":
        layer = Layer("r", "fc", in_ch=int(rng.integers(1, 30)), out_ch=int(rng.integers(1, 20)))
    else:
        k = int(rng.integers(2, 5))
        s = int(rng.integers(1, 3)) if kind == "conv" else int(rng.integers(2, min(k, 3) + 1))
        p = int(rng.integers(0, k // 2 + 1)) if kind == "conv" else int(rng.integers(0, k - 1))
        h = int(rng.integers(k, 6))
        op = int(rng.integers(0, s)) if kind == "tconv" else 0
        layer = Layer("r", kind, in_ch=cin, out_ch=cout, in_h=h, in_w=h, kernel=k, stride=s,
                      padding=p, output_padding=op)
    if layer.kind == "tconv" and not all(ph.y.read_count and ph.x.read_count
                                         for ph in conv_transpose(layer).phases):
        pytest.skip(f"seed {seed}: {layer} has a phase without reads")
    x, w, e = data(layer, seed=100 + seed)
    comp, res, (y, dx, w_new) = run(layer, EXACT, x, w, e, crs_samples=1)
    y_ref, dx_ref, dw = reference(layer, x, w, e)
    np.testing.assert_array_equal(y, y_ref, err_msg=f"seed {seed}: {layer}")
    np.testing.assert_array_equal(dx, dx_ref, err_msg=f"seed {seed}: {layer}")
    # CRS after each sample keeps the wide weight: the last one rounds w + the whole gradient
    np.testing.assert_array_equal(w_new, rounded(w, dw, EXACT), err_msg=f"seed {seed}: {layer}")
    assert comp.counts()["CRS"] == BATCH * len(comp.blocks) and (w_new != w).any()


def tail_bound(cfg, phases):
    """Cycles the phase changes may add to the busiest unit's busy cycles, from the operations'
    durations alone: per phase change (and the program's start and end) at most the longest wait
    for a result beyond the array's occupation, a LOAD's two cycles and the finishing cycle."""
    tail = max(result - occupied for occupied, result in interpreter.durations(cfg).values())
    return (phases + 1) * (tail + 3)


@pytest.mark.parametrize("layer", [TCONV, UNEVEN], ids=lambda l: l.name)
def test_phase_groups_run_concurrently(layer):
    """ZARA's s^2 phase groups on their own units in one LOOP body: the program takes the
    busiest unit's array time (its operations' durations summed) plus the phase changes, not the
    groups' times added up (as a LOOP per group does: the in-order scheduler issues one group
    at a time)."""
    tile = compiler.tile_for(layer, EXACT, units=60, batch=BATCH)
    comp = compiler.compile_layer(layer, EXACT, tile, batch=BATCH, technique=Technique(crs_samples=BATCH))
    res = interpreter.run(comp.program, tile, EXACT)
    d = interpreter.durations(EXACT)
    busy = []                                             # per unit, from the durations
    for b in comp.blocks:
        n = comp.regions[b.region].vectors
        busy.append((b.r1 - b.r0) * d["WRITE"][0] + n * (d["MVM"][0] + d["MTVM"][0] + d["OPA"][0])
                    + d["CRS"][0])
    assert busy == [u.busy for u in res.units[:len(comp.blocks)]]
    assert max(busy) <= res.cycles <= max(busy) + tail_bound(EXACT, 5)
    slowest = [max(x for x, b in zip(busy, comp.blocks) if b.region == n) for n in range(len(comp.regions))]
    assert len(slowest) == 4 and sum(slowest) > 3 * res.cycles
    vectors = {r.vectors for r in comp.regions}            # a LOOP per phase and vector count
    assert comp.counts()["LOOP"] == 3 * len(vectors)


def test_units_program_their_rows_concurrently():
    """Row r of every block is written before row r + 1 of any: the program phase of four
    blocks of eight rows lasts one block's WRITEs, not four."""
    layer = Layer("fc", "fc", in_ch=16, out_ch=16)
    tile = compiler.tile_for(layer, EXACT, units=4, batch=1)
    comp = compiler.compile_layer(layer, EXACT, tile, batch=1)
    res = interpreter.run(comp.program, tile, EXACT)
    write = interpreter.durations(EXACT)["WRITE"][0]
    assert res.phase_cycles["program"] == 8 * (write + 1)
    assert [i["unit"] for i in comp.program if i.op == "WRITE"][:4] == [0, 1, 2, 3]


def test_uneven_replicas_share_loops():
    """Three vectors over two replicas: both run one vector side by side, then the second runs
    its last; every vector is computed once."""
    x, w, e = data(FC, seed=4)
    x, e = np.concatenate([x, x[:1] + 1]), np.concatenate([e, e[:1] - 1])
    tile = compiler.tile_for(FC, EXACT, units=60, batch=3)
    comp = compiler.compile_layer(FC, EXACT, tile, batch=3, replication=2)
    res = interpreter.run(comp.program, tile, EXACT, operands.pack(comp, x, w, e))
    y, dx, _ = operands.unpack(comp, res.buffer, [u.weights for u in res.units])
    np.testing.assert_array_equal(y, x @ w)
    np.testing.assert_array_equal(dx, e @ w.T)
    loops = [i["count"] for i in comp.program if i.op == "LOOP"]
    assert loops == [1, 1, 1, 1, 3]                     # forward and backward: 1 + 1; OPA: 3


# Issue 13's three layers on PANTHER-sized 128 x 128 arrays, ADCs wide enough never to clip
# (9 bits: 128 rows of 2-bit cells), so the layer's definition is the reference.
WIDE = HardwareConfig().with_overrides({"precision.weight_bits": 8, "precision.weight_frac_bits": 4,
                                        "precision.input_bits": 6, "precision.error_bits": 6,
                                        "precision.update_slices": 8, "precision.update_slice_bits": (12,),
                                        "converters.adc_bits": 9, "converters.adc_mode": "lossless"})
DENSE = Layer("dense", "fc", in_ch=256, out_ch=128)
CONV3 = Layer("conv3x3", "conv", in_ch=16, out_ch=32, in_h=16, in_w=16, kernel=3, padding=1)
# a DCGAN generator layer (kernel 4, stride 2, padding 1) at reduced size: 32 -> 16 channels, 8x8 -> 16x16
DCGAN = Layer("dcgan", "tconv", in_ch=32, out_ch=16, in_h=8, in_w=8, kernel=4, stride=2, padding=1)
SMALLER = {"conv3x3": Layer("conv3x3", "conv", in_ch=16, out_ch=32, in_h=6, in_w=6, kernel=3, padding=1),
           "dcgan": Layer("dcgan", "tconv", in_ch=32, out_ch=16, in_h=4, in_w=4, kernel=4, stride=2, padding=1)}
LAYERS = [(DENSE, 8), (CONV3, 1), (DCGAN, 2)]


def check_whole_layer(layer, batch):
    """Forward, error back-propagation, OPA updates and a CRS of one mini-batch, compiled and run
    on the interpreter, equal the layer's definition (x @ w, e @ w.T, the outer-product update
    rounded by the CRS; conv and transposed conv by their loops); returns the run."""
    x, w, e = data(layer, seed=13, batch=batch)
    comp, res, (y, dx, w_new) = run(layer, WIDE, x, w, e, crs_samples=batch, batch=batch)
    y_ref, dx_ref, dw = reference(layer, x, w, e)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(w_new, rounded(w, dw, WIDE))
    assert (w_new != w).mean() > 0.3
    assert res.counts["CRS"] == len(comp.blocks)
    return comp, res


def reduced(layer):
    return SMALLER.get(layer.name, layer)


@pytest.mark.parametrize("layer, batch", [(reduced(l), b) for l, b in LAYERS[:2]],
                         ids=lambda v: getattr(v, "name", v))
def test_issue_layers_match_their_definition(layer, batch):
    """The issue's layers (the dense layer at full size; the convolution at a reduced input size
    here and the transposed convolution in the next test; all at full size in the slow test)."""
    check_whole_layer(layer, batch)


@pytest.mark.slow
@pytest.mark.parametrize("layer, batch", LAYERS, ids=lambda v: getattr(v, "name", v))
def test_issue_layers_at_full_size(layer, batch):
    check_whole_layer(layer, batch)


def test_transposed_conv_skips_the_inserted_zeros():
    """ZARA's decomposition skips the inserted zeros: the program's MVMs drive the rows of the
    s^2 phase sub-kernels, (K / s)^2 taps per output pixel, a quarter of the K^2 taps per output
    pixel the zero-inserted convolution would drive."""
    layer, batch = reduced(DCGAN), 2
    comp, res = check_whole_layer(layer, batch)
    assert len(comp.regions) == layer.stride ** 2
    driven = sum(r.rows * r.vectors for r in comp.regions)          # rows x MVMs, one per vector
    naive = batch * layer.out_h * layer.out_w * layer.kernel ** 2 * layer.in_ch
    # every output pixel reads (K/s)^2 = 4 taps of its phase (the border ones pad with 0)
    assert driven == naive // layer.stride ** 2
    # one 128 x 128 block per phase group: one MVM per output pixel (its 16 channels the columns)
    assert len(comp.blocks) == 4 and res.counts["MVM"] == batch * layer.out_h * layer.out_w
