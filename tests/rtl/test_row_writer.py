"""The row writer: a weight row's copy levels and update-slice digits, in one row write of
write_row_cycles, against crosstrain.golden's encoding and UpdateArrays."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from crosstrain.golden import encoding
from crosstrain.golden.opa import UpdateArrays
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.row_writer import RowWriter

SMALL = {"crossbar.rows": 4, "crossbar.cols": 3, "precision.weight_bits": 8,
         "precision.weight_frac_bits": 0, "precision.input_bits": 4, "precision.error_bits": 4,
         "precision.update_slices": 6, "precision.update_slice_bits": 3, "device.write_latency_ns": 3}


@pytest.mark.parametrize("encoding_name", ["offset", "differential"])
@pytest.mark.parametrize("seed", range(2))
def test_rows_match_golden_and_take_write_row_cycles(encoding_name, seed):
    p = periphery_params(SMALL | {"crossbar.encoding": encoding_name})
    rng = np.random.default_rng(seed)
    top = 1 << (p.weight_bits - 1)
    w = rng.integers(-top + (encoding_name == "differential"), top, (p.rows, p.cols))
    levels = encoding.slice_weights(w, p.cfg)[0]                        # (arrays, rows, cols)
    cells = np.rint(UpdateArrays(p.cfg, w).cells).astype(np.int64)     # (slices, rows, cols)
    dut = RowWriter(params=p)
    seen = []

    async def bench(ctx):
        for r in range(p.rows):
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload.row, r)
            ctx.set(dut.i.payload.w, [int(v) for v in w[r]])
            while not ctx.get(dut.i.ready):
                await ctx.tick()
            await ctx.tick()                                          # accepted at this edge
            ctx.set(dut.i.valid, 0)
            n = 0
            while ctx.get(dut.write):
                assert ctx.get(dut.rows) == 1 << r
                got_levels = [[ctx.get(dut.levels[a][c]) for c in range(p.cols)] for a in range(p.arrays)]
                got_digits = [[ctx.get(dut.digits[s][c]) for c in range(p.cols)]
                              for s in range(p.update_slices)]
                seen.append((r, got_levels, got_digits))
                n += 1
                await ctx.tick()
            assert n == p.write_row_cycles, f"row {r}: {n} write cycles, model {p.write_row_cycles}"
            assert ctx.get(dut.i.ready)                               # the next row the cycle after

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    try:
        sim.run()
        for r, got_levels, got_digits in seen:
            assert got_levels == levels[:, r].tolist(), f"row {r} levels"
            assert got_digits == cells[:, r].tolist(), f"row {r} digits"
    except AssertionError:
        print(f"failing seed {seed} ({encoding_name})")
        raise
    assert len(seen) == p.rows * p.write_row_cycles
