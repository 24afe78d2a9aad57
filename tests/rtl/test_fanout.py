"""Register copies (crosstrain.rtl.fanout.copies): the same contents as one register, and kept
apart by Yosys where plain copies are merged."""

import gc
import subprocess

import numpy as np
import pytest
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from crosstrain.rtl.export import verilog_text
from crosstrain.rtl.fanout import copies
from crosstrain.tools import yosys_command

N, WIDTH, INIT = 3, 4, 5


class Copies(wiring.Component):
    """``N`` registers loading ``value`` on ``enable``: by :func:`copies`, or written plainly."""

    def __init__(self, plain: bool):
        self._plain = plain
        super().__init__({"value": In(WIDTH), "enable": In(1), "one": Out(WIDTH, init=INIT),
                          "copies": Out(N * WIDTH)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.enable):                      # the reference: one register
            m.d.sync += self.one.eq(self.value)
        if self._plain:
            regs = [Signal(WIDTH, init=INIT, name=f"plain{k}") for k in range(N)]
            for r in regs:
                with m.If(self.enable):
                    m.d.sync += r.eq(self.value)
        else:
            regs = copies(m, self.value, N, name="value", enable=self.enable, init=INIT)
        m.d.comb += self.copies.eq(Cat(regs))
        return m


@pytest.mark.parametrize("seed", range(2))
def test_copies_hold_what_one_register_holds(seed):
    dut = Copies(plain=False)
    rng = np.random.default_rng(seed)

    async def bench(ctx):
        want = INIT
        for cycle in range(200):
            got = ctx.get(dut.copies)
            assert [(got >> (k * WIDTH)) & 15 for k in range(N)] == [want] * N, f"seed={seed} cycle={cycle}"
            v, en = int(rng.integers(0, 16)), bool(rng.random() < 0.5)
            ctx.set(dut.value, v)
            ctx.set(dut.enable, en)
            await ctx.tick()
            want = v if en else want

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def flip_flops(tmp_path, plain: bool) -> int:
    """Flip-flop bits of the design after Yosys' generic ``synth`` (which merges identical cells)."""
    (tmp_path / "c.v").write_text(verilog_text(Copies(plain=plain), "c"))
    r = subprocess.run([yosys_command(), "-q", "-p", "read_verilog c.v; synth -top c; tee -q -o c.stat stat"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    stat = (tmp_path / "c.stat").read_text()
    return sum(int(line.split()[0]) for line in stat.splitlines() if "DFF" in line)


def test_yosys_keeps_the_copies_apart(tmp_path):
    assert flip_flops(tmp_path, plain=True) == WIDTH                 # all merged into `one`
    assert flip_flops(tmp_path, plain=False) == (N + 1) * WIDTH


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("n", [-1, True, 1.5])
def test_bad_count(n):
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        copies(Module(), Signal(2), n, name="x")
    gc.collect()            # the unused module warns when collected: do it under the filter
