"""3D-ReG (ACM JETC 2020): a GPU and a ReRAM PIM joined by a 2D link, TSVs or MIVs.

The paper's link figures, task mappings and gain-loss-ratio formula are not public (reference
sheet section 6); everything below that is not from the preset or the GPU sheet is a named
[assumption] here.

Task mappings (our reading of "conservative" and "aggressive"):

- ``conservative``: the crossbars run the forward MVMs only; the GPU runs error
  back-propagation, weight gradients and the update in full precision. The forward
  activations stream to the GPU during the forward pass; the new weights go back each iteration
  and are written into the forward copy.
- ``aggressive``: the crossbars also run error back-propagation (transposed MVMs on a backward
  copy); the errors stream to the GPU, which computes each layer's gradient while the crossbars
  propagate the next layer's error; the new weights are written into both copies.

Iteration time = max(PIM forward pass, activation transfer) + [conservative: GPU backward and
gradient | aggressive: max(PIM backward pass, GPU gradient, error transfer)] + GPU update +
weight transfer + writing the weights into the arrays, each transfer also paying the link
latency once. Energy = PIM events + GPU kernels + link bits x energy per bit + the GPU's idle
power while it waits.

Comparison points (all in :func:`gpu_only` / :func:`reg3d_cost`): the GPU with its own DRAM
(2D), the GPU on stacked DRAM or on ReRAM main memory over the 2D link, TSVs or MIVs, and
PIM-only (the PANTHER estimate).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from crosstrain.golden import cycles
from crosstrain.golden.config import HardwareConfig
from crosstrain.rollup.cost import (
    CostSettings,
    PhaseCost,
    SystemCost,
    component_totals,
    lifetime_years,
    reram_cost,
)
from crosstrain.rollup.gpu import (
    GpuSettings,
    GpuSpec,
    MemoryPath,
    charge,
    gpu_cost,
    kernel_time_energy,
    kernels,
    native_memory,
)
from crosstrain.golden.userinput import shown
from crosstrain.rollup.mapper import SettingError, Technique, check_setting, map_network
from crosstrain.rollup.networks import Network


@dataclass(frozen=True)
class Link:
    name: str
    bandwidth_gbs: float | None    # None: as wide as the GPU's own memory bus
    latency_ns: float
    pj_per_bit: float
    source: str


LINK_NAMES = ("2d", "tsv", "miv")
DEFAULT_LINKS = (
    Link("2d", None, 100.0, 10.0,
         "[assumption] board-level link as wide as the GPU memory bus; 10 pJ/bit = low end of "
         "off-chip DRAM access 10-20 pJ/bit (reference sheet s.9); 100 ns"),
    Link("tsv", 1024.0, 5.0, 0.05,
         "[assumption] 4096 TSVs x 2 Gb/s (HBM2-class stack); tens of fF per TSV -> ~0.05 pJ/bit "
         "(reference sheet s.9); 5 ns"),
    Link("miv", 102400.0, 1.0, 0.0005,
         "[assumption] MIV density ~100x TSV -> 100x bandwidth; well under 1 fF -> < 1 fJ/bit "
         "(reference sheet s.6, s.9); 1 ns"),
)
MAPPINGS = ("conservative", "aggressive")
# [assumption] accuracy drop (percentage points) when no measured drop is given (`crosstrain
# train --json`, `crosstrain estimate --accuracy`): the two ends of the paper's 0.05-3.39 % range
# (conservative keeps more in full precision). Every other system falls back to 0 (16-bit fixed
# point with enough update headroom; reference sheet s.1).
ACCURACY_DROP_DEFAULT = {"conservative": 0.05, "aggressive": 3.39}
#: Where an accuracy drop came from, when no source is given with it (``measured:FILE`` and
#: ``cache:FILE`` are given by the command line, crosstrain.accuracy).
PAPER_SOURCE = "paper default [3D-ReG]"
GIVEN_SOURCE = "given"
ZERO_SOURCE = "assumed 0 [16-bit fixed point, reference sheet s.1]"
BASELINE_SOURCE = "baseline"


def accuracy_drop(drops: dict, sources: dict, name: str, base: str) -> tuple[float, str]:
    """The accuracy drop of system ``name`` (base name ``base``, without +zs/+we) and where it
    came from: the entry of the name itself, else of its 3D-ReG mapping, else of its base name;
    without one, 0. An entry without a source is the paper's when it equals
    :data:`ACCURACY_DROP_DEFAULT`, else given."""
    keys = [name] + [m for m in MAPPINGS if base.startswith("3d-reg") and base.endswith(m)] + [base]
    for k in keys:
        if k in drops:
            paper = ACCURACY_DROP_DEFAULT.get(k) == drops[k]
            return drops[k], sources.get(k, PAPER_SOURCE if paper else GIVEN_SOURCE)
    return 0.0, BASELINE_SOURCE if base == "gpu" else ZERO_SOURCE


@dataclass(frozen=True)
class Reg3dSettings:
    """3D-ReG parameters that no preset holds."""

    links: tuple[Link, ...] = DEFAULT_LINKS
    dram_core_pj_per_bit: float = 3.0      # [assumption] stacked DRAM array access without the off-chip
    #                                        interface: HBM's 3-4 pJ/bit (reference sheet s.9) less its link
    reram_read_pj_per_bit: float = 6.5e3 / (128 * 128 * 2)   # PANTHER: serial read of a 128x128
    #                                        2-bit crossbar 6.5 nJ, per stored bit
    gpu_idle_fraction: float = 0.1         # [assumption] board power an idle GPU draws while it waits

    def __post_init__(self):
        # Energies per bit up to 1 nJ (DRAM: 3-20 pJ/bit, reference sheet s.9); link bandwidths
        # from 1 MB/s to 10 PB/s (the MIV assumption is 0.1 PB/s); link latencies up to 1 s.
        for k in ("dram_core_pj_per_bit", "reram_read_pj_per_bit"):
            check_setting(f"reg3d.{k}", getattr(self, k), 0, 1e3)
        check_setting("reg3d.gpu_idle_fraction", self.gpu_idle_fraction, 0, 1, what="a fraction")
        for lk in self.links:
            if lk.bandwidth_gbs is not None:
                check_setting(f"link.{lk.name}.bandwidth_gbs", lk.bandwidth_gbs, 1e-3, 1e7)
            check_setting(f"link.{lk.name}.latency_ns", lk.latency_ns, 0, 1e9)
            check_setting(f"link.{lk.name}.pj_per_bit", lk.pj_per_bit, 0, 1e3)

    def link(self, name: str) -> Link:
        for lk in self.links:
            if lk.name == name:
                return lk
        raise SettingError(f"unknown link {shown(name)}: use one of {', '.join(l.name for l in self.links)}")


def link_bandwidth_gbs(lk: Link, spec: GpuSpec) -> float:
    return spec.mem_bw_gbs if lk.bandwidth_gbs is None else lk.bandwidth_gbs


def memory_path(memory: str, lk: Link, spec: GpuSpec, cfg: HardwareConfig,
                settings: Reg3dSettings = Reg3dSettings()) -> MemoryPath:
    """The GPU's main memory reached over ``lk``: DRAM (2D = the GPU's own) or ReRAM."""
    if memory == "dram":
        if lk.name == "2d":
            return native_memory(spec)
        e = settings.dram_core_pj_per_bit + lk.pj_per_bit
        return MemoryPath(f"DRAM over {lk.name.upper()}", link_bandwidth_gbs(lk, spec), e, e)
    if memory == "reram":
        write = cfg.device.write_energy_pj / cfg.device.bits_per_cell
        return MemoryPath(f"ReRAM over {lk.name.upper()}", link_bandwidth_gbs(lk, spec),
                          settings.reram_read_pj_per_bit + lk.pj_per_bit, write + lk.pj_per_bit)
    raise SettingError(f"main memory {memory!r}: use dram or reram")


def gpu_only(net: Network, spec: GpuSpec, cfg: HardwareConfig, *, memory: str, link_name: str,
             batch: int, settings: GpuSettings = GpuSettings(),
             reg3d_settings: Reg3dSettings = Reg3dSettings()) -> SystemCost:
    lk = reg3d_settings.link(link_name)
    mem = memory_path(memory, lk, spec, cfg, reg3d_settings)
    name = "gpu" if (memory, lk.name) == ("dram", "2d") else f"gpu-{memory}-{lk.name}"
    return gpu_cost(net, spec, batch=batch, settings=settings, memory=mem, name=name,
                    description=f"{spec.name} roofline ({settings.precision}) on {mem.label}")


def gain_loss_ratio(speedup: float, energy_gain: float, accuracy_drop_pct: float) -> float:
    """CrossTrain's definition (the paper's formula is not public): speedup x energy-efficiency
    gain over the GPU baseline, divided by (1 + accuracy drop in percentage points)."""
    if accuracy_drop_pct < 0:
        raise SettingError(f"accuracy drop {accuracy_drop_pct!r} %: zero or positive")
    return speedup * energy_gain / (1.0 + accuracy_drop_pct)


def reg3d_cost(net: Network, cfg: HardwareConfig, spec: GpuSpec, *, mapping: str, link_name: str,
               batch: int, tech: Technique = Technique(), gpu_settings: GpuSettings = GpuSettings(),
               cost_settings: CostSettings = CostSettings(),
               reg3d_settings: Reg3dSettings = Reg3dSettings()) -> SystemCost:
    """One training iteration on 3D-ReG. ``tech`` supplies the PIM side's switches (tconv,
    zero skipping, write elimination, replication, pipelining); its update method and phases
    are set by ``mapping``."""
    if mapping not in MAPPINGS:
        raise SettingError(f"3D-ReG mapping {mapping!r}: use {' or '.join(MAPPINGS)}")
    lk = reg3d_settings.link(link_name)
    pim_phases = ("forward",) if mapping == "conservative" else ("forward", "backward")
    pim_tech = replace(tech, update="external", pim_phases=pim_phases)
    nm = map_network(net, cfg, pim_tech, batch=batch)
    pim = reram_cost(nm, name="pim", description="", settings=cost_settings)
    sec = lambda c: cycles.cycles_to_seconds(cfg, c)                 # noqa: E731

    # a tuple, not a set: gpu_busy is summed in this order, so the float sum is the same in every run
    gpu_phases = ("backward", "gradient", "update") if mapping == "conservative" else ("gradient", "update")
    phases = {p: PhaseCost(ph.latency_s, ph.energy_j, dict(ph.events), dict(ph.components))
              for p, ph in pim.phases.items()}
    phases["transfer"] = PhaseCost()
    layers = {l.name: l for l in pim.layers}
    gpu_busy = {p: 0.0 for p in gpu_phases}
    for k in kernels(net, batch, gpu_settings):
        if k.phase not in gpu_phases:
            continue
        t, comp = kernel_time_energy(k, spec, gpu_settings)
        gpu_busy[k.phase] += t
        charge(phases[k.phase], layers[k.layer].phases[k.phase], k, t, comp)

    # link traffic per layer: its input activations (and, aggressive, its output errors) to the
    # GPU, its new weights back; the network output (for the loss) with the last layer
    p, bits_per_s = cfg.precision, link_bandwidth_gbs(lk, spec) * 1e9 * 8
    traffic = {"activations": 0.0, "errors": 0.0, "weights": 0.0}
    tr = phases["transfer"]
    for l in net.layers:
        bits = {"activations": batch * p.input_bits * l.input_values if l.has_weights else 0,
                "errors": batch * p.error_bits * l.output_values
                if l.has_weights and mapping == "aggressive" else 0,
                "weights": l.weights * p.weight_bits}
        if l is net.layers[-1]:
            bits["activations"] += batch * p.input_bits * l.output_values
        for k, v in bits.items():
            traffic[k] += v
        n = sum(bits.values())
        layers[l.name].phases["transfer"] = {"latency_s": n / bits_per_s,
                                             "energy_j": n * lk.pj_per_bit * 1e-12}
    tr.events = {"link_bits": sum(traffic.values()), **{f"{k}_bits": v for k, v in traffic.items()}}
    tr.components = {"link": tr.events["link_bits"] * lk.pj_per_bit * 1e-12}
    tr.energy_j = tr.components["link"]
    tr.latency_s = tr.events["link_bits"] / bits_per_s
    xfer = lambda bits: bits / bits_per_s + lk.latency_ns * 1e-9 if bits else 0.0     # noqa: E731
    act_bits, err_bits, weight_bits = traffic["activations"], traffic["errors"], traffic["weights"]

    t = nm.timeline()
    cp = {"forward": max(sec(nm.pass_cycles(("forward",))), xfer(act_bits))}
    if mapping == "conservative":
        cp["backward"] = gpu_busy["backward"] + gpu_busy["gradient"]
    else:
        cp["backward"] = max(sec(nm.pass_cycles(("backward",))), gpu_busy["gradient"], xfer(err_bits))
    cp["update"] = gpu_busy["update"] + xfer(weight_bits) + sec(t["update"])
    latency = sum(cp.values())
    idle = max(0.0, latency - sum(gpu_busy.values())) * spec.board_power_w * reg3d_settings.gpu_idle_fraction
    static = pim.static_energy_j + idle
    components = component_totals(phases)
    components["leakage"] = pim.static_energy_j
    components["gpu_idle"] = idle
    return SystemCost(
        name=f"3d-reg-{lk.name}-{mapping}", kind="3d-reg", schedule=f"{pim.schedule} + roofline",
        description=f"3D-ReG, {mapping} mapping: {cfg.name} crossbars run "
                    f"{' + '.join(pim_phases)}, {spec.name} the rest, over {lk.name.upper()}",
        hardware=f"{cfg.name} + {spec.name} + {lk.name}", latency_s=latency,
        energy_j=sum(ph.energy_j for ph in phases.values()) + static,
        area_mm2=pim.area_mm2 + spec.die_mm2, phases=phases, components=components,
        layers=list(layers.values()), critical_path=cp, static_energy_j=static,
        area_breakdown={**pim.area_breakdown, "gpu_die": spec.die_mm2}, arrays=pim.arrays,
        tiles=pim.tiles, max_writes_per_cell=pim.max_writes_per_cell,
        writes_per_cell=pim.writes_per_cell,
        lifetime_iterations=pim.lifetime_iterations,
        lifetime_years=lifetime_years(pim.lifetime_iterations, latency, cost_settings),
        accuracy_drop_pct=ACCURACY_DROP_DEFAULT[mapping],
        notes=[f"link: {lk.source}"])

