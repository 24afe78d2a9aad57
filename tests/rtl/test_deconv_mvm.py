"""A transposed conv through the address generator and the MVM unit, with and without zero
skipping, against crosstrain.golden.deconv / crosstrain.golden.zeroskip (amaranth.sim; cocotb on Icarus and Verilator);
crossbar cycles of a full DCGAN layer against crosstrain.golden.zeroskip.layer_costs."""

import numpy as np
import pytest

from crosstrain.golden.cycles import mvm_schedule
from crosstrain.golden.deconv import ConvTranspose, read_sequence
from crosstrain.golden.events import Events
from crosstrain.golden.periphery import periphery_params
from crosstrain.golden.zeroskip import crossbar_deconv, layer_costs, plan_steps, stream_cycles
from crosstrain.tb.deconv_mvm_bench import (
    bench_top,
    generate_reads,
    golden_layer,
    group_steps,
    measure_layer,
    random_layer,
    simulate_layer,
    step_vectors,
)
from crosstrain.tb.runner import run_bench

# 16 x 8 arrays, 8-bit inputs (8 steps), 6-bit ADC: at most 12 rows x level 3 = 36 per column,
# so no code clips and the crossbar result is the exact transposed conv
SMALL = {"crossbar.rows": 16, "crossbar.cols": 8, "precision.input_bits": 8,
         "precision.weight_bits": 8, "precision.weight_frac_bits": 4, "converters.adc_bits": 6,
         "crossbar.read_latency_ns": 3}
LAYERS = [
    ConvTranspose(in_channels=3, out_channels=4, kernel=4, stride=2, padding=1, height=4, width=4),
    # uneven sub-kernels (2x2, 2x1, 1x2, 1x1 taps), output padding, a non-square map
    ConvTranspose(in_channels=2, out_channels=3, kernel=3, stride=2, padding=1, output_padding=1,
                  height=3, width=4),
]


@pytest.mark.parametrize("skip_zero", [False, True])
@pytest.mark.parametrize("layer", range(len(LAYERS)))
def test_layer_equals_the_golden_transposed_conv(layer, skip_zero, seed=0):
    spec, p = LAYERS[layer], periphery_params(SMALL)
    x, w = random_layer(spec, p, np.random.default_rng(seed), batch=2)
    events = Events()
    crossbar_deconv(spec, x, w, p.cfg, events=events)
    assert events.adc_clipped == 0, "the workload clips: the exact comparison would not hold"
    out, runs = simulate_layer(spec, p, x, w, skip_zero=skip_zero)
    for name, want in zip(("scatter", "crossbar_deconv"), golden_layer(spec, p, x, w,
                                                                        skip_zero=skip_zero)):
        bad = np.argwhere(out != want)
        assert not len(bad), (f"seed={seed} {spec.describe()} skip_zero={skip_zero}: output "
                              f"{tuple(bad[0])} is {out[tuple(bad[0])]}, golden {name} "
                              f"{want[tuple(bad[0])]} ({len(bad)} differ)")
    # one MVM per window that reads a pixel, per image; the crossbar converted exactly the steps
    # the golden plan issues (every step without skipping), conv_cycles conversions each
    windows = [ph.y.read_count * ph.x.read_count for ph in spec.phases]
    assert sorted(len(r) * len(r[0].outputs) for r in runs.values()) == sorted(2 * n for n in windows if n)
    skipped = layer_costs(spec, p.cfg, x)["zero_skip"].skipped
    steps = skipped.steps_issued if skip_zero else skipped.steps
    conversions = sum(r.conversions for rs in runs.values() for r in rs)
    assert conversions == steps * mvm_schedule(p.cfg).conv_cycles, f"seed={seed} skip_zero={skip_zero}"
    assert skipped.steps_issued < skipped.steps


def test_address_generator_feeds_the_golden_reads():
    for spec in LAYERS:
        assert np.array_equal(generate_reads(spec), read_sequence(spec)), spec.describe()


@pytest.mark.parametrize("seed", range(3))
def test_step_vectors_issue_exactly_the_plan(seed):
    p = periphery_params(SMALL | {"converters.dac_bits": 1 + seed})
    issued = np.random.default_rng(seed).random((20, p.input_steps)) < 0.5
    issued[3] = False
    vecs = step_vectors(p, issued)
    assert np.array_equal(plan_steps(vecs, p.cfg).issued, issued), f"seed={seed}"


@pytest.mark.parametrize("seed", range(2))
def test_measured_layer_cycles_equal_the_model(seed):
    """A layer whose phase groups span two row tiles (8 channels x 4 slots = 32 rows of 16-row
    arrays), batch 2, ReLU inputs (the top rows scaled down): each group's measured
    stream takes stream_cycles of its tokens, and the busiest group's cycles are layer_costs'."""
    p = periphery_params(SMALL)
    spec = ConvTranspose(in_channels=8, out_channels=4, kernel=4, stride=2, padding=1,
                         height=3, width=3)
    x, _ = random_layer(spec, p, np.random.default_rng(seed), batch=2)
    x[:, :, :2] //= 4                                       # fewer steps in some windows
    costs = layer_costs(spec, p.cfg, x)
    steps = group_steps(spec, p, x)
    assert sum(len(s) for s in steps.values()) == costs["decomposed"].mvms
    for skip, mapping in ((False, "decomposed"), (True, "zero_skip")):
        measured = measure_layer(spec, p, x, skip_zero=skip)
        assert measured.keys() == steps.keys()
        for ph, (tokens, cycles) in measured.items():
            want = int(steps[ph].sum()) if skip else steps[ph].size
            assert tokens == want and cycles == stream_cycles(p.cfg, want), \
                f"seed={seed} {mapping} phase {ph}: {tokens} tokens in {cycles} cycles, model {want}"
        assert max(c for _, c in measured.values()) == costs[mapping].cycles, f"seed={seed} {mapping}"
    assert costs["zero_skip"].cycles < costs["decomposed"].cycles


@pytest.mark.cocotb
@pytest.mark.parametrize("skip_zero", [False, True])
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cocotb_bench(simulator, skip_zero):
    d = {"spec": LAYERS[0].as_params(), "params": periphery_params(SMALL).as_dict(),
         "skip_zero": skip_zero, "seed": 2}
    tests, failed = run_bench(bench_top(d), design="deconv_mvm", params=d, simulator=simulator,
                              test_module="crosstrain.tb.deconv_mvm_bench")
    assert (tests, failed) == (2, 0)
