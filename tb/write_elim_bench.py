"""cocotb bench of crosstrain.rtl.write_elim.WriteEliminator against crosstrain.golden.write_elim, and its stimulus.

Stimulus comes in segments: one settings write, then beats whose last one ends a tile (so no
group spans a settings change). ``random_segments`` draws everything at random;
``policy_segments`` lays a matrix write out exactly as :func:`crosstrain.golden.write_elim.decide` does
(value compare on the codes, or delta compare on every slice array's cell levels with its own
threshold), so the RTL is checked against the golden policy itself. ``relu_matrix`` and
``update_matrices`` make realistic data: ReLU-sparse activations with dead rows and tiles, and
small weight updates.

The exported top has ports ``settings__*``, ``i__*``, ``o__*``, ``clear``, ``issued``,
``eliminated``; payloads are packed and unpacked as whole vectors with the RTL's own layouts.
"""

from __future__ import annotations

from dataclasses import dataclass

import cocotb
import numpy as np
from amaranth.hdl import Shape
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from crosstrain.golden import config, encoding
from crosstrain.golden.write_elim import (
    COMPARES,
    GRANULARITIES,
    ComparatorParams,
    WritePolicy,
    compare_beats,
    decide,
    to_beats,
)
from crosstrain.rtl.write_elim import Compare, Granularity, beat_layout, result_layout, settings_layout
from crosstrain.tb.runner import bench_params


@dataclass
class Segment:
    compare: str
    granularity: str
    threshold: int
    row_group: int
    new: np.ndarray        # (B, lanes)
    stored: np.ndarray     # (B, lanes)
    live: np.ndarray       # (B, lanes) bool
    last: np.ndarray       # (B,) bool, True on the final beat


def random_segments(p: ComparatorParams, rng: np.random.Generator, n: int) -> list[Segment]:
    """Random settings and full-range random beats."""
    lo, hi = -(1 << (p.width - 1)), 1 << (p.width - 1)
    out = []
    for _ in range(n):
        beats = int(rng.integers(1, 24))
        new = rng.integers(lo, hi, (beats, p.lanes))
        small = rng.random(new.shape) < 0.5
        new = np.where(small, rng.integers(-3, 4, new.shape), new).clip(lo, hi - 1)
        stored = np.where(rng.random(new.shape) < 0.4, new, rng.integers(lo, hi, new.shape))
        last = rng.random(beats) < 0.15
        last[-1] = True
        t = int(rng.integers(0, 5)) if rng.random() < 0.7 else int(rng.integers(0, 1 << p.width))
        out.append(Segment(str(rng.choice(COMPARES)), str(rng.choice(GRANULARITIES)), t,
                           int(rng.integers(1, 1 << p.group_bits)), new, stored,
                           rng.random(new.shape) < 0.9, last))
    return out


def comparator_cfg(p: ComparatorParams, rows: int) -> config.HardwareConfig:
    """A configuration whose tiles are ``rows x lanes`` and whose codes are ``width`` bits."""
    return config.HardwareConfig().with_overrides({
        "crossbar.rows": rows, "crossbar.cols": p.lanes, "precision.weight_bits": p.width,
        "precision.input_bits": p.width, "precision.error_bits": p.width,
        "precision.weight_frac_bits": 0, "converters.adc_mode": "clip"})


def policy_segments(p: ComparatorParams, cfg, policy: WritePolicy, new, stored):
    """The beats :func:`crosstrain.golden.write_elim.decide` compares for this write, as segments, and
    the golden decision. ``stored`` is the matrix of codes the arrays hold."""
    stored_levels, _, _ = encoding.slice_weights(stored, cfg)
    d = decide(policy, new, stored_levels, cfg)
    kw = dict(compare=policy.compare, granularity=policy.granularity, row_group=policy.row_group)
    if policy.compare == "value":
        beats, live, last = to_beats(new, cfg)
        return [Segment(threshold=int(d.thresholds[0]), new=beats, stored=beats, live=live,
                        last=last, **kw)], d
    segs = []
    for a, t in enumerate(d.thresholds):
        beats, live, last = to_beats(d.levels[a].astype(np.int64), cfg)
        ref, _, _ = to_beats(stored_levels[a].astype(np.int64), cfg)
        segs.append(Segment(threshold=int(t), new=beats, stored=ref, live=live, last=last, **kw))
    return segs, d


def relu_matrix(rng, n_r: int, n_c: int, rows: int, width: int) -> np.ndarray:
    """ReLU activations as codes: most negative pre-activations, dead positions, a dead tile."""
    top = (1 << (width - 1)) - 1
    x = np.maximum(rng.normal(-0.4, 1.0, (n_r, n_c)), 0) * top / 6
    x[rng.random(n_r) < 0.3] = 0                      # positions where every channel is dead
    x[rows:2 * rows] = 0                              # a dead tile (when there are two)
    return np.rint(x).clip(0, top).astype(np.int64)


