"""A seeded corpus of malformed inputs: every case ends in exit 0 with finite output or exit 2
with one error line, within a time and a memory bound.

Each case is generated from its seed alone (``random.Random(seed)``): a command line and the
files it reads, over the surfaces a hostile user reaches — configuration TOML files
(``config show``, ``estimate --preset``), network files (CSV, NeuroSim CSV, TOML through
``estimate --network``), ``estimate --set`` / ``--setting`` values, ``deconv --layer``,
``writes`` flags and ``verilog BLOCK --param``. The default suite runs seeds 0 .. 1199 in-process
(``crosstrain.cli.main``, output captured, a SIGALRM time limit and an RLIMIT_DATA memory limit
around each case) and a few of them again in a subprocess with a hard memory limit and a
timeout. A larger corpus: ``CROSSTRAIN_FUZZ_CASES=20000 pytest tests/test_fuzz.py`` (and
``CROSSTRAIN_FUZZ_START`` for the first seed). One case by hand: ``python tests/test_fuzz.py SEED``.

The contract checked (issue 10): exit 0 with non-empty output, strict JSON under ``--json``
(no NaN / Infinity) and no ``nan`` / ``inf`` in a table; or exit 2 with exactly one line on
stderr (after argparse's usage lines, which argparse prints before its one error line) of at
most :data:`MAX_LINE` characters; never a traceback, another exit code, a hang or a blow-up.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crosstrain.output import strict_loads

CASES = int(os.environ.get("CROSSTRAIN_FUZZ_CASES", "1200"))
START = int(os.environ.get("CROSSTRAIN_FUZZ_START", "0"))
SECONDS = 30                  # per case, in-process (the slowest valid cases take ~2 s alone)
EXTRA_BYTES = 1536 << 20      # data memory a case may add in-process (RLIMIT_DATA)
SUBPROCESS_EVERY = 100        # every 100th seed also runs in a subprocess ...
SUBPROCESS_BYTES = 3 << 30    # ... under this RLIMIT_DATA ...
SUBPROCESS_SECONDS = 180      # ... and this timeout
MAX_LINE = 1000               # characters of the one error line

# ---- value pools ---------------------------------------------------------------------------------

HUGE = "9" * 400
HUGER = "9" * 5000            # past Python's 4,300-digit int-string limit
NUMBERS = ["0", "-1", "1", "2", "3", "7", "8", "16", "64", "128", "4096", "65537", "1000000000",
           "2147483648", "9223372036854775808", "-9223372036854775809", HUGE, HUGER, "-" + HUGE,
           "1.5", "0.5", "1e-300", "5e-324", "1e300", "1e308", "-1e308", "1e999", "0.0", "-0.0"]
TOML_ONLY = ["inf", "-inf", "+inf", "nan", "-nan", "true", "false", '"x"', '""', '"٣"', "[]",
             "[1, 2]", "[[1], [2]]", "{a = 1}", "{}", "1979-05-27", "07:32:00", "0x7f", "0o17",
             "0b101", "1_000", '"' + "a" * 200_000 + '"', "[" * 3000 + "]" * 3000,
             "{a=" * 1500 + "1" + "}" * 1500]
CLI_ONLY = ["inf", "-inf", "nan", "NaN", "Infinity", "٣", "²", "１２", "{a=1}", "[1,[2]]", "[]",
            "true", "''", "", " ", "1_000", "0x10", "1e3", "x", "-", "+", "1,2", "a" * 200_000,
            "\u202e1", "\x00", "3 4", "--"]


def value_class(v: str) -> str:
    """The kind of a malformed value, part of a case's family."""
    t = v.strip().lstrip("+-")
    if t.isdigit() and t.isascii() and len(t) > 4300:
        return "digits-5000"
    if v.startswith("{") or v.startswith("[") and "[" in v[1:]:
        return "table" if v.startswith("{") else "nested-list"
    if len(v) > 100:
        return "long"
    if not v.isascii():
        return "nonascii"
    if t.lower() in ("nan", "inf", "infinity", "1e999"):
        return "nonfinite"
    try:
        if abs(float(t)) >= 64:
            return "large"
    except ValueError:
        pass
    return "plain"


def toml_value(r: random.Random) -> str:
    return r.choice(NUMBERS + TOML_ONLY + [str(r.randint(-5, 300)), f"{r.uniform(-10, 1e4):.6g}"])


def cli_value(r: random.Random) -> str:
    return r.choice(NUMBERS + CLI_ONLY + [str(r.randint(-5, 300)), f"{r.uniform(-10, 1e4):.6g}"])


