"""``crosstrain deconv``: transposed-conv layers mapped naively, decomposed (RED / ZARA), and with zero skipping."""

from __future__ import annotations

import numpy as np

from dataclasses import fields

from crosstrain import options
from crosstrain.errors import UserError
from crosstrain.golden import config
from crosstrain.golden.deconv import ConvTranspose, DeconvError
from crosstrain.golden.encoding import to_fixed
from crosstrain.golden.userinput import shown
from crosstrain.golden.zeroskip import MAPPINGS, layer_costs
from crosstrain.output import add_json_flag, emit, table, track
from crosstrain.rollup.deconv_nets import NETWORKS, layer_inputs

NAME = "deconv"
HELP = "rows, cycles and utilization of transposed convs: naive vs decomposed vs zero skipping"
DESCRIPTION = (
    "For the DCGAN generator and the FCN-8s decoder (or one --layer), the crossbar rows activated, "
    "crossbar cycles (golden cycle model) and utilization of three mappings: naive zero insertion, "
    "the stride^2 sub-kernel decomposition, and the decomposition with zero skipping. "
    "Utilization = useful multiply-adds / multiply-adds issued to rows (inserted zeros count as "
    "issued, idle rows do not); row occupancy = rows activated / rows of the crossbar group over "
    "its MVMs. Zero skipping runs on seeded synthetic activations. With --rtl, the named layers' "
    "crossbar cycles are also measured on the MVM unit RTL (amaranth.sim).")
ORDER = 40

LAYER_KEYS = tuple(f.name for f in fields(ConvTranspose)) + ("output_size",)
MAX_BATCH = 1024
#: The zero-skipping columns come from simulating each layer on generated activations, so the
#: command holds a layer's input (and, for a network, its output) and plans every crossbar row
#: it drives (batch x windows x sub-kernel rows, over the phase groups): time and memory grow
#: with these. Larger layers are refused in one line (2**26 rows take about 20 s).
MAX_VALUES = 1 << 24
MAX_ROWS = 1 << 26


def add_arguments(parser):
    parser.add_argument("--network", choices=sorted(NETWORKS),
                        help="one network (default: all of them)")
    options.add_set(parser, ("hardware", "convt"),
                    example="convt.kernel=4 (any convt.* value asks for one custom layer)")
    parser.add_argument("--layer", metavar="KEY=VALUE,...",
                        help="one custom layer instead, the old spelling of --set convt.KEY=VALUE, "
                             "e.g. in_channels=64,out_channels=32,kernel=4,stride=2,padding=1,"
                             "height=16,width=16 (also output_padding, output_size=HxW); its input "
                             "is ReLU of N(0, 1)")
    options.add_preset(parser, "panther", "hardware configuration (default: panther)", config_alias=True)
    parser.add_argument("--batch", type=options.int_type(1, MAX_BATCH), default=1,
                        help=f"images per layer (1 .. {MAX_BATCH:,}; default 1)")
    options.add_seed(parser, 0, "seed of weights and activations")
    parser.add_argument("--rtl", action="append", default=[], metavar="LAYER",
                        help="also measure LAYER's decomposed and zero-skipping crossbar cycles by "
                             "running each phase group's token stream through crosstrain.rtl.mvm_unit.MvmUnit "
                             "in amaranth.sim (repeatable; slow: about 2,500 cycles/s, e.g. 2 min "
                             "for dcgan ct2); LAYER is a layer name (ct2, upscore2, or 'layer' "
                             "for the custom layer)")
    add_json_flag(parser)


def layer_values(text: str) -> dict:
    """``--layer KEY=VALUE,...`` (the old spelling) as ``{"convt.KEY": value}``."""
    if not text.strip():
        raise UserError("--layer '': give KEY=VALUE,... e.g. in_channels=64,out_channels=32,kernel=4")
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in LAYER_KEYS:
            raise UserError(f"--layer: {shown(item)} is not KEY=VALUE with KEY one of "
                            f"{', '.join(LAYER_KEYS)}")
        if key == "output_size":
            size = value.lower().split("x")
            if len(size) != 2:
                raise UserError(f"--layer: output_size = {shown(value)} must be HxW")
            out["convt.output_size"] = tuple(options.integer(v, "--layer: output_size") for v in size)
        else:
            out[f"convt.{key}"] = options.integer(value, f"--layer: {key} =")
    return out


