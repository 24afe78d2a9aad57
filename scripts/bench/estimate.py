"""``crosstrain bench estimate``: time of one training-iteration estimate per built-in network.

For every built-in network: the best of ``--repeat`` runs of :func:`crosstrain.rollup.estimate.estimate` on
every system (``ALL_SYSTEMS``). Linearity: the default systems' estimate of chains of 16, 64
and 256 identical convolutions; ``linearity`` = (t256 - t64) / (t64 - t16) / 4 is 1 when each
added layer costs the same (``us_per_added_layer``), whatever the fixed cost per estimate.
Then, once, the default ``crosstrain estimate`` report with plots into a temporary folder.
Goals (issue 6): ResNet-18 / ImageNet well under a second; the default report with plots in a
few seconds.
"""

import argparse
import contextlib
import io
import tempfile
import time

from crosstrain.bench.golden import best_time
from crosstrain.commands import estimate as command
from crosstrain.errors import UserError
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rollup.estimate import ALL_SYSTEMS, EstimateSettings, estimate
from crosstrain.rollup.networks import BUILTIN, NetBuilder

NAME = "estimate"
HELP = "time of a training-iteration estimate per built-in network"


def add_arguments(parser):
    parser.add_argument("--repeat", type=int, default=3, help="runs per network; best is kept")
    parser.add_argument("--no-report", action="store_true", help="skip timing the default report")
    add_json_flag(parser)


def _chain(n: int):
    b = NetBuilder(f"chain{n}", (64, 16, 16))
    for _ in range(n):
        b.conv(64, 3, 1, 1)
    return b.build()


def run(args):
    if args.repeat <= 0:
        raise UserError(f"--repeat ({args.repeat}) must be positive")
    settings = EstimateSettings()
    rows, nets = [], []
    for name, make in BUILTIN.items():
        net = make()
        t = best_time(lambda: estimate(net, settings, ALL_SYSTEMS), args.repeat)
        per_layer = t / len(net.layers) * 1e6
        nets.append({"network": name, "layers": len(net.layers), "systems": len(ALL_SYSTEMS),
                     "seconds": t, "us_per_layer": per_layer})
        rows.append([name, len(net.layers), t * 1e3, per_layer])
    chain = {n: best_time(lambda: estimate(_chain(n), settings), args.repeat) for n in (16, 64, 256)}
    linearity = (chain[256] - chain[64]) / (chain[64] - chain[16]) / 4
    per_added = (chain[256] - chain[64]) / 192 * 1e6
    resnet = next(n["seconds"] for n in nets if n["network"] == "resnet18-imagenet")
    report_s = None
    if not args.no_report:
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
            t0 = time.perf_counter()
            command.run(parser.parse_args(["--out", d]))
            report_s = time.perf_counter() - t0
    result = {"networks": nets, "chain_seconds": {str(k): v for k, v in chain.items()},
              "linearity": linearity, "us_per_added_layer": per_added, "resnet18_imagenet_s": resnet,
              "default_report_with_plots_s": report_s}
    text = table(["network", "layers", f"ms ({len(ALL_SYSTEMS)} systems)", "us per layer"], rows,
                 title="One training-iteration estimate on every system, best of "
                       f"{args.repeat} (crosstrain bench estimate)")
    text += (f"\n\nResNet-18 / ImageNet: {resnet:.3f} s (goal: well under 1 s)\nchains of 16 / 64 / 256 "
             f"convolutions (default systems): {' / '.join(f'{v * 1e3:.1f}' for v in chain.values())} ms; "
             f"{per_added:.0f} us per added layer; linearity {linearity:.2f} (1 = linear)")
    if report_s is not None:
        text += f"\ndefault report with plots (estimate + JSON + CSV + Markdown + 3 plots): {report_s:.2f} s"
    emit(args, result, text)
    return 0
