"""cocotb bench of crosstrain.rtl.opa_driver.OpaDriver with crosstrain.tb.update_array's model on its update port.

The bench gets ``{"periphery": PeripheryParams.as_dict(), "seed": int}``. Ports of the exported
top: ``i__valid``, ``i__ready``, ``i__payload`` (``x`` then ``d``, two's complement, packed),
``upd__pulse``, ``upd__start``, ``upd__last``, ``upd__potentiate``, ``upd__rows``,
``upd__pieces``. The driver's outputs (``i__ready`` included) are decoded from registers, so the
bench reads them at the falling edge and sets the inputs for the next rising edge there.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from crosstrain.golden import cycles
from crosstrain.golden.opa import PHASES, UpdateArrays, opa_drive
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.tb.runner import bench_params
from crosstrain.tb.update_array import UpdateArrayModel
from crosstrain.tb.update_array import random_signed as rand
from crosstrain.tb.words import pack


async def setup(dut):
    params = bench_params()
    p = PeripheryParams.from_dict(params["periphery"])
    Clock(dut.clk, 10, unit="ns").start()
    dut.i__valid.value = 0
    await reset(dut)
    return p, np.random.default_rng(params["seed"]), params["seed"]


async def reset(dut, cycles_high=2):
    await FallingEdge(dut.clk)
    dut.rst.value = 1
    for _ in range(cycles_high):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


class Opas:
    """Drives OPAs into the DUT with random gaps and lets the model apply what it drives."""

    def __init__(self, dut, p: PeripheryParams, model: UpdateArrayModel, rng, gaps=0.3):
        self.dut, self.p, self.model, self.rng, self.gaps = dut, p, model, rng, gaps
        self.pulses, self.span, self.moved, self.cycle = [], 0, 0, 0

    def word(self, x, d) -> int:
        p = self.p
        return pack(x, p.input_bits) | pack(d, p.error_bits) << (p.rows * p.input_bits)

    async def run(self, xs, ds, *, stop_after=None):
        """Drive every OPA; with ``stop_after`` return after that many cycles (mid-operation)."""
        dut, queue = self.dut, [self.word(x, d) for x, d in zip(xs, ds)]
        done_before = len(self.model.drives)
        pending, held, first, new_opa, cycle = None, None, None, True, 0
        while queue or pending is not None or len(self.model.drives) < done_before + len(xs) \
                or int(dut.upd__pulse.value):
            await FallingEdge(dut.clk)
            cycle += 1
            if stop_after is not None and cycle > stop_after:
                return
            assert cycle < (len(xs) + 2) * cycles.opa_cycles(self.p.cfg) * 3, "stuck"
            if pending is None and queue and self.rng.random() >= self.gaps:
                pending = queue.pop(0)
                dut.i__payload.value = pending
            dut.i__valid.value = int(pending is not None)
            if pending is not None and int(dut.i__ready.value):
                pending = None                                      # taken at the next edge
            if not int(dut.upd__pulse.value):
                continue
            first = cycle if first is None else first
            self.span = cycle - first + 1
            drive = (int(dut.upd__rows.value.to_unsigned()), int(dut.upd__pieces.value.to_unsigned()),
                     int(dut.upd__potentiate.value), int(dut.upd__last.value))
            if int(dut.upd__start.value):
                if new_opa:
                    self.pulses.append(0)
                new_opa = bool(drive[3])
                held = drive
                self.model.phase(*drive)
            elif drive != held:
                self.moved += 1
            self.pulses[-1] += 1
        await FallingEdge(dut.clk)
        dut.i__valid.value = 0


def check_drives(p, model, xs, ds, first, note):
    for n, (x, d) in enumerate(zip(xs, ds)):
        rows, pieces = opa_drive(x, d, p.cfg)
        got_rows, got_pieces, signs = model.drives[first + n]
        steps = rows.shape[0]
        assert np.array_equal(got_rows, rows.reshape(steps * 4, -1)), f"OPA {n} rows ({note})"
        assert np.array_equal(got_pieces, pieces.reshape((steps * 4,) + pieces.shape[2:])), \
            f"OPA {n} pieces ({note})"
        assert list(signs) == [sr * sc for sr, sc in PHASES] * steps, f"OPA {n} polarity ({note})"


@cocotb.test()
async def random_opas_match_golden(dut):
    p, rng, seed = await setup(dut)
    w = rand(rng, p.weight_bits, (p.rows, p.cols))
    model, golden = UpdateArrayModel(p, w), UpdateArrays(p.cfg, w)
    n = 4
    xs, ds = rand(rng, p.input_bits, (n, p.rows)), rand(rng, p.error_bits, (n, p.cols))
    xs[0, :2], ds[0, :2] = [-(1 << (p.input_bits - 1)), 0], [-(1 << (p.error_bits - 1)), 0]
    opas = Opas(dut, p, model, rng)
    await opas.run(xs, ds)
    golden.opa(xs, ds)
    note = f"seed {seed}"
    check_drives(p, model, xs, ds, 0, note)
    assert golden.events.opa_saturated > 0, note                  # 16-bit products saturate cells
    assert np.array_equal(model.update.cells, golden.cells), f"cells after {n} OPAs ({note})"
    assert opas.pulses == [cycles.opa_cycles(p.cfg)] * n, f"{opas.pulses} ({note})"
    assert opas.moved == 0, note


@cocotb.test()
async def back_to_back_opas_leave_no_gap(dut):
    p, rng, seed = await setup(dut)
    model = UpdateArrayModel(p, np.zeros((p.rows, p.cols), np.int64))
    n = 3
    xs, ds = rand(rng, p.input_bits, (n, p.rows)), rand(rng, p.error_bits, (n, p.cols))
    opas = Opas(dut, p, model, rng, gaps=0)
    await opas.run(xs, ds)
    check_drives(p, model, xs, ds, 0, f"seed {seed}")
    assert opas.span == n * cycles.opa_cycles(p.cfg), f"span {opas.span} (seed {seed})"


@cocotb.test()
async def reset_mid_opa(dut):
    p, rng, seed = await setup(dut)
    w = rand(rng, p.weight_bits, (p.rows, p.cols))
    model, golden = UpdateArrayModel(p, w), UpdateArrays(p.cfg, w)
    xs, ds = rand(rng, p.input_bits, (2, p.rows)), rand(rng, p.error_bits, (2, p.cols))
    opas = Opas(dut, p, model, rng, gaps=0)
    await opas.run(xs[:1], ds[:1], stop_after=cycles.opa_cycles(p.cfg) // 2)
    assert int(dut.upd__pulse.value), "the OPA should still be running"
    await reset(dut)
    model.abort()
    assert not int(dut.upd__pulse.value) and int(dut.i__ready.value), "reset leaves the driver idle"
    opas = Opas(dut, p, model, rng, gaps=0)
    await opas.run(xs[1:], ds[1:])
    golden.opa(xs[1:], ds[1:])
    check_drives(p, model, xs[1:], ds[1:], 0, f"after reset, seed {seed}")
    assert np.array_equal(model.update.cells, golden.cells), f"cells (seed {seed})"
    assert opas.pulses == [cycles.opa_cycles(p.cfg)], f"{opas.pulses} (seed {seed})"
