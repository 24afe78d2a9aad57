"""``crosstrain sweep``: one estimate per point of a design-space grid, resumable, with the
Pareto front of latency, energy and area (docs/sweeps.md).

The base point is ``crosstrain estimate``'s: an experiment file (its network, ``[hardware]`` and
``[estimate]`` systems and batch) and ``--preset``, ``--baseline-preset``, ``--set``,
``--network``, ``--systems``, ``--batch``, which win over the file. Each ``--grid NAME=VALUES`` adds an axis with the
names and values of ``--set``; ``--random N`` draws N points of the grid instead of all. Every
point is one ``crosstrain.estimate(...)`` call (the public API) in this process, a local process
pool (``--workers N``) or on a Dask cluster (``--engine dask``); results go to
``OUT/results.jsonl`` as they finish, and a rerun of the same command skips the finished points.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import re
import signal
import time
from pathlib import Path

from crosstrain import options
from crosstrain import experiment
from crosstrain.commands.estimate import add_experiment, add_workload
from crosstrain.errors import UserError
from crosstrain.experiments import sweep
from crosstrain.golden import config
from crosstrain.golden.config import ConfigError
from crosstrain.golden.userinput import shown
from crosstrain.output import add_json_flag, emit, table, track
from crosstrain.rollup import network_files
from crosstrain.rollup.estimate import ALL_SYSTEMS
from crosstrain.rollup.mapper import SettingError
from crosstrain.rollup.networks import NetworkError

NAME = "sweep"
HELP = "estimates over a grid of design points: resumable, local or Dask workers, Pareto front"
DESCRIPTION = ("One estimate per point of a design-space grid (--grid NAME=VALUES, the names of "
               "--set), in this process, a local process pool or on a Dask cluster. Results are "
               "appended to OUT/results.jsonl as they finish; rerunning the command skips finished "
               "points. Writes the Pareto front of latency, energy and area to OUT/report/ "
               "(docs/sweeps.md).")
ORDER = 12
GROUPS = ("hardware", "estimate")
MAX_AXIS = 10_000               # values of one axis
MAX_WORKERS = 256
RESULTS = "results.jsonl"
REPORT_FILES = ("sweep.json", "pareto.csv", "pareto.png")
OBJECTIVES = ("latency_s", "energy_j", "area_mm2")
#: The numbers of each system a record keeps (crosstrain estimate's keys, docs/estimate.md).
SYSTEM_KEYS = ("name", "latency_s", "energy_j", "area_mm2", "speedup_vs_gpu", "energy_gain_vs_gpu",
               "gain_loss_ratio", "lifetime_years")
SHOWN = 25                      # Pareto rows printed (all are in pareto.csv)
_RANGE = re.compile(r"\s*([+-]?[0-9]+)\s*\.\.\s*([+-]?[0-9]+)\s*")
_SCHEDULER = re.compile(r"(tcp|tls)://[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}")


def add_arguments(parser):
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=VALUES", required=True,
                        help="one axis (repeatable): a --set NAME and comma-separated TOML values "
                             "(crossbar.rows=64,128,256) or an integer range LO..HI "
                             "(converters.adc_bits=6..10)")
    parser.add_argument("--random", type=options.int_type(1, sweep.MAX_POINTS), default=None,
                        metavar="N", help="draw N points of the grid (without replacement) instead of all")
    options.add_seed(parser, help="seed of --random")
    add_experiment(parser)
    add_workload(parser)
    parser.add_argument("--systems", default=options.default("panther"), metavar="LIST",
                        help="comma-separated systems, or 'all' (default panther; the GPU baseline "
                             f"is always costed too; choices: {', '.join(ALL_SYSTEMS)})")
    options.add_set(parser, GROUPS, example="converters.adcs_per_array=4 (the base of every point)")
    parser.add_argument("--workers", type=options.int_type(1, MAX_WORKERS), default=1,
                        help="local worker processes, or the workers of the cluster --engine dask "
                             "starts (default 1: in this process)")
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="local processes (default) or a Dask distributed cluster")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="with --engine dask: the scheduler to use (tcp:// or tls://); without "
                             "it a cluster of --workers processes on 127.0.0.1 is started")
    parser.add_argument("--tls-ca-file", default=None, metavar="FILE", help="TLS: the CA certificate")
    parser.add_argument("--tls-cert", default=None, metavar="FILE", help="TLS: this client's certificate")
    parser.add_argument("--tls-key", default=None, metavar="FILE", help="TLS: this client's private key")
    parser.add_argument("--out", default="crosstrain-sweep", metavar="DIR",
                        help="results folder (default crosstrain-sweep): results.jsonl and report/")
    parser.add_argument("--no-plot", action="store_true", help="write no pareto.png")
    add_json_flag(parser)


# --- the points ----------------------------------------------------------------------------------

def axis(text: str) -> tuple[str, tuple]:
    """``NAME=VALUES`` of ``--grid`` as (name, values)."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep:
        raise UserError(f"--grid {shown(text)}: expected NAME=VALUES, e.g. crossbar.rows=64,128")
    options.values(argparse.Namespace(set=[("--grid", f"{name}=0")]), GROUPS)   # the name's check
    m = _RANGE.fullmatch(raw)
    if m:
        lo, hi = (options.integer(v, f"--grid {name}") for v in m.groups())
        if not 1 <= hi - lo + 1 <= MAX_AXIS:
            raise UserError(f"--grid {name}={shown(raw.strip())}: a range LO..HI with LO <= HI "
                            f"and at most {MAX_AXIS:,} values")
        return name, tuple(range(lo, hi + 1))
    try:
        values = options.value(f"[{raw}]", name)
    except UserError:
        values = None
    if not isinstance(values, tuple):
        values = tuple(options.value(v, name) for v in raw.split(","))
    if not values or len(values) > MAX_AXIS:
        raise UserError(f"--grid {name}: give 1 to {MAX_AXIS:,} values")
    seen = set()
    for v in values:
        if sweep.canonical(v) in seen:
            raise UserError(f"--grid {name}: the value {shown(v)} is given twice")
        seen.add(sweep.canonical(v))
    return name, values


