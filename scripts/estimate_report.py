"""The report folder of ``crosstrain estimate``: JSON, CSV, Markdown and plots.

Everything is written from the estimate's JSON object (:meth:`crosstrain.rollup.estimate.Estimate.as_dict`),
so the files cannot disagree with ``--json``. Columns and keys are documented in
docs/estimate.md. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from crosstrain.output import fmt, strict_json
from crosstrain.report_folder import Staging, replace_folder
from crosstrain.rollup.estimate import AREA_COMPONENTS, COMPONENTS, PHASE_ORDER

SYSTEM_COLUMNS = ("name", "kind", "hardware", "schedule", "latency_s", "energy_j", "area_mm2", "speedup_vs_gpu",
                  "energy_gain_vs_gpu", "accuracy_drop_pct", "accuracy_source", "gain_loss_ratio", "lifetime_iterations",
                  "lifetime_years", "max_writes_per_cell", "arrays", "tiles", "static_energy_j")
PLOT_FILES = ("energy_breakdown.png", "latency_per_layer.png", "speedup_energy.png")
REPORT_FILES = ("report.md", "report.json", "systems.csv", "layers.csv", "experiment.toml") + PLOT_FILES
LAYER_COLUMNS = ("system", "layer", "kind", "phase", "latency_s", "energy_j", "arrays", "replication",
                 "utilization")


def system_rows(data: dict) -> tuple[list[str], list[list]]:
    """Header and rows of systems.csv: the main figures, then energy and busy time per phase, then
    energy and area per component."""
    header = list(SYSTEM_COLUMNS)
    header += [f"energy_{p}_j" for p in PHASE_ORDER] + [f"latency_{p}_s" for p in PHASE_ORDER]
    header += [f"energy_{c}_j" for c in COMPONENTS] + [f"area_{c}_mm2" for c in AREA_COMPONENTS]
    rows = []
    for s in data["systems"]:
        row = [s[k] for k in SYSTEM_COLUMNS]
        row += [s["phases"][p]["energy_j"] for p in PHASE_ORDER]
        row += [s["phases"][p]["latency_s"] for p in PHASE_ORDER]
        row += [s["components"][c] for c in COMPONENTS] + [s["area_breakdown"][c] for c in AREA_COMPONENTS]
        rows.append(row)
    return header, rows


def layer_rows(data: dict) -> list[list]:
    rows = []
    for s in data["systems"]:
        for l in s["layers"]:
            for p in PHASE_ORDER:
                v = l["phases"].get(p)
                if v and (v["latency_s"] or v["energy_j"]):
                    rows.append([s["name"], l["name"], l["kind"], p, v["latency_s"], v["energy_j"],
                                 l["arrays"], l["replication"], l["utilization"]])
    return rows


def write_report(data: dict, out: str | Path, *, plots: bool = True, experiment: str | None = None) -> list[str]:
    """Write the report folder all or nothing (:func:`crosstrain.report_folder.replace_folder`:
    the earlier report stays whole on any failure, links are never followed, an earlier run's
    files never remain beside this one's); ``experiment``: the resolved experiment file
    (crosstrain.experiment.to_toml), kept as experiment.toml. Returns the file names written."""
    report_json = strict_json(data, indent=2) + "\n"
    with replace_folder(out, owned=REPORT_FILES) as folder:
        folder.write_text("report.json", report_json)
        if experiment is not None:
            folder.write_text("experiment.toml", experiment)
        header, rows = system_rows(data)
        _csv(folder, "systems.csv", header, rows)
        _csv(folder, "layers.csv", LAYER_COLUMNS, layer_rows(data))
        figures = _plots(data, folder) if plots else []
        folder.write_text("report.md", markdown(data, figures))
    return list(REPORT_FILES[:4]) + (["experiment.toml"] if experiment is not None else []) + figures


def _csv(folder: Staging, name: str, header, rows) -> None:
    with folder.open(name, "x", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(["" if v is None else v for v in r] for r in rows)


def _md_table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) if not isinstance(v, str) else v for v in r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(data: dict, figures: list[str]) -> str:
    info, systems = data["network_info"], data["systems"]
    parts = [f"# CrossTrain estimate: {data['network']}", "",
             f"Produced by `{data.get('command') or 'crosstrain estimate'}`. One "
             f"{'GAN ' if info['iteration'] == 'gan' else ''}training iteration "
             f"(mini-batch of {data['batch_size']}) of {info['description']} "
             f"({info['weight_layers']} weight layers, {info['weights']:,} weights, "
             f"{info['macs_per_sample']:,} MACs per sample). Ratios are against `gpu`: "
             f"{systems[0]['description']}.", "", "## Systems", ""]
    if info["passes"]:
        parts[2] += f" Passes ({data['settings']['gan_schedule']} schedule): " + "; ".join(
            f"{p['name']} ({p['model']}, {p['samples']} samples: {', '.join(p['phases'])})"
            for p in info["passes"]) + "."
    parts.append(_md_table(
        ["system", "latency ms", "energy mJ", "area mm²", "speedup", "energy gain", "accuracy drop %",
         "accuracy from", "GLR", "lifetime years", "schedule"],
        [[s["name"], s["latency_s"] * 1e3, s["energy_j"] * 1e3, s["area_mm2"], s["speedup_vs_gpu"],
          s["energy_gain_vs_gpu"], s["accuracy_drop_pct"], s["accuracy_source"], s["gain_loss_ratio"],
          "-" if s["lifetime_years"] is None else s["lifetime_years"], s["schedule"]] for s in systems]))
    if any("reference" in s["schedule"] for s in systems):
        parts += ["", "*reference accounting*: time costed the way the reference simulator (PANTHER's "
                  "/ PUMA's) charges it, not a schedule our RTL runs (docs/REPRODUCTION.md)."]
    parts += ["", "| system | description |", "|---|---|"]
    parts += [f"| {s['name']} | {s['description']} |" for s in systems]
    parts += ["", "## Energy by phase (mJ)", "",
              "Phases: forward, error back-propagation (backward), weight gradient (in PANTHER the "
              "OPA, which also accumulates the update), weight update, carry resolution (crs), "
              "activation writes into arrays (writes), GPU-PIM link transfers (transfer).", ""]
    parts.append(_md_table(["system"] + list(PHASE_ORDER) + ["static"],
                           [[s["name"]] + [s["phases"][p]["energy_j"] * 1e3 for p in PHASE_ORDER]
                            + [s["static_energy_j"] * 1e3] for s in systems]))
    used = [c for c in COMPONENTS if any(s["components"][c] for s in systems)]
    parts += ["", "## Energy by component (mJ)", ""]
    parts.append(_md_table(["system"] + used,
                           [[s["name"]] + [s["components"][c] * 1e3 for c in used] for s in systems]))
    parts += ["", "## Critical path (ms)", "",
              "Parts of the iteration latency; a phase's busy time (in systems.csv) can be longer "
              "than its share here because layers pipeline and phases overlap.", ""]
    keys = sorted({k for s in systems for k in s["critical_path"]}, key=lambda k: (
        PHASE_ORDER.index(k) if k in PHASE_ORDER else 99, k))
    parts.append(_md_table(["system"] + keys, [[s["name"]] + [s["critical_path"].get(k, 0.0) * 1e3
                                                              for k in keys] for s in systems]))
    parts += ["", "## Settings", "", "Every value not taken from a preset is an [assumption] "
              "documented in docs/estimate.md; all can be overridden on the command line.", "",
              "```json", json.dumps(data["settings"], indent=1), "```"]
    notes = [n for s in systems for n in s.get("notes", [])]
    if notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in dict.fromkeys(notes)]
    if figures:
        parts += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(parts) + "\n"


def _plots(data: dict, folder: Staging) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = data["systems"]
    names = [s["name"] for s in systems]
    x = range(len(systems))
    written = []

    fig, axes = plt.subplots(1, 2, figsize=(13, 6.5))
    colors = plt.get_cmap("tab20").colors
    phases = PHASE_ORDER + ("static",)
    for ax, key, labels, title in ((axes[0], "components", COMPONENTS, "by component"),
                                   (axes[1], "phases", phases, "by phase")):
        bottom = [0.0] * len(systems)
        for n, lab in enumerate(labels):
            vals = [_energy(s, key, lab) / s["energy_j"] for s in systems]
            if any(vals):
                ax.bar(x, vals, bottom=bottom, label=lab, color=colors[n % len(colors)])
                bottom = [b + v for b, v in zip(bottom, vals)]
        for i, s in enumerate(systems):
            ax.text(i, 1.01, f"{s['energy_j'] * 1e3:.3g} mJ", ha="center", va="bottom", fontsize=7,
                    rotation=90)
        ax.set_xticks(list(x), names, rotation=60, ha="right", fontsize=8)
        ax.set_ylim(0, 1.3)
        ax.set_ylabel("fraction of iteration energy")
        ax.set_title(f"Energy {title}", pad=4)
        ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    fig.suptitle(f"{data['network']}, batch {data['batch_size']}")
    written.append(_save(fig, folder, "energy_breakdown.png", plt))

    fig, ax = plt.subplots(figsize=(11, 5))
    for s in systems:
        layers = [l for l in s["layers"] if l["kind"] in ("conv", "tconv", "fc")]
        busy = [sum(v["latency_s"] for v in l["phases"].values()) for l in layers]
        ax.plot(range(len(layers)), [b * 1e3 for b in busy], marker="o", ms=3, label=s["name"])
    ax.set_xticks(range(len(layers)), [l["name"] for l in layers], rotation=60, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("busy time per iteration, all phases (ms)")
    ax.set_title(f"Latency per layer: {data['network']}, batch {data['batch_size']}")
    ax.legend(fontsize=7, ncol=2)
    written.append(_save(fig, folder, "latency_per_layer.png", plt))

    fig, ax = plt.subplots(figsize=(11, 5))
    w = 0.4
    ax.bar([i - w / 2 for i in x], [s["speedup_vs_gpu"] for s in systems], w, label="speedup")
    ax.bar([i + w / 2 for i in x], [s["energy_gain_vs_gpu"] for s in systems], w, label="energy gain")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(list(x), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(f"x vs {systems[0]['hardware']}")
    ax.set_title(f"Speedup and energy gain vs the GPU: {data['network']}, batch {data['batch_size']}")
    ax.legend(fontsize=8)
    written.append(_save(fig, folder, "speedup_energy.png", plt))
    return written


def _energy(system: dict, key: str, label: str) -> float:
    if key == "components":
        return system["components"][label]
    return system["static_energy_j"] if label == "static" else system["phases"][label]["energy_j"]


def _save(fig, folder: Staging, name: str, plt) -> str:
    fig.tight_layout()
    try:
        with folder.open(name, "xb") as f:
            fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return name
