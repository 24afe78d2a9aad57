"""``crosstrain writes``: write traffic of training, measured on real data, and what
insignificant-write elimination saves, costs and wears."""

from __future__ import annotations

import math
from dataclasses import fields

from crosstrain import options
from crosstrain.errors import UserError
from crosstrain.experiments.training import TrainingSettings
from crosstrain.experiments.write_study import carry_over, default_candidates, run_study
from crosstrain.golden.userinput import shown
from crosstrain.golden.write_elim import PHASES, POLICIES, SCHEMES, WritePolicy
from crosstrain.output import add_json_flag, emit, table, track
from crosstrain.rollup import network_files
from crosstrain.rollup.networks import BUILTIN, NetworkError

NAME = "writes"
HELP = "write traffic of training and what write-elimination policies save"
DESCRIPTION = (
    "Train a small CNN on scikit-learn's 8x8 digits in the accelerator's fixed point through the "
    "golden MVM, record every activation, error and weight update written into arrays, and apply "
    "each write-elimination policy: writes eliminated, write energy and time saved, lifetime "
    "gain, accuracy with and without elimination. Another --network (built-in or a network "
    "file, as for `crosstrain estimate`) gets the measured per-layer fractions carried over.")
ORDER = 60

POLICY_KEYS = {f.name for f in fields(WritePolicy)}
DIGITS = "digits-cnn"


def add_arguments(parser):
    parser.add_argument("--network", default=DIGITS, metavar="NAME|FILE",
                        help=f"{DIGITS} (default: trained and measured) or a network the "
                             f"measurements are carried over to: {', '.join(BUILTIN)}, or a "
                             ".csv / .toml / .onnx network file")
    options.add_preset(parser, "pipelayer", "hardware configuration (default pipelayer, the "
                       "write-based ReRAM baseline)", config_alias=True)
    options.add_set(parser, ("hardware",), example="device.write_energy_pj=2.0")
    parser.add_argument("--epochs", type=options.int_type(1, 1000),
                        default=TrainingSettings.epochs,
                        help=f"training epochs (1 .. 1,000; default {TrainingSettings.epochs})")
    options.add_seed(parser, TrainingSettings.seed, "seed of the data split, initial weights and batches")
    parser.add_argument("--duty", type=options.float_type(), default=1.0,
                        help="fraction of the time the accelerator trains, for the lifetime in "
                             "years (default 1: back to back)")
    parser.add_argument("--policy", action="append", default=[], metavar="NAME|SPEC",
                        help="evaluate only these: a built-in name (" + ", ".join(
                            [*POLICIES, *SCHEMES]) + ") or key=value,... with keys "
                        + ", ".join(sorted(POLICY_KEYS)) + " (phases joined by +)")
    add_json_flag(parser)


def parse_policy(spec: str) -> tuple:
    """A built-in name or a ``key=value,...`` spec -> (name, tuple of policies)."""
    builtin = default_candidates()
    if spec in builtin:
        return spec, builtin[spec]
    if "=" not in spec:
        raise UserError(f"unknown policy {shown(spec)}: use a built-in name ({', '.join(builtin)}) or "
                        "key=value,... such as name=mine,phases=errors,compare=value,"
                        "granularity=row,threshold=2")
    kw = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in POLICY_KEYS:
            raise UserError(f"policy item {shown(item)} is not key=value with a key among "
                            + ", ".join(sorted(POLICY_KEYS)))
        kw[key] = value.strip()
    kw.setdefault("name", "custom")
    if "phases" not in kw:
        raise UserError(f"policy {shown(spec)} needs phases=...: any of {'+'.join(PHASES)}")
    kw["phases"] = tuple(kw["phases"].split("+"))
    if "threshold" in kw:
        kw["threshold"] = options.number(kw["threshold"], "policy threshold")
    if "row_group" in kw:
        kw["row_group"] = options.integer(kw["row_group"], "policy row_group", 1, options.MAX_INT)
    if "relative" in kw:
        if kw["relative"].lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise UserError(f"policy relative = {shown(kw['relative'])}: use true or false")
        kw["relative"] = kw["relative"].lower() in ("true", "1", "yes")
    policy = WritePolicy(**kw)
    return policy.name, (policy,)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _times(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.2f}x"


def _years(y: float) -> str:
    if math.isinf(y):
        return "inf"
    return f"{y:.3g} y" if y >= 1 else f"{y * 365.25:.3g} d"


