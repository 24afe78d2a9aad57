"""``crosstrain bench golden``: cost of bit slicing, ADC and shift-and-add over the products.

Workload (issue 2): N vectors through one 128 x 128 block, 16-bit inputs and weights, 1-bit DAC,
2-bit cells, 8-bit ADC (the panther preset). Two ratios, each against a baseline timed in the
same run:

- ``ratio_vs_stacked_gemm``: the full bit-sliced MVM (every input step x weight slice partial
  product, ADC, shift-and-add) against ONE float32 GEMM that performs the same multiply-adds
  (all step x slice partial products stacked: (N*steps x rows) @ (rows x cols*slices)). Goal <= 2.
- ``ratio_lossless_vs_matmul``: :func:`crosstrain.golden.crossbar.mvm` with the ADC widened to the lossless
  width (``lossless_adc_bits``, 9 here: no column sum can clip, whatever the data) takes its fast
  path (range checks, then one exact matmul); timed against one plain float64 matmul of the
  unsliced shape on already-converted operands. Goal <= 2.

Each timing is the best of ``--repeat`` runs.
"""

import time

import numpy as np

from crosstrain import options
from crosstrain.golden import crossbar, encoding
from crosstrain.output import add_json_flag, emit, table

NAME = "golden"
HELP = "golden bit-sliced MVM vs the GEMM of the same multiply-adds"


def add_arguments(parser):
    parser.add_argument("--vectors", type=options.int_type(1, 1 << 16), default=1024,
                        help="input vectors (1 .. 65,536; default 1024)")
    options.add_preset(parser, "panther", "hardware configuration (default panther)")
    options.add_set(parser, ("hardware",), example="converters.dac_bits=2")
    parser.add_argument("--repeat", type=options.int_type(1, 1000), default=5,
                        help="runs per timing; best is kept (default 5)")
    options.add_seed(parser)
    add_json_flag(parser)


def best_time(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(args):
    cfg = options.configuration(args)
    rows, cols = cfg.crossbar.rows, cfg.crossbar.cols
    rng = np.random.default_rng(args.seed)
    wb, ib = cfg.precision.weight_bits, cfg.precision.input_bits
    w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), (rows, cols))
    x = rng.integers(-(1 << (ib - 1)), 1 << (ib - 1), (args.vectors, rows))
    levels, sign, shift = encoding.slice_weights(w, cfg)
    steps, _ = encoding.input_steps(x, cfg)
    a = steps.reshape(-1, rows).astype(np.float32)
    b = np.ascontiguousarray(np.moveaxis(levels, 0, 2).reshape(rows, -1), dtype=np.float32)
    xf, wf = x.astype(np.float64), w.astype(np.float64)

    t_stacked = best_time(lambda: a @ b, args.repeat)
    t_sliced = best_time(lambda: crossbar.sliced_mvm(levels, sign, shift, x, cfg), args.repeat)
    t_matmul = best_time(lambda: xf @ wf, args.repeat)
    lossless = cfg.with_overrides({"converters.adc_bits": cfg.lossless_adc_bits})
    t_fast = best_time(lambda: crossbar.mvm(w, x, lossless), args.repeat)
    proven = crossbar.cannot_clip(levels, x, cfg)
    exact = bool(np.array_equal(crossbar.mvm(w, x, lossless), x @ w)
                 and np.array_equal(crossbar.sliced_mvm(levels, sign, shift, x, lossless), x @ w))

    result = {
        "preset": cfg.name, "vectors": args.vectors, "rows": rows, "cols": cols,
        "input_steps": cfg.input_steps, "arrays": cfg.arrays_per_block,
        "stacked_gemm_s": t_stacked, "sliced_mvm_s": t_sliced,
        "plain_matmul_s": t_matmul, "lossless_fast_path_s": t_fast,
        "ratio_vs_stacked_gemm": t_sliced / t_stacked,
        "ratio_lossless_vs_matmul": t_fast / t_matmul,
        "lossless_adc_bits": lossless.converters.adc_bits,
        "clip_free_proven_at_preset_adc": proven, "lossless_exact": exact,
    }
    text = table(["measurement", "seconds", "ratio", "goal"], [
        ["stacked float32 GEMM (same multiply-adds)", t_stacked, "", ""],
        ["bit-sliced MVM (steps x slices, ADC, shift-add)", t_sliced,
         result["ratio_vs_stacked_gemm"], "<= 2"],
        ["plain matmul of the unsliced shape", t_matmul, "", ""],
        [f"lossless fast path ({lossless.converters.adc_bits}-bit ADC: checks + exact matmul)", t_fast,
         result["ratio_lossless_vs_matmul"], "<= 2"],
    ], title=f"{args.vectors} vectors x {rows}x{cols}, {ib}-bit inputs, {wb}-bit weights, "
             f"{cfg.converters.dac_bits}-bit DAC, {cfg.device.bits_per_cell}-bit cells, "
             f"{cfg.converters.adc_bits}-bit ADC ({cfg.name}); this data provably clip-free at "
             f"{cfg.converters.adc_bits} bits: {proven}; lossless results exact: {exact}")
    emit(args, result, text)
    return 0
