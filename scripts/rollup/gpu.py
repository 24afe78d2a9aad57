"""Roofline model of GPU training: per layer and phase, FLOPs and bytes against peak rates.

Each layer and training phase is one kernel (cuDNN-style, no zero insertion for transposed
convolutions):

==========  ==================  =================================  ==========================
phase       FLOPs               bytes read                         bytes written
==========  ==================  =================================  ==========================
forward     2 x batch x MACs    batch x input + weights            batch x output
backward    2 x batch x MACs    batch x output + weights           batch x input
gradient    2 x batch x MACs    batch x (input + output)           weights
update      2 x weights         2 x weights (weight, gradient)     weights   (plain SGD)
==========  ==================  =================================  ==========================

(values of ``bytes_per_value`` bytes; pool / add layers move their tensors in forward and
backward with one operation per input value; the first layer's backward is skipped.)

time = max(FLOPs / (peak x compute_efficiency), bytes / (bandwidth x bandwidth_efficiency))
+ kernel_overhead_s. Energy = core power x time + bits moved x memory energy per bit, where
the core power is the board power less the memory power at full bandwidth (so a kernel that
saturates memory draws exactly the board power). The memory side is a :class:`MemoryPath` so
that 3D-ReG's comparison points can put the GPU on other memories and links.
"""

from __future__ import annotations

from dataclasses import dataclass

from crosstrain.rollup.cost import LayerCost, PhaseCost, SystemCost, component_totals
from crosstrain.golden.userinput import shown
from crosstrain.rollup.mapper import SettingError, check_setting
from crosstrain.rollup.networks import Network


@dataclass(frozen=True)
class GpuSpec:
    """Vendor specification sheet figures (reference sheet section 9 unless noted; the Tesla
    K40c's peak, power and die from NVIDIA's K40 board specification and Kepler GK110B
    whitepaper, its bandwidth from the reference sheet section 7)."""

    name: str
    fp32_tflops: float
    tensor_tflops: float        # dense FP16/BF16 tensor-core peak; 0 = none
    mem_bw_gbs: float
    board_power_w: float
    die_mm2: float              # NVIDIA architecture whitepapers (not in the reference sheet)
    memory: str
    used_by: str


GPUS = {g.name: g for g in (
    GpuSpec("k40c", 4.29, 0.0, 288.0, 235.0, 561.0, "GDDR5", "GraphR"),     # 288 GB/s: ref. s.7
    GpuSpec("gtx1080", 8.9, 0.0, 320.0, 180.0, 314.0, "GDDR5X", "PipeLayer"),
    GpuSpec("rtx2080ti", 13.4, 108.0, 616.0, 250.0, 754.0, "GDDR6", "PANTHER"),   # tensor [check]
    GpuSpec("v100", 15.7, 125.0, 900.0, 300.0, 815.0, "HBM2", "many ReRAM papers"),
    GpuSpec("h100", 67.0, 989.0, 3350.0, 700.0, 814.0, "HBM3", "current"),
)}

# [assumption] DRAM access energy per bit, interface included (reference sheet section 9:
# off-chip DDR-class 10-20 pJ/bit, HBM 3-4 pJ/bit); GDDR taken as DDR-class.
MEMORY_PJ_PER_BIT = {"GDDR5": 15.0, "GDDR5X": 15.0, "GDDR6": 15.0, "HBM2": 3.5, "HBM3": 3.5}


@dataclass(frozen=True)
class GpuSettings:
    precision: str = "fp32"             # "fp32" (what the ReRAM papers compare against) or "tensor"
    compute_efficiency: float = 0.5     # [assumption] achieved fraction of peak FLOP/s
    bandwidth_efficiency: float = 0.8   # [assumption] achieved fraction of peak bandwidth
    kernel_overhead_s: float = 5e-6     # [assumption] launch + synchronisation per kernel
    bytes_per_value: int = 4            # fp32 tensors (use 2 with tensor precision)

    def __post_init__(self):
        if self.precision not in ("fp32", "tensor"):
            raise SettingError(f"gpu.precision = {shown(self.precision)}: use fp32 or tensor")
        for k in ("compute_efficiency", "bandwidth_efficiency"):     # below 0.1 % a GPU is idle
            check_setting(f"gpu.{k}", getattr(self, k), 1e-3, 1, what="a fraction")
        check_setting("gpu.kernel_overhead_s", self.kernel_overhead_s, 0, 1)   # launches take us
        if self.bytes_per_value not in (1, 2, 4, 8) or isinstance(self.bytes_per_value, bool):
            raise SettingError(f"gpu.bytes_per_value = {shown(self.bytes_per_value)}: 1, 2, 4 or 8")


@dataclass(frozen=True)
class MemoryPath:
    """Where the GPU's tensors live: bandwidth and energy per bit read / written."""

    label: str
    bandwidth_gbs: float
    read_pj_per_bit: float
    write_pj_per_bit: float


