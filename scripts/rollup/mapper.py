"""Software side of the dataflow mapper: layers onto crossbars, per-phase events and cycles.

Every weight layer becomes one or more GEMMs (:func:`gemms`): a convolution is its im2col
matrix (K*K*Cin rows x Cout columns, one MVM per output pixel); a fully connected layer one
MVM per sample; a transposed convolution is either the naive zero-inserted convolution
(every output pixel drives all K*K*Cin rows, most of them zeros) or, with
``tconv="decomposed"``, the s^2 sub-kernel (polyphase, pixel-wise) decomposition over the
original input (RED / ZARA; reference sheet section 4) exactly as :mod:`crosstrain.golden.deconv` defines
it: one crossbar group per output phase holding the sub-kernel ``w[:, :, a::s, b::s]``, one MVM
per window that reads at least one input pixel, border rows without a pixel idle
(:func:`crosstrain.golden.deconv.read_sequence`). Phase groups of equal geometry are one
:class:`Gemm` with ``groups`` copies, so the cost takes the same time for any stride. A 1x1 input
(DCGAN's first generator layer) is mapped as the dense Cin x Cout*Ho*Wo layer it is.

A GEMM of R x C is tiled over ``ceil(R/rows) x ceil(C/cols)`` logical blocks, each held by
``arrays_per_block`` physical arrays per copy. The copies a layer needs depend on the update
method (:class:`Technique`):

- ``opa`` (PANTHER): forward copy (MVM), backward copy (transposed MVM), ``update_slices``
  update arrays per block; the weight gradient is accumulated in place by outer products (one
  OPA per MVM vector) and carries are resolved every ``crs_samples`` samples (CRS), which
  rewrites the update slices and the forward and backward copies;
- ``serial`` (PipeLayer-like): forward and backward copies plus activation arrays; the
  im2col activations of the batch are written into arrays (the "writes" phase), the weight
  gradient is computed by MVMs that drive the errors through them, and the new weights are
  written row by row into both copies once per iteration (read-modify-write);
- ``external`` (3D-ReG): the crossbars run only ``pim_phases``; new weights arrive from the GPU
  and are written into the copies once per iteration.

Counts per phase are for one training iteration (a mini-batch). MVM events come from
:func:`crosstrain.golden.crossbar.count_mvm_events` and cycles from :mod:`crosstrain.golden.cycles`, so the roll-up
and the golden model cannot disagree; an error stream of ``error_bits`` or an activation matrix
stored as weights uses a configuration view with those widths. Layer replication (PipeLayer's
granularity) gives each layer ``g`` copies that split its MVM vectors; ``"balanced"``
[assumption] leaves the convolution with the most weights unreplicated and replicates every other
layer down to about its vector count (``g = round(vectors / reference vectors)``), so pipeline
stages are balanced where replication is cheap (early layers have many pixels, few weights).

Pipelining across the mini-batch: layers are stages; a sample's forward pass moves through
them in order and its backward pass in reverse, each layer working on its own crossbars.
Pipelined, a pass takes the sum of the layers' one-sample latencies plus ``batch - 1`` times the
slowest layer's marginal cycles per sample (:meth:`NetworkMap.pass_cycles`); otherwise every
layer processes the whole batch before the next starts. Weight updates (all layers in parallel) and
amortized CRS follow. Digital layers (pool, add) move data only and are assumed to keep up.

Digital work and data movement [assumption: PANTHER's core (a PUMA core) runs load, MVM and
store instructions in order]. One vector through an R x C GEMM tiled rb x cb: its input is loaded
from the tile eDRAM once per column block (R * cb values; transposed: C * rb) into the core's
data memory and copied into the crossbar input buffer; every row block's partial outputs (C * rb;
transposed: R * cb) go through the output buffer and the data memory back to the eDRAM. So per
vector: eDRAM bits = (loads + stores) x bits, data memory accesses 2 x (loads + stores), input
buffer writes = loads, input buffer reads = one per step per block (one access reads the step's
bits of every row), output buffer writes = stores, ALU operations = stores (partial-sum adds and
the activation), multiplies = outputs of a transposed MVM (the activation derivative), and
3 instructions per block (load, MVM, store) + 1 (ALU). An OPA loads its x (R * cb) and its error
(C * rb) into the update drivers (2 instructions per block). A layer's loads and stores take
``tile.edram_access_ns`` per 256-bit access, spread over the eDRAMs of the tiles holding the
layer, and each sample's output (forward) or input error (backward) crosses the network to the
next layer's tiles: ``tile.noc_latency_ns`` + bits / ``tile.noc_bandwidth_gbps``. Both are on the
critical path, after the layer's MVMs [assumption: no overlap], so latency grows with layer size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import lru_cache

from crosstrain.golden import cycles, zeroskip
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.crossbar import count_mvm_events
from crosstrain.golden.events import Events
from crosstrain.golden.userinput import shown
from crosstrain.rollup.networks import Layer, Network, conv_transpose, useful_taps

PHASES = ("forward", "backward", "gradient", "update", "crs", "writes")
UPDATES = ("opa", "serial", "external")
ZERO_SKIP_PHASES = ("forward", "backward", "gradient")
WRITE_ELIM_PHASES = ("writes", "gradient", "update", "crs")

# Fraction of input steps (bit-planes) that carry only zeros and are skipped, per phase:
# `crosstrain deconv` (issue 4, crosstrain.golden.zeroskip) measures 12.6-13.3 % on the DCGAN generator's
# BatchNorm + ReLU activations (synthetic, seeded); [assumption] the same for errors and for the
# OPA's row-bit steps, and for other networks. Replace with per-network measured counts.
ZERO_SKIP_DEFAULT = {"forward": 0.13, "backward": 0.13, "gradient": 0.13}
# Fraction of writes eliminated per phase, measured by `crosstrain writes` (crosstrain.experiments.write_study:
# fixed-point CNN trained on scikit-learn's digits, pipelayer preset, seed 0) with the loss-free
# policies: activation writes skipped where the stored cell level is unchanged
# ("unchanged-cell": 0.53), weight-update writes where the new level equals the old
# ("update-cell": 0.71); [assumption] CRS rewrites behave like updates, other networks like
# digits, and OPAs are not skipped.
WRITE_ELIM_DEFAULT = {"writes": 0.53, "update": 0.71, "crs": 0.71}
# CRS every 4 mini-batches of 64 samples (PANTHER precision study, reference sheet s.1): carries
# build up per OPA, i.e. per sample, so the cadence is in samples and an iteration of B samples
# is charged B / CRS_SAMPLES_DEFAULT carry resolutions.
CRS_SAMPLES_DEFAULT = 256
# Bounds of the mapping switches: far beyond any published design, and small enough that every
# count stays an exact integer and every cost a finite float.
MAX_REPLICATION = 1 << 16  # copies of one layer (PipeLayer replicates early layers up to ~64x)
MAX_CRS_SAMPLES = 1 << 30  # samples between carry resolutions (2^20 iterations of 1,024 samples)
MAX_ACC_BITS = 64          # a digital accumulator wider than int64 is not built
MAX_OPA_WRITES = 1e6       # writes counted per cell per OPA


class SettingError(ValueError):
    """An impossible estimate setting; one line naming the setting, the value and what is allowed."""


def check_setting(name: str, value, lo, hi, *, integer: bool = False, what: str = "") -> None:
    """Raise :class:`SettingError` unless ``value`` is a number (an int when ``integer``) from
    ``lo`` to ``hi``; NaN and infinities never pass."""
    kind = int if integer else (int, float)
    if not (isinstance(value, kind) and not isinstance(value, bool) and lo <= value <= hi):
        span = f"from {lo:,} to {hi:,}" if integer else f"in [{lo:g}, {hi:g}]"
        raise SettingError(f"{name} = {shown(value)} is not allowed: "
                           f"{what or ('an integer' if integer else 'a number')} {span}")


@dataclass(frozen=True)
class Technique:
    """How training is mapped; every field is a switch or a documented setting.

    update : "opa" | "serial" | "external"
        In-crossbar outer-product updates (PANTHER), serial-write updates (PipeLayer-like), or
        weights computed elsewhere and written in (3D-ReG).
    pim_phases : phases run on the crossbars (forward always; backward and gradient optional).
    tconv : "naive" | "decomposed"
        Transposed convolutions by zero insertion or by the s^2 sub-kernel decomposition.
    zero_skip : {phase: fraction of input steps skipped} for forward / backward / gradient.
    write_elim : {phase: fraction of writes eliminated} for writes / gradient (whole OPAs) /
        update / crs; eliminated writes also skip the MVMs of their operand tiles.
    replication : int >= 1 or "balanced".
    pipeline : pipeline layers across the mini-batch.
    crs_samples : samples (OPAs into every update cell) between carry resolutions (opa only);
        an iteration of ``batch`` samples is charged ``batch / crs_samples`` of them; 0 = never
        (nothing to resolve, e.g. digital weights; PANTHER's compiler emits no CRS either).
    acc_bits : [assumption] width of the digital gradient accumulators (serial update).
    opa_writes_per_cell : [assumption] writes one OPA counts for every update cell it spans
        (endurance; the golden OPA counts every touched cell once).
    """

    update: str = "opa"
    pim_phases: tuple[str, ...] = ("forward", "backward", "gradient")
    tconv: str = "naive"
    zero_skip: tuple[tuple[str, float], ...] = ()
    write_elim: tuple[tuple[str, float], ...] = ()
    replication: int | str = "balanced"
    pipeline: bool = True
    crs_samples: int = CRS_SAMPLES_DEFAULT
    acc_bits: int = 32
    opa_writes_per_cell: float = 1.0

    def __post_init__(self):
        if self.update not in UPDATES:
            raise SettingError(f"update = {shown(self.update)}: use one of {', '.join(UPDATES)}")
        if "forward" not in self.pim_phases or not set(self.pim_phases) <= set(ZERO_SKIP_PHASES):
            raise SettingError(f"pim_phases = {list(self.pim_phases)!r}: forward plus any of backward, "
                               "gradient")
        if self.update != "external" and set(self.pim_phases) != set(ZERO_SKIP_PHASES):
            raise SettingError(f"update = {self.update!r} runs every phase on the crossbars; "
                               "pim_phases applies to update = 'external'")
        if self.update == "external" and "gradient" in self.pim_phases:
            raise SettingError("update = 'external' computes the weight gradient off the crossbars")
        if self.tconv not in ("naive", "decomposed"):
            raise SettingError(f"tconv = {shown(self.tconv)}: use naive or decomposed")
        for name, table, allowed in (("zero_skip", self.zero_skip, ZERO_SKIP_PHASES),
                                     ("write_elim", self.write_elim, WRITE_ELIM_PHASES)):
            for phase, frac in table:
                if phase not in allowed:
                    raise SettingError(f"{name} phase {shown(phase)}: use one of {', '.join(allowed)}")
                if not (isinstance(frac, (int, float)) and 0 <= frac < 1):
                    raise SettingError(f"{name} {phase} = {shown(frac)}: a fraction in [0, 1)")
        if self.replication != "balanced":
            check_setting("replication", self.replication, 1, MAX_REPLICATION, integer=True,
                          what="'balanced' or an integer")
        check_setting("mapper.crs_samples", self.crs_samples, 0, MAX_CRS_SAMPLES, integer=True,
                      what="samples between carry resolutions (0 = never), an integer")
        check_setting("mapper.acc_bits", self.acc_bits, 1, MAX_ACC_BITS, integer=True)
        check_setting("mapper.opa_writes_per_cell", self.opa_writes_per_cell, 0, MAX_OPA_WRITES)

    def skip(self, phase: str) -> float:
        return dict(self.zero_skip).get(phase, 0.0)

    def elim(self, phase: str) -> float:
        return dict(self.write_elim).get(phase, 0.0)


@dataclass
class Counts:
    """Events of one phase (crosstrain.golden.events.Events names) plus what the cost model also needs.

    ``row_reads`` are serial reads of one array row (CRS, serial updates); they are not in
    ``array_steps`` / ``adc_conversions`` (their conversions are priced inside the row read).
    ``buffer_bits`` are bits read from or written to the tile eDRAM; ``network_bits`` bits sent
    between layers in ``transfers`` transfers; the others are the digital events of the module
    docstring (crosstrain.golden.config.PART_EVENTS). Counts may be fractional (averages under
    skipping and elimination).
    """

    array_steps: float = 0.0
    dac_conversions: float = 0.0
    adc_conversions: float = 0.0
    shift_adds: float = 0.0
    opa_phases: float = 0.0
    opa_steps: float = 0.0
    crs_ops: float = 0.0
    cell_writes: float = 0.0
    rows_written: float = 0.0
    row_reads: float = 0.0
    buffer_bits: float = 0.0
    input_buffer_writes: float = 0.0
    input_buffer_reads: float = 0.0
    output_buffer_writes: float = 0.0
    data_memory_accesses: float = 0.0
    alu_ops: float = 0.0
    multiplies: float = 0.0
    instructions: float = 0.0
    network_bits: float = 0.0
    transfers: float = 0.0

    @classmethod
    def from_events(cls, ev: Events, scale: float = 1.0) -> "Counts":
        return cls(*(getattr(ev, n, 0.0) * scale for n in _COUNT_NAMES))

    def __add__(self, other: "Counts") -> "Counts":
        a, b = self.__dict__, other.__dict__
        return Counts(**{n: a[n] + b[n] for n in _COUNT_NAMES})

    def as_dict(self) -> dict:
        return {n: getattr(self, n) for n in _COUNT_NAMES}


_COUNT_NAMES = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True)
class Gemm:
    """One crossbar-mapped matrix: ``vectors`` MVMs per sample through ``rows`` x ``cols``;
    ``groups`` such matrices (phase groups of one geometry) work side by side, and every other
    field counts one of them."""

    rows: int
    cols: int
    vectors: int
    issued_macs: int          # per sample: row activations x columns (inserted zeros included)
    useful_macs: int          # per sample: those that pair a real input with a real output
    label: str = ""
    groups: int = 1

    def blocks(self, cfg: HardwareConfig) -> tuple[int, int]:
        return math.ceil(self.rows / cfg.crossbar.rows), math.ceil(self.cols / cfg.crossbar.cols)


@lru_cache(maxsize=4096)
def gemms(layer: Layer, *, tconv: str = "naive") -> tuple[Gemm, ...]:
    """The GEMMs that compute ``layer`` (empty for pool / add)."""
    L = layer
    if L.kind == "fc":
        return (Gemm(L.in_ch, L.out_ch, 1, L.in_ch * L.out_ch, L.in_ch * L.out_ch),)
    if L.kind == "conv":
        uy = useful_taps(L.in_h, L.kernel, L.stride, L.padding, L.out_h)
        ux = useful_taps(L.in_w, L.kernel, L.stride, L.padding, L.out_w)
        rows, n = L.kernel ** 2 * L.in_ch, L.out_h * L.out_w
        useful = uy * ux * L.in_ch * L.out_ch
        return (Gemm(rows, L.out_ch, n, n * rows * L.out_ch, useful),)
    if L.kind != "tconv":
        return ()
    spec = conv_transpose(L)
    useful = zeroskip.useful_macs(spec)
    if tconv == "naive":                # every output pixel drives the whole kernel
        rows, n = L.kernel ** 2 * L.in_ch, L.out_h * L.out_w
        return (Gemm(rows, L.out_ch, n, n * rows * L.out_ch, useful, "zero-inserted"),)
    if L.in_h == L.in_w == 1:           # every output reads the single input once: a dense layer
        return (Gemm(L.in_ch, L.out_ch * L.out_h * L.out_w, 1, useful, useful, "1x1 input as dense"),)
    # crosstrain.golden.deconv's pixel-wise mapping: one group per output phase, only real pixels
    # read; phases of equal geometry are one Gemm with `groups` copies
    out = []
    for ph, groups in spec.phase_classes():
        n = ph.y.read_count * ph.x.read_count
        if n:
            macs = ph.y.reads * ph.x.reads * L.in_ch * L.out_ch
            label = f"phase ({ph.y.phase},{ph.x.phase})" + (f" and {groups - 1} alike" if groups > 1 else "")
            out.append(Gemm(ph.slots * L.in_ch, L.out_ch, n, macs, macs, label, groups))
    return tuple(out)


@dataclass
class PhaseWork:
    """One layer's share of one phase: iteration counts and cycles."""

    counts: Counts = field(default_factory=Counts)
    sample_cycles: float = 0.0    # one sample through this layer (its pipeline stage time)
    batch_cycles: float = 0.0     # the whole mini-batch back to back, this layer alone
    movement_cycles: float = 0.0  # of each sample's cycles: loads, stores, network (in both above)


@dataclass
class LayerMap:
    layer: Layer
    gemms: tuple[Gemm, ...]
    replication: int
    arrays: dict[str, int]                   # copy -> physical arrays
    phases: dict[str, PhaseWork]
    writes_per_cell: dict[str, float]        # copy -> writes of its busiest cell per iteration

    @property
    def total_arrays(self) -> int:
        return sum(self.arrays.values())

    @property
    def utilization(self) -> float:
        """Useful multiply-adds / multiply-adds issued to rows (forward; issue 4's definition:
        a row driven with an inserted or padding zero is issued, an idle row is not)."""
        issued = sum(g.groups * g.issued_macs for g in self.gemms)
        return sum(g.groups * g.useful_macs for g in self.gemms) / issued if issued else 1.0


@dataclass
class NetworkMap:
    network: Network
    cfg: HardwareConfig
    technique: Technique
    batch: int
    layers: list[LayerMap]

    @property
    def arrays(self) -> int:
        return sum(l.total_arrays for l in self.layers)

    def phase_counts(self, phase: str) -> Counts:
        total = Counts()
        for l in self.layers:
            total = total + l.phases[phase].counts
        return total

    def pass_cycles(self, phases: tuple[str, ...]) -> float:
        """One pass of the batch through every layer, ``phases`` running concurrently per layer.

        Pipelined, a layer is a stage that a sample enters ``step`` cycles after the previous
        one (its marginal cost per sample) and leaves ``sample_cycles`` after entering, so the
        pass takes ``sum(sample) + (batch - 1) * max(step)`` (= the layer's batch cycles for a
        single layer)."""
        if not self.technique.pipeline:
            return sum(max(l.phases[p].batch_cycles for p in phases) for l in self.layers)
        fill, step = self.pipeline_stages(phases)
        return fill + (self.batch - 1) * step

    def pipeline_stages(self, phases: tuple[str, ...]) -> tuple[float, float]:
        """(fill, step) of the pipelined pass of :meth:`pass_cycles`: the sum of the layers'
        one-sample cycles and the slowest layer's marginal cycles per further sample."""
        works = [[l.phases[p] for p in phases] for l in self.layers]
        fill = sum(max(w.sample_cycles for w in ws) for ws in works)
        if self.batch == 1:
            return fill, 0.0
        step = max((max((w.batch_cycles - w.sample_cycles) / (self.batch - 1) for w in ws)
                    for ws in works), default=0.0)
        return fill, step

    def timeline(self) -> dict[str, float]:
        """Cycles of one iteration on the critical path: forward pass, backward pass (error and
        gradient concurrently), weight update and amortized CRS (all layers in parallel)."""
        t = {"forward": self.pass_cycles(("forward", "writes")),
             "backward": self.pass_cycles(("backward", "gradient")),
             "update": max((l.phases["update"].batch_cycles for l in self.layers), default=0.0),
             "crs": max((l.phases["crs"].batch_cycles for l in self.layers), default=0.0)}
        t["total"] = sum(t.values())
        return t

    @property
    def writes_per_cell(self) -> dict[str, float]:
        """Copy -> writes of its busiest cell per iteration, over all layers."""
        out: dict[str, float] = {}
        for l in self.layers:
            for copy, w in l.writes_per_cell.items():
                out[copy] = max(out.get(copy, 0.0), w)
        return out

    @property
    def max_writes_per_cell(self) -> float:
        return max(self.writes_per_cell.values(), default=0.0)


@lru_cache(maxsize=512)
def view(cfg: HardwareConfig, **changes) -> HardwareConfig:
    """``cfg`` with some fields changed (cached); ``cfg`` itself when nothing changes."""
    flat = {k.replace("__", "."): v for k, v in changes.items()}
    current = {k: getattr(getattr(cfg, k.split(".")[0]), k.split(".")[1]) for k in flat}
    return cfg if current == flat else cfg.with_overrides(flat)


def mvm_cycles(sched: cycles.MvmSchedule, n: float, skip: float = 0.0) -> float:
    """Cycles of ``n`` back-to-back MVMs (crosstrain.golden.cycles) with a fraction ``skip`` of every
    MVM's input steps skipped (zero bit-planes)."""
    n = math.ceil(n)
    if n <= 0:
        return 0.0
    return sched.total(n) - skip * (sched.interval * (n - 1) + (sched.steps - 1) * sched.step_interval)


EDRAM_ACCESS_BITS = 256    # PANTHER / PUMA: the eDRAM access width is 256 bits (constants_panther.py)


def digital_work(c: Counts, x: Gemm, cfg: HardwareConfig, n: float, *, bits: int, steps: float,
                 transposed: bool = False) -> float:
    """Count the loads, stores, buffer, ALU and instruction events of ``n`` MVMs (or transposed
    MVMs) of ``steps`` input steps through ``x`` (module docstring); returns the eDRAM accesses of
    one of them."""
    rb, cb = x.blocks(cfg)
    loads, stores = (x.cols * rb, x.rows * cb) if transposed else (x.rows * cb, x.cols * rb)
    c.buffer_bits += n * (loads + stores) * bits
    c.input_buffer_writes += n * loads
    c.input_buffer_reads += n * rb * cb * steps
    c.output_buffer_writes += n * stores
    c.data_memory_accesses += n * 2 * (loads + stores)
    c.alu_ops += n * stores
    c.multiplies += n * x.rows if transposed else 0.0
    c.instructions += n * (3 * rb * cb + 1)
    return (loads + stores) * bits / EDRAM_ACCESS_BITS


def transfer(c: Counts, n: float, values: int, bits: int, cfg: HardwareConfig) -> float:
    """``n`` samples each sending ``values`` values of ``bits`` bits to the next layer's tiles;
    returns the network time of one, ns."""
    c.network_bits += n * values * bits
    c.transfers += n
    return cfg.tile.noc_latency_ns + values * bits / cfg.tile.noc_bandwidth_gbps


def _add_end(w: PhaseWork, end: int) -> None:
    """A stream of MVMs ends ``end`` cycles after its schedule (its last output stored:
    :func:`crosstrain.golden.cycles.stream_end_cycles`), per sample and per mini-batch."""
    if w.batch_cycles:
        w.sample_cycles += end
        w.batch_cycles += end


def _add_movement(w: PhaseWork, edram_accesses: float, network_ns: float, tiles: int,
                  cfg: HardwareConfig, batch: int) -> None:
    """Put one sample's loads, stores (``edram_accesses``, spread over ``tiles`` eDRAMs) and
    network transfer on the phase's critical path, for one sample and for the batch."""
    ns = edram_accesses / tiles * cfg.tile.edram_access_ns + network_ns
    w.movement_cycles += ns * cfg.tile.clock_ghz
    w.sample_cycles += ns * cfg.tile.clock_ghz
    w.batch_cycles += batch * ns * cfg.tile.clock_ghz


def replication_factors(net: Network, tech: Technique) -> dict[str, int]:
    vec = {l.name: max(g.vectors for g in gemms(l, tconv=tech.tconv)) for l in net.weight_layers}
    if tech.replication != "balanced":
        return {n: min(tech.replication, v) for n, v in vec.items()}
    convs = [l for l in net.weight_layers if l.kind != "fc"]
    ref = vec[max(convs, key=lambda l: l.weights).name] if convs else 1
    return {n: max(1, min(v, round(v / ref))) for n, v in vec.items()}


def map_network(net: Network, cfg: HardwareConfig, tech: Technique = Technique(), *,
                batch: int = 64) -> NetworkMap:
    """Map every layer of ``net`` for one training iteration of ``batch`` samples."""
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise SettingError(f"batch = {batch!r}: a positive integer")
    g = replication_factors(net, tech)
    layers = [map_layer(l, cfg, tech, batch=batch, replication=g.get(l.name, 1)) for l in net.layers]
    return NetworkMap(net, cfg, tech, batch, layers)


def map_layer(layer: Layer, cfg: HardwareConfig, tech: Technique, *, batch: int,
              replication: int = 1) -> LayerMap:
    phases = {p: PhaseWork() for p in PHASES}
    if not layer.has_weights:
        _digital_layer(layer, cfg, phases, batch)
        return LayerMap(layer, (), 1, {}, phases, {})
    B, g, p = batch, replication, cfg.precision
    parts = gemms(layer, tconv=tech.tconv)
    backward = layer.needs_input_error and "backward" in tech.pim_phases
    err = view(cfg, precision__input_bits=p.error_bits)
    cell_copies = 2 if backward else 1                    # forward (+ backward) weight copies
    blocks = sum(x.groups * a * b for x, (a, b) in ((x, x.blocks(cfg)) for x in parts))
    arrays = {"forward": g * blocks * cfg.arrays_per_block}
    if backward:
        arrays["backward"] = arrays["forward"]
    wpc = {}

    moved = {}                                            # phase -> eDRAM accesses per sample

    # forward: one MVM per vector on every block of the forward copy
    f = phases["forward"]
    zs = tech.skip("forward")
    sched = cycles.mvm_schedule(cfg)
    for x in parts:
        n = B * x.vectors * x.groups
        f.counts += Counts.from_events(count_mvm_events(cfg, (x.rows, x.cols), n), 1 - zs)
        acc = digital_work(f.counts, x, cfg, n, bits=p.input_bits, steps=cfg.input_steps * (1 - zs))
        moved["forward"] = moved.get("forward", 0.0) + x.vectors * x.groups * acc
        f.sample_cycles = max(f.sample_cycles, mvm_cycles(sched, x.vectors / g, zs))
        f.batch_cycles = max(f.batch_cycles, mvm_cycles(sched, B * x.vectors / g, zs))
    _add_end(f, cycles.stream_end_cycles(cfg))
    net = {"forward": transfer(f.counts, B, layer.output_values, p.input_bits, cfg)}

    if backward:   # error back-propagation: transposed MVMs on the backward copy
        b = phases["backward"]
        zs = tech.skip("backward")
        sched = cycles.mvm_schedule(err, transposed=True)
        for x in parts:
            n = B * x.vectors * x.groups
            ev = count_mvm_events(err, (x.rows, x.cols), n, transposed=True)
            b.counts += Counts.from_events(ev, 1 - zs)
            acc = digital_work(b.counts, x, cfg, n, bits=p.error_bits,
                               steps=err.input_steps * (1 - zs), transposed=True)
            moved["backward"] = moved.get("backward", 0.0) + x.vectors * x.groups * acc
            b.sample_cycles = max(b.sample_cycles, mvm_cycles(sched, x.vectors / g, zs))
            b.batch_cycles = max(b.batch_cycles, mvm_cycles(sched, B * x.vectors / g, zs))
        _add_end(b, cycles.stream_end_cycles(cfg))
        net["backward"] = transfer(b.counts, B, layer.input_values, p.error_bits, cfg)

    if tech.update == "opa":
        moved["gradient"] = _opa_layer(parts, cfg, tech, phases, arrays, wpc, B, g, cell_copies)
    elif tech.update == "serial":
        _serial_layer(parts, cfg, tech, phases, arrays, wpc, B, g, cell_copies)
    else:
        _external_update(parts, cfg, tech, phases, wpc, g, cell_copies)
    tiles = math.ceil(sum(arrays.values()) / cfg.tile.arrays_per_tile)
    for name in moved.keys() | net.keys():
        _add_movement(phases[name], moved.get(name, 0.0), net.get(name, 0.0), tiles, cfg, B)
    return LayerMap(layer, parts, g, arrays, phases, wpc)


def _opa_layer(parts, cfg, tech, phases, arrays, wpc, B, g, copies):
    """PANTHER: OPA per vector into the update slices; CRS every crs_samples samples."""
    p, M = cfg.precision, cfg.precision.update_slices
    zs, we_g, we_c = tech.skip("gradient"), tech.elim("gradient"), tech.elim("crs")
    phases_per_opa = cycles.opa_phases(cfg)
    gr, crs = phases["gradient"], phases["crs"]
    per = B / tech.crs_samples if tech.crs_samples else 0.0     # CRS charged to this iteration
    moved = 0.0                              # eDRAM accesses per sample
    for x in parts:
        rb, cb = x.blocks(cfg)
        n_opa = B * x.vectors * (1 - we_g) * x.groups
        gr.counts.opa_phases += n_opa * rb * cb * M * phases_per_opa * (1 - zs)
        gr.counts.opa_steps += n_opa * rb * cb * M * p.input_bits * (1 - zs)
        loads = x.rows * cb * p.input_bits + x.cols * rb * p.error_bits        # x and the error
        gr.counts.buffer_bits += n_opa * loads
        gr.counts.input_buffer_writes += n_opa * (x.rows * cb + x.cols * rb)
        gr.counts.input_buffer_reads += n_opa * rb * cb * p.input_bits * (1 - zs)
        gr.counts.data_memory_accesses += n_opa * 2 * (x.rows * cb + x.cols * rb)
        gr.counts.instructions += n_opa * 2 * rb * cb
        moved += x.vectors * x.groups * (1 - we_g) * loads / EDRAM_ACCESS_BITS
        per_sample = math.ceil(x.vectors / g) * cycles.opa_cycles(cfg) * (1 - zs) * (1 - we_g)
        gr.sample_cycles = max(gr.sample_cycles, per_sample)
        gr.batch_cycles = max(gr.batch_cycles, math.ceil(B * x.vectors / g) * cycles.opa_cycles(cfg)
                              * (1 - zs) * (1 - we_g))
        # CRS: read every update-slice row, rewrite update slices and the weight copies
        rewritten = M + copies * cfg.arrays_per_block
        copy = per * g * x.groups                         # every replica of every group
        crs.counts.row_reads += copy * cb * x.rows * M
        crs.counts.crs_ops += copy * rb * cb
        crs.counts.cell_writes += copy * x.rows * x.cols * rewritten * (1 - we_c)
        crs.counts.rows_written += copy * cb * x.rows * rewritten * (1 - we_c)
        crs.counts.buffer_bits += copy * x.rows * x.cols * p.weight_bits
    # the unit finishes each stretch of OPAs between CRSs, and each CRS, one cycle late
    if gr.batch_cycles:
        gr.sample_cycles += cycles.finish_cycles(cfg)
        gr.batch_cycles += cycles.finish_cycles(cfg) * (math.ceil(B / tech.crs_samples) if tech.crs_samples else 1)
    crs_cfg = view(cfg, device__write_latency_ns=cfg.device.write_latency_ns * (1 - we_c))
    crs.batch_cycles = (cycles.crs_cycles(crs_cfg) + cycles.finish_cycles(cfg)) * per
    arrays["update"] = g * sum(x.groups * a * b for x, (a, b) in ((x, x.blocks(cfg)) for x in parts)) * M
    vec = max(math.ceil(B * x.vectors / g) for x in parts)
    wpc["update"] = vec * (1 - we_g) * tech.opa_writes_per_cell + per * (1 - we_c)
    wpc["forward"] = per * (1 - we_c)
    if "backward" in arrays:
        wpc["backward"] = wpc["forward"]
    return moved


def _serial_layer(parts, cfg, tech, phases, arrays, wpc, B, g, copies):
    """PipeLayer-like: write the batch's im2col activations into arrays, drive the errors through
    them (weight gradient), then read-modify-write the weight copies row by row."""
    p = cfg.precision
    act = view(cfg, precision__weight_bits=p.input_bits, precision__input_bits=p.error_bits)
    sched = cycles.mvm_schedule(act)
    zs, we_w, we_u = tech.skip("gradient"), tech.elim("writes"), tech.elim("update")
    wr, gr, up = phases["writes"], phases["gradient"], phases["update"]
    act_arrays = 0
    for x in parts:
        k = x.groups                                       # identical groups, side by side
        n = B * x.vectors                                  # rows of the activation matrix
        tiles_out = math.ceil(x.rows / cfg.crossbar.cols)
        chunks = math.ceil(n / cfg.crossbar.rows)
        wr.counts.cell_writes += k * n * x.rows * act.arrays_per_block * (1 - we_w)
        wr.counts.rows_written += k * n * tiles_out * act.arrays_per_block * (1 - we_w)
        wr.counts.buffer_bits += k * n * x.rows * p.input_bits
        w_cycles = math.ceil(n / g) * cycles.write_row_cycles(cfg) * (1 - we_w)
        wr.batch_cycles = max(wr.batch_cycles, w_cycles)
        wr.sample_cycles = max(wr.sample_cycles, w_cycles / B)
        ev = count_mvm_events(act, (n, x.rows), x.cols)     # one MVM per error column
        gr.counts += Counts.from_events(ev, k * (1 - zs) * (1 - we_w))
        accumulate = chunks * x.cols * x.rows * tech.acc_bits * 2      # partial gradients read + written
        gr.counts.buffer_bits += k * (x.cols * n * p.error_bits + accumulate) * (1 - we_w)
        m_cycles = mvm_cycles(sched, math.ceil(chunks / g) * x.cols, zs) * (1 - we_w)
        gr.batch_cycles = max(gr.batch_cycles, m_cycles)
        gr.sample_cycles = max(gr.sample_cycles, m_cycles / B)
        act_arrays += k * g * tiles_out * act.arrays_per_block
        wpc["activations"] = max(wpc.get("activations", 0.0), math.ceil(chunks / g) * (1 - we_w))
        _, cb = x.blocks(cfg)
        up.counts.row_reads += k * g * cb * x.rows * cfg.arrays_per_block
        up.counts.cell_writes += k * g * x.rows * x.cols * cfg.arrays_per_block * copies * (1 - we_u)
        up.counts.rows_written += k * g * cb * x.rows * cfg.arrays_per_block * copies * (1 - we_u)
        up.counts.buffer_bits += k * x.rows * x.cols * (tech.acc_bits + p.weight_bits)
    arrays["activations"] = act_arrays
    up_cfg = view(cfg, device__write_latency_ns=cfg.device.write_latency_ns * (1 - we_u))
    up.batch_cycles = up.sample_cycles = cycles.crs_cycles(up_cfg)
    wpc["forward"] = 1 - we_u
    if "backward" in arrays:
        wpc["backward"] = 1 - we_u


def _external_update(parts, cfg, tech, phases, wpc, g, copies):
    """3D-ReG: new weights arrive from the GPU and are written into every copy, row by row."""
    we_u = tech.elim("update")
    up = phases["update"]
    rows = 0
    for x in parts:
        _, cb = x.blocks(cfg)
        k = x.groups
        up.counts.cell_writes += k * g * x.rows * x.cols * cfg.arrays_per_block * copies * (1 - we_u)
        up.counts.rows_written += k * g * cb * x.rows * cfg.arrays_per_block * copies * (1 - we_u)
        up.counts.buffer_bits += k * x.rows * x.cols * cfg.precision.weight_bits
        rows = max(rows, min(x.rows, cfg.crossbar.rows))
    up.batch_cycles = up.sample_cycles = rows * cycles.write_row_cycles(cfg) * (1 - we_u)
    wpc["forward"] = 1 - we_u
    if copies == 2:
        wpc["backward"] = 1 - we_u


def _digital_layer(layer: Layer, cfg: HardwareConfig, phases, batch: int) -> None:
    """Pool / add: data moved through the eDRAM and on to the next layer, no crossbar work (the
    digital units are assumed to keep up)."""
    bits = cfg.precision.input_bits
    operands = 2 if layer.kind == "add" else 1
    f = phases["forward"]
    f.counts.buffer_bits = batch * bits * (operands * layer.input_values + layer.output_values)
    _add_movement(f, 0.0, transfer(f.counts, batch, layer.output_values, bits, cfg), 1, cfg, batch)
    if layer.needs_input_error:
        b, ebits = phases["backward"], cfg.precision.error_bits
        b.counts.buffer_bits = batch * ebits * (layer.output_values + operands * layer.input_values)
        _add_movement(b, 0.0, transfer(b.counts, batch, layer.input_values, ebits, cfg), 1, cfg,
                      batch)
