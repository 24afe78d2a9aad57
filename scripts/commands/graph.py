"""``crosstrain graph``: a graph algorithm on GraphR's crossbars, checked and costed.

Runs the vertex program on the golden crossbar model (crosstrain.golden.graph), checks it against
float64 / exact references, and costs it on GraphR, a CPU and a GPU (crosstrain.rollup.graph_cost).
docs/graph.md documents the model, every setting and the JSON keys.
"""

from __future__ import annotations

import time

from crosstrain import options
from crosstrain.errors import UserError
from crosstrain.golden import config, graph
from crosstrain.golden.config import ConfigError
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rollup import graph_study, graphs
from crosstrain.rollup.mapper import SettingError

NAME = "graph"
HELP = "graph algorithms (PageRank, BFS, SSSP, SpMV) on GraphR's crossbars vs a CPU and a GPU"
DESCRIPTION = ("Run PageRank, BFS, SSSP or SpMV on the golden model of GraphR's graph engines "
               "(the graph cut into crossbar-sized blocks, empty ones skipped, the rest streamed "
               "through the bit-sliced crossbar in fixed point), check the result against float64 "
               "or exact references, and cost it on GraphR, a CPU and a GPU. docs/graph.md.")
ORDER = 15
MAX_ITERATIONS = 10_000


def add_arguments(parser):
    parser.add_argument("--algorithm", default="pagerank", metavar="NAME[,NAME...]|all",
                        help=f"{', '.join(graph_study.ALGORITHMS)}, a comma-separated list or 'all' "
                             "(default pagerank)")
    parser.add_argument("--graph", action="append", default=None, metavar="SPEC",
                        help="rmat:SCALE,EF, rmat:NAME (GraphR's data set sizes: "
                             f"{', '.join(graphs.DATASETS)}), nx:NAME ({', '.join(graphs.NETWORKX)}; "
                             "needs networkx), or an edge-list / .mtx file; repeat for several "
                             "(default rmat:16,16)")
    options.add_preset(parser, "graphr", "crossbar configuration (default graphr)")
    options.add_set(parser, ("hardware", "graph"), example="graph.ges=16")
    parser.add_argument("--iterations", type=options.int_type(1, MAX_ITERATIONS), default=20,
                        help=f"PageRank iterations (1 .. {MAX_ITERATIONS:,}; default 20)")
    parser.add_argument("--source", type=options.int_type(0, options.MAX_INT), default=None,
                        help="BFS / SSSP source vertex (default: the vertex of largest out-degree)")
    options.add_seed(parser, 0, "R-MAT and SpMV input seed")
    parser.add_argument("--sweep", action="store_true",
                        help="also sweep the value width (8, 12, 16 bits) and the ADC width")
    add_json_flag(parser)


def configure(args):
    """(hardware configuration, graph settings) from ``--preset``, ``--set`` and the options."""
    vals = options.values(args, ("hardware", "graph"))
    hardware = options.group(vals, "hardware")
    settings = graph_study.GraphSettings(iterations=args.iterations, source=args.source, seed=args.seed)
    for key, value in vals.items():
        if key not in hardware:
            settings = settings.with_setting(key, value)
    return options.configuration(args, hardware), settings


def algorithms(text: str) -> list[str]:
    names = list(graph_study.ALGORITHMS) if text.strip() == "all" else \
        [a.strip() for a in text.split(",") if a.strip()]
    for a in names:
        if a not in graph_study.ALGORITHMS:
            raise UserError(f"--algorithm {a!r}: use {', '.join(graph_study.ALGORITHMS)} or all")
    return names


def run(args):
    started = time.perf_counter()
    try:
        cfg, settings = configure(args)
        algs = algorithms(args.algorithm)
        results, sweeps = [], []
        for spec in args.graph or ["rmat:16,16"]:
            g = graphs.load(spec, seed=args.seed)
            t0 = time.perf_counter()
            part = graph.partition(g.adj, cfg, settings.engines)
            t_part = time.perf_counter() - t0
            for alg in algs:
                if args.source is not None and not 0 <= args.source < g.vertices:
                    raise UserError(f"--source {args.source}: {g.name} has vertices 0 .. {g.vertices - 1}")
                results.append(graph_study.study(g, alg, cfg, settings, part))
                results[-1]["elapsed_s"]["partition"] = t_part          # shared by the graph's runs
                if args.sweep:
                    sweeps.append({"graph": g.name, "algorithm": alg,
                                   "rows": graph_study.sweep(g, alg, cfg, settings)})
    except (SettingError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise UserError(str(e)) from None
    data = {"runs": results, "summary": graph_study.summary(results), "settings": settings.as_dict(),
            "hardware": config.as_dict(cfg), "sweeps": sweeps,
            "elapsed_s": time.perf_counter() - started}
    emit(args, data, _text(data))
    return 0


def _text(data: dict) -> str:
    out = []
    for r in data["runs"]:
        b, acc = r["blocks"], r["accuracy"]
        title = (f"{r['algorithm']} on {r['graph']} ({r['vertices']:,} vertices, {r['edges']:,} edges; "
                 f"{r['graph_description']}), {b['passes']} passes, hardware {r['hardware']}")
        rows = [[s["name"], s["time_s"] * 1e3, s["energy_j"] * 1e3, s["speedup_vs_cpu"],
                 s["energy_saving_vs_cpu"], s["description"]] for s in r["systems"]]
        out.append(table(["system", "time ms", "energy mJ", "speedup vs cpu", "energy saving vs cpu",
                          "model"], rows, title=title))
        out.append(f"blocks: {b['blocks_processed']:,} processed, {b['blocks_skipped_empty']:,} skipped "
                   f"empty, {b['blocks_skipped_inactive']:,} skipped inactive ({b['nonempty_blocks']:,} "
                   f"of {b['grid_blocks']:,} blocks non-empty, {b['edges_per_block']:.2f} edges per "
                   f"block); GraphR rounds: {r['systems'][0]['details']['rounds']:,}")
        out.append("accuracy: " + ", ".join(f"{k} {_short(v)}" for k, v in acc.items()))
        out.append(f"golden run {r['elapsed_s']['golden']:.2f} s (partition {r['elapsed_s']['partition']:.2f} s)\n")
    if len(data["runs"]) > 1:
        rows = [[k, v["speedup_geomean"], f"{v['speedup_min']:.3g}-{v['speedup_max']:.3g}",
                 v["energy_saving_geomean"], f"{v['energy_saving_min']:.3g}-{v['energy_saving_max']:.3g}"]
                for k, v in data["summary"].items()]
        out.append(table(["GraphR vs", "speedup (geomean)", "range", "energy saving (geomean)", "range"],
                         rows, title=f"over {len(data['runs'])} runs") + "\n")
    for s in data["sweeps"]:
        keys = [k for k in s["rows"][0] if k not in ("top_k",)]
        out.append(table(keys, [[row[k] for k in keys] for row in s["rows"]],
                         title=f"accuracy of {s['algorithm']} on {s['graph']} by value and ADC width") + "\n")
    out.append(f"elapsed {data['elapsed_s']:.2f} s")
    return "\n".join(out)


def _short(v):
    return f"{v:.3g}" if isinstance(v, float) else v
