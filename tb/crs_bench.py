"""Bench of crosstrain.rtl.crs_unit.CrsUnit with crosstrain.tb.update_array's model on its CRS port.

One body, :func:`run_crs` (a :mod:`crosstrain.tb.testbench` bench: ``start`` pulsed, the model
answering the ``crs`` port through :class:`crosstrain.tb.update_array.CrsPortAgent`, ``busy``
counted by a probe), serves amaranth.sim (:func:`simulate`, tests/rtl/test_crs_unit.py) and
cocotb on Icarus and Verilator (the tests at the bottom). The cocotb bench gets
``{"periphery": PeripheryParams.as_dict(), "seed": int, "opas": int}``: the model's update
slices first take ``opas`` random OPAs (golden), then the unit resolves the carries.
"""

from __future__ import annotations

import copy

import cocotb
import numpy as np

from crosstrain.golden import cycles
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.tb.runner import bench_params
from crosstrain.tb.testbench import run_amaranth, run_cocotb
from crosstrain.tb.update_array import CrsPortAgent, UpdateArrayModel, check_crs
from crosstrain.tb.update_array import random_signed as rand


def updated_model(p: PeripheryParams, rng, n_opa: int):
    """A model whose update slices took ``n_opa`` random OPAs (golden), and the golden copy."""
    model = UpdateArrayModel(p, rand(rng, p.weight_bits, (p.rows, p.cols)))
    model.update.opa(rand(rng, p.input_bits, (n_opa, p.rows)), rand(rng, p.error_bits, (n_opa, p.cols)))
    return model, copy.deepcopy(model.update)


async def run_crs(tb, port: CrsPortAgent, *, stop_after: int | None = None) -> dict:
    """Pulse ``start`` and answer the port until ``busy`` falls (or ``stop_after`` busy cycles);
    returns the busy cycles and the write cycles whose data moved."""
    busy = tb.probe("busy")
    tb.set("start", 1)
    await tb.ticks(1)
    tb.set("start", 0)
    if stop_after is None:
        done = lambda: busy.high and not busy.value             # noqa: E731
    else:
        done = lambda: busy.high >= stop_after                  # noqa: E731
    await tb.until(done, timeout=2 * cycles.crs_cycles(port.model.p.cfg) + 10,
                   what=lambda: f"CRS busy for {busy.high} cycles")
    tb.remove(busy)
    return {"busy": busy.high, "moved": port.moved}


async def resolve(tb, model: UpdateArrayModel, *, reset_after: int | None = None) -> dict:
    """Reset, one CRS; with ``reset_after``, a reset after that many busy cycles, then a whole
    CRS again (rows written before the reset hold the same weights, so only the second CRS's
    writes are checked)."""
    await tb.reset()
    port = tb.add(CrsPortAgent(tb, model))
    if reset_after is not None:
        await run_crs(tb, port, stop_after=reset_after)
        await tb.reset()
        idle = tb.probe("busy")
        await tb.ticks(1)
        assert not idle.value, "reset leaves the unit idle"
        tb.remove(idle)
        model.writes = []
    return await run_crs(tb, port)


def simulate(p: PeripheryParams, model: UpdateArrayModel, **kw) -> dict:
    """:func:`resolve` on a :class:`~crosstrain.rtl.crs_unit.CrsUnit` in amaranth.sim."""
    from crosstrain.rtl.crs_unit import CrsUnit

    return run_amaranth(CrsUnit(params=p), lambda tb: resolve(tb, model, **kw))


# ---- cocotb tests ------------------------------------------------------------------------------
def setup():
    d = bench_params()
    p = PeripheryParams.from_dict(d["periphery"])
    rng = np.random.default_rng(d["seed"])
    model, golden = updated_model(p, rng, d["opas"])
    return p, model, golden, rng, d["seed"]


@cocotb.test()
async def crs_after_opas_matches_golden(dut):
    p, model, golden, rng, seed = setup()
    assert golden.events.opa_saturated > 0
    out = await run_cocotb(dut, lambda tb: resolve(tb, model))
    check_crs(p, model, golden, out["busy"], out["moved"], f"seed {seed}")


@cocotb.test()
async def reset_mid_crs(dut):
    p, model, golden, rng, seed = setup()
    stop = int(rng.integers(1, cycles.crs_cycles(p.cfg)))
    out = await run_cocotb(dut, lambda tb: resolve(tb, model, reset_after=stop))
    check_crs(p, model, golden, out["busy"], out["moved"], f"after reset, seed {seed}")