def _source(text: str) -> dict:
    """A preset or network as a point names it: built-in names as they are, files by absolute
    path and the SHA-256 of their content (an edited file is a different point)."""
    path = Path(text)
    if path.suffix and path.is_file():
        return {"path": str(path.resolve()), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {"name": text}


def base_point(args) -> dict:
    """The resolved base point of ``args`` (everything but the grid values), checked: the
    experiment file (if given) and the flags given, as ``crosstrain estimate`` reads them."""
    exp = experiment.resolve(args, systems=["panther"])
    e, default = exp["estimate"], experiment.DEFAULTS["estimate"]
    other = [k for k in e if k not in ("systems", "batch") and e[k] != default[k]]
    if other:
        raise UserError(f"{args.experiment}: [estimate] {other[0]} is not swept: a sweep takes the "
                        "network, [hardware] and [estimate] systems and batch of an experiment file "
                        "(estimate settings as --set names, e.g. mapper.crs_samples); remove it")
    hw = exp["hardware"]
    try:
        network_files.load_workload(exp["network"])
        for preset in (hw["base"], hw["baseline"]):
            config.load(preset)
    except (NetworkError, SettingError) as err:
        raise UserError(str(err)) from None
    return {"schema": sweep.SCHEMA, "network": _source(exp["network"]), "systems": e["systems"],
            "preset": _source(hw["base"]), "baseline_preset": _source(hw["baseline"]),
            "batch": e["batch"], "set": hw["set"]}


def resolve(base: dict, point: dict) -> dict:
    """The resolved point: ``base`` with the grid values ``point`` set (JSON data only)."""
    return {**base, "set": {**base["set"], **point}}


def _given(source: dict) -> str:
    """The preset or network as ``estimate`` takes it: the built-in name or the file path."""
    return source.get("path", source.get("name"))


def evaluate(resolved: dict) -> dict:
    """One point: ``crosstrain.estimate(...)`` of the resolved point, as the numbers a record keeps
    (``systems``) or the one-line ``error`` of a point the estimate refuses."""
    import crosstrain

    started = time.perf_counter()
    try:
        result = crosstrain.estimate(
            _given(resolved["network"]), resolved["systems"], preset=_given(resolved["preset"]),
            baseline_preset=_given(resolved["baseline_preset"]), batch=resolved["batch"],
            set=resolved["set"])
    except (ConfigError, SettingError, NetworkError) as e:
        return {"error": options.one_line(e), "systems": [], "seconds": time.perf_counter() - started}
    systems = [{k: s[k] for k in SYSTEM_KEYS} for s in result.to_dict()["systems"]]
    return {"error": None, "systems": systems, "seconds": time.perf_counter() - started}


# --- running -------------------------------------------------------------------------------------

@contextlib.contextmanager
def client(args):
    """None for the local engine, else a ``distributed.Client``: of ``--scheduler`` (with the TLS
    files when given) or of a cluster started on 127.0.0.1 for the duration of the sweep."""
    if args.engine != "dask":
        if args.scheduler or args.tls_ca_file or args.tls_cert or args.tls_key:
            raise UserError("--scheduler and --tls-* go with --engine dask")
        yield None
        return
    try:
        from distributed import Client, LocalCluster
        from distributed.security import Security
    except ImportError:
        raise UserError("--engine dask needs Dask distributed, the `cluster` extra: "
                        "pip install 'crosstrain[cluster]'") from None
    tls = (args.tls_ca_file, args.tls_cert, args.tls_key)
    security = None
    if any(tls) and not args.scheduler:
        raise UserError("--tls-* go with --scheduler: the cluster crosstrain starts listens on "
                        "127.0.0.1 only")
    if any(tls):
        if not all(tls):
            raise UserError("TLS needs all of --tls-ca-file, --tls-cert and --tls-key")
        for f in tls:
            if not Path(f).is_file():
                raise UserError(f"TLS file {shown(f)} not found")
        security = Security(tls_ca_file=args.tls_ca_file, tls_client_cert=args.tls_cert,
                            tls_client_key=args.tls_key, require_encryption=True)
    with contextlib.ExitStack() as stack:
        if args.scheduler:
            if not _SCHEDULER.fullmatch(args.scheduler):
                raise UserError(f"--scheduler {shown(args.scheduler)}: expected tcp://HOST:PORT "
                                "or tls://HOST:PORT")
            if args.scheduler.startswith("tls://") and security is None:
                raise UserError("--scheduler tls://...: give --tls-ca-file, --tls-cert and --tls-key")
            try:
                c = Client(args.scheduler, security=security, timeout=30)
            except (OSError, TimeoutError) as e:
                raise UserError(f"cannot reach the scheduler {shown(args.scheduler)}: "
                                f"{options.one_line(e, 200)}") from None
        else:
            # its processes start with SIGINT ignored (inherited): Ctrl-C stops this process,
            # which stops the cluster, without a traceback from every worker
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                cluster = stack.enter_context(LocalCluster(
                    n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None))
            finally:
                signal.signal(signal.SIGINT, previous)
            c = Client(cluster)
        stack.enter_context(c)
        yield c


def run(args):
    started = time.perf_counter()
    axes = dict(axis(t) for t in args.grid)
    if len(axes) != len(args.grid):
        raise UserError("--grid: each name once (give all its values in one --grid)")
    base = base_point(args)
    both = sorted(axes.keys() & base["set"].keys())
    if both:
        raise UserError(f"{both[0]} is both a --set and a --grid: give it once")
    grid = sweep.points(axes, args.random, args.seed)
    tasks = [resolve(base, p) for p in grid]
    out = Path(args.out)
    with client(args) as c, sweep.ResultStore(out / RESULTS) as store:
        skipped = sum(sweep.point_key(t) in store.keys for t in tasks)
        evaluated = sweep.run(tasks, evaluate, store, workers=args.workers, client=c,
                              progress=lambda it, n: track(it, desc="sweep", total=n))
        data, rows = summary(store, tasks, axes)
    data.update(out=str(out), results=str(out / RESULTS), grid_points=sweep.grid_size(axes),
                random=args.random, seed=args.seed, evaluated=evaluated, skipped=skipped,
                ignored_lines=store.ignored, engine=args.engine, workers=args.workers,
                base=base, axes={k: list(v) for k, v in axes.items()})
    if data["failed"] == data["points"]:
        e = data["errors"][0]
        raise UserError(f"the estimate refused every point, e.g. {sweep.canonical(e['point'])}: {e['error']}")
    files = write_report(data, rows, out / "report", plot=not args.no_plot)
    data["elapsed_s"] = time.perf_counter() - started
    emit(args, data, _text_report(data, files))
    return 0


def summary(store: sweep.ResultStore, tasks: list[dict], axes: dict) -> tuple[dict, list[dict]]:
    """Counts, errors and the Pareto front of the records of ``tasks`` in ``store``, and every
    (point, system) row the front was chosen from (the GPU baseline is no candidate)."""
    wanted = {sweep.point_key(t): n for n, t in enumerate(tasks)}
    rows, errors = [], []
    for record in store:
        if record["key"] not in wanted:
            continue
        point = {n: record["resolved"]["set"][n] for n in axes}
        if record["error"]:
            errors.append({"key": record["key"], "point": point, "error": record["error"]})
        for s in record["systems"]:
            if s["name"] != "gpu":
                rows.append({"key": record["key"], "system": s["name"], "point": point,
                             **{k: s[k] for k in SYSTEM_KEYS if k != "name"}})
    front = [rows[i] for i in sweep.pareto([tuple(r[k] for k in OBJECTIVES) for r in rows])]
    front.sort(key=lambda r: (*(r[k] for k in OBJECTIVES), wanted[r["key"]], r["system"]))
    return {"schema": sweep.SCHEMA, "points": len(wanted), "failed": len(errors), "errors": errors[:10],
            "candidates": len(rows), "objectives": list(OBJECTIVES), "pareto": front}, rows


def write_report(data: dict, rows: list[dict], folder: Path, *, plot: bool) -> list[str]:
    """``sweep.json`` (the ``--json`` object), ``pareto.csv`` and ``pareto.png`` (every row of
    ``rows``, the front ringed) into ``folder``, all or nothing."""
    import csv

    from crosstrain.output import strict_json
    from crosstrain.report_folder import replace_folder

    axes = list(data["axes"])
    with replace_folder(folder, owned=REPORT_FILES) as staged:
        staged.write_text("sweep.json", strict_json(data, indent=2) + "\n")
        with staged.open("pareto.csv", "x", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["key", "system", *axes, *SYSTEM_KEYS[1:]])
            for r in data["pareto"]:
                w.writerow([r["key"], r["system"], *(sweep.canonical(r["point"][a]) for a in axes),
                            *("" if r[k] is None else r[k] for k in SYSTEM_KEYS[1:])])
        if plot and rows:
            _plot(rows, data, staged)
    return [n for n in REPORT_FILES if (folder / n).exists()]


def _plot(rows: list[dict], data: dict, staged) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    dots = ax.scatter([r["latency_s"] * 1e3 for r in rows], [r["energy_j"] * 1e3 for r in rows],
                      c=[r["area_mm2"] for r in rows], s=14, cmap="viridis")
    front = data["pareto"]
    ax.scatter([r["latency_s"] * 1e3 for r in front], [r["energy_j"] * 1e3 for r in front], s=60,
               facecolors="none", edgecolors="red", label=f"Pareto front ({len(front)} of {len(rows)})")
    fig.colorbar(dots, label="area (mm²)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency per iteration (ms)")
    ax.set_ylabel("energy per iteration (mJ)")
    ax.set_title(f"{', '.join(data['axes'])}: latency, energy, area")
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        with staged.open("pareto.png", "xb") as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)


def _text_report(data: dict, files: list[str]) -> str:
    axes = list(data["axes"])
    rows = [[r["system"], *(sweep.canonical(r["point"][a]) for a in axes), r["latency_s"] * 1e3,
             r["energy_j"] * 1e3, r["area_mm2"]] for r in data["pareto"][:SHOWN]]
    text = table(["system", *axes, "latency ms", "energy mJ", "area mm2"], rows,
                 title=f"Pareto front (latency, energy, area): {len(data['pareto'])} of "
                       f"{data['candidates']} system points")
    if len(data["pareto"]) > SHOWN:
        text += f"\n... {len(data['pareto']) - SHOWN} more in {data['out']}/report/pareto.csv"
    text += (f"\n\n{data['points']:,} points: {data['evaluated']:,} evaluated, {data['skipped']:,} "
             f"already in {data['results']}, {data['failed']:,} refused by the estimate")
    for e in data["errors"][:3]:
        text += f"\n  {sweep.canonical(e['point'])}: {e['error']}"
    text += f"\nReport: {data['out']}/report/ ({', '.join(files)}) in {data['elapsed_s']:.2f} s"
    return text
