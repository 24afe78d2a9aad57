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
import tomllib

from crosstrain.errors import UserError
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rollup import network_files
from crosstrain.rollup.estimate import (
    ALL_SYSTEMS,
    DEFAULT_NETWORK,
    DEFAULT_SYSTEMS,
    EstimateSettings,
    estimate,
)
from crosstrain.rollup.gpu import GPUS, GpuSettings
from crosstrain.rollup.mapper import (
    CRS_SAMPLES_DEFAULT,
    WRITE_ELIM_DEFAULT,
    ZERO_SKIP_DEFAULT,
    SettingError,
)
from crosstrain.rollup.networks import BUILTIN, NetworkError
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


def add_arguments(parser):
    parser.add_argument("--network", default=DEFAULT_NETWORK, metavar="NAME|FILE",
                        help=f"built-in network ({', '.join(BUILTIN)}) or a .csv / .toml layer "
                             f"file (default {DEFAULT_NETWORK})")
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS), metavar="LIST",
                        help="comma-separated systems, or 'all'; ReRAM and 3D-ReG names may add +zs "
                             f"and/or +we (choices: {', '.join(ALL_SYSTEMS)})")
    parser.add_argument("--batch", type=int, default=64, help="mini-batch size (default 64)")
    parser.add_argument("--preset", default="panther", metavar="PRESET|FILE.toml",
                        help="crossbars of PANTHER, digital and 3D-ReG (default panther)")
    parser.add_argument("--baseline-preset", default="pipelayer", metavar="PRESET|FILE.toml",
                        help="crossbars of the PipeLayer-like system (default pipelayer)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override a configuration field of both presets (repeatable), "
                             "e.g. converters.adcs_per_array=4")
    parser.add_argument("--gpu", default="rtx2080ti", choices=sorted(GPUS),
                        help="GPU baseline (default rtx2080ti, PANTHER's)")
    parser.add_argument("--gpu-precision", default="fp32", choices=("fp32", "tensor"))
    parser.add_argument("--replication", default="balanced", metavar="N|balanced",
                        help="copies per layer (PipeLayer granularity); 'balanced' (default) "
                             "replicates layers to the vector count of the largest convolution")
    parser.add_argument("--no-pipeline", action="store_true",
                        help="no inter-layer pipelining across the mini-batch")
    parser.add_argument("--crs-samples", type=int, default=CRS_SAMPLES_DEFAULT, metavar="N",
                        help="samples between PANTHER carry resolutions, charged pro rata (default "
                             f"{CRS_SAMPLES_DEFAULT}: every 4 mini-batches of 64; 0 = never)")
    parser.add_argument("--zero-skip", default="", metavar="PHASE=FRAC,...",
                        help="fractions of input steps skipped by +zs systems (defaults "
                             f"{_show(ZERO_SKIP_DEFAULT)} [assumption])")
    parser.add_argument("--write-elim", default="", metavar="PHASE=FRAC,...",
                        help="fractions of writes eliminated by +we systems (defaults "
                             f"{_show(WRITE_ELIM_DEFAULT)} [assumption])")
    parser.add_argument("--accuracy-drop", default="", metavar="NAME=PCT,...",
                        help="accuracy drop in percentage points per system or 3D-ReG mapping, for "
                             f"the gain-loss ratio (defaults {_show(ACCURACY_DROP_DEFAULT)}, others 0)")
    parser.add_argument("--setting", action="append", default=[], metavar="GROUP.FIELD=VALUE",
                        help="change an estimate setting (repeatable): cost.*, gpu.*, reg3d.*, "
                             "link.NAME.*, mapper.acc_bits, mapper.opa_writes_per_cell, "
                             "mapper.crs_samples; see "
                             "docs/estimate.md")
    parser.add_argument("--out", default="crosstrain-report", metavar="DIR",
                        help="report folder (default crosstrain-report)")
    parser.add_argument("--no-report", action="store_true", help="write no report folder")
    parser.add_argument("--no-plots", action="store_true", help="write the report without plots")
    add_json_flag(parser)


def _show(d: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in d.items())


