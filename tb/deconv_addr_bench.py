"""Bench of crosstrain.rtl.deconv_addr.DeconvAddressGenerator against crosstrain.golden.deconv.read_sequence.

One body, :func:`run_layer` (a :mod:`crosstrain.tb.testbench` bench: ``start`` pulsed, every
read taken from ``o`` by a stream sink that also checks the payload holds while stalled, ``busy``
probed), serves amaranth.sim (:func:`simulate`, tests/rtl/test_deconv_addr.py) and cocotb on
Icarus and Verilator (the tests at the bottom; the bench gets ``ConvTranspose.as_params()``).
Reads are unpacked with the RTL's ``read_layout``.
"""

from __future__ import annotations

import cocotb
import numpy as np

from crosstrain.golden.deconv import READ_FIELDS, ConvTranspose, read_sequence
from crosstrain.rtl.deconv_addr import read_layout
from crosstrain.tb.runner import bench_params
from crosstrain.tb.stream import StreamSink, random_pauses
from crosstrain.tb.testbench import run_amaranth, run_cocotb
from crosstrain.tb.words import Codec


def reads_array(transfers) -> np.ndarray:
    """Reads (columns :data:`crosstrain.golden.deconv.READ_FIELDS`), as ``read_sequence`` gives them."""
    rows = [[int(t.value[f]) for f in READ_FIELDS] for t in transfers]
    return np.array(rows, dtype=np.int64).reshape(-1, len(READ_FIELDS))


async def run_layer(tb, spec: ConvTranspose, *, prefix: str = "o", pause=None,
                    stop_after: int | None = None, restart_at: int | None = None):
    """Pulse ``start`` and take the reads from ``PREFIX`` (stalled where ``pause`` says) until
    ``busy`` falls; with ``stop_after``, stop taking after that many reads (mid-layer);
    ``restart_at`` pulses ``start`` again that many cycles after the first (it must be ignored).
    Returns (reads, cycles from the ``start`` cycle to the first with ``busy`` low)."""
    busy = tb.probe("busy")
    sink = tb.add(StreamSink(tb, prefix, codec=Codec(read_layout(spec)), pause=pause))
    tb.set("start", 1)
    start = tb.cycle
    await tb.ticks(1)
    tb.set("start", 0)
    if restart_at is not None:
        await tb.ticks(restart_at - 1)
        tb.set("start", 1)
        await tb.ticks(1)
        tb.set("start", 0)
    limit = 20 * (len(read_sequence(spec)) + 10)
    if stop_after is not None:
        await sink.wait(stop_after, timeout=limit)
    else:
        await tb.until(lambda: busy.high and not busy.value, timeout=limit, what="busy never fell")
    tb.remove(busy, sink)
    return reads_array(sink.transfers), busy.last - start + 1


def simulate(spec: ConvTranspose, *, ready_seed: int | None = None, restart_at: int | None = None):
    """:func:`run_layer` on a :class:`~crosstrain.rtl.deconv_addr.DeconvAddressGenerator` in
    amaranth.sim: ``o.ready`` random (high with probability 0.6) when ``ready_seed`` is given."""
    from crosstrain.rtl.deconv_addr import DeconvAddressGenerator

    pause = None if ready_seed is None else random_pauses(np.random.default_rng(ready_seed), 0.4)

    async def body(tb):
        await tb.reset()
        return await run_layer(tb, spec, pause=pause, restart_at=restart_at)

    return run_amaranth(DeconvAddressGenerator(spec=spec), body)


def check(reads, want, note=""):
    assert reads.shape == want.shape, f"{len(reads)} reads, golden has {len(want)} {note}"
    bad = np.flatnonzero((reads != want).any(axis=1))
    assert not len(bad), (f"read {bad[0]}: got {reads[bad[0]].tolist()}, golden "
                          f"{want[bad[0]].tolist()} {note}")


# ---- cocotb tests ------------------------------------------------------------------------------
def setup():
    spec = ConvTranspose(**bench_params())
    return spec, read_sequence(spec)


@cocotb.test()
async def full_layer_one_read_per_cycle(dut):
    spec, want = setup()

    async def body(tb):
        await tb.reset()
        return await run_layer(tb, spec)

    reads, cycles = await run_cocotb(dut, body)
    check(reads, want)
    assert cycles == len(want) + 1, f"{cycles} cycles for {len(want)} reads"
    dut._log.info(f"{spec.describe()}: {len(want)} reads in {cycles} cycles")


@cocotb.test()
async def random_back_pressure(dut):
    spec, want = setup()
    seed = 7

    async def body(tb):
        await tb.reset()
        return await run_layer(tb, spec, pause=random_pauses(np.random.default_rng(seed), 0.5))

    reads, _ = await run_cocotb(dut, body)
    check(reads, want, f"(ready seed {seed})")


@cocotb.test()
async def reset_mid_layer_then_full_layer(dut):
    spec, want = setup()

    async def body(tb):
        await tb.reset()
        await run_layer(tb, spec, stop_after=len(want) // 3)
        await tb.reset()
        busy, valid = tb.probe("busy"), tb.probe("o__valid")
        await tb.ticks(1)
        assert busy.value == 0 and valid.value == 0, "reset leaves the generator idle"
        tb.remove(busy, valid)
        return await run_layer(tb, spec)

    reads, _ = await run_cocotb(dut, body)
    check(reads, want)
