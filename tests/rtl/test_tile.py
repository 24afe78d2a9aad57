"""The tile in amaranth.sim: programs of crosstrain.golden.isa words leave the buffer bit for bit as
crosstrain.golden.interpreter leaves it, in exactly the cycles of the interpreter's model."""

import gc
import json
import re
import subprocess

import numpy as np
import pytest
from amaranth.sim import Simulator

from crosstrain.golden import interpreter, isa
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import periphery_params
from crosstrain.rollup import compiler, operands
from crosstrain.rollup.mapper import Technique
from crosstrain.rollup.networks import Layer
from crosstrain.rtl.blocks import BLOCKS
from crosstrain.rtl.export import verilog_text
from crosstrain.rtl.tile import Tile
from crosstrain.tb import tile_bench
from crosstrain.tb.crossbar_unit_bench import random_weights
from crosstrain.tb.runner import run_bench
from crosstrain.tools import require_simulator

SMALL = tile_bench.SMALL_PERIPHERY                      # the emulator never stalls there
P = periphery_params(SMALL)
I = isa.Instr.make


def simulate(p, tile, program, weights, buffer, *, max_cycles=20_000):
    """Run ``program`` on a :class:`Tile` holding ``weights`` and ``buffer``: the words offered
    back to back from cycle 0; returns (buffer at the end, the first cycle ``done`` is high,
    stalled cycles, ``error``)."""
    dut = Tile(params=p, tile=tile, weights=weights, init=buffer)
    words = [isa.encode(i, tile) for i in program]
    out = {}

    async def bench(ctx):
        k = 0
        for cycle in range(max_cycles):
            ctx.set(dut.instr.valid, k < len(words))
            ctx.set(dut.instr.payload, words[k] if k < len(words) else 0)
            if ctx.get(dut.done):
                out["cycles"] = cycle
                break
            if k < len(words) and ctx.get(dut.instr.ready):
                k += 1
            await ctx.tick()
        banks = dut.buffer.memories
        out["buffer"] = np.array([ctx.get(banks[a % len(banks)].data[a // len(banks)])
                                  for a in range(tile.buffer_depth)], np.int64)
        out["stalls"], out["error"] = ctx.get(dut.stall_cycles), ctx.get(dut.error)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert "cycles" in out, f"not done after {max_cycles} cycles"
    return out["buffer"], out["cycles"], out["stalls"], out["error"]


def check(p, tile, program, weights, buffer, note=""):
    """The tile against the interpreter: buffer bit for bit, cycles exactly, no stall."""
    want = interpreter.run(program, tile, p.cfg, buffer, weights=weights)
    got, cycles, stalls, error = simulate(p, tile, program, weights, buffer)
    assert not error, f"error raised ({note})"
    bad = np.flatnonzero(got != want.buffer)
    assert not len(bad), f"buffer[{bad[0]}] = {got[bad[0]]}, golden {want.buffer[bad[0]]} ({note})"
    assert stalls == 0, f"{stalls} stalled cycles ({note})"
    assert cycles == want.cycles, f"{cycles} cycles, model {want.cycles} ({note})"
    return want


def inputs(rng, n, length, bits):
    """Random signed ``bits``-bit values, ``-2**(bits-1)`` included."""
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (n, length))


def test_mvms_pipeline_and_stores_add():
    """Three vectors through one unit, loaded at offsets, stored plain and added; MARK, NOP."""
    rng = np.random.default_rng(1)
    tile = isa.TileParams(units=1, buffer_depth=40, max_length=4)
    buf = np.zeros(40, np.int64)
    buf[:12] = inputs(rng, 3, 4, P.input_bits).ravel()
    buf[30:34] = rng.integers(-50, 50, 4)
    w = [random_weights(P, rng)]
    prog = [I("MARK", layer=0, phase=0), I("NOP")]
    for v in range(3):
        prog += [I("LOAD", unit=0, reg=0, offset=0, addr=4 * v, length=2),
                 I("LOAD", unit=0, reg=0, offset=2, addr=4 * v + 2, length=2), I("MVM", unit=0),
                 I("STORE", unit=0, acc=0, offset=0, addr=12 + 4 * v, length=4)]
    prog += [I("STORE", unit=0, acc=1, offset=1, addr=31, length=3), I("SYNC", mask=1), I("HALT")]
    res = check(P, tile, prog, w, buf)
    # independently: the last output added onto buffer[31:34]
    assert res.cycles > 3 * 12


def check_random(seed, units, n, kinds):
    """:func:`crosstrain.tb.tile_bench.random_program` on the tile against the interpreter (:func:`check`); inputs from
    ``-2**(input_bits-1)`` to ``2**(input_bits-1) - 1``."""
    rng = np.random.default_rng(seed)
    tile = isa.TileParams(units=units, buffer_depth=64, max_length=4, queue_depth=int(rng.integers(1, 4)))
    buf = np.zeros(64, np.int64)
    top = 1 << (P.input_bits - 1)
    buf[:32] = rng.integers(-top, top, 32)
    weights = [random_weights(P, rng) for _ in range(units)]
    prog = tile_bench.random_program(rng, units, n, kinds)
    try:
        return check(P, tile, prog, weights, buf, f"seed {seed}")
    except AssertionError:
        print(f"failing seed {seed}, queue_depth {tile.queue_depth}:\n" + "\n".join(i.text() for i in prog))
        raise


def test_training_step():
    """Forward MVM, transposed MVM, three OPAs back to back, CRS, and a forward MVM on the
    resolved weights, each output stored; the CRS does change the weights."""
    rng = np.random.default_rng(7)
    tile = isa.TileParams(units=1, buffer_depth=64, max_length=4)
    buf = np.zeros(64, np.int64)
    buf[:32] = inputs(rng, 8, 4, P.input_bits).ravel()
    w = [random_weights(P, rng)]
    prog = [I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4), I("MVM", unit=0),
            I("STORE", unit=0, acc=0, offset=0, addr=32, length=4),
            I("LOAD", unit=0, reg=1, offset=0, addr=4, length=4), I("MTVM", unit=0),
            I("STORE", unit=0, acc=0, offset=0, addr=36, length=4)]
    for k in range(3):
        prog += [I("LOAD", unit=0, reg=0, offset=0, addr=8 + 8 * k, length=4),
                 I("LOAD", unit=0, reg=1, offset=0, addr=12 + 8 * k, length=4), I("OPA", unit=0)]
    prog += [I("CRS", unit=0), I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4), I("MVM", unit=0),
             I("STORE", unit=0, acc=0, offset=0, addr=40, length=4), I("HALT")]
    res = check(P, tile, prog, w, buf)
    assert not np.array_equal(res.units[0].weights, w[0])
    assert not np.array_equal(res.buffer[32:36], res.buffer[40:44])


