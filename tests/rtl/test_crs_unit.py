"""The CRS unit against crosstrain.golden.opa (weights, clean digits) and crosstrain.golden.cycles.crs_cycles
(amaranth.sim with the crosstrain.tb.update_array model on its port; cocotb benches in both simulators)."""

import copy
import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.crs_unit import CrsUnit
from crosstrain.tb.runner import run_bench
from crosstrain.tb.update_array import CrsPortResponder, UpdateArrayModel, check_crs
from crosstrain.tb.update_array import random_signed as rand

SMALL = {"crossbar.rows": 4, "crossbar.cols": 6, "converters.adcs_per_array": 2,
         "precision.weight_bits": 8, "precision.weight_frac_bits": 0, "precision.input_bits": 6,
         "precision.error_bits": 6, "precision.update_slices": 6, "crossbar.read_latency_ns": 3,
         "device.write_latency_ns": 2, "precision.update_slice_bits": 5}


def updated_model(p, rng, n_opa=6):
    """A model whose update slices took ``n_opa`` random OPAs (golden), and the golden copy."""
    model = UpdateArrayModel(p, rand(rng, p.weight_bits, (p.rows, p.cols)))
    model.update.opa(rand(rng, p.input_bits, (n_opa, p.rows)), rand(rng, p.error_bits, (n_opa, p.cols)))
    return model, copy.deepcopy(model.update)


def simulate(p, model):
    """One CRS with the model on the port; returns busy cycles and write-hold violations."""
    dut = CrsUnit(params=p)
    port = dut.crs
    out = {"busy": 0}
    responder = CrsPortResponder(model)

    async def bench(ctx):
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        while ctx.get(dut.busy):                   # this cycle's outputs; answers for its end
            out["busy"] += 1
            codes = responder.cycle(
                conv=ctx.get(port.conv), conv_index=ctx.get(port.conv_index),
                sample=ctx.get(port.sample), rows=ctx.get(port.rows), write=ctx.get(port.write),
                write_data=(ctx.get(port.write_rows), ctx.get(port.digits.as_value()),
                            ctx.get(port.levels.as_value())))
            if codes is not None:                  # the codes of the last cycle's conversion
                ctx.set(port.codes.as_value(), codes)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    out["moved"] = responder.moved
    return out


def check(p, model, golden, out, note):
    check_crs(p, model, golden, out["busy"], out["moved"], note)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("extra", [
    {},                                                   # conversions (3) longer than a write (2)
    {"device.write_latency_ns": 7, "crossbar.encoding": "differential"},  # writes longer than conversions
    {"tile.pipeline_cycles": 5},                          # the pipeline longer than a read drive
    {"tile.pipeline_cycles": 1, "crossbar.cols": 5},      # only the ADC register; a gap in the last ADC
    {"converters.adcs_per_array": 1, "precision.update_slice_bits": (4, 4, 3, 3, 2, 5), "crossbar.rows": 1},
    {"converters.adcs_per_array": 6, "precision.weight_bits": 12},
])
def test_crs_matches_golden(seed, extra):
    p = periphery_params(SMALL | extra)
    model, golden = updated_model(p, np.random.default_rng(seed))
    out = simulate(p, model)
    check(p, model, golden, out, f"seed={seed} {extra}")


def test_saturated_slices_and_weights():
    p = periphery_params(SMALL | {"precision.update_slice_bits": 3})
    rng = np.random.default_rng(9)
    model, golden = updated_model(p, rng, n_opa=20)
    assert golden.events.opa_saturated > 0
    lim = 1 << (p.weight_bits - 1)
    w = copy.deepcopy(golden).crs()
    assert (w == lim - 1).any() or (w == -lim).any()
    out = simulate(p, model)
    check(p, model, golden, out, "saturated")


def test_full_size_crs_matches_golden():
    p = periphery_params({"converters.adcs_per_array": 16, "crossbar.read_latency_ns": 4,
                          "device.write_latency_ns": 4, "crossbar.rows": 8})
    model, golden = updated_model(p, np.random.default_rng(4), n_opa=3)
    out = simulate(p, model)
    check(p, model, golden, out, "panther widths, 8 rows")


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_impossible_params():
    with pytest.raises(ConfigError, match="converters.adc_bits = 5 is too narrow"):
        CrsUnit(params=periphery_params(SMALL | {"converters.adc_bits": 5, "precision.update_slice_bits": 6}))
    with pytest.raises(ConfigError, match="tile.pipeline_cycles = 0 is too short"):
        CrsUnit(params=periphery_params(SMALL | {"tile.pipeline_cycles": 0}))
    gc.collect()            # the half-built component warns when collected: do it under the filter


@pytest.mark.cocotb
@pytest.mark.parametrize("encoding", ["offset", "differential"])
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cocotb_bench(simulator, encoding):
    # panther, full size; Icarus runs ~900 cycles/s here (32880 cycles per CRS), so it resolves
    # 32 rows (all 128 columns, the full datapath) to keep the test to seconds
    p = periphery_params({"crossbar.encoding": encoding}
                         | ({"crossbar.rows": 32} if simulator == "icarus" else {}))
    tests, failed = run_bench(CrsUnit(params=p), design="crs_unit",
                              params={"periphery": p.as_dict(), "seed": 2, "opas": 3},
                              simulator=simulator, test_module="crosstrain.tb.crs_bench")
    assert (tests, failed) == (2, 0)
