"""``crosstrain bench NAME``: run one benchmark from ``scripts/bench/``."""

import importlib
import pkgutil

from crosstrain import bench

NAME = "bench"
HELP = "benchmarks (each prints ratios against a baseline measured in the same run)"
ORDER = 40


def _benchmarks():
    mods = [importlib.import_module(f"crosstrain.bench.{m.name}") for m in pkgutil.iter_modules(bench.__path__)]
    return sorted((m for m in mods if hasattr(m, "NAME")), key=lambda m: m.NAME)


def add_arguments(parser):
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for mod in _benchmarks():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_bench=mod.run)


def run(args):
    return args._bench(args)
