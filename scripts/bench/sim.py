"""``crosstrain bench sim``: the same MVM workload on amaranth.sim, Icarus Verilog and Verilator.

Workload: that of ``crosstrain bench mvm`` (``--vectors`` back-to-back MVMs through the RTL MVM
unit at the panther size, the analog crossbar answered by :mod:`crosstrain.tb.analog` with one packed
integer per conversion). For each simulator: wall time of the simulated cycles, simulated
cycles per second, and the time before the first cycle shown separately (amaranth.sim:
elaboration; Icarus / Verilator: Verilog export, build (cached per parameter set under
``build/cocotb``) and simulator start-up). The speed ratios are against amaranth.sim, timed in
the same run. Every simulator must give bit-exact outputs and the same cycle counts.
"""

from crosstrain.bench.mvm import add_param_arguments, measure, params
from crosstrain.errors import UserError
from crosstrain.output import emit, table, track
from crosstrain.tools import require_simulator

NAME = "sim"
HELP = "amaranth.sim vs Icarus vs Verilator on the 128x128 MVM workload (wall time, cycles/s)"
SIMULATORS = ("amaranth", "icarus", "verilator")


def add_arguments(parser):
    add_param_arguments(parser, 2)


def run(args):
    for name in SIMULATORS[1:]:          # a missing simulator fails before any time is spent
        require_simulator(name)
    p = params(args)
    results = {name: measure(p, name, args.vectors, args.seed)
               for name in track(SIMULATORS, desc="bench sim (build + run per simulator)")}
    base = results["amaranth"]["cycles_per_s"]
    cycles = {r["simulated_cycles"] for r in results.values()}
    if len(cycles) != 1 or not all(r["bit_exact"] for r in results.values()):
        raise UserError(f"simulators disagree: cycles {sorted(cycles)}, bit-exact "
                        f"{[r['bit_exact'] for r in results.values()]}")
    out = {"vectors": args.vectors, "rows": p.rows, "cols": p.cols,
           "simulated_cycles": cycles.pop(), "simulators": {}}
    rows = []
    for name, r in results.items():
        out["simulators"][name] = {k: r[k] for k in ("run_s", "build_s", "cycles_per_s",
                                                     "bit_exact", "rtl_latency_cycles")}
        out["simulators"][name]["speedup_vs_amaranth"] = r["cycles_per_s"] / base
        rows.append([name, r["run_s"], r["cycles_per_s"], r["cycles_per_s"] / base, r["build_s"],
                     r["bit_exact"]])
    text = table(["simulator", "run s", "cycles/s", "vs amaranth", "build + start s", "bit-exact"],
                 rows, title=f"{args.vectors} back-to-back MVMs ({out['simulated_cycles']:,} cycles), "
                             f"{p.rows}x{p.cols} MVM unit, {p.encoding} encoding")
    emit(args, out, text)
    return 0
