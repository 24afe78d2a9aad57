"""The (pipelined) adder tree against numpy sums of the same values (amaranth.sim)."""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, Signal
from amaranth.sim import Simulator

from crosstrain.rtl.adder_tree import tree_sum


@pytest.mark.parametrize("n, width, stages", [(1, 3, 0), (1, 3, 2), (5, 1, 1), (8, 2, 0),
                                              (13, 4, 2), (128, 1, 3), (7, 3, 5)])
def test_sum_is_the_values_stages_cycles_earlier(n, width, stages):
    seed = n * 100 + stages
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 1 << width, (40, n))
    m = Module()
    m.domains.sync = ClockDomain()
    ins = [Signal(width, name=f"v{k}") for k in range(n)]
    out = Signal(range(n * ((1 << width) - 1) + 1))
    m.d.comb += out.eq(tree_sum(ins, m=m, stages=stages))
    got = []

    async def bench(ctx):
        for row in values:
            for s, v in zip(ins, row):
                ctx.set(s, int(v))
            got.append(ctx.get(out))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    want = values.sum(axis=1)
    assert got[stages:] == list(want[:len(want) - stages]), f"seed={seed}"


def test_bad_stages():
    with pytest.raises(ValueError, match="stages must be a non-negative integer, not -1"):
        tree_sum([Signal(2)], stages=-1)
    with pytest.raises(ValueError, match="needs the module m"):
        tree_sum([Signal(2)], stages=1)
