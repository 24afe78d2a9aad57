"""The tile's banked vector buffer: any window of lanes read and written in one access."""

import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from crosstrain.golden.config import ConfigError
from crosstrain.rtl.tile_buffer import TileBuffer, bank_count


@pytest.mark.parametrize("seed", range(2))
def test_windows_read_and_write_like_a_list(seed):
    """Random windows of 3 lanes (4 banks) against a numpy copy: reads at every base, including
    those reaching past either end (lanes in range only), masked writes, and the rmw port seeing
    a write of the same cycle while rd does not."""
    rng = np.random.default_rng(seed)
    depth, lanes = 21, 3
    ref = rng.integers(-128, 128, depth)
    dut = TileBuffer(depth=depth, lanes=lanes, value_bits=8, init=ref)
    assert bank_count(lanes) == len(dut.memories) == 4

    async def bench(ctx):
        for _ in range(40):
            base = int(rng.integers(-2, depth))
            mask = int(rng.integers(0, 8))
            mask &= sum(1 << i for i in range(lanes) if 0 <= base + i < depth)
            vals = rng.integers(-128, 128, lanes)
            for port in (dut.rd, dut.rmw):
                ctx.set(port.base, base)
                ctx.set(port.en, 1)
            ctx.set(dut.wr.base, base)
            ctx.set(dut.wr.mask, mask)
            ctx.set(dut.wr.data, [int(v) for v in vals])
            old = ref.copy()
            for i in range(lanes):
                if mask >> i & 1:
                    ref[base + i] = vals[i]
            await ctx.tick()
            for i in range(lanes):
                if 0 <= base + i < depth:
                    note = f"seed {seed} base {base} lane {i}"
                    assert ctx.get(dut.rd.data[i]) == old[base + i], note
                    assert ctx.get(dut.rmw.data[i]) == ref[base + i], note
        banks = dut.memories
        assert [ctx.get(banks[a % 4].data[a // 4]) for a in range(depth)] == ref.tolist()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    try:
        sim.run()
    except AssertionError:
        print(f"failing seed {seed}")
        raise


@pytest.mark.parametrize("kw, match", [
    ({"lanes": 0}, r"lanes = 0 is not allowed"),
    ({"value_bits": 65}, r"value_bits = 65 is not allowed: an integer from 1 to 64"),
    ({"init": [0] * 5}, r"init holds 5 values, not depth = 8"),
    ({"init": [0] * 7 + [128]}, r"init value 128 does not fit value_bits = 8"),
])
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_parameters_are_one_line(kw, match):
    with pytest.raises(ConfigError, match=match):
        TileBuffer(**{"depth": 8, "lanes": 2, "value_bits": 8, **kw})
    gc.collect()                     # the refused objects warn here, inside the filter
