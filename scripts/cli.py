"""The ``crosstrain`` console command.

Each subcommand lives in its own module under ``scripts/commands/`` and defines ``NAME``,
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; they are discovered here, so
adding a report never edits this file. Values on the command line follow one grammar
(:mod:`crosstrain.options`). Expected failures (bad configuration, impossible parameter, missing
tool, a malformed option) raise :class:`crosstrain.errors.UserError` or
:class:`crosstrain.golden.config.ConfigError` and are printed as one line (exit status 2),
never as a traceback; Ctrl-C is one line too (exit status 130, :mod:`crosstrain.__main__`).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from crosstrain import commands
from crosstrain.errors import UserError
from crosstrain.golden.config import ConfigError
from crosstrain.options import one_line


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line naming ``--help`` (not the usage block)."""

    def error(self, message):
        print(f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _subcommands():
    mods = [importlib.import_module(f"crosstrain.commands.{m.name}")
            for m in pkgutil.iter_modules(commands.__path__)]
    return sorted((m for m in mods if hasattr(m, "NAME")), key=lambda m: getattr(m, "ORDER", 50))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="crosstrain",
        description="Cycle-accurate, verifiable model of ReRAM processing-in-memory training accelerators. "
                    "Every command takes values as --preset NAME|FILE.toml and --set NAME=VALUE.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _subcommands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:              # --help, or a usage error already printed as one line
        return e.code
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return args._run(args) or 0
    except (UserError, ConfigError) as e:
        print(f"crosstrain {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from crosstrain.__main__ import console
    sys.exit(console())
