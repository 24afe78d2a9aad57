"""``crosstrain bench sweep``: points per second of a VGG-8 sweep on 1 and 2 local workers, and
the resident memory a long sweep adds.

Throughput: the same ``--points`` points of a VGG-8 / CIFAR-10 grid (crossbar rows and columns,
ADCs per array, ``cost.duty``; PANTHER) swept in this process (1 worker) and on a pool of 2
worker processes, each into a fresh results table (a line flushed to disk per point, as in
``crosstrain sweep``), the workers started and warm before the clock starts. ``ratio`` = points per
second on 2 workers / on 1 (2 is linear; the machine's other load shows in it).

Memory: ``--memory-points`` more points swept in this process; the resident set size (Linux
``/proc/self/statm``) after the first tenth of them (caches warm) and at the end. Issue 16's
goals: near-linear scaling, one estimate <= 0.2 s, growth < 50 MB over 10,000 points
(``--memory-points 10000``, a few minutes).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from crosstrain import options
from crosstrain.commands.sweep import evaluate
from crosstrain.errors import UserError
from crosstrain.experiments import sweep
from crosstrain.output import add_json_flag, emit, table

NAME = "sweep"
HELP = "points per second of a VGG-8 sweep on 1 and 2 workers; memory growth of a long sweep"
AXES = {"crossbar.rows": (32, 64, 128, 256), "crossbar.cols": (32, 64, 128, 256),
        "converters.adcs_per_array": tuple(range(1, 17)),
        "cost.duty": tuple(round(0.01 * i, 2) for i in range(1, 101))}      # 102,400 points
BASE = {"schema": sweep.SCHEMA, "network": {"name": "vgg8-cifar10"}, "systems": ["panther"],
        "preset": {"name": "panther"}, "baseline_preset": {"name": "pipelayer"}, "batch": 64, "set": {}}


def add_arguments(parser):
    parser.add_argument("--points", type=options.int_type(2, 100_000), default=400,
                        help="points of the throughput runs (default 400)")
    parser.add_argument("--memory-points", type=options.int_type(10, 100_000), default=300,
                        help="points of the memory run (default 300; issue 16's claim: 10000)")
    parser.add_argument("--seed", type=options.int_type(0, options.SEED_MAX), default=0,
                        help="seed of the points drawn from the grid (default 0)")
    add_json_flag(parser)


def _tasks(n: int, seed: int) -> list[dict]:
    return [{**BASE, "set": p} for p in sweep.points(AXES, n, seed)]


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        raise UserError("bench sweep measures memory through /proc/self/statm (Linux)") from None


def _timed(tasks: list[dict], workers: int, folder: Path) -> tuple[float, list[float]]:
    """Seconds of the sweep of ``tasks`` on ``workers`` (1: this process; else a pool whose
    workers have already evaluated one point each), and the seconds of each estimate."""
    with contextlib.ExitStack() as stack:
        pool = None
        if workers > 1:
            pool = stack.enter_context(sweep.local_pool(workers))
            for f in [pool.submit(evaluate, tasks[0]) for _ in range(2 * workers)]:
                f.result()
        store = stack.enter_context(sweep.ResultStore(folder / f"w{workers}.jsonl"))
        t0 = time.perf_counter()
        sweep.run(tasks, evaluate, store, workers=workers, pool=pool)
        seconds = time.perf_counter() - t0
        return seconds, [r["seconds"] for r in store]


def run(args):
    tasks = _tasks(args.points, args.seed)
    with tempfile.TemporaryDirectory() as d:
        evaluate(tasks[0])                                      # imports and first-use caches
        t1, each = _timed(tasks, 1, Path(d))
        t2, _ = _timed(tasks, 2, Path(d))
        memory = _tasks(args.memory_points, args.seed + 1)
        warm = max(1, len(memory) // 10)
        marks = []

        def mark(stream, total):
            for n, item in enumerate(stream, 1):
                if n in (warm, total):
                    marks.append(_rss_mb())
                yield item
        with sweep.ResultStore(Path(d) / "memory.jsonl") as store:
            sweep.run(memory, evaluate, store, progress=mark)
    pps1, pps2 = args.points / t1, args.points / t2
    result = {"network": "vgg8-cifar10", "points": args.points, "seconds_1_worker": t1,
              "seconds_2_workers": t2, "points_per_s_1_worker": pps1, "points_per_s_2_workers": pps2,
              "ratio": pps2 / pps1, "median_estimate_s": statistics.median(each),
              "max_estimate_s": max(each), "memory_points": len(memory), "rss_warm_mb": marks[0],
              "rss_end_mb": marks[-1], "rss_growth_mb": marks[-1] - marks[0]}
    text = table(["workers", "seconds", "points/s"], [[1, t1, pps1], [2, t2, pps2]],
                 title=f"{args.points} VGG-8 points on warm workers (crosstrain bench sweep)")
    text += (f"\n\nratio 2 / 1 workers: {result['ratio']:.2f} (2 = linear)\none estimate: median "
             f"{result['median_estimate_s']:.3f} s, max {result['max_estimate_s']:.3f} s (goal <= 0.2 s)"
             f"\nresident memory over {len(memory):,} points: {marks[0]:.1f} MB after {warm:,}, "
             f"{marks[-1]:.1f} MB at the end: +{result['rss_growth_mb']:.1f} MB (goal < 50 MB over 10,000)")
    emit(args, result, text)
    return 0
