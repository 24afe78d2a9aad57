"""The roll-up: one training iteration of a network on every compared system.

System names (``crosstrain estimate --systems``):

``gpu``                          the GPU baseline (roofline on its own DRAM); always estimated
``gpu-{dram,reram}-{2d,tsv,miv}``  GPU-only on stacked DRAM / ReRAM main memory (3D-ReG's points)
``digital``, ``cmos-op``, ``pipelayer-panther``  PANTHER's baselines: its flow on ``preset`` with
                                 other units (crosstrain.rollup.variants)
``pipelayer``                    PipeLayer-like: serial-write updates, ``baseline_preset``
``panther``                      in-crossbar OPA + CRS (PANTHER), ``preset``; also 3D-ReG's PIM-only
``3d-reg-{2d,tsv,miv}-{conservative,aggressive}``  GPU + ``preset`` crossbars
``pim-tgan``                     PIM-TGAN-like: ternary weights, one SOT-MRAM cell pair each (preset
                                 ``pim-tgan``), updated as ``pipelayer`` is [assumption]

A ReRAM or 3D-ReG name may end in ``+zs`` (zero skipping: the s^2 transposed-convolution
decomposition and skipping of all-zero input bit-planes, fractions :attr:`EstimateSettings.
zero_skip`) and/or ``+we`` (write elimination, fractions :attr:`EstimateSettings.write_elim`).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache

from crosstrain.golden import config
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.userinput import shown
from crosstrain.rollup.cost import CostSettings, SystemCost, reram_cost
from crosstrain.rollup.gpu import GpuSettings, gpu
from crosstrain.rollup.mapper import (
    CRS_SAMPLES_DEFAULT,
    WRITE_ELIM_DEFAULT,
    ZERO_SKIP_DEFAULT,
    SettingError,
    Technique,
    check_setting,
    map_network,
)
from crosstrain.rollup.gan import SCHEDULES as GAN_SCHEDULES
from crosstrain.rollup.gan import describe, gan_cost
from crosstrain.rollup.networks import Gan, Network
from crosstrain.rollup.reg3d import (
    ACCURACY_DROP_DEFAULT,
    LINK_NAMES,
    MAPPINGS,
    Reg3dSettings,
    accuracy_drop,
    gain_loss_ratio,
    gpu_only,
    reg3d_cost,
)
from crosstrain.rollup.variants import DESCRIPTIONS, NO_CRS, VARIANTS, variant

SCHEMA = "crosstrain.estimate/1"
DEFAULT_SYSTEMS = ("gpu", "pipelayer", "panther", "panther+zs+we", "3d-reg-tsv-conservative",
                   "3d-reg-tsv-aggressive", "3d-reg-miv-conservative", "3d-reg-miv-aggressive")
_GPU_ONLY = tuple(f"gpu-{m}-{l}" for m in ("dram", "reram") for l in LINK_NAMES if (m, l) != ("dram", "2d"))
_REG3D = tuple(f"3d-reg-{l}-{m}" for l in LINK_NAMES for m in MAPPINGS)
ALL_SYSTEMS = ("gpu",) + _GPU_ONLY + tuple(VARIANTS) + (
    "pipelayer", "pipelayer+we", "panther", "panther+zs", "panther+we", "panther+zs+we") + _REG3D + (
    "pim-tgan",)
DEFAULT_NETWORK = "vgg8-cifar10"
# Every system reports every phase and component (zeros where it has none), in this order.
PHASE_ORDER = ("forward", "backward", "gradient", "update", "crs", "writes", "transfer")
COMPONENTS = ("mvm", "shift_add", "opa", "serial_read", "cell_write", "alu", "buffers", "edram",
              "instruction", "network", "leakage", "gpu_core", "gpu_memory", "gpu_idle", "link")
AREA_COMPONENTS = ("arrays", "adcs", "dacs", "core", "tile", "gpu_die")
BATCH_DEFAULT = 64          # [assumption] PANTHER's precision study uses mini-batches of 64


LINK_FIELDS = ("bandwidth_gbs", "latency_ns", "pj_per_bit")
MAX_BATCH = 1 << 20         # samples per mini-batch (ImageNet holds 1.28 million training images)
MAX_ACCURACY_DROP = 100.0   # percentage points


def _names(obj) -> str:
    return ", ".join(f.name for f in fields(obj) if f.name != "links")


def typed_setting(key: str, current, value):
    """``value`` (typed: crosstrain.options turns text into values) checked against the type of
    ``current`` (ints are accepted for floats); the setting's own checks then bound it."""
    if isinstance(current, str):
        if isinstance(value, str):
            return value
        raise SettingError(f"{key} = {shown(value)}: expected a string like {current!r}")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(current, int) and not isinstance(current, bool):
        if number and isinstance(value, int):
            return value
        raise SettingError(f"{key} = {shown(value)}: expected an integer like {current!r}")
    if number and math.isfinite(value):
        return float(value)
    raise SettingError(f"{key} = {shown(value)}: expected a finite number like {current!r}")