def test_opa_of_the_most_negative_values():
    """One OPA of x = [-8, 0, 0, 0], d = [0, -8, 0, 0] (4-bit) on weights whose row 0 is
    [2, 126, 78, 74]: the whole buffer after CRS and an MVM matches golden (the top update slice's
    1-bit pieces once shifted this update to column 0: tests/rtl/test_opa_driver.py)."""
    tile = isa.TileParams(units=1, buffer_depth=16, max_length=4)
    w = np.zeros((4, 4), np.int64)
    w[0] = [2, 126, 78, 74]
    buf = np.zeros(16, np.int64)
    buf[0:8] = [-8, 0, 0, 0, 0, -8, 0, 0]
    buf[8:12] = [1, 0, 0, 0]
    prog = [I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4),
            I("LOAD", unit=0, reg=1, offset=0, addr=4, length=4), I("OPA", unit=0), I("CRS", unit=0),
            I("LOAD", unit=0, reg=0, offset=0, addr=8, length=4), I("MVM", unit=0),
            I("STORE", unit=0, acc=0, offset=0, addr=12, length=4), I("HALT")]
    check(P, tile, prog, [w], buf)


@pytest.mark.parametrize("seed", range(3))
def test_random_single_unit_programs(seed):
    """Random LOAD / MVM / STORE / SYNC / NOP / MARK programs on one unit."""
    check_random(seed, 1, 14, {"LOAD": 7, "MVM": 5, "STORE": 5, "SYNC": 1, "NOP": 1, "MARK": 1})


@pytest.mark.parametrize("seed", range(4))
def test_random_training_programs(seed):
    """Random programs of every executed kind on one unit: transposed MVMs, OPAs (saturating
    update slices), CRS (the weights later MVMs read), with LOADs into both registers; inputs
    include the most negative value (:func:`test_opa_of_the_most_negative_values`)."""
    res = check_random(100 + seed, 1, 30, {"LOAD": 8, "MVM": 3, "MTVM": 3, "OPA": 3, "CRS": 1,
                                           "STORE": 5, "SYNC": 1})
    assert res.counts["OPA"] + res.counts["CRS"] + res.counts["MTVM"]


@pytest.mark.parametrize("kw, match", [
    ({"tile": isa.TileParams(units=1, buffer_depth=8, max_length=3)},
     r"tile.max_length = 3 is below the 4 x 4 crossbar's larger side: use max_length >= 4"),
    ({"params": periphery_params(SMALL | {"precision.error_bits": 6})},
     r"precision.error_bits = 6 differs from input_bits = 4"),
    ({"value_bits": 3}, r"value_bits = 3 is not allowed: 0 \(the narrowest, \d+\) or an integer from \d+ \(out_width, input_bits, weight_bits\) to 64"),
    ({"weights": []}, r"weights holds 0 blocks, not tile.units = 1"),
    ({"weights": [np.zeros((4, 3))]}, r"weights\[0\] of shape \(4, 3\) is not the 4 x 4 block"),
    ({"init": [0] * 7 + [1 << 40]}, r"init value 1099511627776 does not fit value_bits = 32"),
])
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_parameters_are_one_line(kw, match):
    with pytest.raises(ConfigError, match=match) as e:
        Tile(**{"params": P, "tile": isa.TileParams(units=1, buffer_depth=8, max_length=4), **kw})
    assert "\n" not in str(e.value)
    with pytest.raises(TypeError, match=r"tile must be a crosstrain.golden.isa.TileParams"):
        Tile(params=P, tile={"units": 1})
    del e                            # its traceback holds the refused tile
    gc.collect()                     # the refused objects warn here, inside the filter


@pytest.mark.parametrize("bad", [I("HALT"), I("LOOP", count=2, body=1, stride=1)])
def test_unexecuted_words_raise_error_and_halt(bad):
    """A HALT or LOOP in a LOOP's body stops the scheduler with ``error``; nothing after it runs
    (the LOOP word takes one cycle, the bad word a second)."""
    tile = isa.TileParams(units=1, buffer_depth=8, max_length=4)
    buf = np.arange(8, dtype=np.int64) - 4
    prog = [I("LOOP", count=2, body=1, stride=1), bad,
            I("STORE", unit=0, acc=0, offset=0, addr=0, length=4), I("HALT")]
    got, cycles, _, error = simulate(P, tile, prog, None, buf)
    assert error and cycles == 2
    assert got.tolist() == buf.tolist()


