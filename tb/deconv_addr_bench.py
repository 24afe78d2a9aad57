"""cocotb bench of crosstrain.rtl.deconv_addr.DeconvAddressGenerator against crosstrain.golden.deconv.read_sequence.

The exported top has ports ``start``, ``busy``, ``o__valid``, ``o__ready``, ``o__payload``; the
payload is read as one vector and split with the same layout the RTL uses.
"""

import cocotb
import numpy as np
from amaranth.hdl import Shape
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from crosstrain.golden.deconv import READ_FIELDS, ConvTranspose, read_sequence
from crosstrain.rtl.deconv_addr import read_layout
from crosstrain.tb.runner import bench_params


async def setup(dut):
    """Start the clock, reset; returns (spec, payload fields as (offset, width), golden reads)."""
    spec = ConvTranspose(**bench_params())
    layout = read_layout(spec)
    fields = [(layout[f].offset, Shape.cast(layout[f].shape).width) for f in READ_FIELDS]
    Clock(dut.clk, 10, unit="ns").start()
    await reset(dut)
    return spec, fields, read_sequence(spec)


def unpack(word, fields):
    return tuple((word >> off) & ((1 << width) - 1) for off, width in fields)


async def reset(dut):
    dut.rst.value = 1
    dut.start.value = 0
    dut.o__ready.value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0


async def run_layer(dut, fields, ready, *, stop_after=None):
    """Pulse start, then each cycle apply ``ready(cycle)`` and record accepted reads.

    Returns (reads, cycles from start to busy low). With ``stop_after`` returns after that many
    reads, leaving the generator mid-layer.
    """
    await FallingEdge(dut.clk)
    dut.start.value = 1
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.start.value = 0
    reads, cycles = [], 1
    while True:
        r = ready(cycles)
        dut.o__ready.value = r
        await ReadOnly()
        valid, busy = int(dut.o__valid.value), int(dut.busy.value)
        word = dut.o__payload.value.to_unsigned()
        if not busy:
            return reads, cycles
        if valid and r:
            reads.append(unpack(word, fields))
            if stop_after is not None and len(reads) == stop_after:
                return reads, cycles
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        cycles += 1


def check(reads, want, note=""):
    got = np.array(reads, dtype=np.int64).reshape(-1, len(READ_FIELDS))
    assert got.shape == want.shape, f"{len(got)} reads, golden has {len(want)} {note}"
    bad = np.flatnonzero((got != want).any(axis=1))
    assert not len(bad), (f"read {bad[0]}: got {got[bad[0]].tolist()}, golden "
                          f"{want[bad[0]].tolist()} {note}")


@cocotb.test()
async def full_layer_one_read_per_cycle(dut):
    spec, fields, want = await setup(dut)
    reads, cycles = await run_layer(dut, fields, lambda c: 1)
    check(reads, want)
    assert cycles == len(want) + 1, f"{cycles} cycles for {len(want)} reads"
    dut._log.info(f"{spec.describe()}: {len(want)} reads in {cycles} cycles")


@cocotb.test()
async def random_back_pressure(dut):
    _, fields, want = await setup(dut)
    seed = 7
    rng = np.random.default_rng(seed)
    reads, _ = await run_layer(dut, fields, lambda c: int(rng.random() < 0.5))
    check(reads, want, f"(ready seed {seed})")


@cocotb.test()
async def reset_mid_layer_then_full_layer(dut):
    _, fields, want = await setup(dut)
    await run_layer(dut, fields, lambda c: 1, stop_after=len(want) // 3)
    await FallingEdge(dut.clk)
    await reset(dut)
    await ReadOnly()
    assert int(dut.busy.value) == 0 and int(dut.o__valid.value) == 0
    reads, _ = await run_layer(dut, fields, lambda c: 1)
    check(reads, want)