@lru_cache(maxsize=64)
def _hardware(source: str, overrides: tuple) -> HardwareConfig:
    cfg = config.load(source)
    return cfg.with_overrides(dict(overrides)) if overrides else cfg


def _pairs(d: dict) -> tuple:
    return tuple(sorted(d.items()))


@dataclass(frozen=True)
class EstimateSettings:
    """Everything an estimate depends on besides the network; every field is in the JSON."""

    batch: int = BATCH_DEFAULT
    preset: str = "panther"
    baseline_preset: str = "pipelayer"
    overrides: tuple[tuple[str, object], ...] = ()      # config overrides applied to both presets
    gpu: str = "rtx2080ti"                              # PANTHER's GPU comparison point
    gpu_settings: GpuSettings = field(default_factory=GpuSettings)
    cost: CostSettings = field(default_factory=CostSettings)
    reg3d: Reg3dSettings = field(default_factory=Reg3dSettings)
    replication: int | str = "balanced"
    pipeline: bool = True
    crs_samples: int = CRS_SAMPLES_DEFAULT
    zero_skip: tuple[tuple[str, float], ...] = _pairs(ZERO_SKIP_DEFAULT)
    write_elim: tuple[tuple[str, float], ...] = _pairs(WRITE_ELIM_DEFAULT)
    accuracy_drop: tuple[tuple[str, float], ...] = _pairs(ACCURACY_DROP_DEFAULT)
    accuracy_source: tuple[tuple[str, str], ...] = ()   # name -> where its drop came from (reg3d)
    acc_bits: int = 32                  # see crosstrain.rollup.mapper.Technique
    opa_writes_per_cell: float = 1.0    # see crosstrain.rollup.mapper.Technique
    gan_schedule: str = "serial"        # GAN iterations: serial | pipelined (crosstrain.rollup.gan)

    def __post_init__(self):
        if self.gan_schedule not in GAN_SCHEDULES:
            raise SettingError(f"mapper.gan_schedule = {shown(self.gan_schedule)}: use "
                               f"{' or '.join(GAN_SCHEDULES)}")
        if self.gan_schedule == "pipelined" and not self.pipeline:
            raise SettingError("mapper.gan_schedule = 'pipelined' overlaps the GAN passes layer by "
                               "layer and needs the layer pipeline: drop --no-pipeline or use serial")
        check_setting("batch", self.batch, 1, MAX_BATCH, integer=True)
        for name, drop in self.accuracy_drop:
            check_setting(f"accuracy drop of {shown(name)}", drop, 0, MAX_ACCURACY_DROP,
                          what="percentage points")
        self.technique("opa", {"zs", "we"})           # checks every mapping switch now

    def hardware(self, which: str) -> HardwareConfig:
        """The ``preset`` or ``baseline`` configuration (or the preset named ``which``) with the
        overrides applied."""
        source = {"preset": self.preset, "baseline": self.baseline_preset}.get(which, which)
        if source in config.presets():                       # files may change: never cached
            return _hardware(source, self.overrides)
        return _hardware.__wrapped__(source, self.overrides)

    def technique(self, update: str, suffixes: set[str], *, crs: bool = True) -> Technique:
        return Technique(update=update, tconv="decomposed" if "zs" in suffixes else "naive",
                         zero_skip=self.zero_skip if "zs" in suffixes else (),
                         write_elim=self.write_elim if "we" in suffixes else (),
                         replication=self.replication, pipeline=self.pipeline,
                         crs_samples=self.crs_samples if crs else 0, acc_bits=self.acc_bits,
                         opa_writes_per_cell=self.opa_writes_per_cell)

    def with_setting(self, key: str, value) -> "EstimateSettings":
        """A copy with one setting changed: ``cost.FIELD``, ``gpu.FIELD``, ``reg3d.FIELD``,
        ``link.NAME.FIELD`` or ``mapper.acc_bits`` / ``mapper.opa_writes_per_cell`` /
        ``mapper.crs_samples`` / ``mapper.gan_schedule``."""
        group, _, name = key.partition(".")
        targets = {"cost": self.cost, "gpu": self.gpu_settings, "reg3d": self.reg3d}
        if group == "link":
            lname, _, fname = name.partition(".")
            lk = self.reg3d.link(lname)
            if fname not in LINK_FIELDS:
                raise SettingError(f"unknown setting {shown(key)}: link fields are {', '.join(LINK_FIELDS)}")
            new = replace(lk, **{fname: typed_setting(key, getattr(lk, fname), value)})
            links = tuple(new if l.name == lname else l for l in self.reg3d.links)
            return replace(self, reg3d=replace(self.reg3d, links=links))
        if group == "mapper" and name in ("acc_bits", "opa_writes_per_cell", "crs_samples", "gan_schedule"):
            return replace(self, **{name: typed_setting(key, getattr(self, name), value)})
        if group in targets and name in {f.name for f in fields(targets[group])} and name != "links":
            obj = targets[group]
            new = replace(obj, **{name: typed_setting(key, getattr(obj, name), value)})
            return replace(self, **{"gpu_settings" if group == "gpu" else group: new})
        raise SettingError(f"unknown setting {shown(key)}: use cost.FIELD ({_names(self.cost)}), gpu.FIELD "
                           f"({_names(self.gpu_settings)}), reg3d.FIELD ({_names(self.reg3d)}), "
                           "link.NAME.FIELD (bandwidth_gbs, latency_ns, pj_per_bit), "
                           "mapper.acc_bits, mapper.opa_writes_per_cell, mapper.crs_samples or "
                           "mapper.gan_schedule")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["reg3d"]["links"] = {l.name: asdict(l) for l in self.reg3d.links}
        for k in ("overrides", "zero_skip", "write_elim", "accuracy_drop", "accuracy_source"):
            d[k] = dict(getattr(self, k))
        return d