def update_matrices(rng, n_r: int, n_c: int, width: int):
    """Stored weights and the same weights after a small update (mostly unchanged)."""
    top = (1 << (width - 1)) - 1
    stored = np.rint(rng.normal(0, top / 8, (n_r, n_c))).clip(-top - 1, top).astype(np.int64)
    step = np.rint(rng.normal(0, 1.2, (n_r, n_c))).astype(np.int64)
    step[rng.random((n_r, n_c)) < 0.5] = 0
    return stored, (stored + step).clip(-top - 1, top)


def expected(p: ComparatorParams, segments: list[Segment]):
    """Golden outputs of all segments in order: mask, group_end, group_write, counters."""
    masks, ends, writes, issued, eliminated = [], [], [], 0, 0
    for s in segments:
        d = compare_beats(s.new, s.stored, s.live, s.last, compare=s.compare,
                          threshold=s.threshold, granularity=s.granularity, row_group=s.row_group)
        masks.append(d.mask)
        ends.append(d.group_end)
        writes.append(d.group_write)
        issued += d.issued
        eliminated += d.eliminated
    return (np.concatenate(masks), np.concatenate(ends), np.concatenate(writes),
            min(issued, p.count_max), min(eliminated, p.count_max))


class Packer:
    """Whole-vector packing with the RTL's layouts."""

    def __init__(self, p: ComparatorParams):
        self.p = p
        self.beat, self.result, self.settings = beat_layout(p), result_layout(p), settings_layout(p)

    def _field(self, layout, name):
        f = layout[name]
        return f.offset, Shape.cast(f.shape).width

    def settings_word(self, s: Segment) -> int:
        values = {"compare": Compare[s.compare.upper()].value,
                  "granularity": Granularity[s.granularity.upper()].value,
                  "threshold": s.threshold, "row_group": s.row_group}
        word = 0
        for name, v in values.items():
            off, w = self._field(self.settings, name)
            word |= (int(v) & ((1 << w) - 1)) << off
        return word

    def beat_words(self, s: Segment) -> list[int]:
        width, lanes = self.p.width, self.p.lanes
        shifts = [int(k * width) for k in range(lanes)]
        mask = (1 << width) - 1
        words = []
        off_new, off_st = self._field(self.beat, "new")[0], self._field(self.beat, "stored")[0]
        off_live, off_last = self._field(self.beat, "live")[0], self._field(self.beat, "last")[0]
        for b in range(len(s.last)):
            word = 0
            for k, sh in enumerate(shifts):
                word |= (int(s.new[b, k]) & mask) << (off_new + sh)
                word |= (int(s.stored[b, k]) & mask) << (off_st + sh)
            live = sum(1 << k for k in range(lanes) if s.live[b, k])
            words.append(word | (live << off_live) | (int(s.last[b]) << off_last))
        return words

    def unpack_result(self, word: int):
        out = []
        for name in ("mask", "group_end", "group_write"):
            off, w = self._field(self.result, name)
            out.append((word >> off) & ((1 << w) - 1))
        mask = [(out[0] >> k) & 1 for k in range(self.p.lanes)]
        return mask, out[1], out[2]


async def reset(dut):
    dut.rst.value = 1
    dut.settings__valid.value = 0
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.clear.value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0


async def setup(dut):
    params = bench_params()
    p = ComparatorParams(**{k: params[k] for k in ("lanes", "width", "count_width", "group_bits")})
    Clock(dut.clk, 10, unit="ns").start()
    await reset(dut)
    return p, np.random.default_rng(params["seed"]), params["seed"]


async def run_segments(dut, p: ComparatorParams, segments, rng, *, gaps=0.2, stall=0.3):
    """Drive every segment (settings write, then beats with random gaps) while ``o.ready`` is
    random; return the results in order and the counters afterwards."""
    pk = Packer(p)
    results, total = [], sum(len(s.last) for s in segments)
    queue = []
    for s in segments:
        queue.append(("settings", pk.settings_word(s)))
        queue += [("beat", w) for w in pk.beat_words(s)]
    pending, cycles = None, 0
    while queue or pending is not None or len(results) < total:
        cycles += 1
        assert cycles < 100 * (total + len(segments)) + 100, \
            f"stuck: {len(results)} of {total} results after {cycles} cycles"
        await FallingEdge(dut.clk)
        if pending is None and queue and rng.random() >= gaps:
            pending = queue.pop(0)
        kind = pending[0] if pending else None
        dut.settings__valid.value = int(kind == "settings")
        dut.i__valid.value = int(kind == "beat")
        if kind == "settings":
            dut.settings__payload.value = pending[1]
        elif kind == "beat":
            dut.i__payload.value = pending[1]
        ready = int(rng.random() >= stall)
        dut.o__ready.value = ready
        await ReadOnly()
        if kind == "settings" or (kind == "beat" and int(dut.i__ready.value)):
            pending = None
        if ready and int(dut.o__valid.value):
            results.append(pk.unpack_result(dut.o__payload.value.to_unsigned()))
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.settings__valid.value = 0
    dut.i__valid.value = 0
    await ReadOnly()
    return results, dut.issued.value.to_unsigned(), dut.eliminated.value.to_unsigned()


