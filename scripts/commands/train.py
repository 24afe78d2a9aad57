"""``crosstrain train``: accuracy of training through the crossbars against the float baseline.

Trains a network on scikit-learn's 8x8 digits once per seed with every chosen configuration
(systems of :mod:`crosstrain.experiments.trainer`, variants, built-in studies of
:mod:`crosstrain.experiments.train_study`) and with the float baseline; prints accuracy per
epoch, the final drop in points with its spread over seeds, OPA saturation and CRS counts, writes
a plot, and with ``--json`` one JSON object (keys: docs/training.md).

``--preset`` / ``--baseline-preset`` / ``--set`` read as in every command (crosstrain.options:
``SECTION.FIELD=VALUE`` with TOML literal values).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace

from crosstrain import options
from crosstrain.errors import UserError
from crosstrain.experiments import train_networks, train_study
from crosstrain.experiments.train_study import STUDIES, Variant
from crosstrain.experiments.trainer import SYSTEMS
from crosstrain.experiments.training import OPA_MODES, TrainingSettings, load_digits_split
from crosstrain.golden import config
from crosstrain.golden.userinput import shown
from crosstrain.output import add_json_flag, emit, progress_bar, table
from crosstrain.rollup.networks import NetworkError

NAME = "train"
HELP = "accuracy of training through the crossbars (PANTHER OPA, PipeLayer, 3D-ReG) vs float"
DESCRIPTION = (
    "Train a network on scikit-learn's 8x8 digits through the golden crossbar model: forward MVM "
    "and error back-propagation through the bit-sliced crossbars and ADCs, the weight update "
    "through PANTHER's OPA on saturating update slices with carry resolution (or the "
    "PipeLayer-like, digital or 3D-ReG flows), optionally with device non-idealities "
    "(--set nonideal.*). Every configuration trains once per seed beside a float baseline with "
    "the same initialization and sample order; prints the accuracy per epoch, the final drop in "
    "points with its spread, OPA saturation and CRS counts, and writes a plot. docs/training.md.")
ORDER = 55
DEFAULT_PLOT = "crosstrain-train.png"


def add_arguments(parser):
    nets = ", ".join(train_networks.BUILTIN)
    parser.add_argument("--network", default="digits-cnn", metavar="NAME|FILE",
                        help=f"{nets}, or a roll-up network (.csv / .toml file) that fits the digits "
                             "(default digits-cnn)")
    parser.add_argument("--systems", default=None, metavar="LIST",
                        help="comma-separated systems or 'all': " + ", ".join(SYSTEMS)
                             + " (default all, unless --study or --variant is given)")
    parser.add_argument("--study", action="append", default=[], metavar="|".join(sorted(STUDIES)),
                        help="a built-in set of configurations (precision: PANTHER's precision "
                             "study, docs/training.md; systems: every system)")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:KEY=VALUE;...",
                        help="a configuration of your own (repeatable): system=NAME (default "
                             "panther), crs_period=N, opa=vector|sample|batch and "
                             "SECTION.FIELD=VALUE overrides, e.g. "
                             "'h5:precision.update_slice_bits=[5]'")
    options.add_preset(parser, "panther", "crossbars of panther, digital and 3D-ReG (default panther)")
    parser.add_argument("--baseline-preset", default="pipelayer", metavar="NAME|FILE.toml",
                        help="crossbars of the PipeLayer-like system (default pipelayer)")
    options.add_set(parser, ("hardware",), example="nonideal.program_sigma=0.02")
    d = TrainingSettings()
    parser.add_argument("--epochs", type=options.int_type(1, 1000), default=d.epochs,
                        help=f"1 .. 1000 (default {d.epochs})")
    parser.add_argument("--batch", type=options.int_type(1, 1 << 16), default=d.batch,
                        help=f"mini-batch (default {d.batch})")
    parser.add_argument("--lr", type=options.float_type(), default=d.learning_rate,
                        help=f"learning rate (default {d.learning_rate})")
    parser.add_argument("--seeds", type=options.int_type(1, 1000), default=3, metavar="N",
                        help="train at seeds 0 .. N-1 (1 .. 1000; default 3)")
    parser.add_argument("--crs-period", type=options.int_type(1, 1 << 30), default=d.crs_period,
                        metavar="SAMPLES", help=f"samples between carry resolutions (default {d.crs_period})")
    parser.add_argument("--opa", default=d.opa, metavar="|".join(OPA_MODES),
                        help="when the update slices saturate: after each OPA (vector), after "
                             "each sample's OPAs (sample, default) or after the mini-batch's")
    parser.add_argument("--plot", default=DEFAULT_PLOT, metavar="FILE",
                        help=f"where to write the accuracy plot (default {DEFAULT_PLOT})")
    parser.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_json_flag(parser)


def parse_variant(spec: str) -> Variant:
    """``LABEL:KEY=VALUE;...`` -> :class:`Variant` (see ``--variant``)."""
    label, sep, body = spec.partition(":")
    if not sep or not label.strip():
        raise UserError(f"--variant {spec!r}: expected LABEL:KEY=VALUE;..., e.g. "
                        "'h5:precision.update_slice_bits=[5]'")
    system, plain, dotted = "panther", [], []
    for item in filter(None, (i.strip() for i in body.split(";"))):
        key, eq, value = (t.strip() for t in item.partition("="))
        if not eq or not key:
            raise UserError(f"--variant {spec!r}: {item!r} is not KEY=VALUE")
        if "." in key:
            dotted.append((key, options.value(value, key)))
        elif key == "system":
            system = value
        elif key == "crs_period":
            plain.append((key, options.integer(value, f"--variant {shown(label)}: crs_period", 1, 1 << 30)))
        else:
            plain.append((key, value))
    return Variant(label.strip(), system, tuple(dotted), tuple(plain))


def configurations(args) -> list[Variant]:
    chosen = args.systems
    if chosen is None and not args.study and not args.variant:
        chosen = "all"
    names = list(SYSTEMS) if chosen == "all" else [
        s.strip() for s in (chosen or "").split(",") if s.strip()]
    for n in names:
        if n not in SYSTEMS:
            raise UserError(f"--systems: unknown system {n!r}; use " + ", ".join(SYSTEMS) + " or all")
    out = [Variant(n, n) for n in names]
    for study in args.study:
        if study not in STUDIES:
            raise UserError(f"--study {study!r}: use " + " or ".join(sorted(STUDIES)))
        out += [v for v in STUDIES[study] if v.label not in {o.label for o in out}]
    return out + [parse_variant(v) for v in args.variant]


def run(args):
    try:
        net = train_networks.load(args.network)
    except NetworkError as e:
        raise UserError(str(e)) from None
    overrides = options.group(options.values(args, ("hardware",)), "hardware")
    configs = {"preset": config.load(args.preset).with_overrides(overrides),
               "baseline": config.load(args.baseline_preset).with_overrides(overrides)}
    settings = TrainingSettings(epochs=args.epochs, batch=args.batch, learning_rate=args.lr,
                                crs_period=args.crs_period, opa=args.opa)
    settings.check()
    variants = configurations(args)
    seeds = list(range(args.seeds))
    n_train = len(load_digits_split(settings)[0])
    if settings.batch > n_train:
        raise UserError(f"--batch {settings.batch}: at most the {n_train} training samples")
    total = (len(variants) + 1) * len(seeds) * settings.epochs * (n_train // settings.batch)
    with progress_bar(total, "training", enabled=not args.no_progress) as bar:
        def per_run(label: str, seed: int):
            bar.set_description(f"{label}, seed {seed}", refresh=False)
            return bar.update
        report = train_study.run(net, variants, configs, settings, seeds, progress=per_run)
    report["command"] = " ".join(["crosstrain"] + [shlex.quote(a) for a in sys.argv[1:]]) \
        if sys.argv[1:2] == ["train"] else None
    report["plot"] = None if args.no_plot else plot(report, args.plot)
    emit(args, report, render(report))
    return 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def render(r: dict) -> str:
    f, confs, s = r["float"], r["configurations"], r["settings"]
    n_seeds = len(r["seeds"])
    title = (f"{r['network']} on the 8x8 digits: {_plural(s['epochs'], 'epoch')}, batches of "
             f"{s['batch']}, lr {s['learning_rate']}, {_plural(n_seeds, 'seed')}; float "
             f"baseline {_pct(f['accuracy']['mean'])} (min {_pct(f['accuracy']['min'])}, max "
             f"{_pct(f['accuracy']['max'])})")
    rows = [[c["name"], c["system"], _pct(c["accuracy"]["mean"]),
             f"{c['drop_points']['mean']:+.2f} ± {c['drop_points']['std']:.2f}",
             f"{c['drop_points']['min']:+.1f} .. {c['drop_points']['max']:+.1f}",
             "yes" if c["within_points"] else "no", f"{100 * c['opa_saturated_fraction']:.3g} %",
             f"{c['crs_per_run']:g}", f"{100 * c['adc_clipped_fraction']:.3g} %",
             f"{c['seconds_per_step'] * 1e3:.1f}"] for c in confs]
    out = [table(["configuration", "system", "accuracy", "drop (points)", "drop min .. max",
                  f"within {r['within_points']:g} pt", "OPA saturated", "CRS / run", "ADC clipped",
                  "ms / step"], rows, title=title)]
    epochs = [["float (FP32)"] + [_pct(a) for a in f["epoch_accuracy_mean"]]]
    epochs += [[c["name"]] + [_pct(a) for a in c["epoch_accuracy_mean"]] for c in confs]
    out += ["", table(["test accuracy after epoch"] + [str(e + 1) for e in range(s["epochs"])],
                      epochs, title=f"mean over {_plural(n_seeds, 'seed')}")]
    drops = r["rollup_accuracy_drop_pct"]
    if drops:
        out += ["", "For the roll-up: crosstrain estimate --accuracy-drop "
                + ",".join(f"{k}={v:.2f}" for k, v in drops.items())]
    if r.get("plot"):
        out.append(f"Plot: {r['plot']}")
    return "\n".join(out)


def plot(r: dict, path: str) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confs, f = r["configurations"], r["float"]
    epochs = range(1, r["settings"]["epochs"] + 1)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.5))
    ax.plot(epochs, [100 * a for a in f["epoch_accuracy_mean"]], "k--", lw=2, label="float (FP32)")
    colors = plt.get_cmap("tab20").colors
    for k, c in enumerate(confs):
        ax.plot(epochs, [100 * a for a in c["epoch_accuracy_mean"]], marker="os^"[k // 20 % 3],
                ms=3, color=colors[k % 20], label=c["name"])
    ax.set_xticks(list(epochs))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%), mean over seeds")
    ax.set_title(f"{r['network']}: test accuracy per epoch")
    ax.legend(fontsize=7, ncol=2)
    y = range(len(confs))
    bx.barh(list(y), [c["drop_points"]["mean"] for c in confs],
            xerr=[c["drop_points"]["std"] for c in confs], color="tab:blue")
    bx.axvline(r["within_points"], color="tab:red", lw=1, ls="--", label=f"{r['within_points']:g} point")
    bx.axvline(0, color="black", lw=0.8)
    bx.set_yticks(list(y), [c["name"] for c in confs], fontsize=7)
    bx.invert_yaxis()
    bx.set_xlabel(f"drop vs float after the last epoch (points; ± std over {len(r['seeds'])} seeds)")
    bx.set_title("final accuracy drop")
    bx.legend(fontsize=7)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as e:
        raise UserError(f"--plot {path}: cannot write: {e.strerror}") from None
    finally:
        plt.close(fig)
    return path
