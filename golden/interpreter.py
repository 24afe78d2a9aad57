"""Golden interpreter of tile programs (:mod:`crosstrain.golden.isa`): what the operation
scheduler must compute, instruction by instruction, on golden crossbars and buffers.

Values: a unit's MVM is :func:`crosstrain.golden.crossbar.mvm` of its row input through its
block; MTVM the transposed MVM with ``error_bits`` inputs; OPA and CRS are
:class:`crosstrain.golden.opa.UpdateArrays` (one OPA per instruction, saturating after each);
WRITE programs a weight row of every copy, that row of the update slices from the weights
(:meth:`~crosstrain.golden.opa.UpdateArrays.write_row`; the other rows keep their cells). A
unit's block is always ``crossbar.rows`` x ``crossbar.cols``; rows and columns a layer does not
use hold weight 0 and are driven with 0, which changes no result.

Cycles: the schedule of the RTL tile (:class:`crosstrain.rtl.tile.Tile`; its amaranth.sim test
checks this model cycle for cycle), every duration of a unit from ``golden/cycles.py``. Cycle 0
is the first word's. The scheduler issues at most one word per cycle, in order; every word takes
one issue cycle (MARK, NOP and LOOP too). A word waits at issue while:

- LOAD: an array operation issued before it that reads the register has not started (the
  unit holds its command's operands from the scheduler's register until it takes them); the
  LOAD reads the buffer in its issue cycle and the register holds the vector two cycles after
  it (a block-RAM read, then the register write); a WRITE likewise for the unit's row register;
- MVM / MTVM / OPA / CRS / WRITE: the unit's array queue (``queue_depth``) is full (an entry leaves
  when the unit takes it, its place free the next cycle);
- STORE: the unit's STORE queue (``queue_depth``) is full (likewise);
- SYNC: a unit in its mask has not finished everything issued to it.

A unit takes the head of its array queue (the cycle after issue at the earliest) once the
registers it reads hold their last LOAD and the unit is free, as
:class:`crosstrain.rtl.crossbar_unit.CrossbarUnit` dispatches: an MVM / MTVM one schedule
``interval`` after the previous MVM / MTVM started, and after the last output left the unit
before an OPA or CRS; an OPA ``opa_cycles`` after the previous OPA; anything ``opa_cycles + 1``
after an OPA and ``crs_cycles + 1`` after a CRS or ``write_row_cycles + 1`` after a WRITE (a
WRITE waits as a CRS does). An MVM / MTVM's output leaves the unit ``latency`` cycles after it
started and is in the unit's output register (it is finished) one cycle later; an OPA / CRS is
finished ``opa_cycles + 1`` / ``crs_cycles + 1`` cycles after it started. The head of a STORE
queue starts (the cycle after issue at the earliest) once the output it reads (the last MVM /
MTVM issued to its unit before it) is in the output register; one STORE of the tile starts per
cycle, the earliest issued of those that could; it reads the buffer then and writes it in the
next cycle (finished two cycles after its start). The unit holds its next output while a queued
STORE still needs the current one; this model does not time that and refuses such a program. A
program is finished when HALT has issued (the cycle after it at the earliest) and every unit has
finished. A WRITE waits at issue like a LOAD of the unit's row register (and for its array queue), reads
the buffer when it issues (the row register holds the row two cycles later) and occupies the
array as the unit's row write: ``write_row_cycles``, finished one cycle later (as a CRS).

Values follow program order, except the buffer writes of STOREs: each STORE takes its values
when it issues (its unit's output register then) and writes them in its write cycle, so STOREs
of different units to one address land in the order of their write cycles, not of their issue
(as in the RTL). In the RTL a STORE completes after later words issue, so a LOAD (or WRITE)
reading buffer values a still unfinished STORE writes gets the old values: the interpreter
refuses such a program (a SYNC on the storing unit in between orders them).

A phase's cycles (between MARKs) are, on its busiest unit, from its first array operation of the
phase to its last finished instruction; a phase marked several times adds its stretches.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from crosstrain.golden import crossbar, cycles, isa
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.opa import UpdateArrays


@dataclass
class Unit:
    """One crossbar unit's state; times are cycles (module docstring)."""

    weights: np.ndarray
    row_in: np.ndarray
    col_in: np.ndarray
    out: np.ndarray
    update: UpdateArrays | None = None
    taken: deque = field(default_factory=deque)              # starts of its array operations
    stores: deque = field(default_factory=deque)             # ... and of its STOREs
    free: dict = field(default_factory=lambda: dict.fromkeys(("MVM", "OPA", "CRS"), 0))
    reg_ready: list = field(default_factory=lambda: [0, 0, 0])   # row / column input, WRITE row loaded at
    reg_taken: list = field(default_factory=lambda: [0, 0, 0])   # ... and its reader taken at
    out_done: int = 0         # the last MVM / MTVM output in the output register at
    out_left: int = 0         # ... and the one before it left the unit at
    stored: int = 0           # the last STORE of the current output started at
    done: int = 0             # everything issued to it finished at
    busy: int = 0             # cycles its array was occupied


