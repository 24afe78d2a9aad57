"""``crosstrain bench sim``: simulation speed on amaranth.sim, Icarus Verilog and Verilator, in
two modes, in one run.

- **Python in the loop** (``mvm``): the workload of ``crosstrain bench mvm`` (``--vectors``
  back-to-back MVMs through the RTL MVM unit at the panther size, the analog crossbar answered
  every conversion by :mod:`crosstrain.tb.analog` in Python). Every simulator must give
  bit-exact outputs and the same cycle counts.
- **Self-contained tile** (``tile``): :class:`crosstrain.rtl.tile.Tile` on
  :data:`crosstrain.tb.tile_bench.SMALL_PERIPHERY` / ``SMALL_TILE`` (four emulated 4 x 4 units),
  filled through its host port, running a LOOP whose body drives ``--tile-rounds`` MVMs on every
  unit, ``--tile-iterations`` times on Verilator and ``--tile-iterations-slow`` times on
  amaranth.sim and Icarus, with no Python per cycle (``tile_bench``'s free runs). The buffer
  must equal :func:`crosstrain.golden.interpreter.run`'s (every iteration does the same: the
  interpreter runs one) and the cycles its model's, extended by the loop's period: the model's
  cycles for 1, 2 and 3 iterations must grow by one period each.

For each simulator and mode: wall time of the simulated cycles, simulated cycles per second,
the ratio to amaranth.sim in the same mode, and the time besides the cycles shown apart
(amaranth.sim: elaboration; Icarus / Verilator: Verilog export, build (cached per parameter set
under ``build/cocotb``) and simulator start-up; for the tile also filling and reading the
buffer).
"""

from crosstrain import options
from crosstrain.bench.mvm import add_param_arguments, measure, params
from crosstrain.errors import UserError
from crosstrain.output import emit, table, track
from crosstrain.tools import require_simulator

NAME = "sim"
HELP = ("amaranth.sim vs Icarus vs Verilator: the 128x128 MVM workload with Python in the loop, "
        "and the self-contained tile (wall time, cycles/s)")
SIMULATORS = ("amaranth", "icarus", "verilator")
MAX_ITERATIONS = (1 << 16) - 1               # one LOOP word (crosstrain.golden.isa.LOOP_COUNT_BITS)
MAX_ROUNDS = 21                              # a body of 12 words a round, below 256


def add_arguments(parser):
    add_param_arguments(parser, 2)
    parser.add_argument("--tile-iterations", type=options.int_type(3, MAX_ITERATIONS), default=20_000,
                        help="LOOP iterations of the tile workload on Verilator "
                             f"(3 .. {MAX_ITERATIONS:,}; default 20,000)")
    parser.add_argument("--tile-iterations-slow", type=options.int_type(3, MAX_ITERATIONS), default=4,
                        help="LOOP iterations of the tile workload on amaranth.sim and Icarus "
                             "(default 4)")
    parser.add_argument("--tile-rounds", type=options.int_type(1, MAX_ROUNDS), default=MAX_ROUNDS,
                        help=f"MVMs per unit in the LOOP body (1 .. {MAX_ROUNDS}; default {MAX_ROUNDS})")


def tile_expected(p, tile, rounds: int, iterations: int):
    """``(buffer, cycles)`` the tile workload must end with: the interpreter's buffer after one
    iteration, and its cycles for 1 iteration plus ``iterations - 1`` periods, the period being
    the growth from 1 to 2 iterations, checked equal from 2 to 3."""
    from crosstrain.golden import interpreter
    from crosstrain.tb.tile_bench import make_case

    runs = []
    for n in (1, 2, 3):
        program, buffer = make_case(p, tile, kind="loop", iterations=n, rounds=rounds)
        runs.append(interpreter.run(program, tile, p.cfg, buffer))
    c1, c2, c3 = (r.cycles for r in runs)
    if c3 - c2 != c2 - c1 or any((r.buffer != runs[0].buffer).any() for r in runs):
        raise UserError(f"the tile workload is not periodic in the model (cycles {c1}, {c2}, {c3}): "
                        "report this")
    return runs[0].buffer, c1 + (iterations - 1) * (c2 - c1)


