"""Measure write elimination on real training: what each policy saves, costs and wears.

One training run of the digits CNN (the PipeLayer-like flow of :mod:`crosstrain.experiments.trainer`,
every activation, error and weight update written into arrays) with the baseline ledger acting
(every cell written) is observed by one ledger per loss-free policy: they see the very same
values, so their counts need no run of their own and their accuracy is the baseline's. Each
candidate that contains a lossy policy trains on its own, with its ledger acting.

A candidate governs some phases; the phases it does not govern program every cell, so their
counts are the baseline's. Totals, by phase and overall:

- eliminated fraction: cells not programmed / cells the baseline programs;
- write energy and time: cells x ``device.write_energy_pj``, rows x ``device.write_latency_ns``;
- lifetime gain: the baseline's hottest cell's writes per step over the candidate's (the chip
  wears out with its most-written cell), and the same for the mean cell (what perfect wear
  levelling would give);
- a training-step estimate that puts the writes in proportion: MVM energy from the golden MVM's
  events priced as the roll-up prices them (:func:`crosstrain.rollup.cost.counts_energy_pj`), MVM time
  from :func:`crosstrain.golden.cycles.mvm_schedule`
  (one layer after another, the blocks of a layer in parallel, skipped tiles' MVMs saving energy
  only), plus the row writes one after another.
"""

from __future__ import annotations

import math

import numpy as np
from dataclasses import asdict

from crosstrain.experiments.train_networks import digits_cnn
from crosstrain.experiments.trainer import SYSTEMS, RunResult, fit
from crosstrain.experiments.training import TrainingSettings, load_digits_split
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.crossbar import count_mvm_events
from crosstrain.golden.cycles import mvm_schedule, write_row_cycles
from crosstrain.golden.events import Events
from crosstrain.golden.write_elim import PHASES, POLICIES, REASONS, SCHEMES, Ledger, PhaseSummary
from crosstrain.rollup import cost
from crosstrain.rollup.mapper import Counts
from crosstrain.rollup.networks import Network

ENDURANCES = (1e6, 1e9, 1e11)   # cycles: multi-level HfOx, conservative, analog weak pulses (ref. 2)
PAPER = {"energy": 4.97, "speed": 1.38, "lifetime": 4.55}   # IEEE TC 72(11) 2023 abstract


def write_energy_pj(events: Events, cfg: HardwareConfig) -> float:
    """Programming energy of the cell writes in ``events`` (``device.write_energy_pj`` each, as
    the roll-up prices them)."""
    return cost.counts_energy_pj(Counts(cell_writes=events.cell_writes), cfg,
                                 cost.CostSettings())["cell_write"]


def write_time_ns(events: Events, cfg: HardwareConfig) -> float:
    """Programming time of the row writes in ``events``, one after another (each
    :func:`crosstrain.golden.cycles.write_row_cycles`; the cells of a row are programmed in parallel)."""
    return events.rows_written * write_row_cycles(cfg) / cfg.tile.clock_ghz


def default_candidates() -> dict:
    """Every built-in policy on its own, then the built-in combinations."""
    out = {name: (p,) for name, p in POLICIES.items()}
    out.update({name: tuple(POLICIES[n] for n in parts) for name, parts in SCHEMES.items()})
    return out


def mvm_energy_pj(events: Events, cfg: HardwareConfig) -> float:
    """Energy of MVM events, priced as the roll-up prices them."""
    return sum(cost.counts_energy_pj(Counts.from_events(events), cfg, cost.CostSettings()).values())


def mvm_time_ns(vectors: dict, cfg: HardwareConfig) -> float:
    """Time of one step's MVMs: each (kind, layer) batch back to back, one after another."""
    cycles = sum(mvm_schedule(cfg, transposed=kind == "backward").total(n_vec)
                 for (kind, _), (n_vec, _) in vectors.items())
    return cycles / cfg.tile.clock_ghz


