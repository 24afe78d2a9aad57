"""``crosstrain estimate``: what training a network costs on ReRAM accelerators and on a GPU.

With no arguments: VGG-8 / CIFAR-10, one training iteration of a 64-sample mini-batch, on the
GPU baseline, PipeLayer-like ReRAM, PANTHER, PANTHER + zero skipping + write elimination and
3D-ReG (TSV, MIV; conservative, aggressive). Prints a table and writes a report folder (JSON,
CSV, Markdown, plots; see docs/estimate.md for the schema and every setting).
"""

from __future__ import annotations

import shlex
import sys
import time

from crosstrain import accuracy, experiment, options
from crosstrain.errors import UserError
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rollup import network_files
from crosstrain.rollup.estimate import (
    ALL_SYSTEMS,
    BATCH_DEFAULT,
    DEFAULT_NETWORK,
    MAX_BATCH,
    DEFAULT_SYSTEMS,
    EstimateSettings,
    estimate,
)
from crosstrain.rollup.gpu import GPUS
from crosstrain.rollup.mapper import (
    CRS_SAMPLES_DEFAULT,
    MAX_CRS_SAMPLES,
    WRITE_ELIM_DEFAULT,
    ZERO_SKIP_DEFAULT,
    SettingError,
)
from crosstrain.rollup.compiler import CompileError
from crosstrain.rollup.networks import BUILTIN, GANS, Gan, NetworkError
from crosstrain.rollup.tile_runs import PHASES, LayerRun, run_layers
from crosstrain.rollup.reg3d import ACCURACY_DROP_DEFAULT

NAME = "estimate"
HELP = "training cost of a network on ReRAM accelerators, 3D-ReG and a GPU (the main job)"
DESCRIPTION = ("What training a network costs on ReRAM accelerators, 3D-ReG and a GPU. With no "
               "arguments: VGG-8 / CIFAR-10, one iteration of a 64-sample mini-batch on the GPU, "
               "PipeLayer-like ReRAM, PANTHER, PANTHER + zero skipping + write elimination and "
               "3D-ReG (TSV, MIV; conservative, aggressive). Prints a table and writes a report "
               "folder; docs/estimate.md documents every setting, the JSON schema and the CSV "
               "columns.")
ORDER = 10


def add_workload(parser):
    """The flags that say what one estimate costs: ``--network``, ``--batch``, ``--preset`` and
    ``--baseline-preset`` (``crosstrain sweep`` takes the same for its base point). Their
    defaults are :func:`crosstrain.options.default`s: an experiment file's values win over them."""
    parser.add_argument("--network", default=options.default(DEFAULT_NETWORK), metavar="NAME|FILE",
                        help=f"built-in network ({', '.join(BUILTIN)}), a GAN (one GAN training "
                             f"iteration: {', '.join(GANS)}) or a .csv / .toml / .onnx file "
                             f"(default {DEFAULT_NETWORK})")
    parser.add_argument("--batch", type=options.int_type(1, MAX_BATCH), default=options.default(BATCH_DEFAULT),
                        help=f"mini-batch size (1 .. {MAX_BATCH:,}; default {BATCH_DEFAULT})")
    options.add_preset(parser, options.default("panther"),
                       "crossbars of PANTHER, digital and 3D-ReG (default panther)")
    parser.add_argument("--baseline-preset", default=options.default("pipelayer"), metavar="PRESET|FILE.toml",
                        help="crossbars of the PipeLayer-like system (default pipelayer)")


def add_experiment(parser):
    """The optional experiment file (crosstrain.experiment); flags given beside it win."""
    parser.add_argument("experiment", nargs="?", default=None, metavar="EXPERIMENT.toml",
                        help="an experiment file: network, [hardware] and [estimate] settings "
                             "(docs/estimate.md); flags given on the command line win over it")


