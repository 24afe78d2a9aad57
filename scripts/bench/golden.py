"""``crosstrain bench golden``: cost of bit slicing, ADC and shift-and-add over the products.

Workload (issue 2): N vectors through one rows x cols block of the preset (panther: 128 x 128,
16-bit inputs and weights, 1-bit DAC, 2-bit cells, 8-bit ADC), in each weight encoding. Every
ratio is against a baseline timed in the same run:

- ``sliced_vs_stacked_gemm`` (per encoding): the full bit-sliced MVM (every input step x weight
  slice partial product, ADC, shift-and-add) against ONE float32 GEMM that performs the same
  multiply-adds (all step x slice partial products stacked: (N*steps x rows) @ (rows x
  cols*slices)). Goal <= 1.5 where the column sums fit float32's exact range
  (``column_sums_fit_float32``); beyond it the golden stays exact first.
- ``lossless_vs_matmul``: :func:`crosstrain.golden.crossbar.mvm` with the ADC widened to the
  lossless width (no column sum can clip, whatever the data) takes its fast path (range
  checks, then one exact matmul); against one plain float64 matmul of the unsliced shape on
  already-converted operands. Goal <= 2.
- ``proof_vs_matmul``: :func:`crosstrain.golden.crossbar.cannot_clip` at the preset's own ADC
  (the proof the fast path needs there) against the same matmul. Goal <= 1.

Timing: BLAS is pinned to ``--threads`` threads (threadpoolctl) and every contender is timed
in process CPU time, so other processes on the machine slow the wall clock but not the
figures; the contenders run interleaved, one round at a time, and each ratio is taken within a
round. Reported per ratio: the median over ``--repeat`` rounds and the spread (first and third
quartile, ``q1``/``q3``).
"""

import time

import numpy as np
from threadpoolctl import threadpool_limits

from crosstrain import options
from crosstrain.golden import crossbar, encoding
from crosstrain.output import add_json_flag, emit, table

NAME = "golden"
HELP = "golden bit-sliced MVM vs the GEMM of the same multiply-adds (median and spread)"
ENCODINGS = ("offset", "differential")
GOALS = {"sliced_vs_stacked_gemm": 1.5, "lossless_vs_matmul": 2.0, "proof_vs_matmul": 1.0}


def add_arguments(parser):
    parser.add_argument("--vectors", type=options.int_type(1, 1 << 16), default=1024,
                        help="input vectors (1 .. 65,536; default 1024)")
    options.add_preset(parser, "panther", "hardware configuration (default panther)")
    options.add_set(parser, ("hardware",), example="converters.dac_bits=2")
    parser.add_argument("--repeat", type=options.int_type(1, 1000), default=11,
                        help="interleaved rounds; medians and quartiles over them (1 .. 1000; default 11)")
    parser.add_argument("--threads", type=options.int_type(1, 256), default=1,
                        help="BLAS threads (1 .. 256; default 1)")
    options.add_seed(parser)
    add_json_flag(parser)


