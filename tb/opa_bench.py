"""Bench of crosstrain.rtl.opa_driver.OpaDriver with crosstrain.tb.update_array's model on its update port.

One body, :func:`run_opas` (a :mod:`crosstrain.tb.testbench` bench: OPAs offered on ``i`` by a
stream source with optional random gaps, the model applying every driven phase through
:class:`crosstrain.tb.update_array.UpdatePortAgent`), serves amaranth.sim (:func:`simulate`,
tests/rtl/test_opa_driver.py) and cocotb on Icarus and Verilator (the tests at the bottom; the
bench gets ``{"periphery": PeripheryParams.as_dict(), "seed": int}``). Payloads are packed with
the RTL's ``opa_input_layout``.
"""

from __future__ import annotations

import cocotb
import numpy as np

from crosstrain.golden import cycles
from crosstrain.golden.opa import PHASES, UpdateArrays, opa_drive
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.rtl.opa_driver import opa_input_layout
from crosstrain.tb.runner import bench_params
from crosstrain.tb.stream import StreamSource, random_pauses
from crosstrain.tb.testbench import run_amaranth, run_cocotb
from crosstrain.tb.update_array import UpdateArrayModel, UpdatePortAgent
from crosstrain.tb.update_array import random_signed as rand
from crosstrain.tb.words import Codec


async def run_opas(tb, port: UpdatePortAgent, xs, ds, *, pause=None,
                   stop_after: int | None = None) -> StreamSource:
    """Offer the OPAs ``(xs[k], ds[k])`` on ``i`` (gaps where ``pause`` says) until every one
    was driven and ``pulse`` fell; with ``stop_after``, return that many cycles after the
    first offer instead (mid-operation). Returns the source."""
    p = port.model.p
    src = tb.add(StreamSource(tb, "i", codec=Codec(opa_input_layout(p)), pause=pause))
    src.send_all({"x": x, "d": d} for x, d in zip(xs, ds))
    if stop_after is not None:
        await tb.ticks(stop_after)
    else:
        want = len(port.model.drives) + len(xs)
        await tb.until(lambda: len(port.model.drives) >= want and not port.pulsing,
                       timeout=(len(xs) + 2) * cycles.opa_cycles(p.cfg) * 3,
                       what=lambda: f"{len(port.model.drives)} of {want} OPAs driven")
    tb.remove(src)
    return src


def check_drives(p, model, xs, ds, first, note):
    """The phases driven for OPA ``first + n`` are ``opa_drive(xs[n], ds[n])``'s."""
    for n, (x, d) in enumerate(zip(xs, ds)):
        rows, pieces = opa_drive(x, d, p.cfg)
        got_rows, got_pieces, signs = model.drives[first + n]
        steps = rows.shape[0]
        assert np.array_equal(got_rows, rows.reshape(steps * 4, -1)), f"OPA {n} rows ({note})"
        assert np.array_equal(got_pieces, pieces.reshape((steps * 4,) + pieces.shape[2:])), \
            f"OPA {n} pieces ({note})"
        assert list(signs) == [sr * sc for sr, sc in PHASES] * steps, f"OPA {n} polarity ({note})"


async def drive_opas(tb, model: UpdateArrayModel, xs, ds, *, pause=None) -> UpdatePortAgent:
    """Reset, then :func:`run_opas`; returns the port agent (pulses, span, moved)."""
    await tb.reset()
    port = tb.add(UpdatePortAgent(tb, model))
    await run_opas(tb, port, xs, ds, pause=pause)
    return port


