"""Golden interpreter of tile programs (:mod:`crosstrain.golden.isa`): what the operation
scheduler must compute, instruction by instruction, on golden crossbars and buffers.

Values: a unit's MVM is :func:`crosstrain.golden.crossbar.mvm` of its row input through its
block; MTVM the transposed MVM with ``error_bits`` inputs; OPA and CRS are
:class:`crosstrain.golden.opa.UpdateArrays` (one OPA per instruction, saturating after each);
WRITE programs a weight row of every copy and re-initialises the update slices from the
weights. A unit's block is always ``crossbar.rows`` x ``crossbar.cols``; rows and columns a layer
does not use hold weight 0 and are driven with 0, which changes no result.

Cycles (a first model, not yet the RTL's; ``golden/cycles.py`` gives every duration): the
scheduler issues one word per cycle and waits only at SYNC, until every unit in its mask is idle.
Each unit runs what it is issued in order, one instruction at a time: MVM / MTVM for the
schedule's full ``latency`` (no overlap of back-to-back MVMs on one unit), OPA ``opa_cycles``,
CRS ``crs_cycles``, WRITE ``write_row_cycles``, LOAD and STORE one cycle each [assumption: the
buffer moves one whole vector per cycle]. LOOP and MARK cost no cycle of their own.
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
    free_at: int = 0          # cycle when its last issued instruction finishes
    busy: int = 0             # cycles spent executing


@dataclass
class Result:
    """What a program did: the final buffer and units, instructions per kind, cycles."""

    buffer: np.ndarray
    units: list[Unit]
    counts: Counter = field(default_factory=Counter)
    cycles: int = 0
    phase_cycles: dict = field(default_factory=dict)   # MARK phase name -> cycles until the next MARK


def durations(cfg: HardwareConfig) -> dict[str, int]:
    """Cycles each instruction keeps its unit busy (module docstring)."""
    err = cfg.with_overrides({"precision.input_bits": cfg.precision.error_bits})
    return {"LOAD": 1, "STORE": 1, "WRITE": cycles.write_row_cycles(cfg),
            "MVM": cycles.mvm_schedule(cfg).latency,
            "MTVM": cycles.mvm_schedule(err, transposed=True).latency,
            "OPA": cycles.opa_cycles(cfg), "CRS": cycles.crs_cycles(cfg)}


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
    state = {"t": 0, "phase": None, "since": 0}
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
    res.cycles = max([state["t"]] + [u.free_at for u in units])
    _close_phase(res, state, res.cycles)
    return res


def _close_phase(res: Result, state: dict, now: int) -> None:
    if state["phase"] is not None:
        res.phase_cycles[state["phase"]] = res.phase_cycles.get(state["phase"], 0) + now - state["since"]


def _step(ins: isa.Instr, tile, cfg, err, res: Result, cost, state, execute: bool) -> None:
    tile.check(ins, ins.text())
    res.counts[ins.op] += 1
    if ins.op == "NOP":
        state["t"] += 1
        return
    if ins.op == "MARK":
        now = max([state["t"]] + [u.free_at for u in res.units])
        _close_phase(res, state, now)
        state["phase"], state["since"] = isa.PHASE_NAMES[ins["phase"]], now
        return
    if ins.op == "SYNC":
        mask = ins["mask"]
        waits = [u.free_at for k, u in enumerate(res.units) if mask >> k & 1]
        state["t"] = max([state["t"]] + waits)
        return
    u = res.units[ins["unit"]]
    if execute:
        _execute(ins, u, cfg, err, res.buffer)
    start = max(state["t"], u.free_at)
    u.free_at = start + cost[ins.op]
    u.busy += cost[ins.op]
    state["t"] += 1


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

