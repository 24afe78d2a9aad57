"""The tables of docs/REPRODUCTION.md, each computed from ``crosstrain estimate`` runs.

A table is a list of rows, each one ``crosstrain estimate`` command line, and columns that are
ratios between two of that run's systems (``time``: the other system's latency over this one's,
i.e. how many times less time it takes; ``energy`` likewise; ``lifetime``: this system's
lifetime in iterations over the other's). ``crosstrain reproduce`` prints them, as JSON, or as
the Markdown blocks of docs/REPRODUCTION.md (between ``<!-- reproduce: KEY -->`` and
``<!-- /reproduce -->``), which the default test suite compares with the document. The table of
per-block unit figures is computed from the presets directly.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from crosstrain.commands import estimate as estimate_cmd
from crosstrain.golden import config, cycles
from crosstrain.rollup import network_files
from crosstrain.rollup.cost import reram_cost
from crosstrain.rollup.estimate import estimate
from crosstrain.rollup.mapper import Technique, map_network
from crosstrain.rollup.networks import mlp

SCHEMA = "crosstrain.reproduce/1"
ROOT = Path(__file__).resolve().parent.parent          # the repository (docs/ holds the MLP file)
MLP_FILE = "docs/mlp_1024_512_1024_768_10.csv"
BLOCK = re.compile(r"<!-- reproduce: ([\w-]+) -->\n.*?<!-- /reproduce -->", re.S)


@dataclass(frozen=True)
class Column:
    header: str
    system: str          # the system the ratio is about
    other: str           # the system it is compared with
    metric: str          # time | energy | lifetime


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, str], ...]     # (label, estimate arguments)


def _vs(system, other, what=("time", "energy"), name=""):
    return tuple(Column(f"{name}{m} vs {other}", system, other, m) for m in what)


_BASELINES = sum((_vs("panther", b) for b in ("digital", "cmos-op", "pipelayer-panther")), ())
_MLPS = tuple((f"{net} batch {b}", f"--network {net} --batch {b} --systems "
               "panther,digital,cmos-op,pipelayer-panther")
              for net in ("mlp-512", "mlp-panther", MLP_FILE) for b in (1, 2))

TABLES = (
    Table("panther-baselines", "PANTHER against its baselines on its MLPs, RTL-backed (--preset "
          "panther)", _BASELINES, _MLPS),
    Table("panther-baselines-sim", "the same, PANTHER's simulator's accounting (--preset "
          "panther-sim)", _BASELINES,
          tuple((label, args + " --preset panther-sim") for label, args in _MLPS)),
    Table("panther-gpu", "PANTHER against the GPU (RTX 2080 Ti, FP32), batch 64",
          _vs("panther", "gpu"),
          tuple((f"{net}{' ' + p if p else ''}", f"--network {net} --systems panther"
                 + (f" --preset {p}" if p else ""))
                for net in ("resnet18-imagenet", "vgg8-cifar10", "mlp-panther")
                for p in ("", "panther-sim"))),
    Table("panther-pipelayer", "PANTHER against the literal PipeLayer-like design (activation "
          "writes, gradient MVMs), VGG-8, batch 64", _vs("panther", "pipelayer"),
          (("pipelayer preset", "--systems pipelayer,panther"),
           ("same crossbars", "--systems pipelayer,panther --baseline-preset panther"))),
    Table("pipelayer-gpu", "PipeLayer-like against a GTX 1080, batch 64", _vs("pipelayer", "gpu"),
          tuple((net, f"--network {net} --gpu gtx1080 --systems pipelayer")
                for net in ("vgg16-imagenet", "resnet18-imagenet", "vgg8-cifar10"))),
    Table("3d-reg", "3D-ReG against the GPU (RTX 2080 Ti), batch 64",
          _vs("3d-reg-tsv-conservative", "gpu", name="conservative TSV: ")
          + _vs("3d-reg-miv-aggressive", "gpu", name="aggressive MIV: "),
          tuple((net, f"--network {net} --systems 3d-reg-tsv-conservative,3d-reg-miv-aggressive")
                for net in ("vgg8-cifar10", "resnet18-imagenet", "vgg16-imagenet"))),
    Table("write-elim", "write elimination on the PipeLayer-like design, batch 64",
          _vs("pipelayer+we", "pipelayer", ("time", "energy", "lifetime"))
          + _vs("pipelayer+we", "gpu"),
          (("VGG-8", "--systems pipelayer,pipelayer+we"),
           ("ResNet-18 / CIFAR-10", "--network resnet18-cifar10 --systems pipelayer,pipelayer+we"),
           ("VGG-8, 90 % eliminated", "--systems pipelayer,pipelayer+we --write-elim "
                                      "writes=0.9,update=0.9"))),
    Table("red", "transposed convolutions: s^2 decomposition (+ zero skipping), batch 64",
          _vs("panther+zs", "panther"),
          (("DCGAN generator, decomposition only", "--network dcgan-generator --systems "
            "panther,panther+zs --zero-skip forward=0,backward=0,gradient=0"),
           ("same, no replication", "--network dcgan-generator --systems panther,panther+zs "
            "--zero-skip forward=0,backward=0,gradient=0 --replication 1"),
           ("decomposition + bit-plane skipping", "--network dcgan-generator --systems "
            "panther,panther+zs"),
           ("DCGAN discriminator", "--network dcgan-discriminator --systems panther,panther+zs "
            "--zero-skip forward=0,backward=0,gradient=0"))),
    Table("pim-tgan", "PIM-TGAN-like ternary weights on SOT-MRAM cell pairs, one DCGAN training "
          "iteration, batch 64", _vs("pim-tgan", "gpu") + _vs("pim-tgan", "pipelayer")
          + _vs("pim-tgan", "panther+zs"),
          (("serial GAN schedule", "--network dcgan --systems pim-tgan,pipelayer,panther+zs"),
           ("EMAT's pipelined schedule", "--network dcgan --systems pim-tgan,pipelayer,panther+zs "
                                         "--set mapper.gan_schedule=pipelined"))),
)
KEYS = ("units",) + tuple(t.key for t in TABLES)


def _network(name: str):
    path = ROOT / name
    return network_files.load_workload(str(path) if name.startswith("docs/") and path.exists() else name)


@lru_cache(maxsize=None)
def run(args: str) -> dict:
    """The systems (by name) of ``crosstrain estimate ARGS``."""
    parser = argparse.ArgumentParser()
    estimate_cmd.add_arguments(parser)
    a = parser.parse_args(shlex.split(args))
    est = estimate(_network(a.network), estimate_cmd.settings_from_args(a), a.systems.split(","))
    return {s.name: s for s in est.systems}


def ratio(systems: dict, c: Column) -> float:
    s, o = systems[c.system], systems[c.other]
    if c.metric == "time":
        return o.latency_s / s.latency_s
    if c.metric == "energy":
        return o.energy_j / s.energy_j
    return s.lifetime_iterations / o.lifetime_iterations


def _block_figures(preset: str) -> dict:
    """One 128x128 block, one sample: MVM and OPA energy (nJ) and latency (ns)."""
    nm = map_network(mlp((128, 128)), config.load(preset), Technique(replication=1), batch=1)
    c, work = reram_cost(nm, name=preset, description=""), nm.layers[0].phases
    ns = lambda w: cycles.cycles_to_seconds(nm.cfg, w.batch_cycles - w.movement_cycles) * 1e9  # noqa: E731
    return {"mvm_nj": c.phases["forward"].components["mvm"] * 1e9, "mvm_ns": ns(work["forward"]),
            "opa_nj": c.phases["gradient"].components["opa"] * 1e9, "opa_ns": ns(work["gradient"])}


UNIT_ROWS = (   # (label, paper's figure, its source, preset pair, key)
    ("PANTHER MVM of a 128x128 block, nJ", 39.55, "16 steps x 8 slices x 309 pJ", "panther", "mvm_nj"),
    ("PANTHER MVM latency, ns", 1800, "100 ns x (16 + 2) stages", "panther", "mvm_ns"),
    ("PANTHER OPA of a 128x128 block, nJ", 22.7, "16 steps x 16 update arrays x 88.8 pJ", "panther",
     "opa_nj"),
    ("PANTHER OPA latency, ns", 80, "4 polarity phases x 20 ns", "panther", "opa_ns"),
    ("PUMA MVM of a 128x128 block, nJ", 43.97, "the whole 16-bit MVM", "puma", "mvm_nj"),
    ("PUMA MVM latency, ns", 2304, "18 stages x 128 ns", "puma", "mvm_ns"),
)


def tables(keys=KEYS) -> list[dict]:
    """Every table of ``keys``, computed."""
    out = []
    for key in keys:
        if key == "units":
            out.append(_units())
            continue
        t = next(t for t in TABLES if t.key == key)
        rows = [{"label": label, "command": f"crosstrain estimate {args}",
                 "values": [ratio(run(args), c) for c in t.columns]} for label, args in t.rows]
        out.append({"key": t.key, "title": t.title, "columns": [c.header for c in t.columns],
                    "rows": rows})
    return out


def _units() -> dict:
    rows = []
    for label, paper, source, preset, key in UNIT_ROWS:
        rows.append({"label": label, "command": f"presets {preset}, {preset}-sim",
                     "values": [paper, _block_figures(preset)[key], _block_figures(f"{preset}-sim")[key]],
                     "source": source})
    return {"key": "units", "title": "per-block figures from the presets (one 128x128 block, one sample)",
            "columns": ["paper", "RTL-backed", "reference accounting"], "rows": rows}


def _cell(v: float, ratios: bool) -> str:
    return f"{v:.3g}×" if ratios else f"{v:.4g}"


def markdown(t: dict) -> str:
    """A table as its docs/REPRODUCTION.md block."""
    ratios = t["key"] != "units"
    last = "command" if ratios else "the paper's accounting"
    lines = [f"<!-- reproduce: {t['key']} -->", "| | " + " | ".join(t["columns"]) + f" | {last} |",
             "|---|" + "---|" * (len(t["columns"]) + 1)]
    for r in t["rows"]:
        tail = f"`{r['command']}`" if ratios else r["source"]
        lines.append(f"| {r['label']} | " + " | ".join(_cell(v, ratios) for v in r["values"])
                     + f" | {tail} |")
    return "\n".join(lines + ["<!-- /reproduce -->"])


def blocks(text: str) -> dict[str, str]:
    """The reproduce blocks of a document, by key."""
    return {m.group(1): m.group(0) for m in BLOCK.finditer(text)}


def update(text: str, computed: dict[str, str]) -> str:
    """``text`` with every reproduce block replaced by the computed one of the same key."""
    return BLOCK.sub(lambda m: computed.get(m.group(1), m.group(0)), text)
