"""Time and energy of a vertex program on GraphR, on a CPU and on a GPU, from the golden passes.

Every platform is charged for the same work: the passes of :mod:`crosstrain.golden.graph` (one
per iteration), each with its processed blocks, time slots and active edges.

GraphR (reference sheet section 7; :class:`GraphrSettings`)
    A pass streams its rounds (:func:`crosstrain.golden.graph.rounds`). A round programs its
    blocks into the crossbars, one row at a time on all crossbars at once
    (``rows x write_row_cycles``), then runs its time slots back to back (one MVM per block for
    multiply-add; for add-then-min as many MVMs as the busiest block has active rows) with the
    graph engines' ADC sharing (:func:`crosstrain.golden.cycles.mvm_schedule` with
    ``arrays_per_adc``). The memory ReRAM streams the processed blocks' edges (COO) and the
    vertex values while the engines work [assumption: double-buffered], so a pass takes the
    longer of the two. Energy: the crossbar events and cell writes priced by
    :func:`crosstrain.rollup.cost.counts_energy_pj` (the preset's per-access energies), memory
    ReRAM reads and writes per access, the sALU's adds / mins, and leakage.

CPU (:class:`CpuSettings`) and GPU (:class:`GpuGraphSettings`)
    Memory-bandwidth rooflines of the edge traffic: a pass reads every active edge (and its
    weight for SSSP and SpMV) and touches every vertex ``vertex_accesses`` times; time = bytes /
    (bandwidth x efficiency); the GPU's pass is one kernel of
    :func:`crosstrain.rollup.gpu.kernel_time_energy` (2 FLOPs per edge, launch overhead, board
    power split into core and memory). CPU energy = the sockets' TDP over the time + DRAM
    energy per bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from crosstrain.golden import cycles, graph
from crosstrain.golden.config import HardwareConfig
from crosstrain.rollup.cost import CostSettings, counts_energy_pj, leakage_mw
from crosstrain.rollup.gpu import GpuSettings, Kernel, gpu, kernel_time_energy
from crosstrain.rollup.mapper import Counts, SettingError

WEIGHTED = ("sssp", "spmv")          # programs that read an edge value besides the endpoints


def _check_positive(obj) -> None:
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not (v > 0 and math.isfinite(v)):
            raise SettingError(f"{f.name} = {v!r}: a positive finite number")


@dataclass(frozen=True)
class GraphrSettings:
    """GraphR's memory ReRAM and digital units."""

    memory_read_pj: float = 1.08        # GraphR (NVSim): read energy per access
    memory_write_pj: float = 3910.0     # GraphR (NVSim): write energy 3.91 nJ per access
    memory_access_bits: int = 512       # [assumption] one 64-byte line per NVSim access
    memory_bw_gbs: float = 288.0        # [assumption] the K40c baseline's 288 GB/s (ref. s.7)
    edge_bits: int = 80                 # [assumption] COO: 32-bit source and destination, 16-bit value
    salu_op_pj: float = 0.04            # [assumption] one sALU add / min = ISAAC's shift-and-add op

    def __post_init__(self):
        _check_positive(self)


@dataclass(frozen=True)
class CpuSpec:
    name: str
    sockets: int
    cores: int                 # per socket
    ghz: float
    mem_bw_gbs: float          # all sockets
    tdp_w: float               # all sockets


# GraphR's CPU baseline (reference sheet section 7): 2x Xeon E5-2630 v3; Intel ARK: 8 cores,
# 2.4 GHz, 85 W TDP, 59 GB/s (4 channels of DDR4-1866) per socket.
CPUS = {c.name: c for c in (CpuSpec("2x-e5-2630v3", 2, 8, 2.4, 118.0, 170.0),)}


@dataclass(frozen=True)
class CpuSettings:
    """CPU roofline (GridGraph-like streaming of edge blocks)."""

    cpu: str = "2x-e5-2630v3"
    bandwidth_efficiency: float = 0.8   # [assumption] as the GPU model's
    edge_bytes: int = 8                 # [assumption] GridGraph edge: 4-byte source and destination
    weight_bytes: int = 4               # [assumption] a 4-byte edge value (sssp, spmv)
    value_bytes: int = 4                # [assumption] 4-byte vertex values
    vertex_accesses: int = 3            # [assumption] read source, read and write destination
    dram_pj_per_bit: float = 15.0       # [assumption] DDR-class access energy (gpu.MEMORY_PJ_PER_BIT)

    def __post_init__(self):
        _check_positive(self)
        if self.cpu not in CPUS:
            raise SettingError(f"cpu = {self.cpu!r}: use one of {', '.join(CPUS)}")
        if self.bandwidth_efficiency > 1:
            raise SettingError(f"bandwidth_efficiency = {self.bandwidth_efficiency!r}: a fraction in (0, 1]")


@dataclass(frozen=True)
class GpuGraphSettings:
    """GPU roofline (Gunrock-like CSR traversal) on top of the GPU model's settings."""

    gpu: str = "k40c"
    edge_bytes: int = 8                 # [assumption] 4-byte column index + 4-byte gathered value
    weight_bytes: int = 4               # [assumption] a 4-byte edge value (sssp, spmv)
    value_bytes: int = 4                # [assumption]
    vertex_accesses: int = 4            # [assumption] row offset, read, write, frontier flag
    roofline: GpuSettings = field(default_factory=GpuSettings)

    def __post_init__(self):
        _check_positive(self)
        gpu(self.gpu)


