"""Accuracy of training through the crossbars against the float baseline, over seeds.

A configuration (:class:`Variant`) is a system of :data:`crosstrain.experiments.trainer.SYSTEMS`
on its configuration (``preset`` or ``baseline``), optionally with configuration overrides and
update settings (``crs_period``, ``opa``). Every configuration trains once per seed; the float
baseline trains once per seed with the same initial weights, sample order and test split. The
drop of a configuration at a seed is ``100 * (float accuracy - its accuracy)`` in percentage
points after the last epoch; its spread over seeds is reported as standard deviation (n - 1),
minimum and maximum.

:data:`STUDIES` holds the built-in sets of configurations; ``precision`` reproduces PANTHER's
precision study in kind (slice headroom, fewer slices with an ``opa_shift``, CRS period, ADC
bits), see docs/training.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from crosstrain.experiments.trainer import FLOAT, SYSTEMS, RunResult, fit
from crosstrain.experiments.training import TrainingSettings, load_digits_split
from crosstrain.golden.config import ConfigError, HardwareConfig
from crosstrain.golden.events import Events
from crosstrain.rollup.networks import Network

SCHEMA = "crosstrain.train/1"
UPDATE_SETTINGS = ("crs_period", "opa")
WITHIN_POINTS = 1.0


@dataclass(frozen=True)
class Variant:
    """One trained configuration: ``label`` (its name in the output), the system, configuration
    overrides (``(section.field, value)`` pairs) and update settings (``(name, value)``)."""

    label: str
    system: str
    overrides: tuple = ()
    settings: tuple = ()

    def check(self) -> None:
        if self.system not in SYSTEMS:
            raise ConfigError(f"configuration {self.label}: unknown system {self.system!r}; use one "
                              "of " + ", ".join(SYSTEMS))
        for key, _ in self.settings:
            if key not in UPDATE_SETTINGS:
                raise ConfigError(f"configuration {self.label}: {key!r} is not a setting a "
                                  f"configuration may change: {', '.join(UPDATE_SETTINGS)}, or a "
                                  "section.field of the hardware configuration")


def _slices(n: int, bits, shift: int = 0) -> tuple:
    return (("precision.update_slices", n), ("precision.update_slice_bits", tuple(bits)),
            ("precision.opa_shift", shift))


STUDIES = {
    "systems": tuple(Variant(name, name) for name in SYSTEMS),
    "precision": (
        Variant("digital (exact update)", "digital"),
        Variant("panther: 16 slices x 6 bits", "panther"),
        *(Variant(f"16 slices x {h} bits", "panther", _slices(16, [h])) for h in (5, 4, 3)),
        *(Variant(f"16 slices: 8 x {lo}, 8 x {hi} bits", "panther", _slices(16, [lo] * 8 + [hi] * 8))
          for lo, hi in ((6, 5), (5, 4))),
        *(Variant(f"{n} slices x {h} bits, opa_shift {32 - 2 * n}", "panther",
                  _slices(n, [h], 32 - 2 * n)) for n, h in ((12, 6), (10, 8), (8, 8))),
        *(Variant(f"CRS every {p} samples", "panther", settings=(("crs_period", p),))
          for p in (16, 256)),
        Variant("saturating after each OPA", "panther", settings=(("opa", "vector"),)),
        Variant("saturating once a mini-batch", "panther", settings=(("opa", "batch"),)),
        *(Variant(f"ADC {b} bits", "panther", (("converters.adc_bits", b),)) for b in (6, 5, 4)),
    ),
}


def variant_config(variant: Variant, configs: dict) -> HardwareConfig:
    cfg = configs[SYSTEMS[variant.system].hardware]
    if not variant.overrides:
        return cfg
    try:
        return cfg.with_overrides(dict(variant.overrides))
    except ConfigError as e:
        raise ConfigError(f"configuration {variant.label}: {e}") from None


def run(net: Network, variants, configs: dict, settings: TrainingSettings, seeds, *,
        progress=None) -> dict:
    """Train the float baseline and every variant at every seed; the report as plain data.

    ``configs`` maps ``"preset"`` and ``"baseline"`` to hardware configurations;
    ``progress(label, seed)`` returns the per-step callback of each run (or None).
    """
    variants = list(variants)
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise ConfigError("two configurations are named " + next(
            repr(n) for n in labels if labels.count(n) > 1) + ": give each its own label")
    resolved = []
    for v in variants:
        v.check()
        s = replace(settings, **dict(v.settings))
        cfg = variant_config(v, configs)
        s.check(cfg)
        resolved.append((v, cfg, s))
    floats, runs = [], {v.label: [] for v in variants}
    for seed in seeds:
        data = load_digits_split(replace(settings, seed=seed))
        floats.append(fit(net, FLOAT, None, replace(settings, seed=seed), data,
                          progress=progress and progress("float", seed)))
        for v, cfg, s in resolved:
            runs[v.label].append(fit(net, SYSTEMS[v.system], cfg, replace(s, seed=seed), data,
                                     progress=progress and progress(v.label, seed)))
    base = [r.accuracy for r in floats]
    out = {
        "schema": SCHEMA, "network": net.name,
        "network_layers": [{"name": l.name, "kind": l.kind, "in": list(l.in_shape),
                            "out": list(l.out_shape)} for l in net.layers],
        "settings": {k: v for k, v in asdict(settings).items() if k != "seed"},
        "seeds": list(seeds),
        "hardware": {k: c.name for k, c in configs.items()},
        "within_points": WITHIN_POINTS,
        "float": _accuracy(floats),
        "configurations": [_configuration(v, cfg, s, runs[v.label], base)
                           for v, cfg, s in resolved],
    }
    out["rollup_accuracy_drop_pct"] = {
        SYSTEMS[v.system].rollup: max(0.0, c["drop_points"]["mean"])
        for (v, _, _), c in zip(resolved, out["configurations"]) if v == Variant(v.system, v.system)}
    return out


def spread(values) -> dict:
    """Mean, standard deviation (n - 1; 0 for one value), minimum, maximum and the values."""
    v = [float(x) for x in values]
    return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
            "min": min(v), "max": max(v), "per_seed": v}


def _accuracy(runs: list[RunResult]) -> dict:
    curves = [r.epoch_accuracy for r in runs]
    return {"accuracy": spread(r.accuracy for r in runs),
            "epoch_accuracy_mean": [float(x) for x in np.mean(curves, axis=0)],
            "epoch_accuracy": curves,
            "seconds_per_step": sum(r.seconds for r in runs) / sum(r.steps for r in runs)}


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _configuration(v: Variant, cfg: HardwareConfig, s: TrainingSettings, runs, base) -> dict:
    system = SYSTEMS[v.system]
    events = {k: sum((r.events[k] for r in runs), Events()) for k in ("forward", "backward", "gradient")}
    update = sum((r.update for r in runs), Events())
    cell_updates = sum(r.counters.opa_cell_updates for r in runs)
    codes = sum(r.counters.error_codes for r in runs)
    drops = [100.0 * (b - r.accuracy) for b, r in zip(base, runs)]
    out = {
        "name": v.label, "system": v.system, "rollup": system.rollup,
        "description": system.description, "hardware": cfg.name,
        "overrides": {k: list(x) if isinstance(x, tuple) else x for k, x in v.overrides},
        "crs_period": s.crs_period, "opa": s.opa,
        **_accuracy(runs),
        "drop_points": spread(drops),
        "within_points": bool(np.mean(drops) <= WITHIN_POINTS),
        "opa_saturated": update.opa_saturated,
        "opa_saturated_fraction": _ratio(update.opa_saturated, cell_updates),
        "crs_per_run": sum(r.counters.crs_rounds for r in runs) / len(runs),
        "error_codes_clipped_fraction": _ratio(sum(r.counters.error_clipped for r in runs), codes),
        "adc_clipped": {k: e.adc_clipped for k, e in events.items()},
        "adc_clipped_fraction": _ratio(sum(e.adc_clipped for e in events.values()),
                                       sum(e.adc_conversions for e in events.values())),
    }
    return out