def add_arguments(parser):
    add_experiment(parser)
    add_workload(parser)
    d = options.default
    parser.add_argument("--systems", default=d(",".join(DEFAULT_SYSTEMS)), metavar="LIST",
                        help="comma-separated systems, or 'all'; ReRAM and 3D-ReG names may add +zs "
                             f"and/or +we (choices: {', '.join(ALL_SYSTEMS)})")
    options.add_set(parser, ("hardware", "estimate"), old=("--setting",),
                    example="converters.adcs_per_array=4 (both presets) or gpu.compute_efficiency=0.3")
    parser.add_argument("--gpu", default=d("rtx2080ti"), choices=sorted(GPUS),
                        help="GPU baseline (default rtx2080ti, PANTHER's)")
    parser.add_argument("--gpu-precision", default=d("fp32"), choices=("fp32", "tensor"))
    parser.add_argument("--replication", default=d("balanced"), metavar="N|balanced", type=_replication,
                        help="copies per layer (PipeLayer granularity); 'balanced' (default) "
                             "replicates layers to the vector count of the largest convolution")
    parser.add_argument("--no-pipeline", action="store_true", default=None,
                        help="no inter-layer pipelining across the mini-batch")
    parser.add_argument("--crs-samples", type=options.int_type(0, MAX_CRS_SAMPLES),
                        default=d(CRS_SAMPLES_DEFAULT), metavar="N",
                        help="samples between PANTHER carry resolutions, charged pro rata (0 .. "
                             f"{MAX_CRS_SAMPLES:,}; default {CRS_SAMPLES_DEFAULT}: every 4 "
                             "mini-batches of 64; 0 = never)")
    parser.add_argument("--zero-skip", default=d(""), metavar="PHASE=FRAC,...",
                        help="fractions of input steps skipped by +zs systems (defaults "
                             f"{_show(ZERO_SKIP_DEFAULT)} [assumption])")
    parser.add_argument("--write-elim", default=d(""), metavar="PHASE=FRAC,...",
                        help="fractions of writes eliminated by +we systems (defaults "
                             f"{_show(WRITE_ELIM_DEFAULT)} [assumption])")
    parser.add_argument("--accuracy-drop", default=d(""), metavar="NAME=PCT,...",
                        help="accuracy drop in percentage points per system or 3D-ReG mapping, for "
                             "the gain-loss ratio; wins over --accuracy (fallbacks: "
                             f"{_show(ACCURACY_DROP_DEFAULT)} [3D-ReG paper], others 0)")
    parser.add_argument("--accuracy", default=d("paper"), metavar="FILE|measure|paper",
                        help="measured accuracy drops: a `crosstrain train --json` result, or "
                             "'measure' (train the built-in small network now, or take it from the "
                             "cache; the experiment file's [measure] says how), or 'paper' "
                             "(default: the paper's numbers as labelled fallbacks)")
    parser.add_argument("--out", default="crosstrain-report", metavar="DIR",
                        help="report folder (default crosstrain-report)")
    parser.add_argument("--no-report", action="store_true", help="write no report folder")
    parser.add_argument("--no-plots", action="store_true", help="write the report without plots")
    parser.add_argument("--rtl", action="store_true",
                        help="small networks: also compile every weight layer into a tile program, "
                             "time it on the RTL tile's schedule (golden/interpreter.py) and print "
                             "its cycles per phase next to the roll-up's (docs/estimate.md)")
    add_json_flag(parser)


def _show(d: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in d.items())


@options.argument
def _replication(text: str):
    if text.strip() == "balanced":
        return "balanced"
    try:
        return options.integer(text, "", 1, experiment.MAX_REPLICATION)
    except UserError as e:
        raise UserError(f"{e} or 'balanced'") from None


def resolved(args, *, progress: bool = True) -> tuple[dict, EstimateSettings, dict]:
    """(the resolved experiment, its settings with the accuracy drops, where the drops came
    from) of ``args``: defaults, the experiment file, then the flags given."""
    exp = experiment.resolve(args)
    drops, sources, info = accuracy.drops(exp, exp["estimate"]["systems"], progress=progress)
    return exp, experiment.settings(exp, drops, sources), info


def settings_from_args(args) -> EstimateSettings:
    return resolved(args)[1]


def run(args):
    started = time.perf_counter()
    exp, settings, info = resolved(args, progress=not args.json)
    measured_now = info.pop("measured_now", None)
    try:
        net = network_files.load_workload(exp["network"])
        runs = _tile_runs(net, settings) if args.rtl else None
        est = estimate(net, settings, exp["estimate"]["systems"])
    except (NetworkError, SettingError, CompileError) as e:
        raise UserError(str(e)) from None
    data = est.as_dict()
    if runs is not None:
        data["rtl"] = {"preset": settings.preset, "layers": [r.as_dict() for r in runs]}
    data["accuracy"] = info
    data["command"] = " ".join(["crosstrain"] + [shlex.quote(a) for a in sys.argv[1:]]) \
        if sys.argv[1:2] == ["estimate"] else None
    files = []
    if not args.no_report:
        from crosstrain.estimate_report import write_report
        files = write_report(data, args.out, plots=not args.no_plots,
                             experiment=experiment.to_toml(exp, data["command"]))
        data["report_dir"] = args.out
    data["elapsed_s"] = time.perf_counter() - started
    text = _text(data, args.out, files)
    if runs is not None:
        text += "\n\n" + _rtl_text(runs, settings)
    if measured_now is not None:
        text += f"\naccuracy {'measured now and cached' if measured_now else 'from the cache'}: {info['file']}"
    emit(args, data, text)
    return 0