@pytest.mark.parametrize("seed", range(4))
def test_random_programs_on_two_units(seed):
    """Two units running concurrently: random programs of every executed kind, SYNC masks over
    both; their STOREs take turns on the buffer (oldest first)."""
    res = check_random(200 + seed, 2, 40, {"LOAD": 8, "MVM": 4, "MTVM": 2, "OPA": 2, "CRS": 1,
                                           "STORE": 6, "SYNC": 1, "NOP": 1})
    assert all(u.busy for u in res.units)                  # both units did work


def test_two_units_store_to_the_same_values():
    """Both units' MVMs add into one output (the compiler's row blocks meeting in the buffer),
    stored in the same cycles' turn order: the sums are exact."""
    rng = np.random.default_rng(11)
    tile = isa.TileParams(units=2, buffer_depth=32, max_length=4)
    buf = np.zeros(32, np.int64)
    buf[:16] = inputs(rng, 4, 4, P.input_bits).ravel()
    w = [random_weights(P, rng) for _ in range(2)]
    prog = []
    for v in range(2):
        for u in range(2):
            prog += [I("LOAD", unit=u, reg=0, offset=0, addr=8 * v + 4 * u, length=4), I("MVM", unit=u),
                     I("STORE", unit=u, acc=1, offset=0, addr=16 + 4 * v, length=4)]
    prog += [I("SYNC", mask=3), I("HALT")]
    res = check(P, tile, prog, w, buf)
    for v in range(2):                                      # exact sums: the ADCs do not clip here
        x0, x1 = buf[8 * v:8 * v + 4], buf[8 * v + 4:8 * v + 8]
        if np.array_equal(res.buffer[16 + 4 * v:20 + 4 * v], x0 @ w[0] + x1 @ w[1]):
            continue
        pytest.fail(f"vector {v}: {res.buffer[16 + 4 * v:20 + 4 * v]} is not x0 @ w0 + x1 @ w1")


def test_stores_of_two_units_take_turns_oldest_first():
    """Unit 0's third STORE wants the cycle unit 1's older STORE starts in and goes one cycle
    later (golden/interpreter.py's test of the same program derives the cycles)."""
    rng = np.random.default_rng(12)
    tile = isa.TileParams(units=2, buffer_depth=32, max_length=4)
    buf = np.arange(1, 33, dtype=np.int64)                  # the STOREs overwrite some with 0
    prog = [I("MVM", unit=0), I("NOP"), I("MVM", unit=1),
            I("STORE", unit=1, acc=0, offset=0, addr=0, length=3)]
    prog += [I("STORE", unit=0, acc=0, offset=0, addr=8 + 4 * k, length=3) for k in range(3)]
    res = check(P, tile, prog + [I("HALT")], [random_weights(P, rng) for _ in range(2)], buf)
    s = interpreter.durations(P.cfg)["MVM"][1]
    assert res.units[0].stores[-1] == res.units[1].stores[-1] + 1 == s + 5
    assert (res.buffer == 0).sum() == 4 * 3


def test_stores_of_two_units_to_one_value_land_in_the_order_they_write():
    """Unit 0 stores an MVM's output to buffer[8]; unit 1, issued later, stores its empty output
    register (0) there at once, long before unit 0's output exists. The interpreter's own store
    cycles put unit 1's write first, so buffer[8] ends as unit 0's value, 4 x 7 x 5 = 140 (before
    the fix the interpreter applied them in issue order and left 0). (A program without a SYNC
    between such STOREs; the interpreter refuses the like between a STORE and a LOAD.)"""
    tile = isa.TileParams(units=2, buffer_depth=16, max_length=4)
    buf = np.zeros(16, np.int64)
    buf[:4] = [7, 7, 7, 7]
    w = [np.full((4, 4), 5, np.int64), np.zeros((4, 4), np.int64)]
    prog = [I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4), I("MVM", unit=0),
            I("STORE", unit=0, acc=0, offset=0, addr=8, length=1),
            I("STORE", unit=1, acc=0, offset=0, addr=8, length=1), I("HALT")]
    want = interpreter.run(prog, tile, P.cfg, buf, weights=w)
    assert want.units[1].stores[-1] < want.units[0].stores[-1]      # unit 1 writes first
    assert want.buffer[8] == 4 * 7 * 5
    check(P, tile, prog, w, buf)


def test_loop_replays_its_body_with_shifted_addresses():
    """Four vectors through a LOOP (LOAD, MVM, STORE, stride 4), then a LOOP of one word
    (an adding STORE of the last output, three times, stride 0)."""
    rng = np.random.default_rng(13)
    tile = isa.TileParams(units=1, buffer_depth=40, max_length=4)
    buf = np.zeros(40, np.int64)
    buf[:16] = inputs(rng, 4, 4, P.input_bits).ravel()
    w = [random_weights(P, rng)]
    prog = [I("LOOP", count=4, body=3, stride=4), I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4),
            I("MVM", unit=0), I("STORE", unit=0, acc=0, offset=0, addr=16, length=4),
            I("LOOP", count=3, body=1, stride=0), I("STORE", unit=0, acc=1, offset=0, addr=32, length=4),
            I("HALT")]
    res = check(P, tile, prog, w, buf)
    assert res.counts["MVM"] == 4 and res.counts["STORE"] == 7
    np.testing.assert_array_equal(res.buffer[32:36], 3 * res.buffer[28:32])


