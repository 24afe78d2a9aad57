"""cocotb bench of crosstrain.rtl.write_elim.WriteEliminator against crosstrain.golden.write_elim, and its stimulus.

Stimulus comes in segments: one settings write, then beats whose last one ends a tile (so no
group spans a settings change). ``random_segments`` draws everything at random;
``policy_segments`` lays a matrix write out exactly as :func:`crosstrain.golden.write_elim.decide` does
(value compare on the codes, or delta compare on every slice array's cell levels with its own
threshold), so the RTL is checked against the golden policy itself. ``relu_matrix`` and
``update_matrices`` make realistic data: ReLU-sparse activations with dead rows and tiles, and
small weight updates.

One body, :func:`run_segments` (a :mod:`crosstrain.tb.testbench` bench: settings and beats
offered by two stream sources, results taken by a sink with random stalls, the counters
probed), serves amaranth.sim (:func:`simulate`, tests/rtl/test_write_elim.py) and cocotb on
Icarus and Verilator (the tests at the bottom). Payloads are packed and unpacked with the RTL's
own layouts (:class:`crosstrain.tb.words.Codec`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cocotb
import numpy as np

from crosstrain.golden import config, encoding
from crosstrain.golden.cycles import comparator_latency
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
from crosstrain.tb.stream import StreamSink, StreamSource, random_pauses
from crosstrain.tb.testbench import run_amaranth, run_cocotb
from crosstrain.tb.words import Codec, pack, unpack


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


def settings_value(s: Segment) -> dict:
    """The settings write of a segment, for the RTL's ``settings_layout``."""
    return {"compare": Compare[s.compare.upper()], "granularity": Granularity[s.granularity.upper()],
            "threshold": s.threshold, "row_group": s.row_group}


def beat_values(s: Segment) -> list[dict]:
    """The beats of a segment, for the RTL's ``beat_layout``."""
    return [{"new": s.new[b], "stored": s.stored[b], "live": pack(s.live[b], 1), "last": int(s.last[b])}
            for b in range(len(s.last))]


async def run_segments(tb, p: ComparatorParams, segments, *, pause_in=None, pause_out=None,
                       settings: bool = True, clear_after: bool = False) -> dict:
    """Each segment's settings write (skipped without ``settings``: the reset values apply),
    then its beats (gaps where ``pause_in`` says), while ``o`` stalls where ``pause_out`` says.
    Returns the results (mask bits, group_end, group_write) in order, each result's cycles from
    its beat's acceptance to its transfer (``latency``) and the counters after the last beat
    (and after a ``clear`` with ``clear_after``)."""
    await tb.reset()
    regs = tb.add(StreamSource(tb, "settings", codec=Codec(settings_layout(p))))
    beats = tb.add(StreamSource(tb, "i", codec=Codec(beat_layout(p)), pause=pause_in))
    sink = tb.add(StreamSink(tb, "o", codec=Codec(result_layout(p)), pause=pause_out))
    issued, eliminated = tb.probe("issued"), tb.probe("eliminated")
    tb.set("clear", 0)
    total = sum(len(s.last) for s in segments)
    limit = 100 * (total + len(segments)) + 100
    for s in segments:
        if settings:
            regs.send(settings_value(s))
            await regs.drain(timeout=limit)
        beats.send_all(beat_values(s))
        await beats.drain(timeout=limit)
    await sink.wait(total, timeout=limit)
    out = {"results": [(unpack(t.value["mask"], p.lanes, 1), t.value["group_end"],
                        t.value["group_write"]) for t in sink.transfers],
           "latency": [r.cycle - b.cycle for r, b in zip(sink.transfers, beats.transfers)],
           "counters": (issued.value, eliminated.value)}
    if clear_after:
        tb.set("clear", 1)
        await tb.ticks(1)
        tb.set("clear", 0)
        await tb.ticks(1)
        out["cleared"] = (issued.value, eliminated.value)
    tb.remove(regs, beats, sink, issued, eliminated)
    return out


def simulate(p: ComparatorParams, segments, seed, *, gaps=0.2, stall=0.3, **kw) -> dict:
    """:func:`run_segments` on a :class:`~crosstrain.rtl.write_elim.WriteEliminator` in
    amaranth.sim, with random input gaps and output stalls from ``seed``."""
    from crosstrain.rtl.write_elim import WriteEliminator

    pause_in = random_pauses(np.random.default_rng(seed), gaps)
    pause_out = random_pauses(np.random.default_rng(seed + 1), stall)
    return run_amaranth(WriteEliminator(params=p), lambda tb: run_segments(
        tb, p, segments, pause_in=pause_in, pause_out=pause_out, **kw))


def check(p, segments, out, note, *, stalled: bool = True):
    """Every result and both counters against :func:`expected`; unless ``stalled`` (the
    results were taken the cycle they were valid), every latency against
    :func:`crosstrain.golden.cycles.comparator_latency`."""
    results, (issued, eliminated) = out["results"], out["counters"]
    if not stalled:
        bad = [k for k, c in enumerate(out["latency"]) if c != comparator_latency(p)]
        assert not bad, f"beat {bad[0]}: result {out['latency'][bad[0]]} cycles after it, " \
                        f"model {comparator_latency(p)} ({note})"
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


# ---- cocotb tests ------------------------------------------------------------------------------
def setup():
    params = bench_params()
    p = ComparatorParams(**{k: params[k] for k in ("lanes", "width", "count_width", "group_bits", "stages")})
    return p, np.random.default_rng(params["seed"]), params["seed"]


async def cocotb_segments(dut, p, segments, rng, *, gaps=0.2, stall=0.3, **kw):
    return await run_cocotb(dut, lambda tb: run_segments(
        tb, p, segments, pause_in=random_pauses(rng, gaps), pause_out=random_pauses(rng, stall), **kw))


@cocotb.test()
async def random_beats_and_settings(dut):
    p, rng, seed = setup()
    segments = random_segments(p, rng, 12)
    check(p, segments, await cocotb_segments(dut, p, segments, rng), f"seed {seed}")


@cocotb.test()
async def golden_policies_on_realistic_data(dut):
    p, rng, seed = setup()
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
    out = await cocotb_segments(dut, p, segments, rng)
    check(p, segments, out, f"seed {seed}")
    # the write enables the golden policy programs follow from the RTL's outputs alone
    k = 0
    for policy, segs, d in decisions:
        for a, s in enumerate(segs):
            rtl = out["results"][k:k + len(s.last)]
            k += len(s.last)
            golden = compare_beats(s.new, s.stored, s.live, s.last, compare=s.compare,
                                   threshold=s.threshold, granularity=s.granularity,
                                   row_group=s.row_group).write
            assert np.array_equal(rtl_write_enables(rtl, s), golden), f"{policy.name} array {a} (seed {seed})"


@cocotb.test()
async def counters_saturate_and_clear(dut):
    p, rng, seed = setup()
    lanes = p.lanes
    beats = (p.count_max // lanes) + 2
    seg = Segment("value", "cell", 0, 1, np.ones((beats, lanes), np.int64),
                  np.zeros((beats, lanes), np.int64), np.ones((beats, lanes), bool),
                  np.arange(beats) == beats - 1)
    out = await cocotb_segments(dut, p, [seg], rng, gaps=0, stall=0, clear_after=True)
    assert set(out["latency"]) == {comparator_latency(p)}, f"latencies {sorted(set(out['latency']))}"
    assert out["counters"] == (p.count_max, 0), f"counters {out['counters']}"
    assert out["cleared"] == (0, 0)