# every configuration field (section, name, a valid value)
CONFIG_FIELDS = [
    ("device", "bits_per_cell", "2"), ("device", "g_on_us", "500.0"), ("device", "g_off_us", "0.5"),
    ("device", "read_voltage_v", "0.25"), ("device", "write_latency_ns", "50.0"),
    ("device", "write_energy_pj", "1.38"), ("device", "endurance_cycles", "1e9"),
    ("crossbar", "rows", "64"), ("crossbar", "cols", "64"), ("crossbar", "encoding", '"differential"'),
    ("crossbar", "read_latency_ns", "100.0"), ("converters", "dac_bits", "2"),
    ("converters", "adc_bits", "10"), ("converters", "adc_lsb", "1.0"),
    ("converters", "adc_mode", '"clip"'), ("converters", "adcs_per_array", "4"),
    ("converters", "adc_energy_pj", "1.56"), ("converters", "adc_area_um2", "1200.0"),
    ("converters", "adc_leakage_mw", "0.1"), ("converters", "dac_energy_pj", "0.39"),
    ("converters", "dac_area_um2", "0.17"), ("precision", "weight_bits", "16"),
    ("precision", "weight_frac_bits", "12"), ("precision", "input_bits", "16"),
    ("precision", "error_bits", "16"), ("precision", "update_slices", "16"),
    ("precision", "update_slice_bits", "[6]"), ("precision", "opa_shift", "0"),
    ("crossbar", "array_area_um2", "25.0"),
    ("tile", "clock_ghz", "1.0"), ("tile", "arrays_per_tile", "64"), ("tile", "cores_per_tile", "8"),
    ("tile", "shift_add_energy_pj", "0.05"), ("tile", "opa_phase_ns", "20.0"),
    ("tile", "opa_step_energy_pj", "88.8"), ("tile", "mvm_step_energy_pj", "309.0"),
    ("tile", "array_read_energy_pj", "0.0"), ("tile", "edram_access_ns", "2.0"),
    ("tile", "edram_kb", "64"), ("tile", "noc_latency_ns", "31.0"),
    ("tile", "noc_bandwidth_gbps", "32.0"), ("tile", "accounting", '"reference"'),
    ("tile", "reference_stages", "2"), ("tile", "pipeline_cycles", "2"), ("nonideal", "seed", "3"), ("nonideal", "program_sigma", "0.01"),
    ("nonideal", "read_sigma", "0.01"), ("nonideal", "d2d_sigma", "0.1"),
    ("nonideal", "c2c_sigma", "0.01"), ("nonideal", "stuck_on_fraction", "0.01"),
    ("nonideal", "stuck_off_fraction", "0.01"), ("nonideal", "update_levels", "32"),
    ("nonideal", "ltp_nonlinearity", "1.75"), ("nonideal", "ltd_nonlinearity", "1.46"),
]
SETTINGS = ["cost.serial_read_row_pj", "mapper.crs_samples", "cost.opa_endurance", "cost.duty",
            "gpu.precision", "gpu.compute_efficiency", "gpu.bandwidth_efficiency",
            "gpu.kernel_overhead_s", "gpu.bytes_per_value", "reg3d.dram_core_pj_per_bit",
            "reg3d.reram_read_pj_per_bit", "reg3d.gpu_idle_fraction", "link.2d.bandwidth_gbs",
            "link.tsv.bandwidth_gbs", "link.miv.latency_ns", "link.tsv.pj_per_bit",
            "mapper.acc_bits", "mapper.opa_writes_per_cell", "link.tsv.name", "cost.links",
            "gpu", "link.wifi.pj_per_bit", "mapper.batch"]
SYSTEMS = ["gpu", "panther", "pipelayer", "digital", "panther+zs+we", "pipelayer+we",
           "3d-reg-tsv-aggressive", "3d-reg-miv-conservative", "gpu-reram-tsv", "gpu-dram-miv"]
PRESETS = ["panther", "pipelayer", "isaac", "puma", "panther-sim"]


@dataclass
class Case:
    seed: int
    family: str                               # surface:mutation
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)

    def describe(self) -> str:
        shown = [a if len(a) <= 200 else a[:200] + f"…({len(a)} chars)" for a in self.argv]
        text = f"seed {self.seed} ({self.family}): crosstrain {' '.join(map(repr, shown))}"
        for name, data in self.files.items():
            head = data[:400] + (b"..." if len(data) > 400 else b"")
            text += f"\n  file {name} ({len(data)} bytes): {head!r}"
        return text + f"\n  reproduce: python tests/test_fuzz.py {self.seed}"


# ---- generators ----------------------------------------------------------------------------------