@pytest.mark.parametrize("seed", range(3))
def test_random_programs_with_loops(seed):
    """Random programs on two units with LOOPs (1 to 3 iterations, bodies of 1 to 4 words,
    strides 0 to 4)."""
    res = check_random(300 + seed, 2, 30, {"LOOP": 3, "LOAD": 8, "MVM": 4, "MTVM": 2, "OPA": 1,
                                           "STORE": 6, "SYNC": 1})
    assert res.counts["LOOP"]


def test_verilog_export_elaborates_in_icarus(tmp_path):
    """``crosstrain verilog tile``'s block (two units, here 4 x 4) exports Verilog that Icarus
    compiles and elaborates without a warning, with the ports of the docstring."""
    require_simulator("icarus")
    tile = BLOCKS["tile"].build({"crossbar.rows": 4, "crossbar.cols": 4, "isa.buffer_depth": 64})
    assert tile.tile == isa.TileParams(units=2, buffer_depth=64, max_length=4)
    text = verilog_text(tile, "tile")
    for port in ("input [63:0] instr__payload", "input instr__valid", "output instr__ready",
                 "output halted", "output done", "output error", "output [31:0] stall_cycles",
                 "input host__en", "input host__we", "input [5:0] host__addr", "input [38:0] host__wdata",
                 "output [38:0] host__rdata", "output host__ready"):
        assert re.search(rf"^\s*{re.escape(port)};", text, re.M), port
    (tmp_path / "tile.v").write_text(text)
    r = subprocess.run(["iverilog", "-g2012", "-Wall", "-o", "tile.vvp", "tile.v"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr[:2000]


def test_compiled_dense_layer():
    """A dense layer (6 -> 6, batch 2) compiled by crosstrain compile's compiler onto four 4 x 4
    units (two row blocks adding into each output), the whole program from the packed buffer:
    WRITE of every weight row, forward, backward, OPA and CRS."""
    layer = Layer("fc", "fc", in_ch=6, out_ch=6)
    tile = compiler.tile_for(layer, P.cfg, units=4, batch=2)
    comp = compiler.compile_layer(layer, P.cfg, tile, batch=2, technique=Technique(crs_samples=2))
    rng = np.random.default_rng(21)
    top = 1 << (P.input_bits - 1)
    x, e = rng.integers(-top, top, (2, 6)), rng.integers(-top, top, (2, 6))
    w = rng.integers(-100, 101, (6, 6))
    buf = operands.pack(comp, x, w, e)
    res = check(P, tile, comp.program, None, buf)
    assert len(comp.blocks) == 4 and res.counts["LOOP"] and res.counts["CRS"] == 4
    assert res.counts["WRITE"] == 2 * 6                     # every weight row, in two column blocks
    y, dx, _ = operands.unpack(comp, res.buffer, [u.weights for u in res.units])
    # independently, by the layer's definition (no ADC clips these values)
    np.testing.assert_array_equal(y, x @ w)
    np.testing.assert_array_equal(dx, e @ w.T)


def test_writes_program_rows():
    """WRITE of every row (one row shorter than the block: its last weight becomes 0), an MVM,
    then an OPA, a WRITE of one row (that row's update slices restart from the new weights, the
    others keep the OPA) and a CRS, and an MVM on the result."""
    rng = np.random.default_rng(31)
    tile = isa.TileParams(units=1, buffer_depth=64, max_length=4)
    buf = np.zeros(64, np.int64)
    buf[:16] = rng.integers(-128, 128, 16)
    buf[16:32] = inputs(rng, 4, 4, P.input_bits).ravel()
    prog = [I("WRITE", unit=0, row=r, addr=4 * r, length=4 - (r == 2)) for r in range(4)]
    prog += [I("LOAD", unit=0, reg=0, offset=0, addr=16, length=4), I("MVM", unit=0),
             I("STORE", unit=0, acc=0, offset=0, addr=32, length=4),
             I("LOAD", unit=0, reg=0, offset=0, addr=20, length=4),
             I("LOAD", unit=0, reg=1, offset=0, addr=24, length=4), I("OPA", unit=0),
             I("WRITE", unit=0, row=1, addr=8, length=4), I("CRS", unit=0),
             I("LOAD", unit=0, reg=0, offset=0, addr=28, length=4), I("MVM", unit=0),
             I("STORE", unit=0, acc=0, offset=0, addr=36, length=4), I("HALT")]
    res = check(P, tile, prog, None, buf)
    w = buf[:16].reshape(4, 4).copy()
    w[2, 3] = 0
    np.testing.assert_array_equal(res.buffer[32:36], buf[16:20] @ w)     # no ADC clips these
    assert res.units[0].weights[1].tolist() == buf[8:12].tolist()       # row 1 rewritten, CRS exact


@pytest.mark.parametrize("seed", range(3))
def test_random_programs_with_writes(seed):
    """Random programs on two units with WRITEs among every other kind."""
    res = check_random(400 + seed, 2, 30, {"WRITE": 3, "LOAD": 6, "MVM": 3, "MTVM": 2, "OPA": 2,
                                           "CRS": 1, "STORE": 5, "SYNC": 1, "LOOP": 1})
    assert res.counts["WRITE"]


@pytest.mark.parametrize("phase_ns", [1, 2])
def test_emulator_stalls_add_cycles_apart(phase_ns):
    """OPA phases shorter than the emulator needs to apply a phase that drives every row: the
    emulator stalls the unit. On one unit everything waits for it, so the tile takes exactly
    the model's cycles plus the stalled cycles, and the values are golden's."""
    p = periphery_params(SMALL | {"tile.opa_phase_ns": phase_ns})
    tile = isa.TileParams(units=1, buffer_depth=64, max_length=4)
    rng = np.random.default_rng(0)
    buf = np.zeros(64, np.int64)
    buf[:12] = [7, 7, 7, 7, 3, -2, 5, 1, *inputs(rng, 1, 4, p.input_bits)[0]]
    w = [random_weights(p, rng)]
    prog = [I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4),
            I("LOAD", unit=0, reg=1, offset=0, addr=4, length=4), I("OPA", unit=0), I("OPA", unit=0),
            I("CRS", unit=0), I("LOAD", unit=0, reg=0, offset=0, addr=8, length=4), I("MVM", unit=0),
            I("STORE", unit=0, acc=0, offset=0, addr=40, length=4), I("HALT")]
    want = interpreter.run(prog, tile, p.cfg, buf, weights=w)
    got, cycles, stalls, error = simulate(p, tile, prog, w, buf)
    assert not error and np.array_equal(got, want.buffer)
    assert stalls > 0 and cycles == want.cycles + stalls


BENCH_TILE = tile_bench.SMALL_TILE


def dense_case(seed):
    """``(program, buffer)``: the dense layer of :func:`test_compiled_dense_layer` compiled onto
    :data:`BENCH_TILE`, from random inputs, weights and errors (the whole signed ranges)."""
    layer = Layer("fc", "fc", in_ch=6, out_ch=6)
    comp = compiler.compile_layer(layer, P.cfg, BENCH_TILE, batch=2, technique=Technique(crs_samples=2))
    rng = np.random.default_rng(seed)
    top, wtop = 1 << (P.input_bits - 1), 1 << (P.weight_bits - 1)
    x, e = rng.integers(-top, top, (2, 6)), rng.integers(-top, top, (2, 6))
    return comp.program, operands.pack(comp, x, rng.integers(-wtop, wtop, (6, 6)), e)


@pytest.mark.parametrize("case", [pytest.param({"dense": 21}, marks=pytest.mark.slow),
                                  pytest.param({"kind": "random", "seed": 511}, marks=pytest.mark.slow),
                                  pytest.param({"kind": "loop", "iterations": 3}, marks=pytest.mark.slow)])
def test_host_port_fills_and_reads_the_buffer(case):
    """tile_bench's body in amaranth.sim: the buffer written through ``host`` one value a cycle
    (``ready`` high throughout), the program from WRITEs of weights in the buffer on (the arrays
    start at zero), the buffer read back through ``host``: bit for bit and the ``done`` cycle
    exactly golden's (the host port changes no cycle of the scheduler). In the `slow` run: the
    default run checks the same body on Icarus (:func:`test_cocotb_bench`)."""
    program, buffer = (dense_case(case["dense"]) if "dense" in case
                       else tile_bench.make_case(P, BENCH_TILE, **case))
    run = tile_bench.simulate(P, BENCH_TILE, program, buffer)
    want = tile_bench.check(P, BENCH_TILE, program, buffer, run, str(case))
    assert np.any(run.buffer != buffer)                  # the program did store something
    assert want.counts["WRITE"] >= 8


def test_host_access_waits_for_the_units_and_holds_the_scheduler():
    """An MVM in flight: ``host.ready`` is low until the unit has finished and its STORE is
    written; while ``host.en`` is high no word is taken; the read then sees the STORE's value."""
    tile = isa.TileParams(units=1, buffer_depth=16, max_length=4)
    buf = np.arange(16, dtype=np.int64) - 3
    prog = [I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4), I("MVM", unit=0),
            I("STORE", unit=0, acc=0, offset=0, addr=8, length=4), I("HALT")]
    w = random_weights(P, np.random.default_rng(3))
    want = interpreter.run(prog, tile, P.cfg, buf, weights=[w])
    dut = Tile(params=P, tile=tile, weights=[w], init=buf)
    words = [isa.encode(i, tile) for i in prog]
    seen = {"ready": [], "taken_while_en": 0}

    async def bench(ctx):
        for k, word in enumerate(words[:3]):            # LOAD, MVM, STORE, back to back
            ctx.set(dut.instr.valid, 1)
            ctx.set(dut.instr.payload, word)
            await ctx.tick().until(dut.instr.ready)
        ctx.set(dut.instr.payload, words[3])             # HALT offered, held back by the host
        ctx.set(dut.host.en, 1)
        ctx.set(dut.host.addr, 9)
        for _ in range(60):
            seen["ready"].append(ctx.get(dut.host.ready))
            seen["taken_while_en"] += ctx.get(dut.instr.ready)
            if seen["ready"][-1]:
                break
            await ctx.tick()
        await ctx.tick()
        ctx.set(dut.host.en, 0)
        seen["rdata"] = ctx.get(dut.host.rdata)
        await ctx.tick().until(dut.done)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen["ready"][0] == 0 and seen["ready"][-1] == 1, seen["ready"]
    assert seen["taken_while_en"] == 0
    assert seen["rdata"] == want.buffer[9]


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_cocotb_bench(simulator):
    """tile_bench in the exported Verilog, one build for every case: the compiled dense layer and
    a random program of every kind on four units, each filled through ``host``, run with no
    Python per cycle until ``done``, read back: buffer bit for bit and the ``done`` cycle exactly
    the interpreter's (checked in the bench). Verilator in the `slow` run: its first build of the
    tile takes minutes on two cores (cached in build/cocotb after; a run then takes ~20 s)."""
    cases = [tile_bench.given_case(*dense_case(21)), {"kind": "random", "seed": 511}]
    tests, failed = run_bench(Tile(params=P, tile=BENCH_TILE, value_bits=32), design="tile",
                              params=tile_bench.design_params(P, BENCH_TILE, 32), simulator=simulator,
                              test_module="crosstrain.tb.tile_bench",
                              extra_env={tile_bench.CASES_ENV: json.dumps(cases)}, ports_only=True)
    assert (tests, failed) == (1, 0)


