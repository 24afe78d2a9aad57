"""The command line's one grammar for values, the same in every command.

``--preset NAME|FILE.toml``
    the hardware configuration: a built-in preset or a TOML file (``crosstrain presets``).
``--set NAME=VALUE`` (repeatable; a later one wins)
    NAME is a dotted name: ``SECTION.FIELD`` of the configuration file (``device``, ``crossbar``,
    ``converters``, ``precision``, ``tile``, ``nonideal``; ``crosstrain config show PRESET`` lists
    every field), or a name of a parameter object that is not part of the configuration:
    ``periphery.out_width`` (:class:`~crosstrain.golden.periphery.PeripheryParams`),
    ``convt.FIELD`` (a transposed convolution, :class:`~crosstrain.golden.deconv.ConvTranspose`),
    ``comparator.FIELD`` (:class:`~crosstrain.golden.write_elim.ComparatorParams`),
    ``isa.FIELD`` (the tile's :class:`~crosstrain.golden.isa.TileParams`) and the
    estimate's settings ``cost.*``, ``gpu.*``, ``reg3d.*``, ``link.NAME.*``, ``mapper.*``, and
    the graph run's ``graph.*``, ``memory.*``, ``cpu.*``, ``gpu.*``.
    VALUE is a TOML literal: ``64``, ``0.5``, ``true``, ``"offset"``, ``[6, 6, 5]``; a bare word
    (``offset``) is a string.

Old spellings keep working: ``--config`` is ``--preset``; ``--setting`` is ``--set``;
``--param KEY=VALUE`` is ``--set`` that also takes the short names of :data:`SHORT_NAMES`,
``out_width``, a block's own field names (``lanes=4``) and comma lists (``6,6,5``).

Text becomes typed values here and only here: golden, rtl and the roll-up take typed values.
Every bad value is a one-line :class:`~crosstrain.errors.UserError` that echoes at most
:data:`~crosstrain.golden.userinput.SHOWN_CHARS` characters of it.
"""

from __future__ import annotations

import argparse
import math
import re
import tomllib
from dataclasses import fields

from crosstrain.errors import UserError
from crosstrain.golden import config
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.userinput import SHOWN_CHARS, shown

MAX_TEXT = 1000                 # characters of one value
MAX_INT = 2 ** 53               # integers are exact in JSON and float up to here
SEED_MAX = 2 ** 32 - 1

HARDWARE = tuple(f.name for f in fields(HardwareConfig) if f.name != "name")
#: Names by group: the first part of a dotted name, and how help and errors describe the group.
GROUPS = {
    "hardware": (HARDWARE, "SECTION.FIELD of the configuration (" + ", ".join(HARDWARE) + ")"),
    "periphery": (("periphery",), "periphery.out_width, periphery.skip_zero (mvm_unit, input_streamer), "
                                  "periphery.value_bits (tile)"),
    "isa": (("isa",), "isa.FIELD of the tile (units, buffer_depth, max_length, queue_depth)"),
    "convt": (("convt",), "convt.FIELD (a transposed conv: in_channels, out_channels, kernel, "
                          "stride, padding, output_padding, height, width, output_size)"),
    "comparator": (("comparator",), "comparator.FIELD (lanes, width, count_width, group_bits, stages)"),
    "estimate": (("cost", "gpu", "reg3d", "link", "mapper"),
                 "the estimate's cost.*, gpu.*, reg3d.*, link.NAME.*, mapper.*"),
    "graph": (("graph", "memory", "cpu", "gpu"),
              "the graph run's graph.*, memory.*, cpu.*, gpu.* (docs/graph.md)"),
}

#: ``--param`` short names (the old spelling) and the configuration field each one sets.
SHORT_NAMES = {
    "rows": "crossbar.rows", "cols": "crossbar.cols", "encoding": "crossbar.encoding",
    "read_latency_ns": "crossbar.read_latency_ns",
    "bits_per_cell": "device.bits_per_cell", "write_latency_ns": "device.write_latency_ns",
    "dac_bits": "converters.dac_bits", "adc_bits": "converters.adc_bits",
    "adcs_per_array": "converters.adcs_per_array", "adc_mode": "converters.adc_mode",
    "weight_bits": "precision.weight_bits", "weight_frac_bits": "precision.weight_frac_bits",
    "input_bits": "precision.input_bits", "error_bits": "precision.error_bits",
    "update_slices": "precision.update_slices", "update_slice_bits": "precision.update_slice_bits",
    "opa_shift": "precision.opa_shift",
    "clock_ghz": "tile.clock_ghz", "opa_phase_ns": "tile.opa_phase_ns",
    "pipeline_cycles": "tile.pipeline_cycles",
    "out_width": "periphery.out_width", "skip_zero": "periphery.skip_zero",
}

_NAME = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+")
_BARE = re.compile(r"[\w.+\-/:]+")          # a bare word: a string without quotes
_DIGITS = re.compile(r"[+-]?[0-9][0-9_]*")  # ASCII digits only (str.isdigit also takes '²')


