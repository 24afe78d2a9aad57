"""Energy, latency, area and lifetime of a mapped network, from HardwareConfig fields only.

Energy = events x per-event energy (all from the preset) + leakage x time:

- MVM steps (component ``mvm`` in every system: the analog array with its converters):
  ``tile.mvm_step_energy_pj`` per array step when the preset lumps the periphery into one figure
  (PANTHER, PUMA), else ``tile.array_read_energy_pj`` per array step +
  ``converters.adc_energy_pj`` per conversion + ``converters.dac_energy_pj`` per DAC activation;
  ``tile.shift_add_energy_pj`` per accumulated code (``shift_add``);
- OPA: ``tile.opa_step_energy_pj`` per update array per row-bit step (PANTHER's simulator charges
  one OP access per step and update crossbar: the 4 polarity phases split the step's cells, so
  they set the time, not the energy);
- cell programming: ``device.write_energy_pj`` per cell; serial row reads (CRS, serial
  updates): :attr:`CostSettings.serial_read_row_pj`;
- the preset's digital parts (``[[parts]]``: buffers, ALU, eDRAM, instruction memory, router):
  ``energy_pj`` per counted event (:data:`EVENT_COMPONENT`; eDRAM accesses are 256 bits of
  traffic, the router's events the nanoseconds the network is busy);
- leakage: every part's ``leakage_mw`` per active core or tile (one holding part of the network)
  + ``converters.adc_leakage_mw`` per ADC, over the iteration latency (reported as ``static``
  energy, outside the phases).

Latency is the critical path of :meth:`crosstrain.rollup.mapper.NetworkMap.timeline`; a phase's
``latency_s`` is its busy time (all layers, whole batch, no overlap), so phase latencies do not
add up to the iteration latency when phases overlap or layers pipeline. Energies do add up.

Area, summed from components: arrays (``crossbar.array_area_um2``), ADCs (``adcs_per_array``
for every array but the update slices, which are read through the MVM arrays' ADCs), row DACs,
and the parts of every active core and tile. Lifetime: the busiest cell's writes per iteration
against the device endurance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from crosstrain.golden import cycles
from crosstrain.golden.config import PART_EVENTS, HardwareConfig
from crosstrain.rollup.mapper import EDRAM_ACCESS_BITS, PHASES, Counts, NetworkMap, SettingError, check_setting

SECONDS_PER_YEAR = 365.25 * 24 * 3600


@dataclass(frozen=True)
class CostSettings:
    """Cost parameters the configuration does not hold; each documented with its source."""

    serial_read_row_pj: float = 50.8     # PANTHER constants: serial read of a crossbar 6.5 nJ / 128 rows
    opa_endurance: float = 1e11          # [assumption] weak analog update pulses endure > 1e11 (ref. s.2)
    duty: float = 1.0                    # [assumption] fraction of wall-clock time spent training
    # Allowed (checked in __post_init__): a row read from about Landauer's kT ln 2 (2.9e-9 pJ)
    # to 1 mJ, endurance 1 .. 1e18 writes (as device.endurance_cycles), duty from 1e-6 (30 s
    # of training a year) to 1.

    def __post_init__(self):
        check_setting("cost.serial_read_row_pj", self.serial_read_row_pj, 1e-9, 1e9)
        check_setting("cost.opa_endurance", self.opa_endurance, 1, 1e18)
        check_setting("cost.duty", self.duty, 1e-6, 1, what="a fraction")


#: How a system's time is obtained: the schedules the RTL runs (crosstrain.golden.cycles), a
#: reference simulator's accounting (tile.accounting = "reference"), or the GPU roofline.
SCHEDULES = {"rtl": "rtl", "reference": "reference accounting"}


@dataclass
class PhaseCost:
    latency_s: float = 0.0                      # busy time (see the module docstring)
    energy_j: float = 0.0
    events: dict = field(default_factory=dict)
    components: dict = field(default_factory=dict)


@dataclass
class LayerCost:
    name: str
    kind: str
    phases: dict                                # phase -> {"latency_s", "energy_j"}
    arrays: int = 0
    replication: int = 1
    utilization: float | None = None


@dataclass
class SystemCost:
    """One system's training-iteration estimate; the JSON ``systems`` entry is :meth:`as_dict`."""

    name: str
    kind: str                                    # gpu | reram | digital | 3d-reg
    description: str
    hardware: str
    latency_s: float
    energy_j: float
    area_mm2: float
    phases: dict[str, PhaseCost]
    components: dict[str, float]
    layers: list[LayerCost]
    critical_path: dict[str, float]              # seconds of each part of the iteration
    static_energy_j: float = 0.0
    area_breakdown: dict[str, float] = field(default_factory=dict)
    arrays: int | None = None
    tiles: int | None = None
    max_writes_per_cell: float | None = None
    writes_per_cell: dict[str, float] = field(default_factory=dict)   # copy -> busiest cell, per iteration
    lifetime_iterations: float | None = None
    lifetime_years: float | None = None
    accuracy_drop_pct: float = 0.0
    notes: list[str] = field(default_factory=list)
    schedule: str = "rtl"          # rtl | reference accounting | roofline (see SCHEDULES)
    passes: dict[str, dict] = field(default_factory=dict)   # GAN iterations: pass -> its cost

    def as_dict(self) -> dict:
        return asdict(self)


