"""``crosstrain reproduce``: every table of docs/REPRODUCTION.md, computed now."""

from __future__ import annotations

from pathlib import Path

from crosstrain import reproduction
from crosstrain.errors import UserError
from crosstrain.output import add_json_flag, emit, table

NAME = "reproduce"
HELP = "the seed papers' headline comparisons as CrossTrain computes them (docs/REPRODUCTION.md)"
DESCRIPTION = ("Every table of docs/REPRODUCTION.md: each row is a `crosstrain estimate` run (or, "
               "for the per-block figures, the presets) and each cell a ratio between two of its "
               "systems. Prints the tables, one JSON object (--json), the document's Markdown "
               "blocks (--markdown), or rewrites those blocks in a file (--update FILE).")
ORDER = 12


def add_arguments(parser):
    parser.add_argument("--table", action="append", default=[], metavar="KEY",
                        help=f"only these tables (repeatable): {', '.join(reproduction.KEYS)}")
    parser.add_argument("--markdown", action="store_true",
                        help="print the tables as docs/REPRODUCTION.md's Markdown blocks")
    parser.add_argument("--update", metavar="FILE",
                        help="rewrite the reproduce blocks of FILE (e.g. docs/REPRODUCTION.md)")
    add_json_flag(parser)


def run(args):
    bad = [k for k in args.table if k not in reproduction.KEYS]
    if bad:
        raise UserError(f"--table {bad[0]!r}: use one of {', '.join(reproduction.KEYS)}")
    computed = reproduction.tables(tuple(args.table) or reproduction.KEYS)
    if args.update:
        path = Path(args.update)
        try:
            text = path.read_text()
        except OSError as e:
            raise UserError(f"--update {path}: {e.strerror}") from None
        path.write_text(reproduction.update(text, {t["key"]: reproduction.markdown(t) for t in computed}))
        print(f"updated {len(reproduction.blocks(text))} tables in {path}")
        return 0
    if args.markdown:
        print("\n\n".join(reproduction.markdown(t) for t in computed))
        return 0
    text = "\n\n".join(table(["", *t["columns"]], [[r["label"], *r["values"]] for r in t["rows"]],
                             title=f"{t['key']}: {t['title']}") for t in computed)
    emit(args, {"schema": reproduction.SCHEMA, "tables": computed},
         text + "\n\nRatios: how many times less time / energy the first system takes than the one "
                "it is compared with (lifetime: how many more iterations). Commands: --json.")
    return 0
