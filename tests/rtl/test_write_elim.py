"""The write-elimination comparator against crosstrain.golden.write_elim (amaranth.sim, cocotb)."""

import gc
from dataclasses import asdict

import numpy as np
import pytest

from crosstrain.golden.write_elim import ComparatorParams, WritePolicy, from_beats
from crosstrain.rtl.write_elim import GROUP, WriteEliminator
from crosstrain.tb.runner import run_bench
from crosstrain.tb.write_elim_bench import (
    Segment,
    check,
    comparator_cfg,
    policy_segments,
    random_segments,
    relu_matrix,
    rtl_write_enables,
    simulate,
    update_matrices,
)


@pytest.mark.parametrize("stages", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("seed", range(3))
def test_random_beats_under_back_pressure(seed, stages):
    p = ComparatorParams(lanes=5, width=6, count_width=12, group_bits=3, stages=stages)
    segments = random_segments(p, np.random.default_rng(seed), 10)
    check(p, segments, simulate(p, segments, seed), f"seed={seed} stages={stages}")


@pytest.mark.parametrize("stages", [1, 2, 5, 6])
def test_lane_groups_under_back_pressure(stages):
    """Lanes past the first GROUP use their own copies of the settings and of the enable."""
    p = ComparatorParams(lanes=2 * GROUP + 5, width=5, count_width=12, group_bits=3, stages=stages)
    segments = random_segments(p, np.random.default_rng(11), 12)
    check(p, segments, simulate(p, segments, 11), f"seed=11 stages={stages}")


@pytest.mark.parametrize("stages", [1, 2, 3, 4, 5, 6])
def test_latency_is_the_cycle_model(stages):
    """Results always taken: each arrives comparator_latency (= stages) cycles after its beat,
    with input gaps or back to back."""
    p = ComparatorParams(lanes=5, width=6, count_width=12, group_bits=3, stages=stages)
    segments = random_segments(p, np.random.default_rng(7), 6)
    for gaps in (0.0, 0.3):
        out = simulate(p, segments, 7, gaps=gaps, stall=0)
        check(p, segments, out, f"stages={stages} gaps={gaps}", stalled=False)
        assert set(out["latency"]) == {stages}


@pytest.mark.parametrize("seed", range(3))
def test_golden_policies_on_realistic_data(seed):
    p = ComparatorParams(lanes=16, width=16, count_width=20, group_bits=4)
    cfg = comparator_cfg(p, rows=8)
    rng = np.random.default_rng(seed)
    acts = relu_matrix(rng, 30, 20, 8, p.width)             # two column tiles, the second narrow
    stored, new = update_matrices(rng, 12, 16, p.width)
    cases = [(WritePolicy("zero-tile", ("errors",), "value", "tile"), acts, acts),
             (WritePolicy("zero-row3", ("errors",), "value", "row", row_group=3), acts, acts),
             (WritePolicy("small", ("errors",), "value", "row", 0.1, relative=True), acts, acts),
             (WritePolicy("update", ("updates",), "delta", "cell", 0.5), new, stored),
             (WritePolicy("update-tile", ("updates",), "delta", "tile", 0.5), new, stored),
             (WritePolicy("update-20", ("updates",), "delta", "cell", 20), new, stored)]
    for policy, n, s in cases:
        segments, d = policy_segments(p, cfg, policy, n, s)
        out = simulate(p, segments, seed, gaps=0.1, stall=0.2)
        note = f"{policy.name} seed={seed}"
        check(p, segments, out, note)
        results = out["results"]
        # the cells the golden policy programs, rebuilt from the RTL's outputs alone
        k = 0
        for a, seg in enumerate(segments):
            enables = rtl_write_enables(results[k:k + len(seg.last)], seg)
            k += len(seg.last)
            assert np.array_equal(from_beats(enables, np.shape(n)), d.mask[a]), f"{note} array {a}"
    assert 0 < (acts == 0).mean() < 1 and (new != stored).any()


def test_counters_saturate_and_clear():
    p = ComparatorParams(lanes=4, width=4, count_width=5, group_bits=2)
    beats = 12                                   # 48 live elements > 31
    seg = Segment("value", "tile", 0, 1, np.ones((beats, 4), np.int64),
                  np.zeros((beats, 4), np.int64), np.ones((beats, 4), bool),
                  np.arange(beats) % 4 == 3)
    out = simulate(p, [seg], 0, clear_after=True)
    assert out["counters"] == (31, 0)
    assert out["cleared"] == (0, 0)
    assert [r[1] for r in out["results"]] == [0, 0, 0, 1] * 3


def test_settings_reset_values_are_value_tile_zero():
    p = ComparatorParams(lanes=2, width=4, count_width=8, group_bits=2)
    seg = Segment("value", "tile", 0, 1, np.array([[0, 1], [0, 0]]), np.zeros((2, 2), np.int64),
                  np.ones((2, 2), bool), np.array([False, True]))
    out = simulate(p, [seg], 0, gaps=0, stall=0, settings=False)   # the reset values apply
    assert out["counters"] == (4, 0)            # one tile with a 1 in it: all 4 elements written
    assert out["results"][-1][1:] == (1, 1)


@pytest.mark.parametrize("kw, needle", [
    (dict(lanes=0), "lanes must be an integer in"),
    (dict(width=1), "width must be an integer in"),
    (dict(count_width=True), "count_width must be an integer in"),
    (dict(group_bits=17), "group_bits must be an integer in"),
    (dict(stages=0), "stages must be an integer in"),
    (dict(stages=7), "stages must be an integer in"),
])
def test_bad_params(kw, needle):
    with pytest.raises(ValueError, match=needle):
        ComparatorParams(**kw)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_params_must_be_the_shared_object():
    with pytest.raises(TypeError, match="params must be a crosstrain.golden.write_elim.ComparatorParams"):
        WriteEliminator(params={"lanes": 4})
    gc.collect()            # the half-built component warns when collected: do it under the filter


COCOTB_PARAMS = ComparatorParams(lanes=128, width=16, count_width=18, group_bits=8)


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cocotb_bench(simulator):
    tests, failed = run_bench(WriteEliminator(params=COCOTB_PARAMS), design="write_elim",
                              params=asdict(COCOTB_PARAMS) | {"seed": 1}, simulator=simulator,
                              test_module="crosstrain.tb.write_elim_bench")
    assert (tests, failed) == (3, 0)