def _config_text(r: random.Random) -> tuple[str, list[tuple[str, str, str]]]:
    """A valid configuration file (a preset base and a few overrides) as lines of fields."""
    picked = r.sample([f for f in CONFIG_FIELDS if f[0] != "nonideal"], r.randint(0, 3))
    return f'base = "{r.choice(PRESETS)}"\n', picked


def _render(head: str, picked) -> str:
    sections: dict[str, list[str]] = {}
    for section, name, value in picked:
        sections.setdefault(section, []).append(f"{name} = {value}")
    return head + "".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items())


def gen_config(r: random.Random) -> tuple[str, dict[str, bytes]]:
    """(family, files) of a malformed configuration file ``c.toml``."""
    head, picked = _config_text(r)
    kind = r.choice(["value", "value", "value", "value", "type", "structure", "bytes", "base",
                     "base", "name", "boundary"])
    files = {}
    if kind == "boundary":              # valid extremes: the output must stay finite
        from crosstrain.golden.config import RANGES

        picked, part = [], ""
        for path in r.sample(sorted(RANGES), r.randint(1, 5)):
            value = r.choice(RANGES[path])
            if path.startswith("parts."):                      # one [[parts]] entry of its own
                part += f"{path.split('.')[1]} = {value!r}\n"
                continue
            picked.append((*path.split("."), f"[{value}]" if path.endswith("slice_bits") else repr(value)))
        text = _render(head, picked) + (f'[[parts]]\nname = "fuzz"\n{part}' if part else "")
        mutation = kind
    elif kind in ("value", "type"):
        section, name, _ = r.choice(CONFIG_FIELDS)
        value = toml_value(r) if kind == "value" else r.choice(TOML_ONLY)
        picked = [p for p in picked if p[:2] != (section, name)] + [(section, name, value)]
        if r.random() < 0.2:                                   # dotted or inline form
            text = head + (f"{section}.{name} = {value}\n" if r.random() < 0.5
                           else f"{section} = {{ {name} = {value} }}\n")
        else:
            text = _render(head, picked)
        mutation = kind
    elif kind == "structure":
        mutation, text = r.choice([
            ("unknown-section", _render(head, picked) + "[colour]\nred = 1\n"),
            ("unknown-field", _render(head, picked + [("tile", "colour", "1")])),
            ("section-value", head + "tile = 3\n"),
            ("duplicate", _render(head, picked) + "[tile]\nclock_ghz = 1.0\n[tile]\nclock_ghz = 2.0\n"),
            ("truncated", _render(head, picked + [("crossbar", "rows", "64")])[:-4]),
            ("empty", ""),
            ("syntax", head + "[crossbar\nrows = 1\n"),
            ("syntax", head + "[crossbar]\nrows = = 1\n"),
            ("syntax", head + "[crossbar]\nrows 1\n"),
            ("syntax", head + '[crossbar]\nencoding = "offset\n'),
            ("deep", "x = " + "[" * r.choice([200, 1000, 5000]) + "]" * 20),
            ("deep-table", "".join(f"[{'a.' * n}b]\n" for n in (1, 500)) + "x = 1\n"),
            ("long-line", head + "# " + "x" * 500_000 + "\n"),
            ("many-keys", head + "[tile]\n" + "".join(f"k{i} = {i}\n" for i in range(5000))),
        ])
    elif kind == "bytes":
        data = _render(head, picked + [("crossbar", "rows", "64")]).encode()
        mutation, make = r.choice([
            ("non-utf8", lambda: data.replace(b"64", b"\xff\xfe")),
            ("nul", lambda: data.replace(b"64", b"6\x004")),
            ("bom", lambda: b"\xef\xbb\xbf" + data),
            ("crlf", lambda: data.replace(b"\n", b"\r\n")),
            ("control", lambda: data.replace(b"rows", b"ro\x1bws")),
            ("flip", lambda: bytes(b ^ (1 << r.randrange(8)) if r.random() < 0.02 else b for b in data)),
            ("random", lambda: bytes(r.randrange(256) for _ in range(r.randint(1, 300)))),
            ("big", lambda: data + b"#" * (17 << 20)),
        ])
        return "config:bytes-" + mutation, {"c.toml": make()}
    elif kind == "base":
        mutation, base = r.choice([
            ("missing", '"nosuch.toml"'), ("not-toml", '"nosuch"'), ("int", "3"), ("list", '["panther"]'),
            ("empty", '""'), ("dir", '"."'), ("self", '"c.toml"'), ("dotted-loop", '"sub/../c.toml"'),
            ("nul", '"a\\u0000.toml"'), ("long", '"' + "a" * 5000 + '.toml"'), ("chain", None),
            ("loop2", '"d.toml"'), ("absolute", '"/nonexistent/x.toml"'),
        ])
        if mutation == "chain":
            n = r.choice([2, 5, 16, 17, 40, 1500])
            for i in range(1, n):
                files[f"k{i}.toml"] = (f'base = "k{i + 1}.toml"\n' if i < n - 1 else 'base = "panther"\n').encode()
            base = '"k1.toml"'
            mutation = f"chain-{'ok' if n <= 16 else 'long'}"
        if mutation == "loop2":
            files["d.toml"] = b'base = "./sub/../c.toml"\n'
        if mutation == "dotted-loop":
            files["sub/.keep"] = b""
        text = f"base = {base}\n" + _render("", picked)
    else:
        mutation, text = r.choice([
            ("long", 'name = "' + "n" * 5000 + '"\nbase = "panther"\n'),
            ("control", 'name = "a\\nb"\nbase = "panther"\n'),
            ("empty", 'name = ""\nbase = "panther"\n'),
            ("int", 'name = 3\nbase = "panther"\n'),
        ])
    files["c.toml"] = text.encode()
    return f"config:{mutation}", files