@dataclass
class Result:
    """What a program did: the final buffer and units, instructions per kind, cycles."""

    buffer: np.ndarray
    units: list[Unit]
    counts: Counter = field(default_factory=Counter)
    cycles: int = 0
    phase_cycles: dict = field(default_factory=dict)   # MARK phase name -> cycles (module docstring)


@dataclass
class _Clock:
    """The scheduler's issue state."""

    depth: int
    t: int = 0                                          # next issue cycle
    phase: tuple = (0, None)                            # (MARK number, phase name)
    spans: dict = field(default_factory=dict)           # (phase, unit) -> (first, last)
    store_slots: set = field(default_factory=set)       # cycles STOREs start in (from the issue cycle on)
    writes: list = field(default_factory=list)          # (finished at, first, end address)
    pending: list = field(default_factory=list)         # STOREs not yet applied: (start, address, values, acc)

    def apply_stores(self, buf: np.ndarray, before: float) -> None:
        """Apply the pending STOREs that start before cycle ``before`` to ``buf``, in the order they
        start (one per cycle; every STORE issued later starts later than any LOAD issued before it)."""
        due = sorted(p for p in self.pending if p[0] < before)
        self.pending = [p for p in self.pending if p[0] >= before]
        for _, a, values, acc in due:
            buf[a:a + len(values)] = buf[a:a + len(values)] + values if acc else values


def durations(cfg: HardwareConfig) -> dict[str, tuple[int, int]]:
    """(cycles the array is occupied, cycles until the result) of each array operation."""
    err = cfg.with_overrides({"precision.input_bits": cfg.precision.error_bits})
    fwd, bwd = cycles.mvm_schedule(cfg), cycles.mvm_schedule(err, transposed=True)
    opa, crs, write = cycles.opa_cycles(cfg), cycles.crs_cycles(cfg), cycles.write_row_cycles(cfg)
    return {"MVM": (fwd.interval, fwd.latency), "MTVM": (bwd.interval, bwd.latency),
            "OPA": (opa, opa), "CRS": (crs, crs), "WRITE": (write, write)}


