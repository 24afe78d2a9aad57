"""Golden interpreter of tile programs (:mod:`crosstrain.golden.isa`): what the operation
scheduler must compute, instruction by instruction, on golden crossbars and buffers.

Values: a unit's MVM is :func:`crosstrain.golden.crossbar.mvm` of its row input through its
block; MTVM the transposed MVM with ``error_bits`` inputs; OPA and CRS are
:class:`crosstrain.golden.opa.UpdateArrays` (one OPA per instruction, saturating after each);
WRITE programs a weight row of every copy and re-initialises the update slices from the
weights. A unit's block is always ``crossbar.rows`` x ``crossbar.cols``; rows and columns a layer
does not use hold weight 0 and are driven with 0, which changes no result.

Cycles (a model of the schedule the RTL scheduler is meant to keep, with every duration from
``golden/cycles.py``; the RTL does not exist yet): the scheduler issues one word per cycle into
per-unit queues [assumption: deep enough that issue never stalls] and waits only at SYNC, until
every unit in its mask is done. A unit has three in-order queues: loads, array operations and
stores. A LOAD takes one cycle [assumption: the buffer moves a vector per cycle] and waits until
the array has taken the register's previous contents (registers are double-buffered); an MVM /
MTVM starts when the array is free and its input is loaded, frees the array after the schedule's
``interval`` and has its output valid after ``latency`` (so back-to-back MVMs pipeline exactly as
:meth:`~crosstrain.golden.cycles.MvmSchedule.total` says); a STORE takes one cycle once that
output is valid; OPA occupies the array ``opa_cycles``, CRS ``crs_cycles``, WRITE
``write_row_cycles``. LOOP and MARK cost no cycle. A phase's cycles (between MARKs) are, on its
busiest unit, from its first array operation of the phase to its last result; a phase marked
several times adds its stretches.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from crosstrain.golden import crossbar, cycles, isa
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.opa import UpdateArrays


@dataclass
class Unit:
    """One crossbar unit's state."""

    weights: np.ndarray
    row_in: np.ndarray
    col_in: np.ndarray
    out: np.ndarray
    update: UpdateArrays | None = None
    load_free: int = 0        # when each queue can start its next instruction
    array_free: int = 0
    store_free: int = 0
    reg_ready: list = field(default_factory=lambda: [0, 0])   # row / column input loaded at
    reg_taken: list = field(default_factory=lambda: [0, 0])   # ... and taken by the array at
    out_ready: int = 0        # the last MVM / MTVM output valid at
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


def durations(cfg: HardwareConfig) -> dict[str, tuple[int, int]]:
    """(cycles the array is occupied, cycles until the result) of each array operation."""
    err = cfg.with_overrides({"precision.input_bits": cfg.precision.error_bits})
    fwd, bwd = cycles.mvm_schedule(cfg), cycles.mvm_schedule(err, transposed=True)
    opa, crs, write = cycles.opa_cycles(cfg), cycles.crs_cycles(cfg), cycles.write_row_cycles(cfg)
    return {"MVM": (fwd.interval, fwd.latency), "MTVM": (bwd.interval, bwd.latency),
            "OPA": (opa, opa), "CRS": (crs, crs), "WRITE": (write, write)}


def run(program, tile: isa.TileParams, cfg: HardwareConfig, buffer: np.ndarray | None = None) -> Result:
    """Execute ``program`` (a sequence of :class:`~crosstrain.golden.isa.Instr`) from ``buffer``
    (``tile.buffer_depth`` int64 values, copied); every instruction is checked against ``tile``.
    Without a buffer only the counts and cycles are worked out (no value is computed)."""
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
    err = cfg.with_overrides({"precision.input_bits": cfg.precision.error_bits})
    units = [Unit(np.zeros((rows, cols), np.int64), np.zeros(rows, np.int64), np.zeros(cols, np.int64),
                  np.zeros(cols, np.int64)) for _ in range(tile.units)]
    res = Result(buf, units)
    cost = durations(cfg)
    state = {"t": 0, "phase": (0, None), "spans": {}}
    program = list(program)
    pc = 0
    while pc < len(program):
        ins = program[pc]
        if ins.op in ("HALT", "LOOP"):
            res.counts[ins.op] += 1
        if ins.op == "HALT":
            break
        if ins.op == "LOOP":
            body = program[pc + 1:pc + 1 + ins["body"]]
            if len(body) < ins["body"] or any(b.op in ("LOOP", "HALT") for b in body):
                raise isa.IsaError(f"instruction {pc} ({ins.text()}): the body must be {ins['body']} "
                                   "following words without LOOP or HALT")
            for i in range(ins["count"]):
                for b in body:
                    _step(b.shifted(i * ins["stride"]), tile, cfg, err, res, cost, state, execute)
            pc += 1 + ins["body"]
            continue
        _step(ins, tile, cfg, err, res, cost, state, execute)
        pc += 1
    res.cycles = max([state["t"]] + [u.done for u in units])
    longest: dict = {}                      # (MARK number, phase) -> busiest unit's span
    for (mark, _), (first, last) in state["spans"].items():
        longest[mark] = max(longest.get(mark, 0), last - first)
    for (_, phase), n in longest.items():
        res.phase_cycles[phase] = res.phase_cycles.get(phase, 0) + n
    return res