def case_config(r: random.Random, seed: int) -> Case:
    family, files = gen_config(r)
    if family == "config:boundary":
        argv = ["estimate", "--preset", "c.toml", "--network",
                r.choice(["mlp-512", "vgg8-cifar10", "dcgan-generator"]), "--systems", "all", "--no-report"]
    elif r.random() < 0.5:
        argv = ["config", "show", "c.toml"]
    else:
        argv = ["estimate", "--preset", "c.toml", "--network", "mlp-512", "--systems",
                ",".join(r.sample(SYSTEMS, 2)), "--no-report"]
    if r.random() < 0.7:
        argv.append("--json")
    return Case(seed, family, argv, files)


CSV_HEADER = ["name", "type", "in_ch", "in_h", "in_w", "out_ch", "kernel", "stride", "padding",
              "output_padding", "from"]
CSV_ROWS = [
    ["c1", "conv", "3", "16", "16", "8", "3", "1", "1", "", ""],
    ["p1", "pool", "", "", "", "", "2", "", "", "", ""],
    ["c2", "conv", "", "", "", "8", "3", "1", "1", "", ""],
    ["s", "add", "", "", "", "", "", "", "", "", "p1"],
    ["u", "tconv", "", "", "", "4", "4", "2", "1", "", ""],
    ["f", "fc", "", "", "", "10", "", "", "", "", ""],
]
NEUROSIM = [[16, 16, 3, 3, 3, 16, 0, 1], [16, 16, 16, 3, 3, 16, 1, 1], [1, 1, 1024, 1, 1, 10, 0, 1]]
TOML_NET = ['name = "n"', "input = [3, 16, 16]", "", "[[layer]]", 'type = "conv"', "out_ch = 8",
            "kernel = 3", "padding = 1", "", "[[layer]]", 'type = "pool"', "kernel = 2", "",
            "[[layer]]", 'type = "tconv"', "out_ch = 4", "kernel = 4", "stride = 2", "padding = 1",
            "", "[[layer]]", 'type = "fc"', "out_ch = 10"]
SIZES = ["1048576", "1048577", "1000000000", "4096", "100000", "1025", "1024", "0", "-1", HUGE, HUGER]


