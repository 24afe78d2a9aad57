"""``crosstrain bench graph``: time of PageRank on the golden crossbar model of GraphR.

Workload (issue 17): PageRank, 20 iterations, on an R-MAT graph of 2**16 vertices and edge factor
16 (``--scale`` / ``--edge-factor``), graphr preset. Times, each the best of ``--repeat`` runs:
generating the graph, partitioning it into crossbar blocks, the golden PageRank (every block
through the crossbar model, fixed point), and, as the baseline measured in the same run, the same
20 iterations in float64 with scipy.sparse. ``ratio_vs_float64`` = golden / float64; the goal is
the issue's: generation + partition + golden PageRank under 10 s.
"""

from crosstrain.bench.golden import best_time
from crosstrain.errors import UserError
from crosstrain.golden import config, graph
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rollup import graph_study, graphs

NAME = "graph"
HELP = "golden PageRank on GraphR's crossbars (R-MAT 2^16, edge factor 16) vs float64 scipy"
GOAL_S = 10.0


def add_arguments(parser):
    parser.add_argument("--scale", type=int, default=16, help="R-MAT scale (default 16: 65,536 vertices)")
    parser.add_argument("--edge-factor", type=int, default=16, help="edges per vertex (default 16)")
    parser.add_argument("--iterations", type=int, default=20, help="PageRank iterations (default 20)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per timing; best is kept")
    add_json_flag(parser)


def run(args):
    if args.repeat < 1 or args.iterations < 1 or not 1 <= args.scale <= 24 or args.edge_factor < 1:
        raise UserError(f"--repeat ({args.repeat}) and --iterations ({args.iterations}) must be positive, "
                        f"--scale ({args.scale}) 1 .. 24, --edge-factor ({args.edge_factor}) positive")
    cfg = config.load("graphr")
    spec = f"rmat:{args.scale},{args.edge_factor}"
    settings = graph_study.GraphSettings(iterations=args.iterations)
    box = {}
    t_gen = best_time(lambda: box.update(g=graphs.load(spec)), args.repeat)
    g = box["g"]
    t_part = best_time(lambda: box.update(p=graph.partition(g.adj, cfg, settings.engines)), args.repeat)
    part = box["p"]
    t_golden = best_time(lambda: box.update(r=graph_study.execute(part, "pagerank", cfg, settings)),
                         args.repeat)
    t_float = best_time(lambda: box.update(ref=graph_study.reference(g.adj, part, "pagerank", settings)),
                        args.repeat)
    acc = graph_study.accuracy(box["r"], box["ref"], "pagerank", settings.top_k)
    total = t_gen + t_part + t_golden
    result = {"graph": spec, "vertices": g.vertices, "edges": g.edges, "blocks": part.blocks,
              "iterations": args.iterations, "generate_s": t_gen, "partition_s": t_part,
              "golden_pagerank_s": t_golden, "float64_pagerank_s": t_float,
              "ratio_vs_float64": t_golden / t_float, "total_s": total, "goal_s": GOAL_S,
              "meets_goal": total < GOAL_S, "max_rel_error": acc["max_rel_error"]}
    text = table(["step", "seconds", "ratio"], [
        [f"generate {spec} ({g.vertices:,} vertices, {g.edges:,} edges)", t_gen, ""],
        [f"partition into {part.blocks:,} non-empty 8x8 blocks", t_part, ""],
        [f"golden PageRank, {args.iterations} iterations (crossbar model)", t_golden,
         result["ratio_vs_float64"]],
        [f"float64 PageRank, {args.iterations} iterations (scipy.sparse baseline)", t_float, 1.0],
        ["generate + partition + golden PageRank", total, ""],
    ], title=f"PageRank on GraphR's golden model; goal: total < {GOAL_S:g} s "
             f"({'met' if result['meets_goal'] else 'NOT met'}); max error {acc['max_rel_error']:.3g} "
             "of the largest rank")
    emit(args, result, text)
    return 0