@dataclass
class Estimate:
    network: Network | Gan
    settings: EstimateSettings
    systems: list[SystemCost]            # the GPU baseline first
    ratios: dict[str, dict[str, float]]  # name -> speedup_vs_gpu, energy_gain_vs_gpu, gain_loss_ratio

    def as_dict(self) -> dict:
        net = self.network
        systems = []
        for s in self.systems:
            d = s.as_dict()
            d.update(self.ratios[s.name])
            empty = {"latency_s": 0.0, "energy_j": 0.0, "events": {}, "components": {}}
            d["phases"] = {p: d["phases"].get(p, empty) for p in PHASE_ORDER}
            d["components"] = {c: d["components"].get(c, 0.0) for c in COMPONENTS}
            d["area_breakdown"] = {c: d["area_breakdown"].get(c, 0.0) for c in AREA_COMPONENTS}
            systems.append(d)
        return {
            "schema": SCHEMA, "network": net.name,
            "network_info": {"dataset": net.dataset, "description": net.description,
                             "input_shape": list(net.input_shape), "layers": len(net.layers),
                             "weight_layers": len(net.weight_layers), "weights": net.weights,
                             "macs_per_sample": net.macs,
                             "iteration": "gan" if isinstance(net, Gan) else "training",
                             "passes": describe(net, self.settings.batch) if isinstance(net, Gan) else []},
            "batch_size": self.settings.batch, "baseline": "gpu",
            "settings": self.settings.as_dict(), "systems": systems,
        }


def parse_system(name: str) -> tuple[str, set[str]]:
    """(base name, suffixes) of a system name; raises SettingError naming the allowed names."""
    base, *suffixes = name.split("+")
    ok = base in ALL_SYSTEMS and len(set(suffixes)) == len(suffixes) and set(suffixes) <= {"zs", "we"}
    if ok and suffixes and not (base in ("pipelayer", "panther") or base.startswith("3d-reg")):
        ok = False
    if not ok:
        raise SettingError(f"unknown system {shown(name)}: use {', '.join(ALL_SYSTEMS)} (ReRAM and 3D-ReG "
                           "systems may add +zs and/or +we)")
    return base, set(suffixes)