def integer(text: str, what: str, lo: int = -MAX_INT, hi: int = MAX_INT) -> int:
    """``text`` as an integer in ``[lo, hi]`` (ASCII digits, optional sign) or a UserError."""
    t = str(text).strip()
    span = f"an integer from {lo:,} to {hi:,}"
    if not _DIGITS.fullmatch(t) or "_" in t:
        raise UserError(f"{what} {shown(t)}: ".lstrip()
                        + (span if (lo, hi) != (-MAX_INT, MAX_INT) else "an integer"))
    if len(t.lstrip("+-")) > len(str(max(abs(lo), abs(hi)))) + 1 or not lo <= int(t) <= hi:
        raise UserError(f"{what} {shown(t)} is out of range: {span}".lstrip())
    return int(t)


def number(text: str, what: str) -> float:
    """``text`` as a finite number or a UserError."""
    v = value(text, what)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise UserError(f"{what} = {shown(text)}: a number")
    return float(v)


class _Default:
    """Marks a flag's default, so that an experiment file's value can win over it but not over
    the same value typed on the command line (:func:`default`, :func:`given`)."""


_MARKED = {t: type(f"Default{t.__name__.title()}", (_Default, t), {}) for t in (str, int, float)}


def default(v):
    """``v`` as a flag's default (``default=options.default(64)``): equal to ``v`` in every use,
    but :func:`given` tells it from a value given on the command line."""
    return _MARKED[type(v)](v)


def given(v) -> bool:
    """True when a flag's value came from the command line (not :func:`default`, not None)."""
    return v is not None and not isinstance(v, _Default)


def argument(parse):
    """An argparse ``type`` from ``parse(text)``, whose UserError becomes argparse's one-line
    usage error (argparse names the flag). A :func:`default` passes as it is."""
    def typed(text):
        if isinstance(text, _Default):
            return text
        try:
            return parse(text)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return typed


def int_type(lo: int, hi: int):
    """An argparse ``type`` for an integer flag in ``[lo, hi]``."""
    return argument(lambda text: integer(text, "", lo, hi))


def float_type():
    """An argparse ``type`` for a finite number."""
    return argument(lambda text: number(text, "value"))


def add_seed(parser, default: int = 0, help: str = "seed of the random data"):
    parser.add_argument("--seed", type=int_type(0, SEED_MAX), default=default,
                        help=f"{help} (0 .. {SEED_MAX:,}; default {default})")


def value(text: str, name: str):
    """A ``--set`` VALUE: a TOML literal (tables rejected, lists as tuples, integers up to
    :data:`MAX_INT`, floats finite), or a bare word as a string."""
    t = str(text).strip()
    if not t:
        raise UserError(f"{name}: no value after '=' (e.g. crossbar.rows=64)")
    if _DIGITS.fullmatch(t) and len(t.strip("+-").replace("_", "")) > len(str(MAX_INT)):
        raise UserError(f"{name} = {shown(t)}: too large, integers go up to {MAX_INT:,}")
    if len(t) > MAX_TEXT:
        raise UserError(f"{name} = {shown(t)}: {len(t):,} characters, at most {MAX_TEXT:,} in a value")
    try:
        doc = tomllib.loads(f"v = {t}")
    except (ValueError, RecursionError):    # TOMLDecodeError is a ValueError
        doc = None
    if doc is None or list(doc) != ["v"]:
        if _BARE.fullmatch(t):
            return t
        raise UserError(f"{name} = {shown(t)} is not a value: give a TOML literal such as 64, 0.5, "
                        'true, "offset" or [6, 6, 5]')
    return plain(doc["v"], name, t)


def plain(v, name: str, text: str | None = None):
    """A parsed TOML value (of ``--set`` or of a file) as a ``--set`` value: lists as tuples,
    integers up to :data:`MAX_INT`, floats finite; tables and dates refused (``text``: the value
    as written, for the message)."""
    text = repr(v) if text is None else text
    if isinstance(v, dict):
        raise UserError(f"{name} = {shown(text)}: a table is not a value; give one --set per field "
                        "(e.g. --set crossbar.rows=64)")
    if isinstance(v, list):
        return tuple(plain(x, name, text) for x in v)
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, int):
        if abs(v) > MAX_INT:
            raise UserError(f"{name} = {shown(text)}: too large, integers go up to {MAX_INT:,}")
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise UserError(f"{name} = {shown(text)}: not a finite number")
        return v
    raise UserError(f"{name} = {shown(text)}: a date or time is not a value here")


def add_preset(parser, default: str | None, help: str, *, config_alias: bool = False):
    """``--preset NAME|FILE.toml`` (and the old spelling ``--config`` where it existed)."""
    names = ("--preset", "--config") if config_alias else ("--preset",)
    parser.add_argument(*names, dest="preset", default=default, metavar="NAME|FILE.toml",
                        help=help + (" (--config: the old spelling)" if config_alias else ""))


