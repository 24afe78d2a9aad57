"""Insignificant-write elimination: policies, the comparator's reference and the wear they leave.

Where training writes into ReRAM (the PipeLayer-style training that the IEEE TC 2023 scheme
starts from; reference sheet sections 1 and 5):

- ``activations``: each weight layer's input feature map is written into buffer arrays in the
  forward pass and read back for the weight gradient;
- ``errors``: each weight layer's output error (after the ReLU derivative) is written into
  arrays as the stored matrix of the weight-gradient MVM ``dW = X^T delta`` (the activations are
  streamed through the DACs);
- ``updates``: the updated weights are written back into the weight arrays.

Every matrix is stored like a weight matrix (:func:`crosstrain.golden.encoding.slice_weights`): positions
(or weight rows) in array rows, channels in array columns, each signed fixed-point code across
the slice arrays' cells, tiled over ``crossbar.rows x crossbar.cols`` arrays. One *level* is one
unit of a cell's level range; for the LSB slice it is one LSB of the code, for slice ``a`` it is
``2**shift[a]`` LSBs.

A :class:`WritePolicy` compares each element with a threshold ``T`` and writes only what is
significant:

- ``compare="value"`` (operands only): an element is significant when ``|new| > T``. Groups
  (a row group or a whole tile of one array) with no significant element are not written; the
  group's rows are gated off the weight-gradient MVM (their stale cells never contribute), so
  the MVM sees zeros there, and a skipped tile skips its MVMs. A single cell cannot be gated,
  so value comparison needs row or tile granularity.
- ``compare="delta"``: each cell's new level is compared with the level stored in it:
  significant when ``|new_level - stored_level| > T_a`` where ``T_a = floor(tau / 2**shift[a])``
  is the threshold in that slice's levels. Cells that are not written keep their level. At
  ``tau < 1`` exactly the cells whose level changes are written ("no level change" skipping,
  loss-free); ``tau = 0.5`` is "skip cells whose |dW| is below half a level".

``tau`` is ``threshold`` levels (LSBs), or with ``relative`` the fraction ``threshold`` of the
largest ``|new|`` (value) or ``|new - stored|`` (delta) of the matrix being written; integer
codes make ``|d| > tau`` the same as ``|d| > floor(tau)``, which is the comparator's register.
Row and tile granularity write every cell of a group that holds a significant element; cell
granularity writes exactly the significant cells.

:func:`compare_beats` is the reference of the RTL comparator (:mod:`crosstrain.rtl.write_elim`): the
elements arrive as beats (one array row of one tile), groups end at a beat marked ``last`` (the
end of a tile) or, at row granularity, every ``row_group`` beats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from crosstrain.golden import encoding
from crosstrain.golden.array import ProgrammedArray
from crosstrain.golden.config import ConfigError, HardwareConfig
from crosstrain.golden.events import Events

PHASES = ("activations", "errors", "updates")
OPERAND_PHASES = ("activations", "errors")
COMPARES = ("value", "delta")
GRANULARITIES = ("cell", "row", "tile")
REASONS = ("zero", "unchanged", "below_threshold")


def _fail(name, value, allowed):
    raise ConfigError(f"write policy {name} = {value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class WritePolicy:
    """One named write-elimination setting; see the module docstring for the semantics.

    Parameters
    ----------
    name : str
    phases : tuple of str
        Which writes it governs: any of ``activations``, ``errors``, ``updates``.
    compare : str
        ``value`` (skip groups of small values; operands only) or ``delta`` (skip cells whose
        level would not change by more than the threshold).
    granularity : str
        ``cell``, ``row`` (``row_group`` rows of one tile) or ``tile`` (one array's tile).
    threshold : float
        ``tau`` in levels (LSBs of the stored code), or a fraction in [0, 1] with ``relative``.
    relative : bool
    row_group : int
        Rows per group at row granularity.
    """

    name: str
    phases: tuple[str, ...]
    compare: str = "value"
    granularity: str = "tile"
    threshold: float = 0.0
    relative: bool = False
    row_group: int = 1

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            _fail("name", self.name, "a non-empty name without spaces")
        phases = tuple(self.phases) if isinstance(self.phases, (tuple, list)) else (self.phases,)
        object.__setattr__(self, "phases", phases)
        if not phases or any(p not in PHASES for p in phases) or len(set(phases)) != len(phases):
            _fail("phases", list(phases), f"one or more of {', '.join(PHASES)}, each once")
        if self.compare not in COMPARES:
            _fail("compare", self.compare, f"one of {', '.join(COMPARES)}")
        if self.granularity not in GRANULARITIES:
            _fail("granularity", self.granularity, f"one of {', '.join(GRANULARITIES)}")
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            _fail("threshold", t, "a finite number >= 0")
        if self.relative and t > 1:
            _fail("threshold", t, "a fraction between 0 and 1 when relative")
        if isinstance(self.row_group, bool) or not isinstance(self.row_group, int) or self.row_group < 1:
            _fail("row_group", self.row_group, "a positive integer number of rows")
        if self.compare == "value" and self.granularity == "cell":
            _fail("granularity", "cell", "value comparison gates whole rows off the MVM and one "
                  "cell cannot be gated: use row or tile, or compare=delta")
        if self.compare == "value" and "updates" in phases:
            _fail("compare", "value", "weight updates are compared with the stored weight: "
                  "use compare=delta for the updates phase")

    @property
    def exact(self) -> bool:
        """True when the policy never changes what the arrays hold or the MVMs compute."""
        return self.threshold == 0 or (not self.relative and self.threshold < 1)

    def check(self, cfg: HardwareConfig) -> None:
        """Raise ConfigError if the policy does not fit the arrays of ``cfg``."""
        if self.granularity == "row" and self.row_group > cfg.crossbar.rows:
            _fail("row_group", self.row_group, f"at most crossbar.rows ({cfg.crossbar.rows})")


# Named built-in settings. The paper's exact thresholds are not public (reference sheet
# section 5): these span its stated idea (crossbar-level skipping of zero tiles, no-level-change
# updates) and the finer and lossy variants around it.
POLICIES = {p.name: p for p in (
    WritePolicy("zero-tile", OPERAND_PHASES, "value", "tile"),
    WritePolicy("zero-row4", OPERAND_PHASES, "value", "row", row_group=4),
    WritePolicy("zero-row", OPERAND_PHASES, "value", "row"),
    WritePolicy("small-row-1pct", OPERAND_PHASES, "value", "row", threshold=0.01, relative=True),
    WritePolicy("small-row-5pct", OPERAND_PHASES, "value", "row", threshold=0.05, relative=True),
    WritePolicy("unchanged-cell", OPERAND_PHASES, "delta", "cell", threshold=0.5),
    WritePolicy("update-cell", ("updates",), "delta", "cell", threshold=0.5),
    WritePolicy("update-row", ("updates",), "delta", "row", threshold=0.5),
    WritePolicy("update-4-levels", ("updates",), "delta", "cell", threshold=4),
    WritePolicy("update-small-5pct", ("updates",), "delta", "cell", threshold=0.05, relative=True),
)}

# Combinations evaluated as one candidate: the paper's crossbar-level scheme as we read it, and
# the best loss-free combination.
SCHEMES = {
    "zero-tile+update-cell": ("zero-tile", "update-cell"),
    "unchanged-cell+update-cell": ("unchanged-cell", "update-cell"),
}


def scheme(policies) -> dict[str, WritePolicy]:
    """Phase -> policy for a set of policies; each phase may be governed by one policy only."""
    out: dict[str, WritePolicy] = {}
    for p in policies:
        for ph in p.phases:
            if ph in out:
                raise ConfigError(f"write policies {out[ph].name} and {p.name} both govern the "
                                  f"{ph} phase: combine policies with disjoint phases")
            out[ph] = p
    return out


# ---- the comparator (reference of crosstrain.rtl.write_elim) ----------------------------------------------

@dataclass(frozen=True)
class ComparatorParams:
    """Sizes of the comparator unit, shared by the golden reference, the RTL and its benches.

    lanes        elements per beat (one array row of one tile: ``crossbar.cols`` in use)
    width        bits of a signed element (a fixed-point code, or a cell level)
    count_width  bits of the saturating issued / eliminated counters
    group_bits   bits of the row-group register (groups of 1 .. 2**group_bits - 1 rows)
    stages       register stages from a beat to its result (1: comparison, counts, group and
                 counters in one cycle; 2: the comparison registered; 3: the counts too; 4: the
                 group too; 5: the difference too, before its threshold comparison; 6: the
                 counts of every 16 lanes too, before the beat's); the result's latency,
                 :func:`crosstrain.golden.cycles.comparator_latency`
    """

    lanes: int = 128
    width: int = 16
    count_width: int = 32
    group_bits: int = 8
    stages: int = 6

    def __post_init__(self):
        for name, lo, hi in (("lanes", 1, 1024), ("width", 2, 32), ("count_width", 1, 64),
                             ("group_bits", 1, 16), ("stages", 1, 6)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"ComparatorParams.{name} must be an integer in [{lo}, {hi}], "
                                 f"not {v!r}")

    @property
    def count_max(self) -> int:
        return (1 << self.count_width) - 1


@dataclass
class BeatDecision:
    """What the comparator decides for a stream of beats (arrays over beats B and lanes L).

    mask         (B, L) significant live elements: the write enables at cell granularity
    group_end    (B,) the beat closes its group
    group_write  (B,) some element of the group so far is significant; final at group_end
    write        (B, L) write enables at the policy's granularity (group_write of the group's
                 end beat, broadcast to its live elements)
    issued, eliminated  element writes counted at group ends (not saturated)
    """

    mask: np.ndarray
    group_end: np.ndarray
    group_write: np.ndarray
    write: np.ndarray
    issued: int
    eliminated: int


def compare_beats(new, stored, live, last, *, compare: str, threshold, granularity: str,
                  row_group: int = 1) -> BeatDecision:
    """Reference of the comparator on beats; ``threshold`` is one integer or one per beat.

    ``new``, ``stored`` (B, L) integers (``stored`` ignored for ``value``), ``live`` (B, L) bool
    (padding lanes are False), ``last`` (B,) bool. At row granularity a group also ends after
    ``row_group`` beats counted from the start of its tile.
    """
    new = np.asarray(new, dtype=np.int64)
    n_beats = new.shape[0]
    live = np.asarray(live, dtype=bool)
    last = np.asarray(last, dtype=bool)
    ref = 0 if compare == "value" else np.asarray(stored, dtype=np.int64)
    t = np.broadcast_to(np.asarray(threshold, dtype=np.int64).reshape(-1), (n_beats,))
    mask = live & (np.abs(new - ref) > t[:, None])
    idx = np.arange(n_beats)
    if granularity == "cell":
        start = np.ones(n_beats, dtype=bool)
        end = start
    else:
        start = np.ones(n_beats, dtype=bool)
        start[1:] = last[:-1]
        pos = idx - np.maximum.accumulate(np.where(start, idx, 0))
        end = last.copy()
        if granularity == "row":
            start = start | (pos % row_group == 0)
            end = end | (pos % row_group == row_group - 1)
    gid = np.cumsum(start) - 1
    hits = np.cumsum(mask.any(axis=1))
    before = np.concatenate([[0], hits])[np.flatnonzero(start)]
    group_write = (hits - before[gid]) > 0
    final = np.zeros(gid[-1] + 1 if n_beats else 0, dtype=bool)
    final[gid[end]] = group_write[end]
    n_live = live.sum(axis=1)
    if granularity == "cell":
        write = mask
        issued = int(mask.sum())
        eliminated = int(n_live.sum()) - issued
    else:
        write = live & final[gid][:, None]
        group_live = np.bincount(gid, weights=n_live, minlength=len(final)).astype(np.int64)
        closed = gid[end]
        issued = int(group_live[closed][final[closed]].sum())
        eliminated = int(group_live[closed][~final[closed]].sum())
    return BeatDecision(mask=mask, group_end=end, group_write=group_write, write=write,
                        issued=issued, eliminated=eliminated)


def to_beats(m: np.ndarray, cfg: HardwareConfig):
    """Lay matrices ``m`` (..., R, C) out as comparator beats, tile column by tile column.

    Returns ``(beats, live, last)``: beats (n, L), live (n, L), last (n,) where each beat is
    one row of one ``rows x cols`` tile, ``L = min(C, cols)`` lanes (lanes past the matrix's
    last column are padding, not live) and ``last`` marks the last row of a tile.
    """
    m = np.asarray(m)
    *lead, n_r, n_c = m.shape
    rows, lanes = cfg.crossbar.rows, min(n_c, cfg.crossbar.cols)
    n_ct = -(-n_c // lanes)
    live = None
    if n_ct * lanes != n_c:
        pad = np.zeros((*lead, n_r, n_ct * lanes), dtype=m.dtype)
        pad[..., :n_c] = m
        live = np.zeros(pad.shape, dtype=bool)
        live[..., :n_c] = True
        m = pad

    def lay(a):
        return np.swapaxes(a.reshape(*lead, n_r, n_ct, lanes), -3, -2).reshape(-1, lanes)

    r = np.arange(n_r)
    last_rows = (r % rows == rows - 1) | (r == n_r - 1)
    last = np.broadcast_to(last_rows, (int(np.prod(lead, dtype=np.int64)), n_ct, n_r)).reshape(-1)
    beats = lay(m)
    return beats, (np.ones(beats.shape, dtype=bool) if live is None else lay(live)), last


def from_beats(beats: np.ndarray, shape) -> np.ndarray:
    """Inverse of :func:`to_beats` for per-element results (drops padding lanes)."""
    *lead, n_r, n_c = shape
    lanes = beats.shape[1]
    n_ct = -(-n_c // lanes)
    a = np.swapaxes(beats.reshape(*lead, n_ct, n_r, lanes), -3, -2)
    return a.reshape(*lead, n_r, n_ct * lanes)[..., :n_c]


# ---- a policy applied to one matrix write ----------------------------------------------------

@dataclass
class Decision:
    """One matrix write under a policy.

    mask         (A, R, C) cells programmed
    levels       (A, R, C) levels of the new values (delta compare; None for value)
    visible      (R, C) values the MVM sees as written (value compare); all True for delta
    thresholds   (A,) comparator threshold register of each slice array
    skipped_tiles  (row tiles, column tiles) bool: tiles with no programmed cell (value
                 compare: their MVMs are skipped)
    """

    mask: np.ndarray
    levels: np.ndarray
    visible: np.ndarray
    thresholds: np.ndarray
    skipped_tiles: np.ndarray


def thresholds(policy: WritePolicy, new: np.ndarray, stored: np.ndarray, shift: np.ndarray):
    """Integer comparator thresholds per slice array (value compare: the same for all)."""
    if policy.relative:
        d = new if policy.compare == "value" else new - stored
        tau = policy.threshold * float(np.abs(d).max(initial=0))
    else:
        tau = float(policy.threshold)
    if policy.compare == "value":
        return np.full(len(shift), math.floor(tau), dtype=np.int64)
    return np.floor(tau / np.exp2(shift)).astype(np.int64)


def decide(policy: WritePolicy, new: np.ndarray, stored_levels: np.ndarray,
           cfg: HardwareConfig) -> Decision:
    """Which cells of the arrays holding ``stored_levels`` (A, R, C) to program with ``new``."""
    policy.check(cfg)
    new = encoding.check_range("value", new, cfg.precision.weight_bits)
    kw = dict(compare=policy.compare, granularity=policy.granularity, row_group=policy.row_group)
    shape = np.shape(stored_levels)
    if policy.compare == "value":
        t = thresholds(policy, new, None, np.zeros(shape[0], dtype=np.int64))
        beats, live, last = to_beats(new, cfg)
        d = compare_beats(beats, None, live, last, threshold=t[0], **kw)
        visible = from_beats(d.write, new.shape)
        mask = np.broadcast_to(visible, shape)
        levels = None
    else:
        levels, sign, shift = encoding.slice_weights(new, cfg)
        stored = (encoding.compose_weights(stored_levels, sign, shift, cfg) if policy.relative
                  else None)
        t = thresholds(policy, new, stored, shift)
        beats, live, last = to_beats(levels.astype(np.int64), cfg)
        ref, _, _ = to_beats(np.asarray(stored_levels, dtype=np.int64), cfg)
        d = compare_beats(beats, ref, live, last, threshold=np.repeat(t, len(last) // len(t)), **kw)
        mask = from_beats(d.write, shape)
        visible = np.ones(new.shape, dtype=bool)
    rows, cols = cfg.crossbar.rows, cfg.crossbar.cols
    r_t, c_t = -(-new.shape[0] // rows), -(-new.shape[1] // cols)
    per_tile = np.zeros((r_t * rows, c_t * cols), dtype=bool)
    per_tile[:new.shape[0], :new.shape[1]] = visible if levels is None else mask.any(axis=0)
    written = per_tile.reshape(r_t, rows, c_t, cols).any(axis=(1, 3))
    return Decision(mask=mask, levels=levels, visible=visible, thresholds=t,
                    skipped_tiles=~written)


# ---- the arrays receiving the writes of a training run ------------------------------------------

@dataclass
class WriteTally:
    """Counts of writes under one policy (or none: the baseline); add with ``+``.

    ``events`` holds the cells and rows programmed; ``offered_*`` what writing everything would
    have programmed; ``eliminated`` the cells skipped by reason (``zero``: the value was 0,
    ``unchanged``: the cell already held the level, ``below_threshold``: a real change skipped).
    """

    writes: int = 0
    events: Events = field(default_factory=Events)
    offered_cells: int = 0
    offered_rows: int = 0
    eliminated: dict = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    tiles: int = 0
    tiles_skipped: int = 0

    def __add__(self, other: "WriteTally") -> "WriteTally":
        return WriteTally(
            writes=self.writes + other.writes, events=self.events + other.events,
            offered_cells=self.offered_cells + other.offered_cells,
            offered_rows=self.offered_rows + other.offered_rows,
            eliminated={k: self.eliminated[k] + other.eliminated[k] for k in REASONS},
            tiles=self.tiles + other.tiles, tiles_skipped=self.tiles_skipped + other.tiles_skipped)


class WriteStore:
    """The arrays that receive one matrix's writes (one phase of one layer) under one policy.

    Wraps a :class:`crosstrain.golden.array.ProgrammedArray`: its per-cell ``write_counts`` give the wear
    and its events the cells and rows programmed. Counting starts when training starts, with the
    arrays holding zeros. ``policy=None`` programs every cell (the baseline).
    """

    def __init__(self, cfg: HardwareConfig, shape, policy: WritePolicy | None = None):
        self.cfg, self.policy = cfg, policy
        self.array = ProgrammedArray(cfg, np.zeros(shape, dtype=np.int64))
        self.array.write_counts[:] = 0
        self.array.events = Events()
        self.tally = WriteTally(events=self.array.events)
        self.last_skipped_tiles = np.zeros((0, 0), dtype=bool)

    def write(self, new: np.ndarray) -> np.ndarray:
        """Write ``new`` (R x C codes); return the values the MVMs will see."""
        arr, tally, cfg = self.array, self.tally, self.cfg
        n_arr, n_r, n_c = arr.target.shape
        r_t, c_t = -(-n_r // cfg.crossbar.rows), -(-n_c // cfg.crossbar.cols)
        tally.writes += 1
        tally.offered_cells += n_arr * n_r * n_c
        tally.offered_rows += n_arr * n_r
        tally.tiles += r_t * c_t
        self.last_skipped_tiles = np.zeros((r_t, c_t), dtype=bool)
        if self.policy is None:
            arr.program(new)
            return np.asarray(new, dtype=np.int64)
        d = decide(self.policy, new, arr.target, cfg)
        skipped = ~d.mask
        if self.policy.compare == "value":
            exact = np.broadcast_to(np.asarray(new) == 0, skipped.shape)
            tally.eliminated["zero"] += int((skipped & exact).sum())
            self.last_skipped_tiles = d.skipped_tiles
            tally.tiles_skipped += int(d.skipped_tiles.sum())
        else:
            exact = d.levels == arr.target
            tally.eliminated["unchanged"] += int((skipped & exact).sum())
        tally.eliminated["below_threshold"] += int((skipped & ~exact).sum())
        arr.program(new, mask=d.mask)
        if self.policy.compare == "value":
            return np.where(d.visible, new, 0).astype(np.int64)
        return arr.weights


@dataclass
class PhaseSummary:
    """Writes of one phase over a run: the tally, and the wear of its hottest and average cell
    in writes per training step."""

    tally: WriteTally
    max_per_step: float
    mean_per_step: float
    cells: int


class Ledger:
    """The writes of one training run under one set of policies (phase -> policy).

    Without policies it is the baseline and tracks every phase; with policies it tracks only
    the phases they govern (the others program every cell, exactly as the baseline counts).
    ``mvm_skipped`` collects the weight-gradient MVM events its skipped error tiles saved.
    """

    def __init__(self, cfg: HardwareConfig, policies=()):
        self.cfg = cfg
        self.policies = tuple(policies)
        for p in self.policies:
            p.check(cfg)
        self.scheme = scheme(self.policies)
        self.phases = tuple(self.scheme) if self.policies else PHASES
        self.stores: dict[tuple[str, str], WriteStore] = {}
        self.mvm_skipped = Events()

    @property
    def exact(self) -> bool:
        return all(p.exact for p in self.policies)

    def write(self, phase: str, layer: str, new: np.ndarray) -> np.ndarray:
        """Write ``new`` for ``phase`` of ``layer``; return what the MVMs will see."""
        if phase not in self.phases:
            return np.asarray(new, dtype=np.int64)
        store = self.stores.get((phase, layer))
        if store is None:
            store = WriteStore(self.cfg, np.shape(new), self.scheme.get(phase))
            self.stores[(phase, layer)] = store
        return store.write(new)

    def skipped_tiles(self, layer: str) -> np.ndarray:
        """Error tiles of ``layer`` skipped by the last write (empty when not tracked)."""
        store = self.stores.get(("errors", layer))
        return np.zeros((0, 0), dtype=bool) if store is None else store.last_skipped_tiles

    def summary(self, phase: str, layer: str | None = None) -> PhaseSummary:
        """Totals over the tracked stores of ``phase`` (and ``layer``, if given)."""
        stores = [s for (ph, ly), s in self.stores.items() if ph == phase and layer in (None, ly)]
        tally = sum((s.tally for s in stores), WriteTally())
        rates = [s.array.write_counts / max(s.tally.writes, 1) for s in stores]
        cells = sum(r.size for r in rates)
        return PhaseSummary(
            tally=tally, max_per_step=max((float(r.max()) for r in rates), default=0.0),
            mean_per_step=sum(float(r.sum()) for r in rates) / cells if cells else 0.0,
            cells=cells)
