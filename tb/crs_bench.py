"""cocotb bench of crosstrain.rtl.crs_unit.CrsUnit with crosstrain.tb.update_array's model on its CRS port.

The bench gets ``{"periphery": PeripheryParams.as_dict(), "seed": int, "opas": int}``: the
model's update slices first take ``opas`` random OPAs (golden), then the DUT resolves the
carries. Ports of the exported top: ``start``, ``busy``, ``crs__drive``, ``crs__rows``,
``crs__sample``, ``crs__conv``, ``crs__conv_index``, ``crs__codes`` (input), ``crs__write``,
``crs__write_rows``, ``crs__digits``, ``crs__levels``. The unit's outputs are decoded from
registers, so the bench reads them at the falling edge; it answers a conversion's ``codes`` at
the next falling edge (registered, one cycle after the request, as the MVM port).
"""

from __future__ import annotations

import copy

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from crosstrain.golden import cycles
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.tb.runner import bench_params
from crosstrain.tb.update_array import CrsPortResponder, UpdateArrayModel, check_crs
from crosstrain.tb.update_array import random_signed as rand


async def reset(dut):
    await FallingEdge(dut.clk)
    dut.rst.value = 1
    dut.start.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def setup(dut):
    params = bench_params()
    p = PeripheryParams.from_dict(params["periphery"])
    rng = np.random.default_rng(params["seed"])
    Clock(dut.clk, 10, unit="ns").start()
    dut.crs__codes.value = 0
    await reset(dut)
    model = UpdateArrayModel(p, rand(rng, p.weight_bits, (p.rows, p.cols)))
    n = params["opas"]
    model.update.opa(rand(rng, p.input_bits, (n, p.rows)), rand(rng, p.error_bits, (n, p.cols)))
    return p, model, rng, params["seed"]


async def run_crs(dut, model: UpdateArrayModel, *, stop_after=None) -> dict:
    """Start one CRS and answer its port until ``busy`` drops (or ``stop_after`` cycles)."""
    await FallingEdge(dut.clk)
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0
    port, out = CrsPortResponder(model), {"busy": 0, "moved": 0}
    while int(dut.busy.value):
        out["busy"] += 1
        if stop_after is not None and out["busy"] > stop_after:
            return out
        codes = port.cycle(
            conv=int(dut.crs__conv.value), conv_index=dut.crs__conv_index.value.to_unsigned(),
            sample=int(dut.crs__sample.value), rows=dut.crs__rows.value.to_unsigned(),
            write=int(dut.crs__write.value),
            write_data=(dut.crs__write_rows.value.to_unsigned(), dut.crs__digits.value.to_unsigned(),
                        dut.crs__levels.value.to_unsigned()))
        if codes is not None:                   # the codes of the last cycle's conversion
            dut.crs__codes.value = codes
        await FallingEdge(dut.clk)
    out["moved"] = port.moved
    return out


@cocotb.test()
async def crs_after_opas_matches_golden(dut):
    p, model, rng, seed = await setup(dut)
    golden = copy.deepcopy(model.update)
    assert golden.events.opa_saturated > 0
    out = await run_crs(dut, model)
    check_crs(p, model, golden, out["busy"], out["moved"], f"seed {seed}")


@cocotb.test()
async def reset_mid_crs(dut):
    p, model, rng, seed = await setup(dut)
    golden = copy.deepcopy(model.update)
    out = await run_crs(dut, model, stop_after=int(rng.integers(1, cycles.crs_cycles(p.cfg))))
    await reset(dut)
    model.abort()
    assert not int(dut.busy.value), "reset leaves the unit idle"
    model.writes = []                       # rows rewritten before the reset hold the same weights
    out = await run_crs(dut, model)
    check_crs(p, model, golden, out["busy"], out["moved"], f"after reset, seed {seed}")