def run(program, tile: isa.TileParams, cfg: HardwareConfig, buffer: np.ndarray | None = None,
        weights=None) -> Result:
    """Execute ``program`` (a sequence of :class:`~crosstrain.golden.isa.Instr`) from ``buffer``
    (``tile.buffer_depth`` int64 values, copied); every instruction is checked against ``tile``.
    ``weights`` (one ``rows x cols`` array per unit) are the blocks the units hold before the
    program (as if written; default all zero). Without a buffer only the counts and cycles are
    worked out (no value is computed)."""
    execute = buffer is not None
    if buffer is None:
        buffer = np.zeros(tile.buffer_depth, dtype=np.int64)
    rows, cols = cfg.crossbar.rows, cfg.crossbar.cols
    if max(rows, cols) > tile.max_length:
        raise isa.IsaError(f"a {rows} x {cols} crossbar needs tile max_length >= {max(rows, cols)}, "
                           f"not {tile.max_length}")
    buf = np.array(buffer, dtype=np.int64)
    if buf.shape != (tile.buffer_depth,):
        raise isa.IsaError(f"buffer of shape {buf.shape} is not ({tile.buffer_depth},) = tile.buffer_depth")
    if weights is None:
        weights = [np.zeros((rows, cols), np.int64)] * tile.units
    if len(weights) != tile.units or any(np.shape(w) != (rows, cols) for w in weights):
        raise isa.IsaError(f"weights must be {tile.units} blocks (tile.units) of {rows} x {cols}")
    err = cfg.with_overrides({"precision.input_bits": cfg.precision.error_bits})
    units = [Unit(np.array(w, np.int64), np.zeros(rows, np.int64), np.zeros(cols, np.int64),
                  np.zeros(cols, np.int64)) for w in weights]
    res = Result(buf, units)
    cost = durations(cfg)
    clock = _Clock(tile.queue_depth)
    program = list(program)
    pc = 0
    while pc < len(program):
        ins = program[pc]
        if ins.op in ("HALT", "LOOP"):
            res.counts[ins.op] += 1
            clock.t += 1
        if ins.op == "HALT":
            break
        if ins.op == "LOOP":
            body = program[pc + 1:pc + 1 + ins["body"]]
            if len(body) < ins["body"] or any(b.op in ("LOOP", "HALT") for b in body):
                raise isa.IsaError(f"instruction {pc} ({ins.text()}): the body must be {ins['body']} "
                                   "following words without LOOP or HALT")
            for i in range(ins["count"]):
                for b in body:
                    _step(b.shifted(i * ins["stride"]), tile, cfg, err, res, cost, clock, execute)
            pc += 1 + ins["body"]
            continue
        _step(ins, tile, cfg, err, res, cost, clock, execute)
        pc += 1
    clock.apply_stores(res.buffer, float("inf"))
    res.cycles = max([clock.t] + [u.done for u in units])
    longest: dict = {}                      # (MARK number, phase) -> busiest unit's span
    for (mark, _), (first, last) in clock.spans.items():
        longest[mark] = max(longest.get(mark, 0), last - first)
    for (_, phase), n in longest.items():
        res.phase_cycles[phase] = res.phase_cycles.get(phase, 0) + n
    return res


def _step(ins: isa.Instr, tile, cfg, err, res: Result, cost, clock: _Clock, execute: bool) -> None:
    tile.check(ins, ins.text())
    res.counts[ins.op] += 1
    if ins.op == "MARK":
        clock.phase = (clock.phase[0] + 1, isa.PHASE_NAMES[ins["phase"]])
    if ins.op == "SYNC":
        mask = ins["mask"]
        clock.t = max([clock.t] + [u.done for k, u in enumerate(res.units) if mask >> k & 1])
    if ins.op not in isa.UNIT_OPS:
        clock.t += 1
        return
    u = res.units[ins["unit"]]
    start, end = _time(ins, u, clock, cost)
    read = clock.t - 1                                   # a LOAD / WRITE reads the buffer at issue
    if ins.op in ("LOAD", "WRITE"):
        lo, hi = ins["addr"], ins["addr"] + ins["length"]
        if any(f > read and a < hi and lo < b for f, a, b in clock.writes):
            raise isa.IsaError(f"{ins.text()} at cycle {read} reads buffer values a STORE still "
                               "writes: put a SYNC of the storing unit before it")
    if ins.op == "STORE":
        clock.writes = [w for w in clock.writes if w[0] > clock.t] + [
            (end, ins["addr"], ins["addr"] + ins["length"])]
    if execute and ins.op == "STORE":
        clock.pending.append((start, ins["addr"], _stored(ins, u), ins["acc"]))
    elif execute:
        if ins.op in ("LOAD", "WRITE"):
            clock.apply_stores(res.buffer, read)
        _execute(ins, u, cfg, err, res.buffer)
    u.done = max(u.done, end)
    key = (clock.phase, ins["unit"])
    if ins.op in cost:
        first, last = clock.spans.get(key, (start, end))
        clock.spans[key] = (min(first, start), max(last, end))
    elif key in clock.spans:
        clock.spans[key] = (clock.spans[key][0], max(clock.spans[key][1], end))


def _queued(queue: deque, depth: int, t: int, start: int) -> int:
    """The issue cycle of an entry of an in-order queue of ``depth`` entries that would be
    issued at ``t`` (after the entry ``depth`` places ahead has left); records its ``start``."""
    if len(queue) == depth:
        t = max(t, queue.popleft() + 1)
    queue.append(start)
    return t


