"""Experiment files: the hardware, the network and every estimate setting in one TOML file.

``crosstrain estimate exp.toml`` reads::

    network = "vgg8-cifar10"          # --network: a built-in name or a file (relative to exp.toml)

    [hardware]
    base = "panther"                  # --preset: a preset or a configuration file
    baseline = "pipelayer"            # --baseline-preset
    crossbar.rows = 64                # --set crossbar.rows=64 (any --set name the estimate takes)
    gpu.compute_efficiency = 0.3

    [estimate]                        # the estimate's flags, by the flag's name with _ for -
    systems = ["gpu", "panther"]      # --systems (a list, or "all")
    batch = 64                        # --batch
    zero_skip = {forward = 0.5}       # --zero-skip forward=0.5 (a table)
    accuracy = "train.json"           # --accuracy FILE|measure|paper
    ...

    [measure]                         # how --accuracy measure trains (crosstrain.accuracy)
    network = "digits-cnn"
    epochs = 4

A flag given on the command line wins over the file, a ``--set`` name and an entry of a table
(``zero_skip``, ``write_elim``, ``accuracy_drop``) one by one. Every mistake in a file is one
line starting with ``FILE:LINE:COLUMN:`` (:class:`crosstrain.golden.userinput.TomlLocator`),
naming the key and what is allowed. :func:`to_toml` writes the fully resolved experiment (every
setting, files by absolute path), which the report folder keeps as ``experiment.toml``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

from crosstrain import accuracy, options
from crosstrain.errors import UserError
from crosstrain.golden import config
from crosstrain.golden.config import ConfigError
from crosstrain.golden.userinput import TomlLocator, load_toml, read_text, shown, shown_path
from crosstrain.rollup import network_files
from crosstrain.rollup.estimate import (
    ALL_SYSTEMS,
    BATCH_DEFAULT,
    DEFAULT_NETWORK,
    DEFAULT_SYSTEMS,
    MAX_BATCH,
    EstimateSettings,
    parse_system,
)
from crosstrain.rollup.gpu import GPUS, GpuSettings
from crosstrain.rollup.mapper import (
    CRS_SAMPLES_DEFAULT,
    MAX_CRS_SAMPLES,
    WRITE_ELIM_DEFAULT,
    ZERO_SKIP_DEFAULT,
    SettingError,
)
from crosstrain.rollup.networks import BUILTIN, GANS, NetworkError
from crosstrain.rollup.reg3d import ACCURACY_DROP_DEFAULT, MAPPINGS

GROUPS = ("hardware", "estimate")       # the --set names a file's [hardware] takes
MAX_REPLICATION = 1_000_000
ACCURACY_CHOICES = ("paper", "measure")  # or a crosstrain train --json file
TRAIN_NETWORKS = ("digits-cnn", "digits-mlp")   # crosstrain.experiments.train_networks.BUILTIN
CACHES = ("user", "cwd")
TABLES = ("zero_skip", "write_elim", "accuracy_drop")   # merged entry by entry

#: The fully resolved defaults: every key an experiment file may hold.
DEFAULTS = {
    "network": DEFAULT_NETWORK,
    "hardware": {"base": "panther", "baseline": "pipelayer", "set": {}},
    "estimate": {"systems": list(DEFAULT_SYSTEMS), "batch": BATCH_DEFAULT, "gpu": "rtx2080ti",
                 "gpu_precision": "fp32", "replication": "balanced", "pipeline": True,
                 "crs_samples": CRS_SAMPLES_DEFAULT, "zero_skip": dict(ZERO_SKIP_DEFAULT),
                 "write_elim": dict(WRITE_ELIM_DEFAULT), "accuracy_drop": {}, "accuracy": "paper"},
    "measure": {"network": "digits-cnn", "epochs": 4, "seeds": 3, "batch": 16,
                "learning_rate": 0.1, "cache": "user"},
}
#: [estimate] key -> the command-line flag it stands for (argparse dest: the key, but pipeline).
FLAGS = {"systems": "--systems", "batch": "--batch", "gpu": "--gpu", "gpu_precision": "--gpu-precision",
         "replication": "--replication", "pipeline": "--no-pipeline", "crs_samples": "--crs-samples",
         "zero_skip": "--zero-skip", "write_elim": "--write-elim", "accuracy_drop": "--accuracy-drop",
         "accuracy": "--accuracy"}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# --- values, the same checks for the file and the command line ------------------------------

def _int(v, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise UserError(f"{shown(v)}: an integer from {lo:,} to {hi:,}")
    return v


def _choice(v, choices) -> str:
    if v not in choices or not isinstance(v, str):
        raise UserError(f"{shown(v)}: one of {', '.join(choices)}")
    return v


def systems(v) -> list[str]:
    """A list of system names, a comma-separated string of them or ``"all"``."""
    if isinstance(v, str):
        v = list(ALL_SYSTEMS) if v.strip() == "all" else [s.strip() for s in v.split(",") if s.strip()]
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(s, str) for s in v):
        raise UserError(f"{shown(v)}: a list of system names or \"all\"")
    try:
        for s in v:
            parse_system(s)
    except SettingError as e:
        raise UserError(str(e)) from None
    return list(dict.fromkeys(v))


def drop_name(name: str) -> None:
    """A name an accuracy drop is given for: a system or a 3D-ReG mapping."""
    if name not in MAPPINGS:
        try:
            parse_system(name)
        except SettingError:
            raise UserError(f"unknown name {shown(name)}: use a system ({', '.join(ALL_SYSTEMS)}, "
                            f"+zs/+we variants) or a 3D-ReG mapping ({', '.join(MAPPINGS)})") from None


def _table(v, key: str) -> dict:
    if not isinstance(v, dict):
        raise UserError(f"{shown(v)}: a table of NAME = NUMBER, e.g. {{forward = 0.5}}")
    out = {}
    for name, x in v.items():
        if key == "accuracy_drop":
            drop_name(name)
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise UserError(f"{name} = {shown(x)}: a number")
        if key == "accuracy_drop" and not 0 <= x <= 100:
            raise UserError(f"{name} = {x!r}: between 0 and 100 percentage points")
        out[name] = float(x)
    return out


def check_estimate(key: str, v):
    """An [estimate] value checked and typed; UserError without a location."""
    if key == "systems":
        return systems(v)
    if key == "batch":
        return _int(v, 1, MAX_BATCH)
    if key == "gpu":
        return _choice(v, sorted(GPUS))
    if key == "gpu_precision":
        return _choice(v, ("fp32", "tensor"))
    if key == "replication":
        return v if v == "balanced" else _int(v, 1, MAX_REPLICATION)
    if key == "pipeline":
        if not isinstance(v, bool):
            raise UserError(f"{shown(v)}: true or false")
        return v
    if key == "crs_samples":
        return _int(v, 0, MAX_CRS_SAMPLES)
    if key in TABLES:
        out = _table(v, key)
        if key != "accuracy_drop":          # the mapper's own checks of the phase names
            settings({**DEFAULTS, "estimate": {**DEFAULTS["estimate"], key: out}})
        return out
    if key == "accuracy":
        if not isinstance(v, str) or not v.strip():
            raise UserError(f"{shown(v)}: {', '.join(ACCURACY_CHOICES)} or a crosstrain train --json file")
        return v
    raise KeyError(key)


def check_measure(key: str, v):
    if key == "network":
        return _choice(v, TRAIN_NETWORKS)
    if key == "epochs":
        return _int(v, 1, 1000)
    if key == "seeds":
        return _int(v, 1, 1000)
    if key == "batch":
        return _int(v, 1, 1 << 16)
    if key == "learning_rate":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1e6:
            raise UserError(f"{shown(v)}: a positive number")
        return float(v)
    if key == "cache":
        return _choice(v, CACHES)
    raise KeyError(key)


def settings(exp: dict, drops: dict | None = None, sources: dict | None = None) -> EstimateSettings:
    """The estimate's settings of the resolved experiment ``exp``; ``drops`` / ``sources``: the
    measured accuracy drops and their sources (crosstrain.accuracy), under the given ones."""
    e = exp["estimate"]
    given = e["accuracy_drop"]
    try:
        return options.estimate_settings(
            exp["hardware"]["set"], batch=e["batch"], preset=exp["hardware"]["base"],
            baseline_preset=exp["hardware"]["baseline"], gpu=e["gpu"],
            gpu_settings=GpuSettings(precision=e["gpu_precision"],
                                     bytes_per_value=2 if e["gpu_precision"] == "tensor" else 4),
            replication=e["replication"], pipeline=e["pipeline"], crs_samples=e["crs_samples"],
            zero_skip=tuple(sorted(e["zero_skip"].items())),
            write_elim=tuple(sorted(e["write_elim"].items())),
            accuracy_drop=tuple(sorted({**ACCURACY_DROP_DEFAULT, **(drops or {}), **given}.items())),
            accuracy_source=tuple(sorted({**(sources or {}), **{k: "given" for k in given}}.items())))
    except SettingError as err:
        raise UserError(str(err)) from None


# --- reading a file ------------------------------------------------------------------------

def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class _File:
    def __init__(self, path: Path):
        self.path, self.label = path, shown_path(path)
        self.text = read_text(path, UserError, "experiment file")
        self.data = load_toml(self.text, self.label, UserError)
        self.at = TomlLocator(self.text)

    def where(self, section: str | None, key: str, *, value: bool = True) -> str:
        """``FILE:LINE:COLUMN`` of ``key`` (dotted keys also as ``[section.head] last = ...``)."""
        hit = self.at.find(key, section)
        if not hit and "." in key:
            head, _, last = key.rpartition(".")
            hit = self.at.find(last, f"{section}.{head}" if section else head)
        if hit:
            return f"{self.label}:{hit[0]}:{hit[2] if value else hit[1]}"
        return f"{self.label}:{(self.at.table(section) if section else None) or '1:1'}"

    def fail(self, section, key, message: str, *, value: bool = True):
        raise UserError(f"{self.where(section, key, value=value)}: {message}") from None

    def unknown(self, section, key, allowed) -> None:
        inside = f" in [{section}]" if section else ""
        self.fail(section, key, f"unknown key {shown(key)}{inside}: use "
                                f"{', '.join(allowed)}", value=False)

    def relative(self, text: str, names) -> str:
        """A built-in name (or a word that is no file name) as it is, else a file path relative
        to the experiment file, made absolute."""
        if text in names or not (Path(text).suffix or "/" in text or os.sep in text):
            return text
        return str((self.path.parent / text).resolve())


def load(path: str | Path) -> dict:
    """The settings an experiment file gives, checked and typed (a partial resolved experiment:
    only the keys it holds)."""
    f = _File(Path(path))
    top = {"network": None, "hardware": dict, "estimate": dict, "measure": dict}
    out: dict = {}
    for key, v in f.data.items():
        if key not in top:
            f.unknown(None, key, ["network", "[hardware]", "[estimate]", "[measure]"])
        if top[key] is dict and not isinstance(v, dict):
            f.fail(None, key, f"{key} = {shown(v)}: a table, [{key}]")
    if "network" in f.data:
        v = f.data["network"]
        if not isinstance(v, str):
            f.fail(None, "network", f"network = {shown(v)}: a built-in network name or a file")
        out["network"] = f.relative(v, {**BUILTIN, **GANS})
        try:
            network_files.load_workload(out["network"])
        except NetworkError as e:
            f.fail(None, "network", str(e))
    if "hardware" in f.data:
        out["hardware"] = _hardware(f, f.data["hardware"])
    for section, check in (("estimate", check_estimate), ("measure", check_measure)):
        part = {}
        for key, v in f.data.get(section, {}).items():
            if key not in DEFAULTS[section]:
                f.unknown(section, key, list(DEFAULTS[section]))
            try:
                part[key] = check(key, v)
            except UserError as e:
                f.fail(section, key, f"{key} = {e}" if str(e).startswith(shown(v)) else f"{key}: {e}")
        if section == "estimate" and part.get("accuracy", "paper") not in ACCURACY_CHOICES:
            part["accuracy"] = f.relative(part["accuracy"], ())
            try:
                accuracy.read(part["accuracy"])
            except UserError as e:
                f.fail(section, "accuracy", f"accuracy: {e}")
        if part:
            out[section] = part
    return out


def _hardware(f: _File, table: dict) -> dict:
    out: dict = {"set": {}}
    for key in ("base", "baseline"):
        if key in table:
            v = table[key]
            if not isinstance(v, str):
                f.fail("hardware", key, f"{key} = {shown(v)}: a preset ({', '.join(config.presets())}) "
                                        "or a configuration file")
            out[key] = f.relative(v, config.presets())
            try:
                config.load(out[key])
            except ConfigError as e:
                f.fail("hardware", key, f"{key}: {e}")
    base = out.get("base", DEFAULTS["hardware"]["base"])
    for key, v in _flatten({k: v for k, v in table.items() if k not in ("base", "baseline")}).items():
        if "." not in key:
            f.unknown("hardware", key, ["base", "baseline", "or a --set name such as crossbar.rows"])
        try:
            options.check_name(key, GROUPS, "key")
            v = options.plain(v, key)
            if options.group({key: v}, "hardware"):
                config.load(base).with_overrides({key: v})
            else:
                EstimateSettings().with_setting(key, v)
        except (UserError, ConfigError, SettingError) as e:
            f.fail("hardware", key, str(e))
        out["set"][key] = v
    return out


# --- resolving: defaults, then the file, then the command line ----------------------------

def from_args(args) -> dict:
    """The settings the command line gives (flags left at their defaults give none)."""
    out: dict = {"hardware": {"set": options.values(args, GROUPS)}, "estimate": {}}
    if options.given(args.network):
        out["network"] = args.network
    for key, dest in (("base", "preset"), ("baseline", "baseline_preset")):
        if options.given(getattr(args, dest)):
            out["hardware"][key] = getattr(args, dest)
    e = out["estimate"]
    for key, flag in FLAGS.items():
        v = getattr(args, "no_pipeline" if key == "pipeline" else key, None)
        if not options.given(v) or v in ("", False):
            continue
        if key == "pipeline":
            e[key] = False
        elif key in TABLES:
            e[key] = pairs(v, flag, known=drop_name if key == "accuracy_drop" else None,
                           hi=100 if key == "accuracy_drop" else None)
        elif key == "systems":
            try:
                e[key] = systems(v)
            except UserError as err:
                raise UserError(f"--systems: {err}") from None
        else:
            e[key] = v
    return out


def pairs(text: str, option: str, *, known=None, hi=None) -> dict:
    """``NAME=NUMBER,...`` of a flag; ``known(name)`` (if given) raises for a bad name, ``hi``
    bounds the numbers (zero or positive, finite)."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, value = (t.strip() for t in item.partition("="))
        if not sep or not key:
            raise UserError(f"{option} {shown(item)}: expected NAME=NUMBER, e.g. forward=0.5")
        if known:
            try:
                known(key)
            except UserError as e:
                raise UserError(f"{option}: {e}") from None
        try:
            v = options.number(value, key)
        except UserError as e:
            raise UserError(f"{option} {e}, e.g. {key}=0.5") from None
        if hi is not None and not 0 <= v <= hi:
            raise UserError(f"{option} {key} = {v!r}: between 0 and {hi}")
        out[key] = v
    return out