def _tile_runs(net, settings: EstimateSettings) -> list[LayerRun]:
    if isinstance(net, Gan):
        raise UserError(f"--rtl: {net.name} is a GAN iteration; run --rtl on one of its networks "
                        f"({net.generator.name} or {net.discriminator.name})")
    return run_layers(net, settings.hardware("preset"), settings.technique("opa", set()),
                      batch=settings.batch)


def _rtl_text(runs: list[LayerRun], settings: EstimateSettings) -> str:
    rows = []
    for r in runs:
        rows.append([r.layer, "program", r.program_cycles, "-", "-", "-"])
        for p in PHASES:
            model, moved = r.model[p], r.movement[p]
            rows.append([r.layer, p, r.tile[p], model, moved, r.tile[p] - (model - moved)])
        rows.append([r.layer, "layer total", r.tile_cycles, r.model_cycles, "-", "-"])
    return table(["layer", "phase", "tile cycles", "roll-up cycles", "of which movement",
                  "tile - roll-up arrays"], rows,
                 title=f"--rtl: every layer compiled and timed on the RTL tile's schedule (golden/"
                       f"interpreter.py = rtl/tile.py) next to the roll-up (mapper + golden/cycles.py), "
                       f"preset {settings.preset}, batch {settings.batch}, decomposed transposed "
                       "convolutions, no zero skipping or write elimination") + (
        "\nThe tile writes every weight row once (program) and runs a layer's phases one after "
        "another (layer total); the roll-up charges no programming, runs error back-propagation "
        "and gradient concurrently and adds eDRAM / network movement (docs/estimate.md, \"The "
        "roll-up against the tile\").")


def _text(data: dict, out: str, files: list[str]) -> str:
    info = data["network_info"]
    gpu = data["systems"][0]
    what = "one GAN training iteration" if info["iteration"] == "gan" else "one training iteration"
    title = (f"{data['network']} ({info['description']}), {what}, batch "
             f"{data['batch_size']}; baseline {gpu['description']}")
    rows = []
    for s in data["systems"]:
        life = s["lifetime_years"]
        rows.append([s["name"], s["latency_s"] * 1e3, s["energy_j"] * 1e3, s["area_mm2"],
                     s["speedup_vs_gpu"], s["energy_gain_vs_gpu"],
                     "-" if life is None else life, s["gain_loss_ratio"], s["schedule"]])
    text = table(["system", "latency ms", "energy mJ", "area mm2", "speedup", "energy gain",
                  "lifetime y", "GLR", "schedule"], rows, title=title)
    sources = {}
    for s in data["systems"]:
        sources.setdefault(s["accuracy_source"], []).append(f"{s['name']} {s['accuracy_drop_pct']:.3g}")
    text += "\n\naccuracy drop (points) and where it came from:" + "".join(
        f"\n  {source}: {', '.join(names)}" for source, names in sources.items())
    text += ("\n\nspeedup / energy gain vs the GPU; GLR = speedup x energy gain / (1 + accuracy drop %);"
             "\nlifetime: years of continuous training until the busiest cell wears out.")
    if info["passes"]:
        text += "\nGAN iteration, " + data["settings"]["gan_schedule"] + " schedule; passes: " + "; ".join(
            f"{p['name']} ({p['model']}, {p['samples']} samples: {', '.join(p['phases'])})"
            for p in info["passes"])
    if any("reference" in s["schedule"] for s in data["systems"]):
        text += ("\nreference accounting: costed the way the reference simulator charges time "
                 "(PANTHER's / PUMA's), not a schedule our RTL runs; see docs/REPRODUCTION.md.")
    if files:
        text += f"\nReport: {out}/ ({', '.join(files)}) in {data['elapsed_s']:.2f} s"
    return text