def check(p, segments, results, issued, eliminated, note):
    mask, end, write, want_issued, want_elim = expected(p, segments)
    assert len(results) == len(end), f"{len(results)} results for {len(end)} beats ({note})"
    got_mask = np.array([r[0] for r in results], dtype=bool)
    bad = np.flatnonzero((got_mask != mask).any(axis=1))
    assert not len(bad), f"beat {bad[0]}: mask {got_mask[bad[0]].astype(int).tolist()} " \
                         f"golden {mask[bad[0]].astype(int).tolist()} ({note})"
    got_end = np.array([r[1] for r in results], dtype=bool)
    got_write = np.array([r[2] for r in results], dtype=bool)
    assert np.array_equal(got_end, end), f"group_end differs at beat " \
                                         f"{np.flatnonzero(got_end != end)[0]} ({note})"
    assert np.array_equal(got_write, write), f"group_write differs at beat " \
                                             f"{np.flatnonzero(got_write != write)[0]} ({note})"
    assert (issued, eliminated) == (want_issued, want_elim), \
        f"counters {issued}, {eliminated}; golden {want_issued}, {want_elim} ({note})"


@cocotb.test()
async def random_beats_and_settings(dut):
    p, rng, seed = await setup(dut)
    segments = random_segments(p, rng, 12)
    results, issued, elim = await run_segments(dut, p, segments, rng)
    check(p, segments, results, issued, elim, f"seed {seed}")


@cocotb.test()
async def golden_policies_on_realistic_data(dut):
    p, rng, seed = await setup(dut)
    cfg = comparator_cfg(p, rows=8)
    acts = relu_matrix(rng, 40, p.lanes + 3, 8, p.width)
    stored, new = update_matrices(rng, 20, p.lanes, p.width)
    segments, decisions = [], []
    for policy, n, s in (
            (WritePolicy("zero-tile", ("errors",), "value", "tile"), acts, acts),
            (WritePolicy("zero-row2", ("errors",), "value", "row", row_group=2), acts, acts),
            (WritePolicy("small", ("errors",), "value", "row", 0.05, relative=True), acts, acts),
            (WritePolicy("update", ("updates",), "delta", "cell", 0.5), new, stored),
            (WritePolicy("update-row", ("updates",), "delta", "row", 0.5), new, stored),
            (WritePolicy("update-8", ("updates",), "delta", "cell", 8), new, stored)):
        segs, d = policy_segments(p, cfg, policy, n, s)
        segments += segs
        decisions.append((policy, segs, d))
    results, issued, elim = await run_segments(dut, p, segments, rng)
    check(p, segments, results, issued, elim, f"seed {seed}")
    # the write enables the golden policy programs follow from the RTL's outputs alone
    k = 0
    for policy, segs, d in decisions:
        for a, s in enumerate(segs):
            rtl = results[k:k + len(s.last)]
            k += len(s.last)
            enables = rtl_write_enables(rtl, s)
            golden = compare_beats(s.new, s.stored, s.live, s.last, compare=s.compare,
                                   threshold=s.threshold, granularity=s.granularity,
                                   row_group=s.row_group).write
            assert np.array_equal(enables, golden), f"{policy.name} array {a} (seed {seed})"


def rtl_write_enables(results, s: Segment) -> np.ndarray:
    """Write enables from the comparator's outputs: the mask at cell granularity, else the
    group_write of each group's end beat over the group's live elements."""
    mask = np.array([r[0] for r in results], dtype=bool)
    if s.granularity == "cell":
        return mask
    out = np.zeros(mask.shape, dtype=bool)
    start = 0
    for b, (_, end, write) in enumerate(results):
        if end:
            out[start:b + 1] = s.live[start:b + 1] & bool(write)
            start = b + 1
    return out


@cocotb.test()
async def counters_saturate_and_clear(dut):
    p, rng, seed = await setup(dut)
    lanes = p.lanes
    beats = (p.count_max // lanes) + 2
    seg = Segment("value", "cell", 0, 1, np.ones((beats, lanes), np.int64),
                  np.zeros((beats, lanes), np.int64), np.ones((beats, lanes), bool),
                  np.arange(beats) == beats - 1)
    _, issued, elim = await run_segments(dut, p, [seg], rng, gaps=0, stall=0)
    assert (issued, elim) == (p.count_max, 0), f"issued {issued}, eliminated {elim}"
    await FallingEdge(dut.clk)
    dut.clear.value = 1
    await FallingEdge(dut.clk)
    dut.clear.value = 0
    await ReadOnly()
    assert (dut.issued.value.to_unsigned(), dut.eliminated.value.to_unsigned()) == (0, 0)