def component_totals(phases: dict[str, PhaseCost]) -> dict[str, float]:
    """Energy by component summed over the phases."""
    out: dict[str, float] = {}
    for ph in phases.values():
        for c, e in ph.components.items():
            out[c] = out.get(c, 0.0) + e
    return out


#: Energy component of the parts charged per each event.
EVENT_COMPONENT = {"input_buffer_writes": "buffers", "input_buffer_reads": "buffers",
                   "output_buffer_writes": "buffers", "data_memory_accesses": "buffers",
                   "alu_ops": "alu", "multiplies": "alu", "edram_accesses": "edram",
                   "instructions": "instruction", "network_ns": "network"}
assert set(EVENT_COMPONENT) == set(PART_EVENTS)


def part_events(c: Counts, cfg: HardwareConfig) -> dict[str, float]:
    """The events parts are charged per (crosstrain.golden.config.PART_EVENTS) in counts ``c``."""
    ev = {e: getattr(c, e) for e in PART_EVENTS if e not in ("edram_accesses", "network_ns")}
    ev["edram_accesses"] = c.buffer_bits / EDRAM_ACCESS_BITS
    ev["network_ns"] = c.transfers * cfg.tile.noc_latency_ns + c.network_bits / cfg.tile.noc_bandwidth_gbps
    return ev


def counts_energy_pj(c: Counts, cfg: HardwareConfig, settings: CostSettings) -> dict[str, float]:
    """Energy in pJ of the counted events, by component."""
    t, v = cfg.tile, cfg.converters
    out = {}
    if t.mvm_step_energy_pj > 0:
        out["mvm"] = c.array_steps * t.mvm_step_energy_pj
    else:
        out["mvm"] = (c.array_steps * t.array_read_energy_pj + c.adc_conversions * v.adc_energy_pj
                      + c.dac_conversions * v.dac_energy_pj)
    out["shift_add"] = c.shift_adds * t.shift_add_energy_pj
    out["opa"] = c.opa_steps * t.opa_step_energy_pj
    out["serial_read"] = c.row_reads * settings.serial_read_row_pj
    out["cell_write"] = c.cell_writes * cfg.device.write_energy_pj
    ev = part_events(c, cfg)
    for q in cfg.parts:
        if q.event:
            comp = EVENT_COMPONENT[q.event]
            out[comp] = out.get(comp, 0.0) + ev[q.event] * q.energy_pj
    return out


def units(cfg: HardwareConfig, arrays: int) -> tuple[int, int]:
    """(active cores, active tiles) holding ``arrays`` physical arrays."""
    return math.ceil(arrays / cfg.arrays_per_core), math.ceil(arrays / cfg.tile.arrays_per_tile)


def _per_unit(cfg: HardwareConfig, attr: str) -> dict[str, float]:
    """Sum of ``attr`` over the parts of one core and of one tile."""
    out = {"core": 0.0, "tile": 0.0}
    for q in cfg.parts:
        out[q.per] += getattr(q, attr) * q.count
    return out


def area(cfg: HardwareConfig, arrays: int, adc_arrays: int) -> dict[str, float]:
    """Area by component (mm^2) of ``arrays`` physical arrays of which ``adc_arrays`` have ADCs,
    with the parts of their active cores and tiles."""
    x, v = cfg.crossbar, cfg.converters
    cores, tiles = units(cfg, arrays)
    per = _per_unit(cfg, "area_mm2")
    return {"arrays": arrays * x.array_area_um2 * 1e-6,
            "adcs": adc_arrays * v.adcs_per_array * v.adc_area_um2 * 1e-6,
            "dacs": arrays * x.rows * v.dac_area_um2 * 1e-6,
            "core": cores * per["core"], "tile": tiles * per["tile"]}


def leakage_mw(cfg: HardwareConfig, arrays: int, adc_arrays: int) -> float:
    """Leakage power of the active cores and tiles holding ``arrays`` arrays and of the ADCs."""
    cores, tiles = units(cfg, arrays)
    per = _per_unit(cfg, "leakage_mw")
    return (cores * per["core"] + tiles * per["tile"]
            + adc_arrays * cfg.converters.adcs_per_array * cfg.converters.adc_leakage_mw)