def gen_network(r: random.Random) -> tuple[str, str, bytes]:
    """(mutation, file name, content) of a malformed network file."""
    fmt = r.choice(["csv", "csv", "neurosim", "toml", "toml"])
    if fmt == "csv":
        rows = [list(row) for row in CSV_ROWS[:r.randint(1, len(CSV_ROWS))]]
        header = list(CSV_HEADER)
        kind = r.choice(["cell", "cell", "cell", "size", "size", "shape", "header", "row", "bytes"])
        i = r.randrange(len(rows))
        if kind == "cell":
            j = r.randrange(2, len(header))
            rows[i][j] = cli_value(r)
        elif kind == "size":
            j = r.choice([2, 3, 4, 5, 6, 7, 8])
            rows[0][j] = r.choice(SIZES)
            if r.random() < 0.5:
                rows[0][3 if j != 3 else 4] = r.choice(SIZES)
        elif kind == "shape":
            kind, patch = r.choice([
                ("pad-far", {8: "1000", 6: "3"}), ("pad-edge", {8: "2", 6: "3"}),
                ("kernel-big", {6: "64"}), ("stride-0", {7: "0"}), ("stride-big", {7: "1000000"}),
                ("from-unknown", {10: "nosuch"}), ("from-self", {10: rows[i][0]}),
                ("type", {1: r.choice(["lstm", "", "CONV", "conv ", "Pool"])}),
                ("name-long", {0: "n" * 5000}), ("name-dup", {0: "c1"}), ("name-ctl", {0: "a\tb"}),
                ("op", {9: r.choice(["1", "2", "7"])}),
            ])
            for j, v in patch.items():
                rows[i][j] = v
        elif kind == "header":
            kind, header = r.choice([
                ("dup-column", header[:-1] + ["type"]), ("unknown-column", header + ["colour"]),
                ("no-type", [h for h in header if h != "type"]), ("upper", [h.upper() for h in header]),
                ("short", header[:4]),
            ])
        elif kind == "row":
            kind = r.choice(["extra", "short", "quoted", "field-limit", "empty-row"])
            rows[i] = (rows[i] + ["x", "y"] if kind == "extra" else rows[i][:3] if kind == "short"
                       else ['"' + c + '"' for c in rows[i]] if kind == "quoted"
                       else rows[i][:6] + ["1" * 140_000] + rows[i][7:] if kind == "field-limit"
                       else [])
        text = "\n".join(",".join(row) for row in [header] + rows) + "\n"
        data = text.encode()
        if kind == "bytes":
            kind, data = r.choice([("non-utf8", data.replace(b"conv", b"c\xffnv", 1)),
                                   ("nul", data.replace(b",", b"\x00,", 1)), ("bom", b"\xef\xbb\xbf" + data),
                                   ("crlf", data.replace(b"\n", b"\r\n")), ("cr", data.replace(b"\n", b"\r"))])
        return f"csv-{kind}", "n.csv", data
    if fmt == "neurosim":
        rows = [list(map(str, row)) for row in NEUROSIM[:r.randint(1, 3)]]
        i = r.randrange(len(rows))
        kind = r.choice(["value", "value", "size", "extra", "short", "stride-0", "pool", "square"])
        if kind == "value":
            rows[i][r.randrange(8)] = cli_value(r)
        elif kind == "size":
            rows[i][r.choice([0, 1, 2, 5])] = r.choice(SIZES)
        elif kind == "extra":
            rows[i].append(r.choice(["0", "1", "x"]))
        elif kind == "short":
            rows[i] = rows[i][:r.randint(1, 7)]
        elif kind == "stride-0":
            rows[i][7] = "0"
        elif kind == "pool":
            rows[i][6] = r.choice(["2", "-1"])
        else:
            rows[i][4] = "5"
        return f"neurosim-{kind}", "n.csv", ("\n".join(",".join(row) for row in rows) + "\n").encode()
    lines = list(TOML_NET)
    kind = r.choice(["value", "value", "value", "size", "input", "key", "syntax", "deep", "bytes"])
    if kind == "value":
        idx = [k for k, l in enumerate(lines) if "=" in l and not l.startswith(("name", "type"))]
        k = r.choice(idx)
        lines[k] = lines[k].split("=")[0] + "= " + toml_value(r)
    elif kind == "size":
        k = r.choice([k for k, l in enumerate(lines) if l.startswith(("out_ch", "kernel", "stride", "padding"))])
        lines[k] = lines[k].split("=")[0] + "= " + r.choice(SIZES)
    elif kind == "input":
        lines[1] = "input = " + r.choice(["[3, 16]", "[3, 16, 16, 1]", "3", '"x"', "[0, 16, 16]",
                                          f"[3, {HUGE}, 16]", "[3, 1048577, 16]", "[3, 1048576, 1048576]",
                                          "[3.0, 16, 16]", "[]", "{a = 1}"])
    elif kind == "key":
        lines.insert(r.choice([2, 5]), r.choice(["colour = 1", "layer = 3", 'from = "input"', "name = 5"]))
    elif kind == "syntax":
        lines.insert(r.randrange(len(lines)), r.choice(["[[layer]", "x = ", "= 1", "[[layer]]\n[[layer]"]))
    elif kind == "deep":
        lines.append("x = " + "[" * 4000)
    text = "\n".join(lines) + "\n"
    data = text.encode()
    if kind == "bytes":
        data = data.replace(b"conv", b"c\xc3\x28nv", 1)
    return f"toml-{kind}", "n.toml", data


def case_network(r: random.Random, seed: int) -> Case:
    mutation, name, data = gen_network(r)
    argv = ["estimate", "--network", name, "--systems", ",".join(r.sample(SYSTEMS, r.randint(1, 3))),
            "--no-report"]
    if r.random() < 0.7:
        argv.append("--json")
    return Case(seed, f"network:{mutation}", argv, {name: data})