def _pairs(text: str, option: str, defaults: dict, *, number=float) -> tuple:
    out = dict(defaults)
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = number(value)
        except ValueError:
            raise UserError(f"{option} {item!r}: expected NAME=NUMBER, e.g. {_show(defaults) or 'x=1'}"
                            ) from None
    return tuple(sorted(out.items()))


def _overrides(items: list[str]) -> tuple:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UserError(f"--set {item!r}: expected SECTION.FIELD=VALUE, e.g. "
                            "converters.adcs_per_array=4")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        out.append((key.strip(), tuple(parsed) if isinstance(parsed, list) else parsed))
    return tuple(out)


def settings_from_args(args) -> EstimateSettings:
    if args.batch < 1:
        raise UserError(f"--batch {args.batch}: a positive integer")
    rep = args.replication
    if rep != "balanced":
        if not rep.isdigit() or int(rep) < 1:
            raise UserError(f"--replication {rep!r}: a positive integer or 'balanced'")
        rep = int(rep)
    s = EstimateSettings(
        batch=args.batch, preset=args.preset, baseline_preset=args.baseline_preset,
        overrides=_overrides(args.set), gpu=args.gpu,
        gpu_settings=GpuSettings(precision=args.gpu_precision,
                                 bytes_per_value=2 if args.gpu_precision == "tensor" else 4),
        replication=rep, pipeline=not args.no_pipeline, crs_samples=args.crs_samples,
        zero_skip=_pairs(args.zero_skip, "--zero-skip", ZERO_SKIP_DEFAULT),
        write_elim=_pairs(args.write_elim, "--write-elim", WRITE_ELIM_DEFAULT),
        accuracy_drop=_pairs(args.accuracy_drop, "--accuracy-drop", ACCURACY_DROP_DEFAULT))
    for item in args.setting:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--setting {item!r}: expected GROUP.FIELD=VALUE, e.g. cost.duty=0.5")
        s = s.with_setting(key.strip(), value.strip())
    return s


def run(args):
    started = time.perf_counter()
    systems = ALL_SYSTEMS if args.systems.strip() == "all" else [
        s.strip() for s in args.systems.split(",") if s.strip()]
    try:
        net = network_files.load(args.network)
        est = estimate(net, settings_from_args(args), systems)
    except (NetworkError, SettingError) as e:
        raise UserError(str(e)) from None
    data = est.as_dict()
    data["command"] = " ".join(["crosstrain"] + [shlex.quote(a) for a in sys.argv[1:]]) \
        if sys.argv[1:2] == ["estimate"] else None
    files = []
    if not args.no_report:
        from crosstrain.estimate_report import write_report
        files = write_report(data, args.out, plots=not args.no_plots)
        data["report_dir"] = args.out
    data["elapsed_s"] = time.perf_counter() - started
    emit(args, data, _text(data, args.out, files))
    return 0


def _text(data: dict, out: str, files: list[str]) -> str:
    info = data["network_info"]
    gpu = data["systems"][0]
    title = (f"{data['network']} ({info['description']}), one training iteration, batch "
             f"{data['batch_size']}; baseline {gpu['description']}")
    rows = []
    for s in data["systems"]:
        life = s["lifetime_years"]
        rows.append([s["name"], s["latency_s"] * 1e3, s["energy_j"] * 1e3, s["area_mm2"],
                     s["speedup_vs_gpu"], s["energy_gain_vs_gpu"],
                     "-" if life is None else life, s["gain_loss_ratio"], s["schedule"]])
    text = table(["system", "latency ms", "energy mJ", "area mm2", "speedup", "energy gain",
                  "lifetime y", "GLR", "schedule"], rows, title=title)
    text += ("\n\nspeedup / energy gain vs the GPU; GLR = speedup x energy gain / (1 + accuracy drop %);"
             "\nlifetime: years of continuous training until the busiest cell wears out.")
    if any("reference" in s["schedule"] for s in data["systems"]):
        text += ("\nreference accounting: costed the way the reference simulator charges time "
                 "(PANTHER's / PUMA's), not a schedule our RTL runs; see docs/REPRODUCTION.md.")
    if files:
        text += f"\nReport: {out}/ ({', '.join(files)}) in {data['elapsed_s']:.2f} s"
    return text