class _Append(argparse.Action):
    """Collects ``(option as spelled, text)`` so that ``--param`` keeps its short names."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), (option_string, values)])


def add_set(parser, groups: tuple[str, ...], *, old: tuple[str, ...] = (), example: str = "crossbar.rows=64"):
    """``--set NAME=VALUE`` for the name groups ``groups`` (keys of :data:`GROUPS`), with the old
    spellings ``old`` (``--param``, ``--setting``) as aliases."""
    names = "; ".join(GROUPS[g][1] for g in groups)
    aliases = {"--param": "--param KEY=VALUE is the old spelling, with short names (rows=, adc_bits=, "
                          "out_width=, a block's own field names) and comma lists",
               "--setting": "--setting is the old spelling"}
    parser.add_argument("--set", *old, dest="set", action=_Append, default=[], metavar="NAME=VALUE",
                        help=f"set one value (repeatable), e.g. {example}; NAME: {names}; VALUE: a "
                             "TOML literal" + "".join(f"; {aliases[o]}" for o in old))


def values(args, groups: tuple[str, ...], *, bare: str | None = None) -> dict:
    """The typed ``--set`` values of ``args`` as ``{"dotted.name": value}``, later ones winning.

    ``groups`` are the name groups the command takes; ``bare`` is the group that ``--param``'s
    undotted names belong to (a block's own fields), else they are :data:`SHORT_NAMES`.
    """
    out = {}
    for option, text in getattr(args, "set", []):
        key, sep, raw = text.partition("=")
        key = key.strip()
        if option == "--param" and sep and "." not in key:
            key = f"{bare}.{key}" if bare else SHORT_NAMES.get(key, key)
        if not sep or not _NAME.fullmatch(key):
            hint = ("NAME=VALUE with a dotted NAME, e.g. crossbar.rows=64" if option != "--param" else
                    f"KEY=VALUE with KEY a field of {bare}" if bare else
                    f"KEY=VALUE with KEY one of {', '.join(sorted(SHORT_NAMES))} or SECTION.FIELD")
            raise UserError(f"{option} {shown(text)}: expected {hint}")
        check_name(key, groups, option)
        out[key] = (_comma_list(raw, key) if option == "--param" else None) or value(raw, key)
    return out


def check_name(key: str, groups: tuple[str, ...], option: str = "--set") -> None:
    """Raise a UserError unless the dotted ``key`` belongs to one of the name ``groups``."""
    if key.split(".")[0] not in {first for g in groups for first in GROUPS[g][0]}:
        raise UserError(f"{option} {shown(key)}: not a name this command takes; use "
                        + "; ".join(GROUPS[g][1] for g in groups))


def _comma_list(text: str, name: str):
    """``--param``'s ``6,6,5`` as a tuple of integers (None when ``text`` is not such a list)."""
    t = text.strip()
    if "," not in t or t.startswith("["):
        return None
    return tuple(integer(v, f"--param {name} item") for v in t.split(",") if v.strip())


def group(vals: dict, name: str) -> dict:
    """The values of one group, e.g. ``group(v, "hardware")`` -> ``{"crossbar.rows": 64}``."""
    firsts = GROUPS[name][0]
    return {k: v for k, v in vals.items() if k.split(".")[0] in firsts}


def configuration(args, vals: dict | None = None) -> HardwareConfig:
    """The configuration of ``--preset`` with the configuration fields among ``vals`` (default:
    the ``--set`` values, which must all be configuration fields) applied."""
    vals = values(args, ("hardware",)) if vals is None else vals
    return config.load(args.preset).with_overrides(group(vals, "hardware"))


def estimate_settings(vals: dict, **fields):
    """``EstimateSettings(**fields)`` with typed ``vals``: configuration fields go to the overrides
    of both presets, the other names (``cost.*``, ``gpu.*``, ...) to the estimate's own settings.
    Raises :class:`~crosstrain.rollup.mapper.SettingError` for an unknown name."""
    from crosstrain.rollup.estimate import EstimateSettings

    hardware = group(vals, "hardware")
    settings = EstimateSettings(overrides=tuple(hardware.items()), **fields)
    for key, v in vals.items():
        if key not in hardware:
            settings = settings.with_setting(key, v)
    return settings


def one_line(message: str, limit: int = 1000) -> str:
    """An error message as one line of at most ``limit`` characters, every quoted or unbroken
    run of input longer than :data:`~crosstrain.golden.userinput.SHOWN_CHARS` cut to it (the safety net for messages from layers
    that echo values whole)."""
    s = " ".join(str(message).split())
    quoted = r"(?<!\w)('[^']{%d,}'|\"[^\"]{%d,}\")(?!\w)" % (SHOWN_CHARS, SHOWN_CHARS)
    s = re.sub(quoted, lambda m: shown(m.group(0)[1:-1]), s)
    s = re.sub(r"\S{%d,}" % (2 * SHOWN_CHARS), lambda m: m.group(0)[:SHOWN_CHARS - 3] + "...", s)
    return s if len(s) <= limit else s[:limit - 3] + "..."
