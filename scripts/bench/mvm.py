"""``crosstrain bench mvm``: back-to-back MVMs through the RTL MVM unit, against the cycle model.

Workload: ``--vectors`` random signed input vectors, offered back to back, through one
:class:`crosstrain.rtl.mvm_unit.MvmUnit` whose crossbar port is answered by the analog model of
:mod:`crosstrain.tb.analog` holding random signed weights (panther preset by default: 128 x 128, 16-bit
weights and inputs, 8 slices, 1-bit DAC, 8-bit ADC, one ADC per array), simulated in
amaranth.sim (``--simulator`` picks Icarus or Verilator instead).

Reported: ADC utilization = achieved / ideal conversions per cycle from the first conversion
to the last (ideal: every ADC of every array converting every cycle; goal >= 0.95), the
utilization the cycle model predicts for the steady state
(:func:`crosstrain.golden.cycles.mvm_schedule`), the latency of one MVM (input accepted to output taken)
and the interval between back-to-back MVMs, measured against the model's, and whether every
output equals :func:`crosstrain.golden.crossbar.sliced_mvm` bit for bit.
"""

from crosstrain import options
from crosstrain.golden.cycles import mvm_schedule
from crosstrain.golden.periphery import DEFAULT_PRESET, periphery_params
from crosstrain.output import add_json_flag, emit, table
from crosstrain.tools import require_simulator

NAME = "mvm"
HELP = "RTL MVM unit: ADC utilization, latency and interval against the golden cycle model"


MAX_VECTORS = 10_000


def add_param_arguments(parser, default_vectors: int):
    options.add_preset(parser, DEFAULT_PRESET, f"configuration of the MVM unit (default {DEFAULT_PRESET})")
    options.add_set(parser, ("hardware", "periphery"), old=("--param",),
                    example="converters.adcs_per_array=2")
    parser.add_argument("--vectors", type=options.int_type(1, MAX_VECTORS),
                        default=default_vectors,
                        help=f"input vectors, back to back (1 .. {MAX_VECTORS:,}; default {default_vectors})")
    options.add_seed(parser, 1, "seed of the weights and inputs")
    add_json_flag(parser)


def params(args):
    """The :class:`~crosstrain.golden.periphery.PeripheryParams` of ``--preset`` and ``--set``."""
    vals = options.values(args, ("hardware", "periphery"))
    return periphery_params(options.group(vals, "hardware"), preset=args.preset,
                            out_width=vals.get("periphery.out_width", 0))


def add_arguments(parser):
    add_param_arguments(parser, 4)
    parser.add_argument("--simulator", default="amaranth", choices=("amaranth", "icarus", "verilator"))


def measure(p, simulator: str, vectors: int, seed: int) -> dict:
    """Run the workload; the figures of one run as a dict."""
    from crosstrain.rtl.shift_add import check_pipeline
    from crosstrain.tb.mvm_bench import run_workload

    check_pipeline(p)                    # before any component exists
    if simulator != "amaranth":
        require_simulator(simulator)
    run, exact = run_workload(p, simulator, vectors=vectors, seed=seed)
    s = mvm_schedule(p.cfg)
    adcs = p.arrays * p.adcs_per_array
    span = run.last_conversion - run.first_conversion + 1
    total = run.emitted[-1] - run.accepted[0]
    intervals = [b - a for a, b in zip(run.accepted, run.accepted[1:])]
    return {
        "simulator": simulator, "vectors": vectors, "rows": p.rows, "cols": p.cols,
        "arrays": p.arrays, "adcs": adcs, "bit_exact": exact,
        "adc_utilization": run.adc_utilization,
        "model_adc_utilization": s.adc_utilization,
        "conversions_per_cycle": run.conversions * adcs / span,
        "ideal_conversions_per_cycle": adcs,
        "whole_run_adc_utilization": run.conversions / total,
        "rtl_latency_cycles": run.emitted[0] - run.accepted[0],
        "model_latency_cycles": s.latency,
        "rtl_interval_cycles": max(intervals) if intervals else None,
        "model_interval_cycles": s.interval,
        "rtl_total_cycles": total, "model_total_cycles": s.total(vectors),
        "simulated_cycles": run.cycles, "build_s": run.build_s, "run_s": run.run_s,
        "cycles_per_s": run.cycles / run.run_s if run.run_s else None,
    }


def run(args):
    p = params(args)
    r = measure(p, args.simulator, args.vectors, args.seed)
    rows = [
        ["ADC conversions per cycle (first to last)", r["conversions_per_cycle"],
         r["ideal_conversions_per_cycle"], ""],
        ["adc_utilization (achieved / ideal)", r["adc_utilization"], r["model_adc_utilization"],
         ">= 0.95"],
        ["latency of one MVM (cycles)", r["rtl_latency_cycles"], r["model_latency_cycles"], "equal"],
        ["interval, back to back (cycles)", r["rtl_interval_cycles"], r["model_interval_cycles"],
         "equal"],
        [f"{args.vectors} MVMs, first input to last output", r["rtl_total_cycles"],
         r["model_total_cycles"], "equal"],
    ]
    text = table(["measurement", "RTL", "model / ideal", "goal"], rows,
                 title=f"{args.vectors} back-to-back MVMs, {p.rows}x{p.cols}, {p.weight_bits}-bit "
                       f"weights in {p.arrays} arrays ({p.encoding}), {p.input_bits}-bit inputs in "
                       f"{p.input_steps} steps, {p.adc_bits}-bit ADC x {p.adcs_per_array} per array, "
                       f"{args.simulator}; outputs bit-exact: {r['bit_exact']}")
    emit(args, r, text)
    return 0