def estimate(net: Network | Gan, settings: EstimateSettings = EstimateSettings(),
             systems=DEFAULT_SYSTEMS) -> Estimate:
    """Estimate one training iteration of ``net`` (of a :class:`Gan`: one GAN training
    iteration, crosstrain.rollup.gan) on the GPU baseline and on ``systems``."""
    if not net.weight_layers:
        raise SettingError(f"network {net.name!r} has no conv, tconv or fc layer: nothing to train")
    names = ["gpu"] + [s for s in dict.fromkeys(systems) if s != "gpu"]
    parsed = {n: parse_system(n) for n in names}
    out: list[SystemCost] = []
    sources: dict[str, str] = {}
    for name in names:
        base, suf = parsed[name]
        if isinstance(net, Gan):
            s = gan_cost(net, lambda n, b: system_cost(name, n, settings, b), batch=settings.batch,
                         schedule=settings.gan_schedule, cost=settings.cost)
        else:
            s = system_cost(name, net, settings, settings.batch)[0]
        s.accuracy_drop_pct, sources[name] = accuracy_drop(
            dict(settings.accuracy_drop), dict(settings.accuracy_source), name, base)
        out.append(s)
    base_s = out[0]
    ratios = {}
    for s in out:
        _check_finite(s)
        speedup, gain = base_s.latency_s / s.latency_s, base_s.energy_j / s.energy_j
        ratios[s.name] = {"speedup_vs_gpu": speedup, "energy_gain_vs_gpu": gain,
                          "gain_loss_ratio": gain_loss_ratio(speedup, gain, s.accuracy_drop_pct)}
        if not all(math.isfinite(v) for v in ratios[s.name].values()):
            raise SettingError(f"{s.name}: {s.latency_s:g} s and {s.energy_j:g} J per iteration against "
                               f"the GPU's {base_s.latency_s:g} s and {base_s.energy_j:g} J: the ratios "
                               "overflow; check the energy and time settings")
        ratios[s.name]["accuracy_source"] = sources[s.name]
    return Estimate(net, settings, out, ratios)


def system_cost(name: str, net: Network, settings: EstimateSettings, batch: int):
    """(cost of one training iteration of ``net`` on ``batch`` samples on system ``name``, the
    crossbar mapping when the system is PipeLayer-like, PANTHER or a PANTHER baseline, else
    None)."""
    base, suf = parse_system(name)
    spec, B, nm = gpu(settings.gpu), batch, None
    if base == "gpu" or base in _GPU_ONLY:
        memory, lk = ("dram", "2d") if base == "gpu" else base.split("-")[1:]
        s = gpu_only(net, spec, settings.hardware("preset"), memory=memory, link_name=lk, batch=B,
                     settings=settings.gpu_settings, reg3d_settings=settings.reg3d)
    elif base == "panther":
        nm = map_network(net, settings.hardware("preset"), settings.technique("opa", suf), batch=B)
        s = reram_cost(nm, name=name, settings=settings.cost,
                       description=f"PANTHER: in-crossbar OPA + CRS every {settings.crs_samples} "
                                   f"samples ({nm.cfg.name}){_suffix_text(suf)}")
    elif base in VARIANTS:
        cfg = variant(settings.hardware("preset"), base)
        nm = map_network(net, cfg, settings.technique("opa", suf, crs=base not in NO_CRS), batch=B)
        s = reram_cost(nm, name=name, settings=settings.cost, description=DESCRIPTIONS[base])
        if base == "digital":                  # digital words: no cells to wear out
            s.kind, s.writes_per_cell = "digital", {}
            s.max_writes_per_cell = s.lifetime_iterations = s.lifetime_years = None
    elif base in ("pipelayer", "pim-tgan"):
        cfg = settings.hardware("baseline" if base == "pipelayer" else "pim-tgan")
        nm = map_network(net, cfg, settings.technique("serial", suf), batch=B)
        what = "PipeLayer-like" if base == "pipelayer" else "PIM-TGAN-like ternary weights (cell pairs)"
        s = reram_cost(nm, name=name, settings=settings.cost,
                       description=f"{what}: activation writes + gradient MVMs + serial "
                                   f"weight writes ({cfg.name}){_suffix_text(suf)}")
    else:
        lk, mapping = re.fullmatch(r"3d-reg-(\w+)-(\w+)", base).groups()
        s = reg3d_cost(net, settings.hardware("preset"), spec, mapping=mapping, link_name=lk, batch=B,
                       tech=settings.technique("opa", suf), gpu_settings=settings.gpu_settings,
                       cost_settings=settings.cost, reg3d_settings=settings.reg3d)
        s.name = name
    return s, nm


def _check_finite(s: SystemCost) -> None:
    """Every system takes some time and energy, and every number it reports is finite."""
    if not (s.latency_s > 0 and s.energy_j > 0):
        raise SettingError(f"{s.name}: {s.latency_s:g} s and {s.energy_j:g} J per iteration: every "
                           "energy of the configuration is 0 (or too small to add up); give the "
                           "figures that are modelled")
    bad = _nonfinite(s.as_dict())
    if bad:
        raise SettingError(f"{s.name}: {bad} is not finite: the network and settings give costs "
                           "beyond floating point; use smaller sizes or rates")


def _nonfinite(value, path: str = "") -> str | None:
    """The dotted path of the first non-finite float in nested dicts and lists, else None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        found = _nonfinite(v, f"{path}.{k}" if path else str(k))
        if found:
            return found
    return None


def _suffix_text(suf: set[str]) -> str:
    words = {"zs": "zero skipping + s^2 tconv decomposition", "we": "write elimination"}
    return "".join(f" + {words[s]}" for s in sorted(suf, reverse=True))
