"""The ``crosstrain`` console command.

Each subcommand lives in its own module under ``scripts/commands/`` and defines ``NAME``,
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; they are discovered here, so
adding a report never edits this file. Expected failures (bad configuration, impossible
parameter, missing tool) raise :class:`crosstrain.errors.UserError` or
:class:`crosstrain.golden.config.ConfigError` and are printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from crosstrain import commands
from crosstrain.errors import UserError
from crosstrain.golden.config import ConfigError


def _subcommands():
    mods = [importlib.import_module(f"crosstrain.commands.{m.name}")
            for m in pkgutil.iter_modules(commands.__path__)]
    return sorted((m for m in mods if hasattr(m, "NAME")), key=lambda m: getattr(m, "ORDER", 50))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crosstrain",
        description="Cycle-accurate, verifiable model of ReRAM processing-in-memory training accelerators.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _subcommands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return args._run(args) or 0
    except (UserError, ConfigError) as e:
        print(f"crosstrain {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