async def reset_then_opa(tb, model: UpdateArrayModel, xs, ds) -> UpdatePortAgent:
    """OPA 0 stopped half-way by a reset while OPA 1 is already offered (the reset rule: not
    taken while ``rst`` is high), then OPA 1 alone; returns the port agent of OPA 1."""
    await tb.reset()
    port = tb.add(UpdatePortAgent(tb, model))
    p = model.p
    src = tb.add(StreamSource(tb, "i", codec=Codec(opa_input_layout(p))))
    src.send_all({"x": x, "d": d} for x, d in zip(xs, ds))
    await tb.ticks(cycles.opa_cycles(p.cfg) // 2)
    assert port.pulsing, "the OPA should still be running"
    await tb.reset()
    tb.remove(src)
    ready = tb.probe("i__ready")
    await tb.ticks(1)
    assert not port.pulsing and ready.value, "reset leaves the driver idle and ready"
    assert len(src.transfers) == 1, f"{len(src.transfers)} OPAs taken before and in the reset"
    tb.remove(ready, port)
    port = tb.add(UpdatePortAgent(tb, model))
    await run_opas(tb, port, xs[1:], ds[1:])
    return port


def simulate(p: PeripheryParams, xs, ds, seed, *, gaps: float = 0.0):
    """:func:`drive_opas` on an :class:`~crosstrain.rtl.opa_driver.OpaDriver` in amaranth.sim,
    from all-zero weights; returns the model and the port agent."""
    from crosstrain.rtl.opa_driver import OpaDriver

    model = UpdateArrayModel(p, np.zeros((p.rows, p.cols), np.int64))
    pause = random_pauses(np.random.default_rng(seed), gaps) if gaps else None
    port = run_amaranth(OpaDriver(params=p), lambda tb: drive_opas(tb, model, xs, ds, pause=pause))
    return model, port


# ---- cocotb tests ------------------------------------------------------------------------------
def setup():
    d = bench_params()
    return PeripheryParams.from_dict(d["periphery"]), np.random.default_rng(d["seed"]), d["seed"]


@cocotb.test()
async def random_opas_match_golden(dut):
    p, rng, seed = setup()
    w = rand(rng, p.weight_bits, (p.rows, p.cols))
    model, golden = UpdateArrayModel(p, w), UpdateArrays(p.cfg, w)
    n = 4
    xs, ds = rand(rng, p.input_bits, (n, p.rows)), rand(rng, p.error_bits, (n, p.cols))
    xs[0, :2], ds[0, :2] = [-(1 << (p.input_bits - 1)), 0], [-(1 << (p.error_bits - 1)), 0]
    port = await run_cocotb(dut, lambda tb: drive_opas(tb, model, xs, ds,
                                                       pause=random_pauses(rng, 0.3)))
    golden.opa(xs, ds)
    note = f"seed {seed}"
    check_drives(p, model, xs, ds, 0, note)
    assert golden.events.opa_saturated > 0, note                  # 16-bit products saturate cells
    assert np.array_equal(model.update.cells, golden.cells), f"cells after {n} OPAs ({note})"
    assert port.pulses == [cycles.opa_cycles(p.cfg)] * n, f"{port.pulses} ({note})"
    assert port.moved == 0, note


@cocotb.test()
async def back_to_back_opas_leave_no_gap(dut):
    p, rng, seed = setup()
    model = UpdateArrayModel(p, np.zeros((p.rows, p.cols), np.int64))
    n = 3
    xs, ds = rand(rng, p.input_bits, (n, p.rows)), rand(rng, p.error_bits, (n, p.cols))
    port = await run_cocotb(dut, lambda tb: drive_opas(tb, model, xs, ds))
    check_drives(p, model, xs, ds, 0, f"seed {seed}")
    span = port.last - port.first + 1
    assert span == n * cycles.opa_cycles(p.cfg), f"span {span} (seed {seed})"


@cocotb.test()
async def reset_mid_opa(dut):
    p, rng, seed = setup()
    w = rand(rng, p.weight_bits, (p.rows, p.cols))
    model, golden = UpdateArrayModel(p, w), UpdateArrays(p.cfg, w)
    xs, ds = rand(rng, p.input_bits, (2, p.rows)), rand(rng, p.error_bits, (2, p.cols))
    port = await run_cocotb(dut, lambda tb: reset_then_opa(tb, model, xs, ds))
    golden.opa(xs[1:], ds[1:])
    check_drives(p, model, xs[1:], ds[1:], 0, f"after reset, seed {seed}")
    assert np.array_equal(model.update.cells, golden.cells), f"cells (seed {seed})"
    assert port.pulses == [cycles.opa_cycles(p.cfg)], f"{port.pulses} (seed {seed})"