def native_memory(spec: GpuSpec) -> MemoryPath:
    e = MEMORY_PJ_PER_BIT[spec.memory]
    return MemoryPath(f"{spec.memory} (2D)", spec.mem_bw_gbs, e, e)


def core_power_w(spec: GpuSpec) -> float:
    """Board power less the native memory's power at full bandwidth."""
    return spec.board_power_w - spec.mem_bw_gbs * 1e9 * 8 * MEMORY_PJ_PER_BIT[spec.memory] * 1e-12


def gpu(name: str) -> GpuSpec:
    if name not in GPUS:
        raise SettingError(f"unknown GPU {name!r}: use one of {', '.join(GPUS)}")
    return GPUS[name]


@dataclass(frozen=True)
class Kernel:
    layer: str
    phase: str
    flops: float
    read_bytes: float
    write_bytes: float


def kernels(net: Network, batch: int, settings: GpuSettings = GpuSettings()) -> list[Kernel]:
    """The kernels of one training iteration (see the module docstring's table)."""
    v, B, out = settings.bytes_per_value, batch, []
    for l in net.layers:
        x, y = l.input_values * v, l.output_values * v
        if l.has_weights:
            w, f = l.weights * v, 2.0 * B * l.macs
            out.append(Kernel(l.name, "forward", f, B * x + w, B * y))
            if l.needs_input_error:
                out.append(Kernel(l.name, "backward", f, B * y + w, B * x))
            out.append(Kernel(l.name, "gradient", f, B * (x + y), w))
            out.append(Kernel(l.name, "update", 2.0 * l.weights, 2 * w, w))
        else:
            ops = 2 if l.kind == "add" else 1
            out.append(Kernel(l.name, "forward", B * l.input_values, B * ops * x, B * y))
            if l.needs_input_error:
                out.append(Kernel(l.name, "backward", B * l.input_values, B * y, B * ops * x))
    return out


def kernel_time_energy(k: Kernel, spec: GpuSpec, settings: GpuSettings,
                       memory: MemoryPath | None = None) -> tuple[float, dict[str, float]]:
    """(seconds, {"gpu_core": J, "gpu_memory": J}) of one kernel."""
    mem = memory or native_memory(spec)
    peak = spec.fp32_tflops if settings.precision == "fp32" else spec.tensor_tflops
    if peak <= 0:
        raise SettingError(f"{spec.name} has no {settings.precision} peak; use --gpu-precision fp32")
    t = max(k.flops / (peak * 1e12 * settings.compute_efficiency),
            (k.read_bytes + k.write_bytes) / (mem.bandwidth_gbs * 1e9 * settings.bandwidth_efficiency))
    t += settings.kernel_overhead_s
    e_mem = 8e-12 * (k.read_bytes * mem.read_pj_per_bit + k.write_bytes * mem.write_pj_per_bit)
    return t, {"gpu_core": core_power_w(spec) * t, "gpu_memory": e_mem}


def charge(phase: PhaseCost, layer_phase: dict, k: Kernel, t: float, comp: dict[str, float]) -> None:
    """Add one kernel's time, energy and counts to its phase and to its layer's phase entry."""
    e = sum(comp.values())
    phase.latency_s += t
    phase.energy_j += e
    for c, v in comp.items():
        phase.components[c] = phase.components.get(c, 0.0) + v
    ev = phase.events
    ev["flops"] = ev.get("flops", 0.0) + k.flops
    ev["dram_bytes"] = ev.get("dram_bytes", 0.0) + k.read_bytes + k.write_bytes
    ev["kernels"] = ev.get("kernels", 0) + 1
    layer_phase["latency_s"] += t
    layer_phase["energy_j"] += e


def gpu_cost(net: Network, spec: GpuSpec, *, batch: int, settings: GpuSettings = GpuSettings(),
             memory: MemoryPath | None = None, name: str | None = None, description: str | None = None):
    """A :class:`crosstrain.rollup.cost.SystemCost` of one training iteration on the GPU alone."""
    phases = {p: PhaseCost() for p in ("forward", "backward", "gradient", "update")}
    layers = {l.name: LayerCost(l.name, l.kind, {p: {"latency_s": 0.0, "energy_j": 0.0} for p in phases})
              for l in net.layers}
    for k in kernels(net, batch, settings):
        charge(phases[k.phase], layers[k.layer].phases[k.phase], k,
               *kernel_time_energy(k, spec, settings, memory))
    components = component_totals(phases)
    mem = memory or native_memory(spec)
    latency = sum(ph.latency_s for ph in phases.values())
    return SystemCost(
        name=name or "gpu", kind="gpu", schedule="roofline",
        description=description or f"{spec.name} roofline ({settings.precision}, {mem.label})",
        hardware=spec.name, latency_s=latency, energy_j=sum(ph.energy_j for ph in phases.values()),
        area_mm2=spec.die_mm2, phases=phases, components=components, layers=list(layers.values()),
        critical_path={p: ph.latency_s for p, ph in phases.items()},
        area_breakdown={"gpu_die": spec.die_mm2})

