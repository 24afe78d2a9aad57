"""One graph workload end to end: golden run on the crossbars, accuracy against float64 /
exact references, and cost on GraphR, the CPU and the GPU (what ``crosstrain graph`` prints).

Accuracy (:func:`accuracy`):

- BFS / SSSP: distances against scipy's breadth-first / Dijkstra shortest paths, exact or not
  (``mismatches``, and distances that saturated the fixed point);
- PageRank: against the same iteration in float64 (scipy.sparse): the largest absolute error,
  the same relative to the largest rank, Kendall's tau between the two rankings of the float64
  top-k vertices and the fraction of the float64 top-k that the crossbar's top-k keeps;
- SpMV: ``y = A^T x`` for a seeded uniform ``x`` against float64 (largest absolute and relative
  error).

:func:`comparison_rows` runs GraphR's comparison (reference sheet section 7) on R-MAT graphs of
GraphR's data set sizes and returns (name, paper, ours, command) rows for docs/REPRODUCTION.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import scipy.sparse as sp
from scipy import stats
from scipy.sparse import csgraph

from crosstrain.golden import graph
from crosstrain.golden.config import HardwareConfig
from crosstrain.rollup import graph_cost, graphs
from crosstrain.rollup.estimate import typed_setting
from crosstrain.rollup.gpu import GpuSettings
from crosstrain.rollup.mapper import SettingError

ALGORITHMS = ("pagerank", "bfs", "sssp", "spmv")
PAPER_DATASETS = ("wikivote", "slashdot", "amazon", "webgoogle")   # the four that fit a laptop's run


@dataclass(frozen=True)
class GraphSettings:
    """Everything a graph run depends on besides the hardware configuration and the graph."""

    engines: graph.GraphEngines = field(default_factory=graph.GraphEngines)
    graphr: graph_cost.GraphrSettings = field(default_factory=graph_cost.GraphrSettings)
    cpu: graph_cost.CpuSettings = field(default_factory=graph_cost.CpuSettings)
    gpu: graph_cost.GpuGraphSettings = field(default_factory=graph_cost.GpuGraphSettings)
    iterations: int = 20                # PageRank iterations
    damping: float = 0.85
    source: int | None = None           # BFS / SSSP source; None: the vertex of largest out-degree
    top_k: int = 100
    seed: int = 0                       # SpMV input vector

    def __post_init__(self):
        if self.iterations < 1 or not 0 < self.damping < 1 or self.top_k < 1:
            raise SettingError(f"iterations = {self.iterations}, damping = {self.damping}, top_k = "
                               f"{self.top_k}: need iterations >= 1, 0 < damping < 1, top_k >= 1")

    def with_setting(self, key: str, value) -> "GraphSettings":
        """A copy with ``graph.FIELD`` (engines), ``memory.FIELD`` (GraphR's memory and sALU),
        ``cpu.FIELD`` or ``gpu.FIELD`` (graph traffic, or the GPU roofline's own settings) changed."""
        group, _, name = key.partition(".")
        targets = {"graph": ("engines", self.engines), "memory": ("graphr", self.graphr),
                   "cpu": ("cpu", self.cpu), "gpu": ("gpu", self.gpu)}
        if group == "gpu" and name in _names(self.gpu.roofline):
            new = replace(self.gpu.roofline, **{name: typed_setting(key, getattr(self.gpu.roofline, name), value)})
            return replace(self, gpu=replace(self.gpu, roofline=new))
        if group in targets and name in _names(targets[group][1]) and name != "roofline":
            attr, obj = targets[group]
            return replace(self, **{attr: replace(obj, **{name: typed_setting(key, getattr(obj, name), value)})})
        raise SettingError(f"unknown setting {key!r}: use graph.FIELD ({', '.join(_names(self.engines))}), "
                           f"memory.FIELD ({', '.join(_names(self.graphr))}), cpu.FIELD "
                           f"({', '.join(_names(self.cpu))}), gpu.FIELD "
                           f"({', '.join(n for n in _names(self.gpu) if n != 'roofline')}, "
                           f"{', '.join(_names(GpuSettings()))})")

    def as_dict(self) -> dict:
        return asdict(self)


def _names(obj) -> list[str]:
    return [f.name for f in fields(obj)]


def source_vertex(part: graph.Partition, settings: GraphSettings) -> int:
    if settings.source is not None:
        return settings.source
    return int(np.argmax(np.bincount(part.src, minlength=part.n)))


def spmv_input(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n)


def execute(part: graph.Partition, algorithm: str, cfg: HardwareConfig, settings: GraphSettings,
            *, fast: bool = True) -> graph.GraphRun:
    """The golden run of ``algorithm`` on the partitioned graph."""
    if algorithm == "pagerank":
        return graph.pagerank(part, cfg, iterations=settings.iterations, damping=settings.damping, fast=fast)
    if algorithm == "spmv":
        return graph.spmv(part, spmv_input(part.n, settings.seed), cfg, fast=fast)
    if algorithm in ("bfs", "sssp"):
        return getattr(graph, algorithm)(part, source_vertex(part, settings), cfg, fast=fast)
    raise SettingError(f"unknown algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}")


def reference(adj: sp.csr_array, part: graph.Partition, algorithm: str, settings: GraphSettings):
    """float64 / exact result of the same program, computed with scipy."""
    n = adj.shape[0]
    if algorithm == "pagerank":
        a = (adj != 0).astype(np.float64)
        out = np.asarray(a.sum(axis=1)).ravel()
        m = sp.diags_array(np.divide(1.0, out, out=np.zeros(n), where=out > 0)) @ a
        mt = sp.csr_array(m.T)
        x = np.full(n, 1.0 / n)
        for _ in range(settings.iterations):
            x = (1 - settings.damping) / n + settings.damping * (mt @ x)
        return x
    if algorithm == "spmv":
        return adj.T @ spmv_input(n, settings.seed)
    d = csgraph.shortest_path(adj, indices=source_vertex(part, settings), unweighted=algorithm == "bfs")
    return np.where(np.isinf(d), -1, d).astype(np.int64)


def accuracy(run: graph.GraphRun, ref: np.ndarray, algorithm: str, top_k: int) -> dict:
    if algorithm in ("bfs", "sssp"):
        bad = int(np.count_nonzero(run.values != ref))
        return {"exact": bad == 0, "mismatches": bad, "saturated": run.saturated,
                "reached": int(np.count_nonzero(ref >= 0))}
    err = np.abs(run.values - ref)
    top = float(np.max(np.abs(ref), initial=0.0))
    out = {"max_abs_error": float(err.max(initial=0.0)),
           "max_rel_error": float(err.max(initial=0.0) / top) if top else 0.0}
    if algorithm == "pagerank":
        k = min(top_k, len(ref))
        best = np.argsort(-ref, kind="stable")[:k]
        ours = np.argsort(-run.values, kind="stable")[:k]
        tau = stats.kendalltau(ref[best], run.values[best]).statistic if k > 1 else 1.0
        out |= {"top_k": k, "kendall_tau_top_k": 1.0 if not math.isfinite(tau) else float(tau),
                "top_k_overlap": len(set(best.tolist()) & set(ours.tolist())) / k}
    return out


def block_stats(part: graph.Partition, run: graph.GraphRun) -> dict:
    processed = sum(len(p.blocks) for p in run.passes)
    passes = len(run.passes)
    return {"passes": passes, "grid_blocks": part.grid_blocks, "nonempty_blocks": part.blocks,
            "blocks_processed": processed,
            "blocks_skipped_empty": (part.grid_blocks - part.blocks) * passes,
            "blocks_skipped_inactive": part.blocks * passes - processed,
            "edges_per_block": part.edges / part.blocks if part.blocks else 0.0,
            "cell_utilization": part.edges / (part.blocks * part.rows * part.cols) if part.blocks else 0.0,
            "active_edges": sum(p.active_edges for p in run.passes)}


def study(g: graphs.Graph, algorithm: str, cfg: HardwareConfig, settings: GraphSettings,
          part: graph.Partition | None = None) -> dict:
    """Golden run, accuracy and the three platforms' cost of one workload (JSON-ready); ``part``:
    the graph already partitioned with ``cfg`` and ``settings.engines`` (partitioned here if None)."""
    t0 = time.perf_counter()
    part = part or graph.partition(g.adj, cfg, settings.engines)
    t1 = time.perf_counter()
    run = execute(part, algorithm, cfg, settings)
    t2 = time.perf_counter()
    ref = reference(g.adj, part, algorithm, settings)
    costs = [graph_cost.graphr_cost(part, run, algorithm, cfg, settings.engines, settings.graphr),
             graph_cost.cpu_cost(run, part.n, algorithm, settings.cpu),
             graph_cost.gpu_cost(run, part.n, algorithm, settings.gpu)]
    cpu = costs[1]
    systems = [asdict(c) | {"speedup_vs_cpu": cpu.time_s / c.time_s, "energy_saving_vs_cpu": cpu.energy_j / c.energy_j}
               for c in costs]
    out = {"graph": g.name, "graph_description": g.description, "vertices": g.vertices, "edges": g.edges,
           "algorithm": algorithm, "hardware": cfg.name,
           "source": source_vertex(part, settings) if algorithm in ("bfs", "sssp") else None,
           "blocks": block_stats(part, run), "accuracy": accuracy(run, ref, algorithm, settings.top_k),
           "systems": systems, "frac_bits": run.frac_bits,
           "elapsed_s": {"partition": t1 - t0, "golden": t2 - t1, "total": time.perf_counter() - t0}}
    return out


def sweep(g: graphs.Graph, algorithm: str, cfg: HardwareConfig, settings: GraphSettings,
          bits=(8, 12, 16), adc_bits=None) -> list[dict]:
    """Accuracy as the value width (edge and vertex values together) and the ADC width change;
    ADC widths default to the lossless width and three below it."""
    lossless = cfg.lossless_adc_bits
    adcs = adc_bits or tuple(range(lossless, max(1, lossless - 4), -1))
    part = None
    rows = []
    for b in bits:
        for a in adcs:
            c = cfg.with_overrides({"precision.weight_bits": b, "precision.input_bits": b,
                                    "converters.adc_bits": a})
            part = graph.partition(g.adj, c, settings.engines)
            run = execute(part, algorithm, c, settings)
            acc = accuracy(run, reference(g.adj, part, algorithm, settings), algorithm, settings.top_k)
            clipped = sum(p.events.adc_clipped for p in run.passes)
            rows.append({"value_bits": b, "adc_bits": a, "adc_clipped": clipped} | acc)
    return rows


def geomean(values) -> float:
    v = [x for x in values if x > 0]
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else 0.0


def comparison_command(datasets=PAPER_DATASETS, algorithms=ALGORITHMS) -> str:
    algs = "all" if tuple(algorithms) == ALGORITHMS else ",".join(algorithms)
    return f"crosstrain graph --algorithm {algs} " + " ".join(f"--graph rmat:{d}" for d in datasets)


def summary(results: list[dict]) -> dict:
    """Geometric means and ranges of GraphR's speedup / energy saving over the runs."""
    def ratio(r, other, key):
        s = {x["name"]: x for x in r["systems"]}
        return s[other][key] / s["graphr"][key]
    out = {}
    for other in ("cpu", "gpu"):
        sp_ = [ratio(r, other, "time_s") for r in results]
        en = [ratio(r, other, "energy_j") for r in results]
        out[other] = {"speedup_geomean": geomean(sp_), "speedup_min": min(sp_), "speedup_max": max(sp_),
                      "energy_saving_geomean": geomean(en), "energy_saving_min": min(en),
                      "energy_saving_max": max(en)}
    return out


def comparison_rows(cfg: HardwareConfig, settings: GraphSettings = GraphSettings(),
                    datasets=PAPER_DATASETS, algorithms=ALGORITHMS, seed: int = 0) -> list[dict]:
    """GraphR's headline claims next to ours: rows of name, paper, ours, command."""
    results = []
    for d in datasets:
        g = graphs.load(f"rmat:{d}", seed=seed)
        part = graph.partition(g.adj, cfg, settings.engines)
        results += [study(g, a, cfg, settings, part) for a in algorithms]
    s = summary(results)
    cmd = comparison_command(datasets, algorithms)
    c, g = s["cpu"], s["gpu"]
    return [
        {"name": "GraphR vs CPU speedup (geometric mean)", "paper": "16.01x (2.40-132.67x)",
         "ours": f"{c['speedup_geomean']:.3g}x ({c['speedup_min']:.3g}-{c['speedup_max']:.3g}x)", "command": cmd},
        {"name": "GraphR vs CPU energy saving (geometric mean)", "paper": "33.82x (4.50-217.88x)",
         "ours": f"{c['energy_saving_geomean']:.3g}x ({c['energy_saving_min']:.3g}-{c['energy_saving_max']:.3g}x)",
         "command": cmd},
        {"name": "GraphR vs GPU speedup (range)", "paper": "1.69-2.19x",
         "ours": f"{g['speedup_min']:.3g}-{g['speedup_max']:.3g}x", "command": cmd},
        {"name": "GraphR vs GPU energy saving (range)", "paper": "4.77-8.91x",
         "ours": f"{g['energy_saving_min']:.3g}-{g['energy_saving_max']:.3g}x", "command": cmd},
    ]