def _time(ins: isa.Instr, u: Unit, clock: _Clock, cost) -> tuple[int, int]:
    """Start and finish cycle of a unit instruction (module docstring); moves the issue cycle."""
    op, t = ins.op, clock.t
    if op == "LOAD":
        r = ins["reg"]
        start = max(t, u.reg_taken[r])
        u.reg_ready[r] = start + 2
        clock.t = start + 1
        return start, start + 2
    if op == "STORE":
        issue = max(t, u.stores[0] + 1) if len(u.stores) == clock.depth else t
        start = max(issue + 1, u.stores[-1] + 1 if u.stores else 0, u.out_done)
        while start in clock.store_slots:                    # older STOREs go first
            start += 1
        clock.store_slots = {c for c in clock.store_slots if c > issue} | {start}
        if len(u.stores) == clock.depth:
            u.stores.popleft()
        u.stores.append(start)
        u.stored = max(u.stored, start)
        clock.t = issue + 1
        return start, start + cycles.STORE_CYCLES
    issue = max(t, u.taken[0] + 1) if len(u.taken) == clock.depth else t
    if op == "WRITE":                                    # its row goes to the unit's row register
        issue = max(issue, u.reg_taken[2])
        u.reg_ready[2] = issue + 2
    reads = {"MVM": (0,), "MTVM": (1,), "OPA": (0, 1), "WRITE": (2,)}.get(op, ())
    kind = op if op in ("OPA", "CRS") else "CRS" if op == "WRITE" else "MVM"
    start = max([issue + 1, u.free[kind]] + ([u.taken[-1] + 1] if u.taken else [])
                + [u.reg_ready[r] for r in reads])
    if len(u.taken) == clock.depth:
        u.taken.popleft()
    u.taken.append(start)
    clock.t = issue + 1
    occupied, result = cost[op]
    for r in reads:
        u.reg_taken[r] = start + 1
    u.busy += occupied
    if kind == "MVM":
        if start + result <= u.stored:
            raise isa.IsaError(f"{ins.text()}: its output would leave the unit at cycle "
                               f"{start + result}, while a STORE of the previous output waits until "
                               f"{u.stored} (the unit would be held: not modelled)")
        u.out_done = start + result + cycles.OUTPUT_REGISTER_CYCLES
        u.free = {"MVM": start + occupied, "OPA": u.out_done, "CRS": u.out_done}
        return start, u.out_done
    end = start + occupied + cycles.FINISH_CYCLES
    u.free = {"MVM": end, "OPA": start + occupied if op == "OPA" else end, "CRS": end}
    return start, end


def _stored(ins: isa.Instr, u: Unit) -> np.ndarray:
    """The values a STORE takes from its unit's output register when it issues."""
    off, n = ins["offset"], ins["length"]
    if off + n > len(u.out):
        raise isa.IsaError(f"{ins.text()}: offset + length runs past the {len(u.out)}-value output")
    return u.out[off:off + n].copy()


def _execute(ins: isa.Instr, u: Unit, cfg, err, buf: np.ndarray) -> None:
    op = ins.op
    if op in isa.ADDRESSED:
        a, n = ins["addr"], ins["length"]
    if op == "LOAD":
        reg = u.col_in if ins["reg"] else u.row_in
        if ins["offset"] + n > len(reg):
            raise isa.IsaError(f"{ins.text()}: offset + length runs past the {len(reg)}-value register")
        reg[ins["offset"]:ins["offset"] + n] = buf[a:a + n]
    elif op == "WRITE":
        if ins["row"] >= len(u.weights) or n > u.weights.shape[1]:
            raise isa.IsaError(f"{ins.text()}: row or length outside the {u.weights.shape} block")
        u.weights[ins["row"]] = 0
        u.weights[ins["row"], :n] = buf[a:a + n]
        if u.update is not None:
            u.update.write_row(ins["row"], u.weights[ins["row"]])
    elif op == "MVM":
        u.out = np.asarray(crossbar.mvm(u.weights, u.row_in, cfg), dtype=np.int64)
    elif op == "MTVM":
        u.out = np.asarray(crossbar.mvm(u.weights, u.col_in, err, transposed=True), dtype=np.int64)
    elif op in ("OPA", "CRS"):
        if u.update is None:
            u.update = UpdateArrays(cfg, u.weights)
        if op == "OPA":
            u.update.opa(u.row_in, u.col_in)
        else:
            u.weights = u.update.crs().astype(np.int64)