def layer_spec(values: dict) -> ConvTranspose | None:
    """The custom layer of the ``convt.*`` values (None when there are none)."""
    kwargs = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("convt.")}
    if not kwargs:
        return None
    for key in kwargs:
        if key not in LAYER_KEYS:
            raise UserError(f"unknown field convt.{key}: fields are {', '.join(LAYER_KEYS)}")
    for key in ("in_channels", "out_channels", "kernel"):
        if key not in kwargs:
            raise UserError(f"convt.{key} is missing (give at least in_channels, out_channels, kernel)")
    size = kwargs.pop("output_size", None)
    if size is not None:
        if not isinstance(size, tuple) or len(size) != 2:
            raise UserError(f"convt.output_size = {shown(str(size))} must be [H, W]")
        if "output_padding" in kwargs:
            raise UserError("give convt.output_size or convt.output_padding, not both")
    try:
        return ConvTranspose(**kwargs) if size is None else ConvTranspose.for_output(output_size=size, **kwargs)
    except TypeError as e:
        raise UserError(f"convt: {e}") from None


def check_size(spec: ConvTranspose, batch: int, cfg, *, output: bool) -> None:
    """One-line UserError when simulating ``batch`` images of ``spec`` exceeds the limits
    (:data:`MAX_VALUES` values held, :data:`MAX_ROWS` rows planned); counted in closed form."""
    held = batch * spec.in_channels * spec.height * spec.width
    if output:
        held = max(held, batch * spec.out_channels * spec.out_height * spec.out_width)
    rows = layer_costs(spec, cfg, batch=batch)["decomposed"].rows_allocated
    for what, n, limit in (("values", held, MAX_VALUES), ("crossbar rows", rows, MAX_ROWS)):
        if n > limit:
            raise UserError(f"{spec.describe()} with --batch {batch}: zero skipping is simulated, "
                            f"and this layer needs {n:,} {what} (at most {limit:,}); use a smaller "
                            "layer or batch")


def workloads(args, cfg):
    """[(network, layer name, spec, input codes)] for the requested networks or layer."""
    spec = layer_spec(args.values)
    if spec is not None:
        check_size(spec, args.batch, cfg, output=False)
        rng = np.random.default_rng(args.seed)
        x = np.maximum(rng.standard_normal((args.batch, spec.in_channels, spec.height, spec.width)), 0)
        return [("custom", "layer", spec, to_fixed(x, cfg.precision.input_bits,
                                                    cfg.precision.weight_frac_bits))]
    out = []
    for net in [args.network] if args.network else sorted(NETWORKS):
        for layer in NETWORKS[net]:
            check_size(layer.spec, args.batch, cfg, output=True)
        inputs = layer_inputs(net, cfg, batch=args.batch, seed=args.seed)
        out += [(net, layer.name, layer.spec, x) for layer, x in zip(NETWORKS[net], inputs)]
    return out


def rtl_cycles(spec, cfg, x) -> dict:
    """Measured cycles of the decomposed and zero-skipping mappings: the busiest phase group's
    token stream through the MvmUnit RTL (amaranth.sim)."""
    from crosstrain.golden.periphery import PeripheryParams
    from crosstrain.tb.deconv_mvm_bench import measure_layer

    try:
        p = PeripheryParams(cfg=cfg)
        return {f"cycles_rtl_{m}": max(c for _, c in measure_layer(spec, p, x, skip_zero=skip).values())
                for m, skip in (("decomposed", False), ("zero_skip", True))}
    except config.ConfigError as e:
        raise UserError(f"--rtl: {e}") from None