def run(args):
    net = None
    if args.network != DIGITS:
        try:
            net = network_files.load(args.network)
        except NetworkError as e:
            raise UserError(str(e)) from None
    if not 0 < args.duty <= 1:
        raise UserError(f"--duty {args.duty!r} is not allowed: a fraction in (0, 1]")
    cfg = options.configuration(args)
    settings = TrainingSettings(epochs=args.epochs, seed=args.seed)
    settings.check(cfg)
    candidates = dict(parse_policy(s) for s in args.policy) if args.policy else default_candidates()
    report = run_study(cfg, settings, candidates, duty=args.duty, progress=track)
    report["network"] = DIGITS if net is None else net.name
    if net is not None:
        report["measured_on"] = DIGITS
        report["measured_policies"] = report["policies"]
        report["policies"] = carry_over(report, net, cfg)
    emit(args, report, render(report))
    return 0


def render(r: dict) -> str:
    st, s = r["step"], r["settings"]
    out = [
        f"digits-cnn on {r['config']}: {r['steps']} training steps ({s['epochs']} epoch"
        f"{'s' if s['epochs'] != 1 else ''}, batches of {s['batch']}); test accuracy without "
        f"elimination {_pct(r['accuracy_baseline'])}.",
        f"Per step, modelled: writes {st['write_energy_pj'] / 1e6:.3g} uJ and "
        f"{st['write_time_ns'] / 1e3:.3g} us, MVMs {st['mvm_energy_pj'] / 1e6:.3g} uJ and "
        f"{st['mvm_time_ns'] / 1e3:.3g} us: writes are {_pct(st['write_energy_share'])} of the "
        f"energy and {_pct(st['write_time_share'])} of the time.", ""]
    measured = r.get("measured_policies", r["policies"])
    for ph in PHASES:
        rows = []
        for p in measured:
            if not any(ph in part["phases"] for part in p["parts"]):
                continue
            d = p["phases"][ph]
            why = d["eliminated_by_reason"]
            rows.append([p["name"], _pct(d["eliminated_fraction"]), _pct(why["zero"]),
                         _pct(why["unchanged"]), _pct(why["below_threshold"]),
                         f"{d['write_energy_saved_pj'] / 1e6 / r['steps']:.3f}",
                         f"{d['write_time_saved_ns'] / 1e3 / r['steps']:.1f}",
                         f"{d['hottest_writes_per_step']:.3f}", _pct(p["accuracy"])])
        if rows:
            b = measured[0]["phases"][ph]
            out.append(table(["policy", "eliminated", "zero", "unchanged", "below tau",
                              "saved uJ/step", "saved us/step", "hottest cell w/step",
                              "accuracy"], rows,
                             title=f"{ph}: {b['cells_offered'] // r['steps']:,} cell writes a step "
                                   "without elimination; eliminated by reason"))
            out.append("")
    rows = [[p["name"], "yes" if p["exact"] else "no", _pct(p["eliminated_fraction"]),
             _times(p["write_energy_saving"]), _times(p["write_time_saving"]),
             _times(p["lifetime_gain"]), _times(p["lifetime_gain_wear_levelled"]),
             _times(p["training_energy_saving"]), _times(p["training_speedup"]),
             _pct(p["accuracy"])] for p in measured]
    out.append(table(["policy", "loss-free", "eliminated", "write energy", "write time",
                      "lifetime", "lifetime levelled", "train energy", "train speed",
                      "accuracy"], rows, title="all writes, digits-cnn (savings as baseline / policy)"))
    ends = list(r["lifetime_years_baseline"])
    rows = [["baseline"] + [_years(v) for v in r["lifetime_years_baseline"].values()]]
    rows += [[p["name"]] + [_years(p["lifetime_years"][e]) for e in ends] for p in measured]
    out += ["", table(["policy"] + [f"endurance {e}" for e in ends], rows,
                      title=f"lifetime until the hottest cell wears out, training {_pct(r['duty'])} "
                            f"of the time at {r['step_seconds'] * 1e3:.3g} ms per step")]
    if "measured_on" in r:
        rows = [[p["name"], _pct(p["eliminated_fraction"]), _times(p["write_energy_saving"]),
                 _times(p["write_time_saving"])] for p in r["policies"]]
        out += ["", table(["policy", "eliminated", "write energy", "write time"], rows,
                          title=f"{r['network']}: digits-cnn per-layer fractions carried over "
                                "(first weight layer <- conv1, last <- fc, others <- conv2); "
                                "lifetime and accuracy not carried over")]
    pa = r["paper"]
    best = max(measured, key=lambda p: (p["exact"], p["write_energy_saving"]))
    out += ["", f"Paper (IEEE TC 2023, vs a ReRAM baseline): {pa['energy']}x energy, "
                f"{pa['speed']}x speed, {pa['lifetime']}x lifetime, no accuracy loss. Here the "
                f"best loss-free candidate, {best['name']}: {_times(best['training_energy_saving'])}"
                f" training energy, {_times(best['training_speedup'])} speed, "
                f"{_times(best['lifetime_gain'])} lifetime "
                f"({_times(best['lifetime_gain_wear_levelled'])} with perfect wear levelling). "
                "Why they differ: docs/writes.md."]
    return "\n".join(out)