@dataclass
class PlatformCost:
    """One platform's time and energy for the whole program; ``components`` in joules."""

    name: str
    description: str
    time_s: float
    energy_j: float
    components: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)


def _bytes_per_pass(p: graph.Pass, n: int, algorithm: str, s) -> float:
    per_edge = s.edge_bytes + (s.weight_bytes if algorithm in WEIGHTED else 0)
    return p.active_edges * per_edge + n * s.vertex_accesses * s.value_bytes


def cpu_cost(run: graph.GraphRun, n: int, algorithm: str, settings: CpuSettings = CpuSettings()):
    spec = CPUS[settings.cpu]
    total = sum(_bytes_per_pass(p, n, algorithm, settings) for p in run.passes)
    t = total / (spec.mem_bw_gbs * 1e9 * settings.bandwidth_efficiency)
    comp = {"cpu_core": spec.tdp_w * t, "dram": total * 8 * settings.dram_pj_per_bit * 1e-12}
    return PlatformCost("cpu", f"{spec.name} memory-bandwidth roofline", t, sum(comp.values()), comp,
                        {"bytes": total})


def gpu_cost(run: graph.GraphRun, n: int, algorithm: str, settings: GpuGraphSettings = GpuGraphSettings()):
    spec = gpu(settings.gpu)
    t, comp, total = 0.0, {}, 0.0
    for p in run.passes:
        b = _bytes_per_pass(p, n, algorithm, settings)
        dt, c = kernel_time_energy(Kernel(algorithm, "pass", 2.0 * p.active_edges, b - n * settings.value_bytes,
                                          n * settings.value_bytes), spec, settings.roofline)
        t += dt
        total += b
        for k, v in c.items():
            comp[k] = comp.get(k, 0.0) + v
    return PlatformCost("gpu", f"{spec.name} roofline", t, sum(comp.values()), comp, {"bytes": total})


def graphr_cost(part: graph.Partition, run: graph.GraphRun, algorithm: str, cfg: HardwareConfig,
                engines: graph.GraphEngines = graph.GraphEngines(),
                settings: GraphrSettings = GraphrSettings()) -> PlatformCost:
    addmin = algorithm in ("bfs", "sssp")
    view = graph.addmin_config(cfg) if addmin else cfg
    sched = cycles.mvm_schedule(view, arrays_per_adc=engines.crossbars_per_adc)
    write_cycles = part.rows * cycles.write_row_cycles(cfg)
    cells = part.rows * part.cols * cfg.arrays_per_block
    vbits = cfg.precision.input_bits
    t = ge_s = 0.0
    energy = {}
    n_rounds = n_slots = mem_bits = write_bits = salu = 0
    for p in run.passes:
        rnd = graph.rounds(part, p.blocks)
        k = int(rnd[-1]) + 1 if len(rnd) else 0
        slots = np.zeros(k, np.int64)
        np.maximum.at(slots, rnd, p.slots)               # a round lasts as long as its busiest block
        ge = cycles.cycles_to_seconds(cfg, k * (write_cycles + sched.latency)
                                      + (int(slots.sum()) - k) * sched.interval)
        windows = np.sort(rnd * part.row_windows + part.block_row[p.blocks])   # (round, row window)
        windows = int(np.count_nonzero(windows[1:] != windows[:-1])) + 1 if k else 0
        bits = p.block_edges * settings.edge_bits + windows * part.rows * vbits
        ge_s += ge
        t += max(ge, (bits + part.n * vbits) / (settings.memory_bw_gbs * 8e9))
        counts = Counts.from_events(p.events) + Counts(cell_writes=float(len(p.blocks) * cells))
        for c, e in counts_energy_pj(counts, view, CostSettings()).items():
            energy[c] = energy.get(c, 0.0) + e * 1e-12
        n_rounds += k
        n_slots += int(p.slots.sum())
        mem_bits += bits
        write_bits += part.n * vbits
        salu += int(p.slots.sum()) * part.cols
    energy = {c: e for c, e in energy.items() if e}
    energy["memory_read"] = mem_bits / settings.memory_access_bits * settings.memory_read_pj * 1e-12
    energy["memory_write"] = write_bits / settings.memory_access_bits * settings.memory_write_pj * 1e-12
    energy["salu"] = salu * settings.salu_op_pj * 1e-12
    adcs = engines.ges * -(-engines.crossbars_per_ge // engines.crossbars_per_adc)
    parts_mw = leakage_mw(cfg, engines.ges * cfg.tile.arrays_per_tile, 0)    # a tile is one GE
    energy["leakage"] = (parts_mw + cfg.converters.adc_leakage_mw * adcs) * 1e-3 * t
    return PlatformCost("graphr", f"GraphR: {engines.ges} GEs x {engines.crossbars_per_ge} crossbars of "
                        f"{part.rows}x{part.cols}, {part.packing} rounds", t, sum(energy.values()), energy,
                        {"rounds": n_rounds, "time_slots": n_slots, "engine_s": ge_s,
                         "memory_bits": mem_bits + write_bits, "round_cycles_write": write_cycles,
                         "mvm_latency_cycles": sched.latency, "mvm_interval_cycles": sched.interval})