def case_set(r: random.Random, seed: int) -> Case:
    argv = ["estimate", "--network", r.choice(["mlp-512", "dcgan-generator", "vgg8-cifar10"]),
            "--systems", ",".join(r.sample(SYSTEMS, r.randint(1, 3))), "--no-report"]
    kind = r.choice(["set", "set", "setting", "setting", "flag"])
    if kind == "set":
        section, name, _ = r.choice(CONFIG_FIELDS)
        value = r.choice([toml_value(r), cli_value(r)])
        argv += ["--set", f"{section}.{name}={value}"]
        family = "set:" + value_class(value)
    elif kind == "setting":
        value = cli_value(r)
        argv += ["--setting", f"{r.choice(SETTINGS)}={value}"]
        family = "setting:" + value_class(value)
    else:
        flag = r.choice(["--batch", "--replication", "--crs-samples", "--zero-skip", "--write-elim",
                         "--accuracy-drop"])
        value = cli_value(r)
        family = f"flag:{flag[2:]}-{value_class(value)}"
        if flag in ("--zero-skip", "--write-elim", "--accuracy-drop"):
            key = r.choice({"--zero-skip": ["forward", "gradient", "update"],
                            "--write-elim": ["writes", "crs", "forward"],
                            "--accuracy-drop": ["panther", "aggressive", "pantherr"]}[flag])
            value = f"{key}={value}"
        argv += [flag, value]
    if r.random() < 0.7:
        argv.append("--json")
    return Case(seed, family, argv)


LAYER_KEYS = ["in_channels", "out_channels", "kernel", "stride", "padding", "output_padding",
              "height", "width", "output_size"]
LAYER_OK = {"in_channels": "4", "out_channels": "3", "kernel": "4", "stride": "2", "padding": "1",
            "height": "4", "width": "4"}


def case_deconv(r: random.Random, seed: int) -> Case:
    spec = dict(LAYER_OK)
    kind = r.choices(["value", "size", "key", "empty", "output_size"], weights=[40, 20, 10, 1, 10])[0]
    if kind == "value":
        value = cli_value(r)
        spec[r.choice(LAYER_KEYS[:-1])] = value
        kind = "value-" + value_class(value)
    elif kind == "size":
        value = r.choice(SIZES)
        spec[r.choice(["height", "width", "in_channels", "kernel", "stride"])] = value
        kind = "size-" + value_class(value)
    elif kind == "key":
        spec[r.choice(["colour", "", "KERNEL"])] = "1"
    elif kind == "output_size":
        spec.pop("padding")
        spec["output_size"] = r.choice(["8x8", "8", "8x8x8", "x", f"{HUGE}x8", "0x0", "9x9"])
    text = "" if kind == "empty" else ",".join(f"{k}={v}" if k else v for k, v in spec.items())
    argv = ["deconv", "--layer", text, "--config", r.choice(PRESETS)]
    if r.random() < 0.7:
        argv.append("--json")
    return Case(seed, f"deconv:{kind}", argv)


def case_writes(r: random.Random, seed: int) -> Case:
    """One malformed flag (checked before training starts) among otherwise valid ones."""
    flag = r.choice(["--seed", "--epochs", "--duty", "--policy", "--network", "--config"])
    if flag == "--seed":                 # a valid seed trains: the malformed ones only
        value = r.choice(["-1", "-" + HUGE, HUGER, "x", "1.5", "١"])
        family = "writes:seed-" + ("negative" if value.startswith("-") else value_class(value))
    elif flag == "--epochs":
        value = r.choice(["0", "-1", "x", HUGER, "1e3", "2.5", "٣"])
        family = "writes:epochs-" + value_class(value)
    elif flag == "--duty":
        value = r.choice(["0", "-1", "2", "nan", "inf", "-inf", "x", HUGER])
        family = "writes:duty-" + value_class(value)
    elif flag == "--policy":
        value = r.choice(["nosuch", "name=a", "phases=colour", "phases=errors,threshold=nan",
                          "phases=errors,threshold=-1", "phases=errors,threshold=" + HUGER,
                          "phases=errors,row_group=0", "phases=errors,row_group=" + HUGE,
                          "phases=errors,granularity=galaxy", "phases=errors,relative=maybe",
                          "phases=errors+errors", "=", ",", "name=a b,phases=errors",
                          "phases=errors,compare=x", "phases=errors,relative=true,threshold=2"])
        family = "writes:policy"
    elif flag == "--network":
        value = r.choice(["nosuch", "n.csv", "absent.toml", ""])
        family = "writes:network"
    else:
        value = r.choice(["nosuch", "c.toml"])
        family = "writes:config"
    argv = ["writes", "--epochs", "1", flag, value]
    files = {}
    if value == "n.csv":
        files["n.csv"] = b"type,in_ch\nconv,3\n"           # no out_ch: rejected before training
    if value == "c.toml":
        files["c.toml"] = b'base = "pipelayer"\n[precision]\nerror_bits = 20\n'
    if r.random() < 0.5:
        argv.append("--json")
    return Case(seed, family, argv, files)