def tile_power_mw(cfg: HardwareConfig) -> dict[str, float]:
    """Power (mW) of one full tile at full activity, by component, as a paper's power table
    sums it: every array reading (array energy per step over ``crossbar.read_latency_ns``, or
    the lumped step energy), every ADC converting every cycle, every row DAC driving, and the
    parts' ``power_mw``."""
    x, v, t = cfg.crossbar, cfg.converters, cfg.tile
    n, per = t.arrays_per_tile, _per_unit(cfg, "power_mw")
    if t.mvm_step_energy_pj > 0:
        return {"arrays": n * t.mvm_step_energy_pj / x.read_latency_ns, "adcs": 0.0, "dacs": 0.0,
                "core": t.cores_per_tile * per["core"], "tile": per["tile"]}
    return {"arrays": n * t.array_read_energy_pj / x.read_latency_ns,
            "adcs": n * v.adcs_per_array * v.adc_energy_pj * t.clock_ghz,
            "dacs": n * x.rows * v.dac_energy_pj / x.read_latency_ns,
            "core": t.cores_per_tile * per["core"], "tile": per["tile"]}


def lifetime_iterations(nm: NetworkMap, settings: CostSettings) -> float | None:
    """Training iterations until the busiest cell reaches its endurance (update cells written by
    OPA pulses: :attr:`CostSettings.opa_endurance`; every other cell: ``device.endurance_cycles``)."""
    its = [(settings.opa_endurance if copy == "update" else nm.cfg.device.endurance_cycles) / w
           for l in nm.layers for copy, w in l.writes_per_cell.items() if w > 0]
    return min(its, default=None)


def lifetime_years(iterations: float | None, latency_s: float, settings: CostSettings) -> float | None:
    """Years of training at ``duty`` until ``iterations`` iterations of ``latency_s`` are done."""
    if iterations is None:
        return None
    return iterations * latency_s / settings.duty / SECONDS_PER_YEAR


def _roll_up(nm: NetworkMap, energy_pj, seconds, *, events=True):
    """Phase and layer totals: ``energy_pj(layer_map, phase) -> {component: pJ}``,
    ``seconds(layer_map, phase) -> busy seconds``."""
    phases = {p: PhaseCost() for p in PHASES}
    layers, components = [], {}
    for lm in nm.layers:
        per_layer = {}
        for p in PHASES:
            comp = energy_pj(lm, p)
            e, t = sum(comp.values()) * 1e-12, seconds(lm, p)
            ph = phases[p]
            ph.energy_j += e
            ph.latency_s += t
            for k, v in comp.items():
                ph.components[k] = ph.components.get(k, 0.0) + v * 1e-12
                components[k] = components.get(k, 0.0) + v * 1e-12
            per_layer[p] = {"latency_s": t, "energy_j": e}
        layers.append(LayerCost(lm.layer.name, lm.layer.kind, per_layer, lm.total_arrays,
                                lm.replication, lm.utilization if lm.gemms else None))
    if events:
        for p, ph in phases.items():
            ph.events = nm.phase_counts(p).as_dict()
    return phases, layers, components


def reram_cost(nm: NetworkMap, *, name: str, description: str,
               settings: CostSettings = CostSettings()) -> SystemCost:
    """Cost of one training iteration of a mapped network."""
    cfg = nm.cfg
    sec = lambda c: cycles.cycles_to_seconds(cfg, c)           # noqa: E731
    phases, layers, components = _roll_up(
        nm, lambda lm, p: counts_energy_pj(lm.phases[p].counts, cfg, settings),
        lambda lm, p: sec(lm.phases[p].batch_cycles))
    timeline = {k: sec(v) for k, v in nm.timeline().items()}
    latency = timeline.pop("total")
    adc_arrays = nm.arrays - sum(l.arrays.get("update", 0) for l in nm.layers)
    area_parts = area(cfg, nm.arrays, adc_arrays)
    _, tiles = units(cfg, nm.arrays)
    static = leakage_mw(cfg, nm.arrays, adc_arrays) * 1e-3 * latency
    components["leakage"] = static
    return SystemCost(
        name=name, kind="reram", description=description, hardware=cfg.name, latency_s=latency,
        schedule=SCHEDULES[cfg.tile.accounting],
        energy_j=sum(ph.energy_j for ph in phases.values()) + static,
        area_mm2=sum(area_parts.values()), phases=phases, components=components, layers=layers,
        critical_path=timeline, static_energy_j=static, area_breakdown=area_parts,
        arrays=nm.arrays, tiles=tiles, max_writes_per_cell=nm.max_writes_per_cell,
        writes_per_cell=nm.writes_per_cell, lifetime_iterations=lifetime_iterations(nm, settings),
        lifetime_years=lifetime_years(lifetime_iterations(nm, settings), latency, settings))