class LedgerHooks:
    """Every matrix the training writes goes through the ledgers: the first acts (what it returns
    is what the MVMs use, so a lossy policy changes the training), the others observe the same
    values (they must be loss-free, so they would return the same values)."""

    def __init__(self, cfg: HardwareConfig, ledgers):
        self.cfg, self.ledgers = cfg, list(ledgers)

    def write(self, phase, layer, new):
        acting, *observers = self.ledgers
        seen = acting.write(phase, layer, new)
        for ledger in observers:
            ledger.write(phase, layer, new)
        return seen

    def gradient(self, layer, stored_shape, n_vec) -> None:
        """Skipped error tiles skip their weight-gradient MVMs: count what they save."""
        rows, cols = self.cfg.crossbar.rows, self.cfg.crossbar.cols
        for ledger in self.ledgers:
            for (rt, ct), skip in np.ndenumerate(ledger.skipped_tiles(layer)):
                if skip:
                    shape = (min(rows, stored_shape[0] - rt * rows),
                             min(cols, stored_shape[1] - ct * cols))
                    ledger.mvm_skipped += count_mvm_events(self.cfg, shape, n_vec)


def train(cfg: HardwareConfig, settings: TrainingSettings, ledgers, *, progress=None) -> RunResult:
    """Train the digits CNN the PipeLayer-like way; ``ledgers[0]`` acts on the writes, the
    others observe them.

    ``progress(iterable, desc=..., total=...)`` (:func:`crosstrain.output.track`), if given,
    wraps the training steps (the command line passes a progress bar)."""
    for ledger in ledgers[1:]:
        if not ledger.exact:
            names = ", ".join(p.name for p in ledger.policies if not p.exact)
            raise ValueError(f"observing ledgers must be loss-free; {names} changes what the "
                             "arrays hold: give it its own training run")
    settings.check(cfg)
    data = load_digits_split(settings)
    tick = None
    if progress:
        steps = settings.epochs * (len(data[0]) // settings.batch)
        desc = "training, " + ("+".join(p.name for p in ledgers[0].policies) or "every write kept")
        ticks = iter(progress(range(steps), desc=desc, total=steps))
        tick = lambda: next(ticks, None)          # noqa: E731
    run = fit(digits_cnn(), SYSTEMS["pipelayer"], cfg, settings, data,
              hooks=LedgerHooks(cfg, ledgers), progress=tick)
    if tick:
        tick()                                    # the end of the steps closes the bar
    return run


def run_study(cfg: HardwareConfig, settings: TrainingSettings, candidates: dict, *,
              duty: float = 1.0, endurances=ENDURANCES, progress=None) -> dict:
    """Train, apply every candidate (name -> tuple of policies), return the report as plain data.

    ``progress`` is handed to each training run (see :func:`train`)."""
    exact_policies = {p.name: p for pols in candidates.values() if all(q.exact for q in pols)
                      for p in pols}
    observers = {name: Ledger(cfg, (p,)) for name, p in exact_policies.items()}
    baseline = Ledger(cfg)
    base_run = train(cfg, settings, [baseline, *observers.values()], progress=progress)
    steps = base_run.steps
    layers = [layer.name for layer in digits_cnn().weight_layers]
    base = {(ph, ly): baseline.summary(ph, ly) for ph in PHASES for ly in (None, *layers)}

    mvm_e = mvm_energy_pj(sum(base_run.events.values(), Events()), cfg)
    mvm_t = mvm_time_ns(base_run.vectors, cfg) * steps
    w_e = sum(write_energy_pj(base[ph, None].tally.events, cfg) for ph in PHASES)
    w_t = sum(write_time_ns(base[ph, None].tally.events, cfg) for ph in PHASES)
    step_seconds = (mvm_t + w_t) * 1e-9 / steps
    cost = dict(cfg=cfg, mvm_e=mvm_e, mvm_t=mvm_t, w_e=w_e, w_t=w_t, step_seconds=step_seconds,
                duty=duty, endurances=endurances)
    report = {
        "config": cfg.name, "settings": asdict(settings), "steps": steps, "layers": layers,
        "accuracy_baseline": base_run.accuracy, "epoch_accuracy_baseline": base_run.epoch_accuracy,
        "step": {"mvm_energy_pj": mvm_e / steps, "write_energy_pj": w_e / steps,
                 "mvm_time_ns": mvm_t / steps, "write_time_ns": w_t / steps,
                 "write_energy_share": w_e / (w_e + mvm_e), "write_time_share": w_t / (w_t + mvm_t)},
        "duty": duty, "step_seconds": step_seconds,
        "lifetime_years_baseline": _lifetimes(_hottest(base), cost),
        "paper": PAPER, "policies": [],
    }
    for name, pols in candidates.items():
        if all(p.exact for p in pols):
            ledgers = {ph: observers[p.name] for p in pols for ph in p.phases}
            run = base_run
        else:
            ledger = Ledger(cfg, pols)
            run = train(cfg, settings, [ledger], progress=progress)
            ledgers = dict.fromkeys(ledger.phases, ledger)
        summ = {(ph, ly): ledgers[ph].summary(ph, ly) if ph in ledgers else b
                for (ph, ly), b in base.items()}
        unique = {id(lg): lg for lg in ledgers.values()}.values()
        skipped = sum((lg.mvm_skipped for lg in unique), Events())
        report["policies"].append(_candidate(name, pols, summ, base, skipped, run, cost))
    return report


def _hottest(summ: dict) -> float:
    return max(s.max_per_step for (_, ly), s in summ.items() if ly is None)


def _mean(summ: dict) -> float:
    whole = [s for (_, ly), s in summ.items() if ly is None]
    return sum(s.mean_per_step * s.cells for s in whole) / sum(s.cells for s in whole)


def _lifetimes(hottest: float, c: dict) -> dict:
    """Years until the hottest cell (``hottest`` writes a step) wears out, per endurance."""
    ends = sorted(set(c["endurances"]) | {c["cfg"].device.endurance_cycles})
    settings = cost.CostSettings(duty=c["duty"])
    return {f"{e:g}": math.inf if hottest <= 0 else
            cost.lifetime_years(e / hottest, c["step_seconds"], settings) for e in ends}


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def _phase(s: PhaseSummary, b: PhaseSummary, cfg: HardwareConfig) -> dict:
    t, bt = s.tally, b.tally
    offered = bt.offered_cells
    return {
        "cells_offered": offered, "cells_written": t.events.cell_writes,
        "eliminated_fraction": 1 - t.events.cell_writes / offered if offered else 0.0,
        "eliminated_by_reason": {r: (t.eliminated[r] / offered if offered else 0.0) for r in REASONS},
        "rows_offered": bt.offered_rows, "rows_written": t.events.rows_written,
        "write_energy_pj": write_energy_pj(t.events, cfg),
        "write_energy_saved_pj": write_energy_pj(bt.events, cfg) - write_energy_pj(t.events, cfg),
        "write_time_ns": write_time_ns(t.events, cfg),
        "write_time_saved_ns": write_time_ns(bt.events, cfg) - write_time_ns(t.events, cfg),
        "tiles": bt.tiles, "tiles_skipped": t.tiles_skipped,
        "hottest_writes_per_step": s.max_per_step, "mean_writes_per_step": s.mean_per_step,
        "lifetime_gain": _ratio(b.max_per_step, s.max_per_step),
    }


def _candidate(name, pols, summ, base, skipped, run, cost) -> dict:
    cfg = cost["cfg"]
    phases = {ph: _phase(summ[ph, None], base[ph, None], cfg) for ph in PHASES}
    offered = sum(p["cells_offered"] for p in phases.values())
    written = sum(p["cells_written"] for p in phases.values())
    e_pol = sum(p["write_energy_pj"] for p in phases.values())
    t_pol = sum(p["write_time_ns"] for p in phases.values())
    mvm_saved = mvm_energy_pj(skipped, cfg)
    hottest = _hottest(summ)
    return {
        "name": name, "parts": [asdict(p) | {"phases": list(p.phases), "exact": p.exact}
                                for p in pols],
        "exact": all(p.exact for p in pols),
        "eliminated_fraction": 1 - written / offered,
        "write_energy_saving": _ratio(cost["w_e"], e_pol),
        "write_time_saving": _ratio(cost["w_t"], t_pol),
        "lifetime_gain": _ratio(_hottest(base), hottest),
        "lifetime_gain_wear_levelled": _ratio(_mean(base), _mean(summ)),
        "gradient_mvm_energy_saved_pj": mvm_saved,
        "training_energy_saving": _ratio(cost["mvm_e"] + cost["w_e"],
                                         cost["mvm_e"] - mvm_saved + e_pol),
        "training_speedup": _ratio(cost["mvm_t"] + cost["w_t"], cost["mvm_t"] + t_pol),
        "accuracy": run.accuracy, "epoch_accuracy": run.epoch_accuracy,
        "lifetime_years": _lifetimes(hottest, cost),
        "phases": phases,
        "layers": {ph: {ly: _phase(summ[ph, ly], base[ph, ly], cfg) for (p2, ly) in summ
                        if p2 == ph and ly is not None} for ph in PHASES},

    }


# ---- carrying the measured sparsity over to a larger network -----------------------------------

def write_volumes(net: Network, batch: int, cfg: HardwareConfig) -> dict:
    """Cells and rows the baseline programs per step: (phase, layer) -> (cells, rows).

    Activations are each weight layer's input (positions x channels), errors its output, updates
    its ``k*k*Cin x Cout`` weights, each value across ``arrays_per_block`` slice arrays.
    """
    n_arr = cfg.arrays_per_block
    out = {}
    for layer in net.weight_layers:
        shapes = {"activations": (batch * layer.in_h * layer.in_w, layer.in_ch),
                  "errors": (batch * layer.out_h * layer.out_w, layer.out_ch),
                  "updates": (layer.kernel ** 2 * layer.in_ch, layer.out_ch)}
        for ph, (r, c) in shapes.items():
            out[ph, layer.name] = (n_arr * r * c, n_arr * r)
    return out


def carry_over(report: dict, net: Network, cfg: HardwareConfig) -> list:
    """Each measured candidate's per-layer eliminated fractions applied to ``net``.

    The first weight layer takes the fractions measured on the digits CNN's first layer, the last
    those of its last layer, every other layer those of its middle layer; energy and time scale
    with the cells and rows each layer writes. Lifetime gain and accuracy are not carried over
    (they are the digits CNN's); the report says so.
    """
    measured = report["layers"]
    vol = write_volumes(net, report["settings"]["batch"], cfg)
    names = [layer.name for layer in net.weight_layers]
    source = {n: measured[0] if i == 0 else measured[-1] if i == len(names) - 1 else
              measured[len(measured) // 2] for i, n in enumerate(names)}
    out = []
    for pol in report["policies"]:
        cells = rows = cells_base = rows_base = 0.0
        for (ph, name), (c, r) in vol.items():
            m = pol["layers"][ph][source[name]]
            cells_base, rows_base = cells_base + c, rows_base + r
            cells += c * m["cells_written"] / m["cells_offered"]
            rows += r * m["rows_written"] / m["rows_offered"]
        out.append({"name": pol["name"], "exact": pol["exact"],
                    "eliminated_fraction": 1 - cells / cells_base,
                    "write_energy_saving": _ratio(cells_base, cells),
                    "write_time_saving": _ratio(rows_base, rows),
                    "lifetime_gain": pol["lifetime_gain"], "accuracy": pol["accuracy"],
                    "cells_per_step": cells_base})
    return out
