"""Zero skipping, and the cost of a transposed conv mapped naively, decomposed, and decomposed + skipping.

Zero skipping (any layer)
    An input vector is applied to the crossbar rows in ``input_steps`` DAC steps
    (:func:`crosstrain.golden.encoding.input_steps`). A step whose DAC levels are all zero adds nothing to any
    column (its ADC codes are 0), so it need not be issued; a vector that is all zero (ReLU) issues
    no step at all, and a zero value leaves its row idle in every step. Skipping is exact: the
    result equals the full MVM bit for bit, ADC clipping included. :func:`plan_steps` says, per
    vector, which steps are issued (:attr:`StepPlan.issued`), and :meth:`StepPlan.tokens` the
    stream a zero-skipping input buffer issues. The shift-and-add needs exactly this bookkeeping:
    each issued step's index selects its coefficient (``2**(dac_bits*k)``, or
    ``-2**(input_bits-1)`` for the sign step), ``first``/``last`` bound a vector (the first
    issued step need not be step 0, the last need not be the sign step). Vectors taller than one array are split into row
    tiles of ``crossbar.rows``; each tile is planned on its own (:func:`plan_tiles`).

Costs (:func:`layer_costs`)
    One crossbar *group* holds one weight matrix over ``ceil(rows / crossbar.rows) x
    ceil(cols / crossbar.cols)`` logical blocks of ``arrays_per_block`` arrays; every weight is
    stored once (no replication). One output pixel is one MVM of its group.

    - ``naive``: one group holds the whole kernel (``kernel^2 * in_channels`` rows) and runs one MVM
      per output pixel on the zero-inserted map; every row is issued, inserted zeros included.
    - ``decomposed``: ``stride^2`` groups, one per output phase, each holding its sub-kernel and
      running its phase's output pixels; groups work concurrently, so the layer takes as long as its
      busiest group. Rows whose window position falls outside the input have no pixel to read and
      stay idle; windows with no pixel at all are not run.
    - ``zero_skip``: ``decomposed`` with :func:`plan_steps` applied to each MVM. The row tiles of a
      group stay in lockstep: a step is spent when any tile issues it (a tile with nothing to add
      idles, and only issuing tiles count array steps and conversions).

    Cycles come from :func:`crosstrain.golden.cycles.mvm_schedule`: ``n`` MVMs back to back take
    ``schedule.total(n)``; a zero-skipped stream of ``T`` steps takes :func:`stream_cycles`, the
    same schedule with the skipped steps left out (steps keep starting every ``step_interval``).

    Utilization = useful multiply-adds / multiply-adds issued to rows, where a multiply-add is one
    row x one output channel of one MVM. Useful ones pair an input pixel with a kernel tap whose
    output lands inside the output; the naive mapping also issues the inserted zeros. Row occupancy
    = rows activated / rows of the group over its MVMs: where the decomposed mapping's border
    effects show. Zero skipping also removes genuine zeros, so its rows can fall below the useful
    count; its utilization is not reported, its skipped values and steps are.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from crosstrain.golden import crossbar, encoding
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.cycles import mvm_schedule
from crosstrain.golden.deconv import (
    ConvTranspose,
    phase_inputs,
    phase_matrix,
    phase_view,
    phase_windows,
    tap_hits,
)
from crosstrain.golden.events import Events

MAPPINGS = ("naive", "decomposed", "zero_skip")
TOKEN_FIELDS = ("vector", "step", "first", "last", "empty")


@dataclass
class SkipCounts:
    """What zero skipping found and removed."""

    vectors: int = 0
    zero_vectors: int = 0       # vectors that issued no step
    values: int = 0
    zero_values: int = 0        # rows left idle in every step
    steps: int = 0              # steps a full MVM would issue (vectors x input_steps)
    steps_issued: int = 0

    def __iadd__(self, other: "SkipCounts") -> "SkipCounts":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    @property
    def steps_skipped_fraction(self) -> float:
        return 1 - self.steps_issued / self.steps if self.steps else 0.0

    @property
    def values_skipped_fraction(self) -> float:
        return self.zero_values / self.values if self.values else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"steps_skipped_fraction": self.steps_skipped_fraction,
                               "values_skipped_fraction": self.values_skipped_fraction}


@dataclass(frozen=True)
class StepPlan:
    """Which steps of each input vector carry information.

    ``issued[n, k]`` is true when step ``k`` of vector ``n`` drives some row with a non-zero DAC
    level; ``zero[n, r]`` when value ``r`` of vector ``n`` is zero; ``coef[k]`` is the
    shift-and-add weight of step ``k``.
    """

    issued: np.ndarray
    zero: np.ndarray
    coef: np.ndarray

    def sequence(self, n: int) -> np.ndarray:
        """Step indices vector ``n`` issues, in order (LSB chunk first, the sign step last)."""
        return np.flatnonzero(self.issued[n])

    def tokens(self) -> np.ndarray:
        """The step stream a zero-skipping input buffer issues, one row per token, in order.

        Columns :data:`TOKEN_FIELDS`: the vector, the step index (its shift, or the sign step
        when ``step == input_steps - 1``), ``first`` (clear the accumulators), ``last`` (emit the
        output) and ``empty``: an all-zero vector issues no step but one empty token, so that
        its output (zero) still leaves in order without a crossbar read.
        """
        n_vec, n_steps = self.issued.shape
        empty = ~self.issued.any(axis=1)
        keep = self.issued | (empty[:, None] & (np.arange(n_steps) == 0))
        vec, step = np.nonzero(keep)
        first = np.r_[True, vec[1:] != vec[:-1]]
        last = np.r_[vec[1:] != vec[:-1], True]
        return np.column_stack([vec, step, first, last, empty[vec]]).astype(np.int64)

    @property
    def counts(self) -> SkipCounts:
        n, s = self.issued.shape
        issued = int(self.issued.sum())
        return SkipCounts(vectors=n, zero_vectors=int((~self.issued.any(axis=1)).sum()),
                          values=self.zero.size, zero_values=int(self.zero.sum()),
                          steps=n * s, steps_issued=issued)


def plan_steps(x: np.ndarray, cfg: HardwareConfig) -> StepPlan:
    """The zero-skipping plan of signed integer inputs ``x`` (N x R)."""
    x = np.atleast_2d(x)
    steps, coef = encoding.input_steps(x, cfg)                  # (S, N, R)
    return StepPlan(issued=steps.any(axis=2).T, zero=x == 0, coef=coef)


def plan_tiles(x: np.ndarray, cfg: HardwareConfig) -> list[StepPlan]:
    """One plan per row tile of ``crossbar.rows`` rows."""
    x = np.atleast_2d(x)
    rows = cfg.crossbar.rows
    return [plan_steps(x[:, r0:r0 + rows], cfg) for r0 in range(0, x.shape[1], rows)]


def mvm_skipping(w: np.ndarray, x: np.ndarray, cfg: HardwareConfig, *,
                 events: Events | None = None, counts: SkipCounts | None = None) -> np.ndarray:
    """``x @ w`` through the ideal crossbar, issuing only the steps :func:`plan_steps` keeps.

    Same arguments and result as :func:`crosstrain.golden.crossbar.mvm` (``transposed=False``, ideal array);
    events count only issued steps, and ``counts`` accumulates what was skipped.
    """
    levels, sign, shift = encoding.slice_weights(w, cfg)
    x2 = encoding.check_range("input", np.atleast_2d(x), cfg.precision.input_bits)
    if x2.shape[1] != levels.shape[1]:
        raise ValueError(f"input length {x2.shape[1]} does not match the matrix's rows "
                         f"({levels.shape[1]})")
    events = events if events is not None else Events()
    n_arr, n_in, n_out = levels.shape
    col_tiles = math.ceil(n_out / cfg.crossbar.cols)
    acc = np.zeros((len(x2), n_out), dtype=np.int64)
    rows = cfg.crossbar.rows
    for r0 in range(0, n_in, rows):
        tile = x2[:, r0:r0 + rows]
        steps, coef = encoding.input_steps(tile, cfg)
        plan = StepPlan(issued=steps.any(axis=2).T, zero=tile == 0, coef=coef)
        n_idx, s_idx = np.nonzero(plan.issued)
        codes = crossbar.adc(crossbar.column_sums(levels[:, r0:r0 + rows], steps[s_idx, n_idx]), cfg)
        z = np.tensordot(codes, (sign << shift).astype(np.int64), axes=([1], [0]))   # (M, C)
        np.add.at(acc, n_idx, coef[s_idx, None] * z)
        issued = len(n_idx)
        events.array_steps += issued * n_arr * col_tiles
        events.dac_conversions += issued * n_arr * col_tiles * tile.shape[1]
        events.adc_conversions += issued * n_arr * n_out
        events.shift_adds += issued * n_arr * n_out
        if counts is not None:
            counts += plan.counts
    bias = encoding.weight_offset(cfg) * x2.sum(axis=1, keepdims=True)
    lsb = cfg.converters.adc_lsb
    y = acc - bias if lsb == 1.0 else acc.astype(np.float64) * lsb - bias
    return y if np.ndim(x) > 1 else y[0]


def crossbar_deconv(spec: ConvTranspose, x: np.ndarray, w: np.ndarray, cfg: HardwareConfig, *,
                    skip: bool = True, events: Events | None = None,
                    counts: SkipCounts | None = None) -> np.ndarray:
    """The transposed conv of integer codes as the decomposed mapping computes it on crossbars.

    Each phase group stores its sub-kernel (:func:`crosstrain.golden.deconv.phase_matrix`) and runs one MVM
    per window that reads a pixel (:func:`crosstrain.golden.deconv.phase_inputs`), with zero skipping
    (:func:`mvm_skipping`) or without (:func:`crosstrain.golden.crossbar.mvm`). Windows that read nothing
    leave their output at zero. Equals :func:`crosstrain.golden.deconv.polyphase` when no ADC code clips.
    """
    x, w = spec.check_input(x), spec.check_weight(w)
    out = np.zeros((len(x), spec.out_channels, spec.out_height, spec.out_width), dtype=np.int64)
    for ph in spec.phases:
        ny, nx = ph.y.read_count, ph.x.read_count
        if not ny or not nx:
            continue
        vec = phase_inputs(spec, x, ph)[:, :ny, :nx].reshape(-1, ph.slots * spec.in_channels)
        m = phase_matrix(spec, w, ph)
        y = (mvm_skipping(m, vec, cfg, events=events, counts=counts) if skip
             else crossbar.mvm(m, vec, cfg, events=events))
        phase_view(spec, out, ph)[:, :, :ny, :nx] = y.reshape(len(x), ny, nx, -1).transpose(0, 3, 1, 2)
    return out


def stream_cycles(cfg: HardwareConfig, steps: int) -> int:
    """Cycles to issue ``steps`` crossbar steps back to back through one MVM unit.

    The :func:`crosstrain.golden.cycles.mvm_schedule` with skipped steps left out: ``steps = n *
    input_steps`` gives ``schedule.total(n)``. ``steps`` counts step slots: in the RTL
    (:class:`crosstrain.rtl.mvm_unit.MvmUnit` with ``skip_zero``) every token of :meth:`StepPlan.tokens`
    takes one, so an all-zero vector's ``empty`` token costs one slot (it drives, samples and
    converts nothing but keeps its zero output in order); pass ``len(tokens)``.
    """
    s = mvm_schedule(cfg)
    return 0 if steps <= 0 else s.latency + (steps - s.steps) * s.step_interval


def blocks(cfg: HardwareConfig, rows: int, cols: int) -> int:
    """Logical crossbar blocks holding a rows x cols matrix."""
    return math.ceil(rows / cfg.crossbar.rows) * math.ceil(cols / cfg.crossbar.cols)


@dataclass
class MappingCost:
    """Cost of one layer (all of its batch) under one mapping."""

    mapping: str
    arrays: int
    mvms: int
    rows_allocated: int         # rows of the group, summed over its MVMs
    rows_activated: int         # rows given an operand (inserted zeros included for naive)
    issued_macs: int
    useful_macs: int
    cycles: int
    events: Events = field(default_factory=Events)
    skipped: SkipCounts = field(default_factory=SkipCounts)

    @property
    def utilization(self) -> float:
        return self.useful_macs / self.issued_macs if self.issued_macs else 0.0

    @property
    def occupancy(self) -> float:
        return self.rows_activated / self.rows_allocated if self.rows_allocated else 0.0


def useful_macs(spec: ConvTranspose, batch: int = 1) -> int:
    """Multiply-adds of the definition whose output lands inside the output (closed form)."""
    s, p, k = spec.stride, spec.padding, spec.kernel
    hy = tap_hits(spec.height, k, s, p, p + spec.out_height)      # (input, tap) pairs per axis
    hx = tap_hits(spec.width, k, s, p, p + spec.out_width)
    return batch * hy * hx * spec.in_channels * spec.out_channels


def layer_costs(spec: ConvTranspose, cfg: HardwareConfig, x: np.ndarray | None = None, *,
                batch: int = 1) -> dict[str, MappingCost]:
    """Costs of ``naive``, ``decomposed`` and (when input codes ``x`` are given) ``zero_skip``.

    ``x`` holds signed ``precision.input_bits`` codes of shape (batch, in_channels, height, width);
    without it only the value-independent mappings are costed, for ``batch`` images, in closed
    form (time and memory independent of the layer's size). Phase groups of equal geometry
    (:meth:`crosstrain.golden.deconv.ConvTranspose.phase_classes`) are costed once.
    """
    if x is not None:
        x = encoding.check_range("input", spec.check_input(x), cfg.precision.input_bits)
        batch = len(x)
    sched = mvm_schedule(cfg)
    cin, cout, apb = spec.in_channels, spec.out_channels, cfg.arrays_per_block
    useful = useful_macs(spec, batch)

    k_rows = spec.kernel ** 2 * cin
    mvms = batch * spec.out_height * spec.out_width
    costs = {"naive": MappingCost(
        "naive", arrays=blocks(cfg, k_rows, cout) * apb, mvms=mvms, rows_allocated=mvms * k_rows,
        rows_activated=mvms * k_rows, issued_macs=mvms * k_rows * cout, useful_macs=useful,
        cycles=sched.total(mvms), events=crossbar.count_mvm_events(cfg, (k_rows, cout), mvms))}

    dec = MappingCost("decomposed", arrays=0, mvms=0, rows_allocated=0, rows_activated=0,
                      issued_macs=0, useful_macs=useful, cycles=0)
    for ph, groups in spec.phase_classes():
        rows = ph.slots * cin
        n = batch * ph.y.read_count * ph.x.read_count
        dec.arrays += groups * blocks(cfg, rows, cout) * apb
        dec.mvms += groups * n
        dec.rows_allocated += groups * n * rows
        dec.rows_activated += groups * batch * ph.y.reads * ph.x.reads * cin
        dec.cycles = max(dec.cycles, sched.total(n))
        dec.events += crossbar.count_mvm_events(cfg, (rows, cout), groups * n)
    dec.issued_macs = dec.rows_activated * cout
    costs["decomposed"] = dec
    if x is not None:
        costs["zero_skip"] = _zero_skip_cost(spec, cfg, x, dec)
    return costs


#: Input values the zero-skipping cost plans at once (its memory is bounded by this, not by the
#: layer: the windows are a view of the input, copied a chunk at a time).
PLAN_CHUNK_VALUES = 1 << 18


def _zero_skip_cost(spec, cfg, x, dec: MappingCost) -> MappingCost:
    """The zero-skipping cost; phase groups of equal geometry see the same input windows (only
    their weights differ), so each class is planned once, a chunk of windows at a time."""
    cout, apb, cin = spec.out_channels, cfg.arrays_per_block, spec.in_channels
    col_tiles = math.ceil(cout / cfg.crossbar.cols)
    zs = MappingCost("zero_skip", arrays=dec.arrays, mvms=0, rows_allocated=0, rows_activated=0,
                     issued_macs=0, useful_macs=dec.useful_macs, cycles=0)
    for ph, groups in spec.phase_classes():
        ny, nx, rows = ph.y.read_count, ph.x.read_count, ph.slots * cin
        if not ny or not nx:
            continue
        windows = phase_windows(spec, x, ph)                        # a view: nothing copied
        events, steps, issued, run, nonzero = Events(), 0, 0, 0, 0
        span_x = min(nx, max(1, PLAN_CHUNK_VALUES // rows))
        span_y = max(1, PLAN_CHUNK_VALUES // (span_x * rows))
        for b, qy, qx in itertools.product(range(len(x)), range(0, ny, span_y), range(0, nx, span_x)):
            vec = windows[b, qy:min(qy + span_y, ny), qx:min(qx + span_x, nx)].reshape(-1, rows)
            any_step = np.zeros((len(vec), cfg.input_steps), dtype=bool)
            for plan in plan_tiles(vec, cfg):
                any_step |= plan.issued
                n = int(plan.issued.sum())
                events += Events(array_steps=n * apb * col_tiles,
                                 dac_conversions=n * apb * col_tiles * plan.zero.shape[1],
                                 adc_conversions=n * apb * cout, shift_adds=n * apb * cout)
            steps += any_step.size
            issued += int(any_step.sum())
            run += int(any_step.any(axis=1).sum())
            nonzero += int(np.count_nonzero(vec))
        vectors = len(x) * ny * nx
        read_values = len(x) * ph.y.reads * ph.x.reads * cin       # pixels the address generator reads
        zs.events += Events(**{f: groups * v for f, v in events.as_dict().items()})
        zs.skipped += SkipCounts(vectors=groups * vectors, zero_vectors=groups * (vectors - run),
                                 values=groups * read_values,
                                 zero_values=groups * (read_values - nonzero),
                                 steps=groups * steps, steps_issued=groups * issued)
        zs.mvms += groups * run
        zs.rows_allocated += groups * run * rows
        zs.rows_activated += groups * nonzero
        # one slot per issued step, and one empty token per all-zero vector (as the RTL spends)
        zs.cycles = max(zs.cycles, stream_cycles(cfg, issued + vectors - run))
    zs.issued_macs = zs.rows_activated * cout
    return zs
