"""``crosstrain compile``: one layer's training iteration as a tile program (binary and listing).

The program format is :mod:`crosstrain.golden.isa`; the compiler :mod:`crosstrain.rollup.compiler`;
docs/compile.md documents the command, the table and the JSON keys.
"""

from __future__ import annotations

from pathlib import Path

from crosstrain import options
from crosstrain.errors import UserError
from crosstrain.golden import interpreter, isa
from crosstrain.golden.userinput import shown
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rollup import network_files
from crosstrain.rollup.compiler import MAX_TIMED, CompileError, compile_layer, tile_for
from crosstrain.rollup.mapper import CRS_SAMPLES_DEFAULT, MAX_CRS_SAMPLES, SettingError, Technique
from crosstrain.rollup.networks import NetworkError

NAME = "compile"
HELP = "compile one layer's training iteration into a tile program (binary + listing)"
DESCRIPTION = ("Compile one weight layer (forward MVMs, backward transposed MVMs, OPA weight "
               "updates, CRS) into the tile's 64-bit instruction format; writes the binary program "
               "and a readable listing, prints a summary table (docs/compile.md).")
ORDER = 45
MAX_BATCH = 1 << 12


def add_arguments(parser):
    parser.add_argument("--network", default="mlp-panther", metavar="NAME|FILE",
                        help="built-in network or a .csv / .toml / .onnx file (default mlp-panther)")
    parser.add_argument("--layer", metavar="NAME", help="the layer to compile (default: the first "
                        "layer with weights)")
    options.add_preset(parser, "panther", "hardware configuration (default panther)")
    options.add_set(parser, ("hardware",))
    parser.add_argument("--units", type=options.int_type(1, isa.MAX_UNITS), metavar="N",
                        help=f"crossbar units in the tile (1 .. {isa.MAX_UNITS}; default: as many as "
                             "the layer needs)")
    parser.add_argument("--batch", type=options.int_type(1, MAX_BATCH), default=1,
                        help=f"samples in the mini-batch (1 .. {MAX_BATCH:,}; default 1)")
    parser.add_argument("--replication", type=options.int_type(1, isa.MAX_UNITS), default=1,
                        metavar="N", help="copies of the layer splitting its vectors (default 1)")
    parser.add_argument("--crs-samples", type=options.int_type(0, MAX_CRS_SAMPLES),
                        default=CRS_SAMPLES_DEFAULT, metavar="N",
                        help=f"samples between carry resolutions (default {CRS_SAMPLES_DEFAULT}; 0 = never)")
    parser.add_argument("-o", "--output", default="prog.bin", metavar="FILE",
                        help="binary program (little-endian 64-bit words; default prog.bin)")
    parser.add_argument("--listing", metavar="FILE",
                        help="readable listing (default: the output with the suffix .lst)")
    add_json_flag(parser)


def _layer(net, name):
    weighted = [l for l in net.layers if l.has_weights]
    if name is None:
        if not weighted:
            raise UserError(f"network {net.name} has no layer with weights to compile")
        return weighted[0]
    for layer in net.layers:
        if layer.name == name:
            return layer
    raise UserError(f"--layer {shown(name)}: not a layer of {net.name}; its layers with "
                    f"weights are {', '.join(l.name for l in weighted)}")


def run(args):
    cfg = options.configuration(args)
    try:
        net = network_files.load(args.network)
        layer = _layer(net, args.layer)
        tech = Technique(crs_samples=args.crs_samples)
        probe = tile_for(layer, cfg, units=isa.MAX_UNITS, batch=args.batch)
        need = len(compile_layer(layer, cfg, probe, batch=args.batch, technique=tech,
                                 replication=args.replication).blocks)
        tile = tile_for(layer, cfg, units=args.units or need, batch=args.batch)
        comp = compile_layer(layer, cfg, tile, batch=args.batch, technique=tech,
                             replication=args.replication)
    except (NetworkError, SettingError, CompileError) as e:
        raise UserError(str(e)) from None
    out = Path(args.output)
    listing = Path(args.listing) if args.listing else out.with_suffix(".lst")
    try:
        out.write_bytes(comp.binary())
        listing.write_text(comp.listing())
    except OSError as e:
        raise UserError(f"cannot write {e.filename}: {e.strerror}") from None
    counts = isa.executed(comp.program)
    res = interpreter.run(comp.program, tile, cfg) if sum(counts.values()) <= MAX_TIMED else None
    data = {
        "network": net.name, "layer": layer.name, "kind": layer.kind, "preset": args.preset,
        "batch": args.batch, "replication": args.replication, "crs_samples": args.crs_samples,
        "tile": {"units": tile.units, "buffer_depth": tile.buffer_depth, "max_length": tile.max_length,
                 "queue_depth": tile.queue_depth},
        "units_used": len(comp.blocks),
        "regions": [{"gemm": r.gemm, "group": r.group, "rows": r.rows, "cols": r.cols,
                     "vectors": r.vectors, "base": r.base, "stride": r.stride, "weights": r.weights} for r in comp.regions],
        "words": len(comp.program), "bytes": 8 * len(comp.program),
        "words_by_kind": {op: n for op, n in sorted(comp.counts().items())},
        "executed_by_kind": {op: n for op, n in sorted(counts.items())},
        "cycles": res.cycles if res else None, "phase_cycles": res.phase_cycles if res else None,
        "unit_busy_max": max(u.busy for u in res.units) if res else None,
        "program": str(out), "listing": str(listing)}
    emit(args, data, _text(data))
    return 0


def _text(d: dict) -> str:
    rows = [(op, d["words_by_kind"].get(op, 0), d["executed_by_kind"].get(op, 0))
            for op in isa.OPCODES if op in d["words_by_kind"]]
    head = (f"{d['network']} / {d['layer']} ({d['kind']}), batch {d['batch']}: {d['units_used']} of "
            f"{d['tile']['units']} units, buffer {d['tile']['buffer_depth']:,} values, "
            f"{len(d['regions'])} GEMM group(s)")
    wrote = f"wrote {d['program']} ({d['bytes']:,} bytes) and {d['listing']}"
    if d["cycles"] is None:
        timing = [f"cycles not modelled: more than {MAX_TIMED:,} instructions to step through", wrote]
    else:
        timing = [table(["phase", "cycles"], list(d["phase_cycles"].items())), "",
                  f"cycles {d['cycles']:,} (golden/interpreter.py's schedule model); {wrote}"]
    return "\n".join([head, "", table(["instruction", "words", "executed"], rows), ""] + timing)