PERIPHERY_KEYS = ["rows", "cols", "adc_bits", "dac_bits", "adcs_per_array", "bits_per_cell",
                  "weight_bits", "input_bits", "update_slices", "update_slice_bits", "opa_shift",
                  "pipeline_cycles", "clock_ghz", "read_latency_ns", "out_width", "encoding",
                  "adc_mode", "crossbar.rows", "converters.adc_leakage_mw", "nonideal.seed", "colour"]
BLOCKS = ["shift_add", "input_streamer", "adc_sequencer", "mvm_unit", "opa_driver", "crs_compose",
          "crs_unit", "crossbar_unit"]


def case_verilog(r: random.Random, seed: int) -> Case:
    """One malformed parameter per case (a valid export takes seconds)."""
    kind = r.choice(["periphery", "periphery", "periphery", "comparator", "convt", "block", "pair"])
    if kind == "periphery":
        block = r.choice(BLOCKS)
        key = r.choice(PERIPHERY_KEYS)
        value = r.choice(["0", "-1", "x", "nan", "inf", "1e308", HUGE, HUGER, "٣", "1,,2", "2,x",
                          "'", "", "1e-320", "100000", "4096"])
        argv = ["verilog", block, "--param", f"{key}={value}"]
        kind += f"-{key}-{value_class(value)}"
    elif kind == "comparator":
        value = r.choice(['0', '-1', 'x', HUGE, HUGER, 'nan', '1.5'])
        argv = ["verilog", "write_elim", "--param",
                f"{r.choice(['lanes', 'width', 'count_width', 'group_bits', 'colour'])}={value}"]
        kind += "-" + value_class(value)
    elif kind == "convt":
        value = r.choice(['0', '-1', 'x', HUGE, HUGER, '1000000000', '1.5'])
        argv = ["verilog", "deconv_addr", "--param",
                f"{r.choice(['in_channels', 'kernel', 'stride', 'padding', 'height', 'output_padding'])}={value}"]
        kind += "-" + value_class(value)
    elif kind == "block":
        argv = ["verilog", r.choice(["nosuch", "", "MVM_UNIT", "../x"])]
    else:
        argv = ["verilog", r.choice(BLOCKS), "--param", r.choice(["rows", "=3", "", "rows==3", "a=b=c"])]
    if r.random() < 0.3:
        argv += ["--preset", r.choice(["nosuch", "c.toml"])]
    files = {"c.toml": b"[crossbar]\nrows = -4\n"} if "c.toml" in argv else {}
    return Case(seed, f"verilog:{kind}", argv, files)


SURFACES = [(case_config, 26), (case_network, 30), (case_set, 22), (case_deconv, 9),
            (case_writes, 5), (case_verilog, 8)]


def generate(seed: int) -> Case:
    r = random.Random(seed)
    make = r.choices([f for f, _ in SURFACES], weights=[w for _, w in SURFACES])[0]
    return make(r, seed)


# ---- running a case ------------------------------------------------------------------------------

class CaseTimeout(Exception):
    """Raised by SIGALRM in a case that runs too long."""


def _on_alarm(signum, frame):
    raise CaseTimeout(f"still running after {SECONDS} s")


def _data_bytes() -> int:
    """The process's data size (private writable memory: what RLIMIT_DATA limits)."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmData:"))
    return kb << 10


@contextlib.contextmanager
def bounded():
    """SIGALRM after :data:`SECONDS`; RLIMIT_DATA at the current size plus :data:`EXTRA_BYTES`.
    (RLIMIT_DATA, not RLIMIT_AS: the WebAssembly Yosys behind the Verilog export reserves
    address space by the gigabyte without using it.)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = _data_bytes() + EXTRA_BYTES
    limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def write_files(case: Case, folder: Path) -> None:
    for name, data in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def run_in_process(case: Case, folder: Path) -> tuple[int | str, str, str]:
    """(exit code or the escaping exception, stdout, stderr) of ``crosstrain.cli.main(argv)``."""
    from crosstrain.cli import main

    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with bounded(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(case.argv))
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
            except Exception as e:                      # every escape is a finding
                rc = f"{type(e).__name__}: {str(e)[:300]}"
            if case.argv[0] == "verilog":
                gc.collect()    # Amaranth warns of dropped elaboratables when they are collected
    finally:
        os.chdir(cwd)
    return rc, out.getvalue(), err.getvalue()


