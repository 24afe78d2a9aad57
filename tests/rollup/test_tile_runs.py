"""The roll-up next to the tile (crosstrain.rollup.tile_runs): the tile's cycles are the
interpreter's run of the compiled layer; per phase the roll-up's array cycles equal them, and the
rest differs by exactly what docs/estimate.md says, derived here from golden/cycles.py's
durations."""

import math

import pytest

from crosstrain.golden import cycles, interpreter
from crosstrain.golden.config import HardwareConfig
from crosstrain.rollup import compiler, tile_runs
from crosstrain.rollup.mapper import Technique, mvm_cycles, view
from crosstrain.rollup.networks import Layer, Network

CFG = HardwareConfig().with_overrides({"crossbar.rows": 16, "crossbar.cols": 16})
NET = Network("toy", (
    Layer("c1", "conv", in_ch=2, out_ch=4, in_h=6, in_w=6, kernel=3, padding=1),
    Layer("up", "tconv", in_ch=4, out_ch=3, in_h=6, in_w=6, kernel=4, stride=2, padding=1),
    Layer("fc", "fc", in_ch=3 * 12 * 12, out_ch=10)), (2, 6, 6))


@pytest.mark.parametrize("batch, crs", [(2, 2), (2, 1), (3, 4)])
def test_tile_is_the_interpreter_and_differs_by_the_documented_cycles(batch, crs):
    tech = Technique(crs_samples=crs, replication=1)
    runs = tile_runs.run_layers(NET, CFG, tech, batch=batch)
    assert [r.layer for r in runs] == ["c1", "up", "fc"]
    err = view(CFG, precision__input_bits=CFG.precision.error_bits)
    for layer, r in zip(NET.layers, runs):
        # the tile: the compiled program on the interpreter, as `crosstrain compile` runs it
        tile = compiler.tile_for(layer, CFG, units=r.units, batch=batch)
        comp = compiler.compile_layer(layer, CFG, tile, batch=batch, technique=Technique(crs_samples=crs))
        res = interpreter.run(comp.program, tile, CFG)
        assert r.tile_cycles == res.cycles and r.program_cycles == res.phase_cycles["program"]
        assert r.tile == {p: res.phase_cycles.get(p, 0) for p in tile_runs.PHASES}
        # the arrays' time is the tile's: MVMs with the last output's trip into the buffer (+3:
        # output register, STORE read and write), OPAs with the cycle finishing each stretch
        # between CRSs (+1), each CRS finished a cycle after its schedule (+1); movement only in
        # the model, CRS pro rata in the model
        n = max(reg.vectors for reg in comp.regions)
        arrays = {p: r.model[p] - r.movement[p] for p in tile_runs.PHASES}
        assert r.tile["forward"] == arrays["forward"] == mvm_cycles(cycles.mvm_schedule(CFG), n) + 3
        if layer.needs_input_error:
            assert r.tile["backward"] == arrays["backward"] == mvm_cycles(
                cycles.mvm_schedule(err, transposed=True), n) + 3
        else:
            assert r.tile["backward"] == arrays["backward"] == 0
        stretches = math.ceil(batch / crs)
        assert r.tile["gradient"] == arrays["gradient"] == n * cycles.opa_cycles(CFG) + stretches
        done = batch // crs                                      # whole CRSs the tile runs
        assert r.tile["crs"] == done * (cycles.crs_cycles(CFG) + 1)
        assert r.model["crs"] == pytest.approx((cycles.crs_cycles(CFG) + 1) * batch / crs)
        assert r.movement["crs"] == 0 and r.movement["forward"] > 0
        # the layer alone in the roll-up: forward, then backward and gradient side by side, CRS;
        # on the tile: programming and the phases one after another, give or take the phase
        # changes (a phase's last STORE may finish after the next phase's first operation)
        m = r.model
        assert r.model_cycles == pytest.approx(m["forward"] + max(m["backward"], m["gradient"]) + m["crs"])
        tail = max(result - busy for busy, result in interpreter.durations(CFG).values()) + 3
        assert abs(r.tile_cycles - r.program_cycles - sum(r.tile.values())) <= 6 * tail


def test_a_layer_beyond_one_tile_is_one_line():
    big = Network("big", (Layer("fc", "fc", in_ch=4096, out_ch=512),), (4096, 1, 1))
    with pytest.raises(compiler.CompileError, match=r"^--rtl runs each layer on one tile: .*needs 128 "
                                                    r"crossbar units") as e:
        tile_runs.run_layers(big, CFG.with_overrides({"crossbar.rows": 128, "crossbar.cols": 128}),
                             Technique(), batch=1)
    assert "\n" not in str(e.value)