def measure_tile(simulator: str, iterations: int, rounds: int) -> dict:
    """The tile workload on ``simulator``, checked against :func:`tile_expected`."""
    from crosstrain.golden.periphery import periphery_params
    from crosstrain.tb.tile_bench import SMALL_PERIPHERY, SMALL_TILE, run_case

    p = periphery_params(SMALL_PERIPHERY)
    want, cycles = tile_expected(p, SMALL_TILE, rounds, iterations)
    run, build_s = run_case(p, SMALL_TILE, {"kind": "loop", "iterations": iterations, "rounds": rounds},
                            simulator)
    exact = bool(not run.error and (run.buffer == want).all())
    return {"iterations": iterations, "simulated_cycles": run.cycles, "model_cycles": cycles,
            "cycles_match_model": run.cycles == cycles, "bit_exact": exact, "run_s": run.run_s,
            "build_s": build_s, "cycles_per_s": run.cycles / run.run_s}


def run(args):
    from crosstrain.golden.periphery import periphery_params
    from crosstrain.tb.tile_bench import SMALL_PERIPHERY, SMALL_TILE

    for name in SIMULATORS[1:]:          # a missing simulator fails before any time is spent
        require_simulator(name)
    p = params(args)
    results = {name: measure(p, name, args.vectors, args.seed)
               for name in track(SIMULATORS, desc="bench sim: MVM workload (build + run per simulator)")}
    tiles = {name: measure_tile(name, args.tile_iterations if name == "verilator" else args.tile_iterations_slow,
                                args.tile_rounds)
             for name in track(SIMULATORS, desc="bench sim: self-contained tile")}
    base = results["amaranth"]["cycles_per_s"]
    small, units = periphery_params(SMALL_PERIPHERY), SMALL_TILE.units
    cycles = {r["simulated_cycles"] for r in results.values()}
    if len(cycles) != 1 or not all(r["bit_exact"] for r in results.values()):
        raise UserError(f"simulators disagree: cycles {sorted(cycles)}, bit-exact "
                        f"{[r['bit_exact'] for r in results.values()]}")
    bad = [name for name, t in tiles.items() if not (t["bit_exact"] and t["cycles_match_model"])]
    if bad:
        raise UserError(f"the tile workload differs from the interpreter on {', '.join(bad)}: "
                        + "; ".join(f"{n}: {tiles[n]['simulated_cycles']} cycles, model "
                                    f"{tiles[n]['model_cycles']}, bit-exact {tiles[n]['bit_exact']}"
                                    for n in bad))
    out = {"vectors": args.vectors, "rows": p.rows, "cols": p.cols,
           "simulated_cycles": cycles.pop(), "simulators": {},
           "tile": {"units": units, "rows": small.rows, "cols": small.cols,
                    "rounds": args.tile_rounds, "simulators": {}}}
    rows = []
    for name, r in results.items():
        out["simulators"][name] = {k: r[k] for k in ("run_s", "build_s", "cycles_per_s",
                                                     "bit_exact", "rtl_latency_cycles")}
        out["simulators"][name]["speedup_vs_amaranth"] = r["cycles_per_s"] / base
        rows.append([f"mvm, Python in the loop ({p.rows}x{p.cols})", name, r["simulated_cycles"], r["run_s"],
                     r["cycles_per_s"], r["cycles_per_s"] / base, r["build_s"], r["bit_exact"]])
    tbase = tiles["amaranth"]["cycles_per_s"]
    for name, t in tiles.items():
        out["tile"]["simulators"][name] = t | {"speedup_vs_amaranth": t["cycles_per_s"] / tbase}
        rows.append([f"tile, self-contained ({units} units of {small.rows}x{small.cols})", name, t["simulated_cycles"], t["run_s"],
                     t["cycles_per_s"], t["cycles_per_s"] / tbase, t["build_s"],
                     t["bit_exact"] and t["cycles_match_model"]])
    text = table(["workload", "simulator", "cycles", "run s", "cycles/s", "vs amaranth",
                  "build + start s", "exact"], rows,
                 title=f"{args.vectors} back-to-back MVMs on the {p.rows}x{p.cols} MVM unit "
                       f"({p.encoding} encoding, Python answering the crossbar); the tile: a LOOP "
                       f"of {args.tile_rounds} MVMs per unit per iteration, {args.tile_iterations:,} "
                       f"iterations on Verilator, {args.tile_iterations_slow:,} elsewhere")
    emit(args, out, text)
    return 0