_USAGE = re.compile(r"\Ausage: .*?\n(?=crosstrain[^\n]*?: error: )", re.S)
_NONFINITE = re.compile(r"(?<![\w.])[-+]?(nan|inf|infinity)(?![\w])", re.I)


def verdict(case: Case, rc, out: str, err: str) -> str | None:
    """None when the case kept the contract, else what broke."""
    if not isinstance(rc, int):
        return f"escaped: {rc}"
    if rc == 0:
        if not out.strip():
            return "exit 0 without output"
        if "--json" in case.argv:
            try:
                strict_loads(out)
            except ValueError as e:
                return f"exit 0, stdout is not strict JSON: {str(e)[:200]}"
        elif case.argv[0] != "verilog" and _NONFINITE.search(out):
            return f"exit 0 with a non-finite number in the table: {_NONFINITE.search(out).group(0)!r}"
        return None
    if rc != 2:
        return f"exit {rc}; stderr: {err[-300:]!r}"
    lines = _USAGE.sub("", err).strip().splitlines()
    if len(lines) != 1:
        return f"exit 2 with {len(lines)} lines on stderr: {err[:600]!r}"
    if len(lines[0]) > MAX_LINE:
        return f"exit 2 with a {len(lines[0])}-character line: {lines[0][:300]!r}"
    if "Traceback" in err:
        return f"traceback: {err[:300]!r}"
    return None


# ---- the tests -----------------------------------------------------------------------------------

def _params(seeds):
    out = []
    for seed in seeds:
        out.append(pytest.param(seed, id=f"{seed}-{generate(seed).family}"))
    return out


@pytest.mark.parametrize("seed", _params(range(START, START + CASES)))
def test_case_keeps_the_contract(seed, tmp_path):
    case = generate(seed)
    write_files(case, tmp_path)
    rc, out, err = run_in_process(case, tmp_path)
    broke = verdict(case, rc, out, err)
    assert broke is None, f"{broke}\n{case.describe()}"


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_DATA, (SUBPROCESS_BYTES, SUBPROCESS_BYTES))


@pytest.mark.parametrize("seed", _params(range(START, START + CASES, SUBPROCESS_EVERY)))
def test_case_in_a_subprocess(seed, tmp_path):
    """The same contract under a hard memory limit and a timeout, as a user runs the command."""
    case = generate(seed)
    write_files(case, tmp_path)
    try:
        r = subprocess.run([sys.executable, "-m", "crosstrain.cli", *case.argv], cwd=tmp_path,
                           capture_output=True, text=True, errors="replace",
                           timeout=SUBPROCESS_SECONDS, preexec_fn=_limit_memory)
        broke = verdict(case, r.returncode, r.stdout, r.stderr)
    except subprocess.TimeoutExpired:
        broke = f"still running after {SUBPROCESS_SECONDS} s"
    assert broke is None, f"{broke}\n{case.describe()}"


def test_cases_are_reproducible_and_varied():
    """A seed gives the same case every time; the corpus covers every surface with many families."""
    assert generate(7) == generate(7) and generate(7) != generate(8)
    families = {generate(s).family for s in range(START, START + CASES)}
    surfaces = {f.split(":")[0] for f in families}
    assert {"config", "network", "set", "setting", "flag", "deconv", "writes", "verilog"} <= surfaces
    assert len(families) >= 60 and CASES >= 1000


def test_the_verdict_catches_broken_promises():
    case = Case(0, "x", ["config", "show", "x", "--json"])
    assert verdict(case, 0, '{"a": NaN}', "") and verdict(case, 0, "", "")
    assert verdict(case, 1, "", "boom") and verdict(case, "ValueError: x", "", "")
    assert verdict(case, 2, "", "Traceback (most recent call last):\n  ...\nValueError: x\n")
    assert verdict(case, 2, "", "crosstrain config: error: " + "x" * 5000 + "\n")
    assert verdict(case, 0, '{"a": 1}', "") is None
    assert verdict(case, 2, "", "crosstrain config: error: bad\n") is None
    usage = "usage: crosstrain config show [-h]\n       [--json] SRC\ncrosstrain config show: error: bad\n"
    assert verdict(case, 2, "", usage) is None
    table = Case(0, "x", ["config", "show", "x"])
    assert verdict(table, 0, "a  inf\n", "") and verdict(table, 0, "clock  1.0\n", "") is None


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        c = generate(int(arg))
        print(c.describe())
        with tempfile.TemporaryDirectory() as d:
            write_files(c, Path(d))
            code, o, e = run_in_process(c, Path(d))
        print(f"exit {code}\nstdout: {o[:2000]}\nstderr: {e[:2000]}\nverdict: {verdict(c, code, o, e) or 'ok'}")