def layer_shapes(layer, batch):
    """``(x shape, w shape, y shape)`` of the operands :mod:`crosstrain.rollup.operands` packs."""
    if layer.kind == "fc":
        return (batch, layer.in_ch), (layer.in_ch, layer.out_ch), (batch, layer.out_ch)
    k = layer.kernel
    w = (k, k, layer.in_ch, layer.out_ch) if layer.kind == "conv" else (layer.in_ch, layer.out_ch, k, k)
    return (batch, layer.in_ch, layer.in_h, layer.in_w), w, (batch, layer.out_ch, layer.out_h, layer.out_w)


def compiled_layer(layer, batch, seed):
    """``layer`` compiled for ``batch`` samples (CRS after the batch) on 4 x 4 units, run on the
    tile against the interpreter from a packed buffer of small random operands; returns the
    interpreter's run, the compiled program and the operands."""
    tile = compiler.tile_for(layer, P.cfg, units=60, batch=batch)
    comp = compiler.compile_layer(layer, P.cfg, tile, batch=batch, technique=Technique(crs_samples=batch))
    tile = isa.TileParams(units=len(comp.blocks), buffer_depth=tile.buffer_depth, max_length=4)
    comp = compiler.compile_layer(layer, P.cfg, tile, batch=batch, technique=Technique(crs_samples=batch))
    rng = np.random.default_rng(seed)
    x_shape, w_shape, y_shape = layer_shapes(layer, batch)
    x, e = rng.integers(-3, 4, x_shape), rng.integers(-3, 4, y_shape)
    w = rng.integers(-8, 9, w_shape)
    res = check(P, tile, comp.program, None, operands.pack(comp, x, w, e), note=layer.name)
    return res, comp, (x, w, e)