def _step(ins: isa.Instr, tile, cfg, err, res: Result, cost, state, execute: bool) -> None:
    tile.check(ins, ins.text())
    res.counts[ins.op] += 1
    if ins.op == "NOP":
        state["t"] += 1
        return
    if ins.op == "MARK":
        state["phase"] = (state["phase"][0] + 1, isa.PHASE_NAMES[ins["phase"]])
        return
    if ins.op == "SYNC":
        mask = ins["mask"]
        state["t"] = max([state["t"]] + [u.done for k, u in enumerate(res.units) if mask >> k & 1])
        return
    u = res.units[ins["unit"]]
    if execute:
        _execute(ins, u, cfg, err, res.buffer)
    start, end = _time(ins, u, state["t"], cost)
    u.done = max(u.done, end)
    key = (state["phase"], ins["unit"])
    if ins.op in cost:
        first, last = state["spans"].get(key, (start, end))
        state["spans"][key] = (min(first, start), max(last, end))
    elif key in state["spans"]:
        state["spans"][key] = (state["spans"][key][0], max(state["spans"][key][1], end))
    state["t"] += 1


def _time(ins: isa.Instr, u: Unit, t: int, cost) -> tuple[int, int]:
    """Start and end cycle of a unit instruction issued at ``t`` (module docstring)."""
    op = ins.op
    if op == "LOAD":
        r = ins["reg"]
        start = max(t, u.load_free, u.reg_taken[r])
        u.load_free = u.reg_ready[r] = start + 1
        return start, start + 1
    if op == "STORE":
        start = max(t, u.store_free, u.out_ready)
        u.store_free = start + 1
        return start, start + 1
    reads = {"MVM": (0,), "MTVM": (1,), "OPA": (0, 1)}.get(op, ())
    start = max([t, u.array_free] + [u.reg_ready[r] for r in reads])
    occupied, result = cost[op]
    for r in reads:
        u.reg_taken[r] = start
    u.array_free = start + occupied
    u.busy += occupied
    if op in ("MVM", "MTVM"):
        u.out_ready = start + result
    return start, start + result


def _execute(ins: isa.Instr, u: Unit, cfg, err, buf: np.ndarray) -> None:
    op = ins.op
    if op in isa.ADDRESSED:
        a, n = ins["addr"], ins["length"]
    if op == "LOAD":
        reg = u.col_in if ins["reg"] else u.row_in
        if ins["offset"] + n > len(reg):
            raise isa.IsaError(f"{ins.text()}: offset + length runs past the {len(reg)}-value register")
        reg[ins["offset"]:ins["offset"] + n] = buf[a:a + n]
    elif op == "STORE":
        if ins["offset"] + n > len(u.out):
            raise isa.IsaError(f"{ins.text()}: offset + length runs past the {len(u.out)}-value output")
        part = u.out[ins["offset"]:ins["offset"] + n]
        buf[a:a + n] = buf[a:a + n] + part if ins["acc"] else part
    elif op == "WRITE":
        if ins["row"] >= len(u.weights) or n > u.weights.shape[1]:
            raise isa.IsaError(f"{ins.text()}: row or length outside the {u.weights.shape} block")
        u.weights[ins["row"]] = 0
        u.weights[ins["row"], :n] = buf[a:a + n]
        u.update = None
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

