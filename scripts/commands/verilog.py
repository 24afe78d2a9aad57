"""``crosstrain verilog BLOCK [--preset P] [--set NAME=VALUE ...] [-o FILE]``: Verilog of one RTL block."""

from __future__ import annotations

import sys
from pathlib import Path

from crosstrain import options
from crosstrain.errors import UserError
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rtl.blocks import BLOCKS, Fields, block

NAME = "verilog"
HELP = "write the Verilog of one RTL block (crosstrain verilog --list names them)"
DESCRIPTION = (
    "Exports one RTL block as deterministic Verilog (no source paths; the same parameters give the "
    "same text). The top module is named after the block; ports are path__field, clock clk, "
    "synchronous active-high reset rst. Periphery blocks take a preset or TOML file (--preset) "
    "and --set SECTION.FIELD=VALUE of the configuration, periphery.out_width and, for the blocks "
    "with an input streamer, periphery.skip_zero=true (zero skipping) "
    "(crosstrain.golden.periphery.PeripheryParams); the tile also isa.FIELD (its TileParams) and "
    "periphery.value_bits; other blocks take --set for the fields of "
    "their own parameter object: comparator.* (write_elim), convt.* (deconv_addr); see --list. "
    "Impossible parameters are one error line naming the parameter.")
ORDER = 60


def add_arguments(parser):
    parser.add_argument("block", nargs="?", metavar="BLOCK", help="block to export (see --list)")
    parser.add_argument("--list", action="store_true", help="list the blocks and their parameters")
    add_block_arguments(parser)
    parser.add_argument("-o", "--output", default="-", metavar="FILE",
                        help="file to write; '-' (the default) prints the Verilog on stdout")
    add_json_flag(parser)


def add_block_arguments(parser):
    """--preset and --set (alias --param) of a block's parameters, as :func:`build` reads them."""
    options.add_preset(parser, None, "configuration of a periphery block (default: panther)")
    options.add_set(parser, ("hardware", "periphery", "isa", "comparator", "convt"), old=("--param",),
                    example="crossbar.rows=16 or comparator.lanes=4")


def build(args, name: str):
    """The component of block ``name`` from ``args``' --preset and --set (the names its
    parameters take: the configuration's for a periphery block, else the block's own)."""
    b = block(name)
    own = b.params.namespace if isinstance(b.params, Fields) else None
    vals = options.values(args, (own,) if own else ("hardware", "periphery", "isa"), bare=own)
    return b.build(vals, args.preset)


def run(args):
    if args.list:
        rows = [[name, b.description, b.describe()] for name, b in sorted(BLOCKS.items())]
        emit(args, {"blocks": [{"name": r[0], "description": r[1], "params": r[2]} for r in rows]},
             table(["block", "what it is", "parameters"], rows))
        return 0
    if not args.block:
        raise UserError("name a BLOCK to export, or --list to see them")
    if args.json:
        raise UserError("--json applies to --list only: the export is Verilog")
    from crosstrain.rtl.export import verilog_text
    text = verilog_text(build(args, args.block), args.block)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    try:
        out.write_text(text)
    except OSError as e:
        raise UserError(f"cannot write {args.output}: {e.strerror}") from None
    print(f"wrote {args.output}: module {args.block}, {text.count(chr(10))} lines")
    return 0