def definition(layer, x, w, e):
    """``(y, dx)`` of ``layer`` by its definition, loops over the output pixels and taps (no
    im2col, no phase decomposition): fc ``x @ w``, ``e @ w.T``; conv
    ``y[o, i, j] += x[c, i s + ky - p, j s + kx - p] w[ky, kx, c, o]``; transposed conv
    ``y[o, i s + ky - p, j s + kx - p] += x[c, i, j] w[c, o, ky, kx]``; ``dx`` the same sums
    read backwards (each pair's error times the weight, onto the input pixel)."""
    if layer.kind == "fc":
        return x @ w, e @ w.T
    y, dx = np.zeros(e.shape, np.int64), np.zeros(x.shape, np.int64)
    k, s, p = layer.kernel, layer.stride, layer.padding
    conv = layer.kind == "conv"
    big, small = (y, x) if conv else (x, y)               # conv: outputs index the loop
    for i in range(big.shape[2]):
        for j in range(big.shape[3]):
            for ky in range(k):
                for kx in range(k):
                    r, q = i * s + ky - p, j * s + kx - p
                    if not (0 <= r < small.shape[2] and 0 <= q < small.shape[3]):
                        continue
                    if conv:
                        y[:, :, i, j] += x[:, :, r, q] @ w[ky, kx]
                        dx[:, :, r, q] += e[:, :, i, j] @ w[ky, kx].T
                    else:
                        y[:, :, r, q] += x[:, :, i, j] @ w[:, :, ky, kx]
                        dx[:, :, i, j] += e[:, :, r, q] @ w[:, :, ky, kx].T
    return y, dx


def test_compiled_conv_layer():
    """A 3x3 convolution (1 -> 3 channels, 3x3 input, padding 1, im2col rows 9 in three 4 x 4
    row blocks) compiled and run on the tile: forward, backward, OPA, CRS; the output is the
    convolution's definition (small operands: no ADC clips)."""
    layer = Layer("conv", "conv", in_ch=1, out_ch=3, in_h=3, in_w=3, kernel=3, padding=1)
    res, comp, (x, w, e) = compiled_layer(layer, 1, seed=41)
    y, dx, _ = operands.unpack(comp, res.buffer, [u.weights for u in res.units])
    for got, want in zip((y, dx), definition(layer, x, w, e)):
        np.testing.assert_array_equal(got, want)
    assert len(comp.blocks) == 3 and res.counts["MVM"] == 3 * 9


def test_compiled_transposed_conv_layer():
    """A stride-2 transposed convolution (1 -> 3 channels, 2x2 -> 4x4, kernel 4, padding 1: a
    DCGAN layer's geometry) in its four phase groups of 2 x 2 taps, one unit each, one LOOP body
    driving all four units; the output is the scatter definition."""
    layer = Layer("tconv", "tconv", in_ch=1, out_ch=3, in_h=2, in_w=2, kernel=4, stride=2, padding=1)
    res, comp, (x, w, e) = compiled_layer(layer, 1, seed=42)
    y, dx, _ = operands.unpack(comp, res.buffer, [u.weights for u in res.units])
    for got, want in zip((y, dx), definition(layer, x, w, e)):
        np.testing.assert_array_equal(got, want)
    assert len(comp.regions) == len(comp.blocks) == 4
    assert sum(i.op == "LOOP" for i in comp.program) == 3       # one per phase: the groups together