def merge(*layers: dict) -> dict:
    """Later layers win, a ``--set`` name and an entry of :data:`TABLES` one by one."""
    out = copy.deepcopy(layers[0])
    for layer in layers[1:]:
        if "network" in layer:
            out["network"] = layer["network"]
        for section in ("hardware", "estimate", "measure"):
            for key, v in layer.get(section, {}).items():
                if key == "set" or key in TABLES:
                    out[section][key] = {**out[section][key], **v}
                else:
                    out[section][key] = v
    return out


def resolve(args, *, systems: list[str] | None = None) -> dict:
    """The fully resolved experiment of ``args``: :data:`DEFAULTS` (with the command's own
    default ``systems``, if given), the experiment file (``args.experiment``, if given) and the
    command line, in that order."""
    file = load(args.experiment) if getattr(args, "experiment", None) else {}
    own = {"estimate": {"systems": systems}} if systems else {}
    return merge(DEFAULTS, own, file, from_args(args))


# --- writing -------------------------------------------------------------------------------

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(int(v))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"not a TOML value: {v!r}")


def _absolute(v: str, names) -> str:
    """A built-in name as it is, a file by its absolute path."""
    return v if v in names else os.path.abspath(v)


def _key(k: str) -> str:
    return ".".join(p if _BARE_KEY.fullmatch(p) else json.dumps(p) for p in k.split("."))


def to_toml(exp: dict, command: str | None = None) -> str:
    """The resolved experiment ``exp`` as an experiment file (``crosstrain estimate FILE``
    reproduces the run)."""
    lines = ["# The fully resolved experiment of one crosstrain estimate run; "
             "`crosstrain estimate experiment.toml` repeats it."]
    if command:
        lines.append(f"# Produced by: {' '.join(command.splitlines())}")
    lines += [f"network = {_toml_value(_absolute(exp['network'], {**BUILTIN, **GANS}))}", "", "[hardware]"]
    hw = exp["hardware"]
    lines += [f"{k} = {_toml_value(_absolute(hw[k], config.presets()))}" for k in ("base", "baseline")]
    lines += [f"{_key(k)} = {_toml_value(v)}" for k, v in sorted(hw["set"].items())]
    for section in ("estimate", "measure"):
        lines += ["", f"[{section}]"]
        values = dict(exp[section])
        if section == "estimate":
            values["accuracy"] = _absolute(values["accuracy"], ACCURACY_CHOICES)
        lines += [f"{k} = {_toml_value(values[k])}" for k in DEFAULTS[section]]
    return "\n".join(lines) + "\n"