def best_time(fn, repeat):
    """Best wall-clock time of ``repeat`` runs (used by ``bench estimate``)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def cpu_time(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def rounds(contenders: dict, repeat: int) -> dict[str, np.ndarray]:
    """CPU seconds of every contender in each of ``repeat`` rounds; within a round they run one
    after another, in an order that rotates from round to round."""
    names = list(contenders)
    times = {n: np.zeros(repeat) for n in names}
    for r in range(repeat):
        for n in names[r % len(names):] + names[:r % len(names)]:
            times[n][r] = cpu_time(contenders[n])
    return times


def spread(ratios: np.ndarray) -> dict:
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3)}


def encoding_workload(cfg, w, x):
    """The contenders of one encoding: stacked GEMM, bit-sliced MVM; and its facts."""
    rows = cfg.crossbar.rows
    levels, sign, shift = encoding.slice_weights(w, cfg)
    steps, _ = encoding.input_steps(x, cfg)
    a = steps.reshape(-1, rows).astype(np.float32)
    b = np.ascontiguousarray(np.moveaxis(levels, 0, 2).reshape(rows, -1), dtype=np.float32)
    fits = cfg.max_column_sum < (1 << 24)
    return {"stacked": lambda: a @ b,
            "sliced": lambda: crossbar.sliced_mvm(levels, sign, shift, x, cfg)}, {
        "arrays": cfg.arrays_per_block, "column_sums_fit_float32": fits}, levels


def run(args):
    base = options.configuration(args)
    rows, cols = base.crossbar.rows, base.crossbar.cols
    rng = np.random.default_rng(args.seed)
    wb, ib = base.precision.weight_bits, base.precision.input_bits
    w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), (rows, cols))
    x = rng.integers(-(1 << (ib - 1)), 1 << (ib - 1), (args.vectors, rows))
    xf, wf = x.astype(np.float64), w.astype(np.float64)
    lossless = base.with_overrides({"converters.adc_bits": base.lossless_adc_bits})
    contenders = {"matmul": lambda: xf @ wf, "lossless": lambda: crossbar.mvm(w, x, lossless)}
    facts, own_levels = {}, None
    for enc in ENCODINGS:
        cfg = base.with_overrides({"crossbar.encoding": enc})
        fns, facts[enc], levels = encoding_workload(cfg, w, x)
        contenders |= {f"{enc}.{k}": f for k, f in fns.items()}
        if enc == base.crossbar.encoding:
            own_levels = levels
    contenders["proof"] = lambda: crossbar.cannot_clip(own_levels, x, base)
    with threadpool_limits(limits=args.threads):
        t = rounds(contenders, args.repeat)

    result = {
        "preset": base.name, "encoding": base.crossbar.encoding, "vectors": args.vectors,
        "rows": rows, "cols": cols, "input_steps": base.input_steps, "threads": args.threads,
        "repeat": args.repeat, "timer": "process CPU time",
        "plain_matmul_s": float(np.median(t["matmul"])),
        "lossless_fast_path_s": float(np.median(t["lossless"])),
        "clip_proof_s": float(np.median(t["proof"])),
        "lossless_vs_matmul": spread(t["lossless"] / t["matmul"]),
        "proof_vs_matmul": spread(t["proof"] / t["matmul"]),
        "lossless_adc_bits": lossless.converters.adc_bits,
        "clip_free_proven_at_preset_adc": crossbar.cannot_clip(own_levels, x, base),
        "lossless_exact": bool(np.array_equal(crossbar.mvm(w, x, lossless), x @ w)),
        "encodings": {enc: facts[enc] | {
            "stacked_gemm_s": float(np.median(t[f"{enc}.stacked"])),
            "sliced_mvm_s": float(np.median(t[f"{enc}.sliced"])),
            "sliced_vs_stacked_gemm": spread(t[f"{enc}.sliced"] / t[f"{enc}.stacked"])}
            for enc in ENCODINGS},
        "goals": GOALS,
    }

    def ratio(r):
        return f"{r['median']:.2f} ({r['q1']:.2f}-{r['q3']:.2f})"
    lines = []
    for enc in ENCODINGS:
        e = result["encodings"][enc]
        fit = "" if e["column_sums_fit_float32"] else " [sums past 2**24: exact dtype]"
        lines += [[f"{enc}: stacked float32 GEMM ({e['arrays']} arrays)", e["stacked_gemm_s"], "", ""],
                  [f"{enc}: bit-sliced MVM (steps x slices, ADC, shift-add){fit}", e["sliced_mvm_s"],
                   ratio(e["sliced_vs_stacked_gemm"]), f"<= {GOALS['sliced_vs_stacked_gemm']}"]]
    lines += [["plain float64 matmul of the unsliced shape", result["plain_matmul_s"], "", ""],
              [f"lossless fast path ({lossless.converters.adc_bits}-bit ADC: checks + exact matmul)",
               result["lossless_fast_path_s"], ratio(result["lossless_vs_matmul"]),
               f"<= {GOALS['lossless_vs_matmul']}"],
              [f"clip-free proof at the preset's {base.converters.adc_bits}-bit ADC",
               result["clip_proof_s"], ratio(result["proof_vs_matmul"]),
               f"<= {GOALS['proof_vs_matmul']}"]]
    text = table(["measurement", "CPU seconds (median)", "ratio: median (q1-q3)", "goal"], lines,
                 title=f"{args.vectors} vectors x {rows}x{cols}, {ib}-bit inputs, {wb}-bit weights, "
                       f"{base.converters.dac_bits}-bit DAC, {base.device.bits_per_cell}-bit cells, "
                       f"{base.converters.adc_bits}-bit ADC ({base.name}); {args.repeat} interleaved "
                       f"rounds, {args.threads} BLAS thread(s), process CPU time; this data provably "
                       f"clip-free at {base.converters.adc_bits} bits: "
                       f"{result['clip_free_proven_at_preset_adc']}; lossless results exact: "
                       f"{result['lossless_exact']}")
    emit(args, result, text)
    return 0
