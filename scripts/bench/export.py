"""``crosstrain bench export``: Verilog export time of a periphery block as its lines double.

Workload: ``crosstrain verilog BLOCK --param cols=N`` (the panther preset otherwise) for N =
``--cols``, 2N, 4N, ... (``--doublings``). Each export is timed in CPU time, this process's and
its children's (the yosys run that writes the text), the sizes interleaved round by round, and
each ratio t(2N) / t(N) taken within a round. Reported per
doubling: the median ratio over ``--repeat`` rounds and its spread (quartiles). Linear export
gives about 2, a quadratic one about 4; goal < 3.

The export used to be quadratic in the lines (issue 10: ``cols=4096`` ran for minutes) where a
block assigned each line into one wide signal, or sliced each line from a field of a payload
(Amaranth 0.5 copies the field's whole slice for every line).
"""

import os

import numpy as np

from crosstrain import options
from crosstrain.bench.golden import spread
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rtl.blocks import block

NAME = "export"
HELP = "Verilog export time of a periphery block at doubling cols (ratio per doubling)"
GOAL = 3.0


def add_arguments(parser):
    parser.add_argument("--block", default="mvm_unit", help="periphery block (default mvm_unit)")
    parser.add_argument("--cols", type=options.int_type(1, 4096), default=128,
                        help="smallest cols (1 .. 4096; default 128)")
    parser.add_argument("--doublings", type=options.int_type(1, 12), default=1,
                        help="times cols doubles (1 .. 12; default 1)")
    parser.add_argument("--repeat", type=options.int_type(1, 100), default=3,
                        help="interleaved rounds (1 .. 100; default 3)")
    add_json_flag(parser)


def export_seconds(name: str, cols: int) -> float:
    """CPU seconds to elaborate and convert ``name`` at ``cols`` columns."""
    from crosstrain.rtl.export import verilog_text      # amaranth: only when exporting

    component = block(name).build({"crossbar.cols": cols})
    before = os.times()
    verilog_text(component, name)
    after = os.times()
    return sum(a - b for a, b in zip(after[:4], before[:4]))      # user, system, children's


def run(args):
    sizes = [args.cols << k for k in range(args.doublings + 1)]
    for n in sizes:                                     # every size checked before any export
        block(args.block).parameters({"crossbar.cols": n})
    times = np.zeros((args.repeat, len(sizes)))
    for r in range(args.repeat):
        order = range(len(sizes)) if r % 2 == 0 else reversed(range(len(sizes)))
        for i in order:
            times[r, i] = export_seconds(args.block, sizes[i])
    doublings = [{"cols": sizes[i], "to_cols": sizes[i + 1],
                  "ratio": spread(times[:, i + 1] / times[:, i])} for i in range(len(sizes) - 1)]
    result = {"block": args.block, "repeat": args.repeat, "timer": "CPU time, process and children",
              "export_s": {str(n): float(np.median(times[:, i])) for i, n in enumerate(sizes)},
              "doublings": doublings, "goal": GOAL}
    rows = [[f"cols {n}", float(np.median(times[:, i])), "", ""] for i, n in enumerate(sizes)]
    rows += [[f"cols {d['cols']} -> {d['to_cols']}", "",
              f"{d['ratio']['median']:.2f} ({d['ratio']['q1']:.2f}-{d['ratio']['q3']:.2f})",
              f"< {GOAL}"] for d in doublings]
    emit(args, result, table(["export", "CPU seconds (median)", "ratio: median (q1-q3)", "goal"],
                             rows, title=f"crosstrain verilog {args.block} --set crossbar.cols=N (panther): "
                                         f"{args.repeat} interleaved rounds, CPU time (process and children)"))
    return 0