def layer_record(net, name, spec, costs, rtl=None) -> dict:
    naive, zs = costs["naive"], costs["zero_skip"]
    rec = {"network": net, "name": name, "shape": spec.describe(), **spec.as_params(),
           "out_height": spec.out_height, "out_width": spec.out_width,
           "useful_macs": naive.useful_macs}
    for m in MAPPINGS:
        c = costs[m]
        rec |= {f"arrays_{m}": c.arrays, f"mvms_{m}": c.mvms, f"rows_{m}": c.rows_activated,
                f"cycles_{m}": c.cycles, f"issued_macs_{m}": c.issued_macs,
                f"occupancy_{m}": c.occupancy, f"speedup_{m}": naive.cycles / c.cycles if c.cycles else None,
                f"events_{m}": c.events.as_dict()}
    rec |= {"utilization_naive": naive.utilization,
            "utilization_decomposed": costs["decomposed"].utilization,
            "zero_skip": zs.skipped.as_dict()}
    rec |= rtl or {"cycles_rtl_decomposed": None, "cycles_rtl_zero_skip": None}
    return rec


def run(args):
    args.values = options.values(args, ("hardware", "convt"))
    if args.layer is not None:
        args.values = layer_values(args.layer) | args.values
    cfg = options.configuration(args, args.values)
    try:
        work = workloads(args, cfg)
        names = [name for _, name, _, _ in work]
        unknown = [n for n in args.rtl if n not in names]
        if unknown:
            raise UserError(f"--rtl: no layer {shown(unknown[0])} here; layers: {', '.join(names)}")
        rtl = {(net, name): rtl_cycles(spec, cfg, x)
               for net, name, spec, x in track([w for w in work if w[1] in args.rtl],
                                               desc="deconv --rtl (amaranth.sim per layer)")}
        layers = [layer_record(net, name, spec, layer_costs(spec, cfg, x), rtl.get((net, name)))
                  for net, name, spec, x in work]
    except DeconvError as e:
        raise UserError(str(e)) from None
    blocks = []
    for net in dict.fromkeys(r["network"] for r in layers):
        rows = []
        for r in (r for r in layers if r["network"] == net):
            zs = r["zero_skip"]
            for m, label in zip(MAPPINGS, ("naive", "decomposed", "+ zero skip")):
                first = m == "naive"
                rows.append([
                    r["name"] if first else "", r["shape"] if first else "", label,
                    r[f"arrays_{m}"], r[f"mvms_{m}"], r[f"rows_{m}"], r[f"cycles_{m}"],
                    r.get(f"cycles_rtl_{m}") or "-",
                    r.get(f"utilization_{m}", "-"), r[f"occupancy_{m}"], r[f"speedup_{m}"] or "-",
                    f"{zs['values_skipped_fraction']:.1%} / {zs['steps_skipped_fraction']:.1%}"
                    if m == "zero_skip" else ""])
        blocks.append(table(
            ["layer", "shape", "mapping", "arrays", "MVMs", "rows activated", "cycles",
             "rtl cycles", "utilization", "occupancy", "speedup", "skipped values/steps"], rows,
            title=f"{net} on {cfg.name} (batch {args.batch}, seed {args.seed}); cycles from "
                  "crosstrain.golden.cycles.mvm_schedule, rtl cycles measured on crosstrain.rtl.mvm_unit (--rtl)"))
    text = "\n\n".join(blocks)
    totals = {}
    for r in layers:
        t = totals.setdefault(r["network"], {m: 0 for m in MAPPINGS})
        for m in MAPPINGS:
            t[m] += r[f"cycles_{m}"]
    summary = [f"{net}: {t['naive']:,} cycles naive, {t['decomposed']:,} decomposed "
               f"({t['naive'] / t['decomposed']:.2f}x), {t['zero_skip']:,} with zero skipping "
               f"({t['naive'] / max(t['zero_skip'], 1):.2f}x)" for net, t in totals.items()]
    notes = ("Utilization of zero skipping is not shown: it also skips genuine zeros, so issued "
             "multiply-adds fall below the useful ones. Layers run one after another; the groups "
             "of one layer run concurrently.")
    if args.rtl:
        notes += ("\nrtl cycles: each phase group's token stream (its row tiles in lockstep) run "
                  "through crosstrain.rtl.mvm_unit.MvmUnit in amaranth.sim, from the first vector accepted to "
                  "the last output taken; the layer takes its busiest group's.")
    emit(args, {"config": cfg.name, "batch": args.batch, "seed": args.seed, "layers": layers,
                "total_cycles": totals},
         text + "\n\n" + "\n".join(summary) + "\n" + notes)
    return 0