# Issue 13's three layers on the exported tile in cocotb (no Python per cycle): at reduced sizes
# on one Icarus build by default, at the issue's sizes on Verilator in the `slow` run.
#: SMALL with 6-bit ADCs: a step's column sum is at most 4 rows x 3 (2-bit DAC) x 3 (2-bit cell)
#: = 36 <= 63, so no ADC clips and the layer's definition holds for any operands.
LAYERS_P = periphery_params(SMALL | {"converters.adc_bits": 6})
REDUCED_LAYERS = [
    (Layer("dense", "fc", in_ch=8, out_ch=8), 2),            # 2 x 2 blocks, batch 2
    (Layer("conv3x3", "conv", in_ch=1, out_ch=4, in_h=4, in_w=4, kernel=3, padding=1), 1),
    # a DCGAN generator layer's geometry (kernel 4, stride 2, padding 1): four phase groups
    (Layer("dcgan", "tconv", in_ch=1, out_ch=3, in_h=2, in_w=2, kernel=4, stride=2, padding=1), 2)]
#: The `slow` run's tile: 32 x 32 arrays (a 128 x 128 emulated unit exports to ~557,000 lines of
#: Verilog, ~26 min to build with Verilator on the shared two cores, and PANTHER's 20 ns OPA
#: phases stall its emulator; the issue's layers need 2 to 4 such units: docs/rtl.md) with
#: PANTHER's timing, the precision of tests/rollup/test_compiler.py's WIDE and 12-bit lossless
#: ADCs (the CRS reads 12-bit update levels; 32 rows x 3 <= 4095: no clip).
MID_P = periphery_params({"crossbar.rows": 32, "crossbar.cols": 32,
                          "precision.weight_bits": 8, "precision.weight_frac_bits": 4,
                          "precision.input_bits": 6, "precision.error_bits": 6,
                          "precision.update_slices": 8, "precision.update_slice_bits": (12,),
                          "converters.adc_bits": 12, "converters.adc_mode": "lossless"})
MID_LAYERS = [
    (Layer("dense", "fc", in_ch=64, out_ch=64), 8),          # 2 x 2 blocks, batch 8
    # the issue's 16x16 input and 3x3 kernel; 4 -> 16 channels: im2col rows 36 in 2 row blocks
    (Layer("conv3x3", "conv", in_ch=4, out_ch=16, in_h=16, in_w=16, kernel=3, padding=1), 1),
    # the issue's DCGAN layer geometry, 8x8 -> 16x16, at 8 -> 8 channels: 4 phase groups of 32 rows
    (Layer("dcgan", "tconv", in_ch=8, out_ch=8, in_h=8, in_w=8, kernel=4, stride=2, padding=1), 2)]


def layers_tile(p, layers, units):
    """The one tile (``units`` units) whose buffer holds each of ``layers`` and its weight
    read-back (:func:`with_readback`)."""
    pitch = max(p.rows, p.cols)
    depth = max(compiler.tile_for(layer, p.cfg, units=units, batch=batch).buffer_depth
                for layer, batch in layers)
    return isa.TileParams(units=units, buffer_depth=depth + (1 + units) * p.rows * pitch,
                          max_length=pitch)


LAYERS_TILE = layers_tile(LAYERS_P, REDUCED_LAYERS, 4)


def with_readback(comp, p):
    """``comp``'s program with the units' weights read back into the buffer before HALT, and
    where they land: row ``r`` of each block through an MVM of the one-hot row ``r`` (stored at
    ``ident + r * pitch``), its output stored at ``back + (unit * rows + r) * pitch`` (a
    crossbar's MVM of a one-hot input is that row of weights exactly: one row driven, no ADC
    clips). Only the rows a block has (its unit's other rows keep what an earlier case of the
    same build left: the arrays are not reset); the units read concurrently, LOOPs over the rows
    as the compiler's. Returns ``(program, ident, back, pitch)``; the buffer must hold
    ``back + units * rows * pitch`` values."""
    R, C = p.rows, p.cols
    pitch, ident = max(R, C), comp.regions[-1].end
    back, prog, done = ident + R * pitch, comp.program[:-1], 0
    assert comp.program[-1].op == "HALT"
    for end in sorted({b.r1 - b.r0 for b in comp.blocks}):
        body = []
        for b in comp.blocks:
            if b.r1 - b.r0 >= end:
                body += [I("LOAD", unit=b.unit, reg=0, offset=0, addr=ident + done * pitch, length=R),
                         I("MVM", unit=b.unit), I("STORE", unit=b.unit, acc=0, offset=0,
                                                  addr=back + (b.unit * R + done) * pitch, length=C)]
        prog += [I("LOOP", count=end - done, body=len(body), stride=pitch), *body]
        done = end
    return prog + [I("SYNC", mask=(1 << len(comp.blocks)) - 1), I("HALT")], ident, back, pitch


def layer_case(p, tile, layer, batch, seed):
    """``layer`` for ``batch`` samples (CRS after the batch) compiled onto ``tile`` with the
    weight read-back (:func:`with_readback`); operands drawn over their whole signed ranges
    (``input_bits`` for x and e, ``weight_bits`` for w). Returns ``(comp, program, buffer,
    (x, w, e), (back, pitch))``."""
    comp = compiler.compile_layer(layer, p.cfg, tile, batch=batch, technique=Technique(crs_samples=batch))
    program, ident, back, pitch = with_readback(comp, p)
    rng = np.random.default_rng(seed)
    x_shape, w_shape, y_shape = layer_shapes(layer, batch)
    top, wtop = 1 << (p.input_bits - 1), 1 << (p.weight_bits - 1)
    x, w, e = rng.integers(-top, top, x_shape), rng.integers(-wtop, wtop, w_shape), rng.integers(-top, top, y_shape)
    buf = np.zeros(tile.buffer_depth, np.int64)
    packed = operands.pack(comp, x, w, e)
    buf[:ident] = packed[:ident]
    if back + tile.units * p.rows * pitch > tile.buffer_depth:
        raise ValueError(f"{layer.name}: the read-back needs a buffer of {back + tile.units * p.rows * pitch}")
    for r in range(p.rows):
        buf[ident + r * pitch + r] = 1
    return comp, program, buf, (x, w, e), (back, pitch)


def run_layers(p, tile, cases, simulator, tmp_path):
    """``cases`` (``layer_case`` results) on one build of the tile in ``simulator``; the bench
    checks every buffer bit for bit and every ``done`` cycle against the interpreter. Then, here:
    ``y`` and ``dx`` equal the layer's :func:`definition`; the weights read back equal the
    interpreter's units' weights after the CRS, and the OPAs changed them."""
    out, given = tmp_path / "runs.json", tmp_path / "cases.json"       # too large for the environment
    given.write_text(json.dumps([tile_bench.given_case(prog, buf) for _, prog, buf, _, _ in cases]))
    tests, failed = run_bench(Tile(params=p, tile=tile, value_bits=32), design="tile",
                              params=tile_bench.design_params(p, tile, 32), simulator=simulator,
                              test_module="crosstrain.tb.tile_bench", ports_only=True,
                              extra_env={tile_bench.CASES_ENV: f"@{given}", tile_bench.RESULTS_ENV: str(out)})
    assert (tests, failed) == (1, 0)
    runs = json.loads(out.read_text())
    for (comp, prog, buf, (x, w, e), (back, pitch)), run in zip(cases, runs):
        got = np.array(run["buffer"], np.int64)
        want = interpreter.run(prog, tile, p.cfg, buf)
        assert run["cycles"] == want.cycles and np.array_equal(got, want.buffer)   # the bench's check, again
        y, dx, _ = operands.unpack(comp, got, [u.weights for u in want.units])
        for name, g, d in zip(("y", "dx"), (y, dx), definition(comp.layer, x, w, e)):
            np.testing.assert_array_equal(g, d, err_msg=f"{comp.layer.name}: {name}")
        read = [got[back + u * p.rows * pitch:][:p.rows * pitch].reshape(p.rows, pitch)[:, :p.cols]
                for u in range(tile.units)]
        for b in comp.blocks:
            n = b.r1 - b.r0
            assert np.array_equal(read[b.unit][:n], want.units[b.unit].weights[:n]), \
                f"{comp.layer.name}: unit {b.unit}"
        _, _, w_new = operands.unpack(comp, got, read)
        assert np.any(w_new != w), f"{comp.layer.name}: the OPAs and CRS changed no weight"
        assert want.counts["OPA"] and want.counts["CRS"] == len(comp.blocks)


@pytest.mark.cocotb
def test_issue_layers_on_icarus(tmp_path):
    """Issue 13's three layers at reduced sizes, compiled and run on one Icarus build of a tile of
    four 4 x 4 units: a dense layer 8 -> 8 in 2 x 2 blocks at batch 2, a 3x3 convolution 1 -> 4
    channels on a 4x4 input (im2col rows 9 in three row blocks), and a stride-2 transposed
    convolution 1 -> 3 channels, 2x2 -> 4x4 at batch 2 in its four phase groups (inserted zeros
    skipped: each output pixel drives its phase's 2 x 2 taps), each forward, back-propagation,
    OPA and CRS, with the weights read back (:func:`run_layers`); operands over their whole
    ranges (:data:`LAYERS_P`: no ADC clips)."""
    cases = [layer_case(LAYERS_P, LAYERS_TILE, layer, batch, seed=50 + n)
             for n, (layer, batch) in enumerate(REDUCED_LAYERS)]
    run_layers(LAYERS_P, LAYERS_TILE, cases, "icarus", tmp_path)
    (layer, batch), tconv = REDUCED_LAYERS[2], cases[2][0]
    naive = batch * layer.out_h * layer.out_w * layer.kernel ** 2 * layer.in_ch   # zero-inserted conv
    assert len(tconv.regions) == 4 and sum(r.rows * r.vectors for r in tconv.regions) == naive // 4


@pytest.mark.slow
@pytest.mark.cocotb
def test_issue_layers_on_verilator(tmp_path):
    """Issue 13's three layers at the sizes of :data:`MID_LAYERS` on one Verilator build of a
    tile of four 32 x 32 units (:data:`MID_P`): the dense layer 64 -> 64 at batch 8 (2 x 2
    blocks), the 3x3 convolution 4 -> 16 channels on the issue's 16x16 input (2 row blocks, 256
    vectors), the DCGAN layer 8 -> 8 channels, 8x8 -> 16x16 at batch 2 in its four phase groups
    (one unit each); forward, back-propagation, OPA, CRS and the weights read back, checked as
    :func:`test_issue_layers_on_icarus` (:func:`run_layers`)."""
    tile = layers_tile(MID_P, MID_LAYERS, 4)
    cases = [layer_case(MID_P, tile, layer, batch, seed=60 + n)
             for n, (layer, batch) in enumerate(MID_LAYERS)]
    assert [len(c[0].blocks) for c in cases] == [4, 2, 4]
    run_layers(MID_P, tile, cases, "verilator", tmp_path)
