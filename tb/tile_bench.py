"""Bench of crosstrain.rtl.tile.Tile: programs of crosstrain.golden.isa words run with no Python
per cycle, checked against crosstrain.golden.interpreter.

One body, :func:`run_program` (a :mod:`crosstrain.tb.testbench` bench): reset; the buffer filled
through the ``host`` port (one value per cycle); the words offered on ``instr`` back to back
(cycle 0: the first word's), each wait for ``ready`` a free run (:meth:`Testbench.free_until`);
a free run until ``done``; the buffer read back through ``host``. :func:`check` compares the
buffer bit for bit and the ``done`` cycle exactly with :func:`crosstrain.golden.interpreter.run`.
It serves amaranth.sim (:func:`simulate`, tests/rtl/test_tile.py) and cocotb on Icarus and
Verilator (the test at the bottom; tests/rtl/test_tile.py runs it, and ``crosstrain bench sim``
times it).

The design is built from ``{"periphery": PeripheryParams.as_dict(), "tile": TileParams fields,
"value_bits": int}`` (the bench's parameters, one build per design); the programs come from
the environment variable ``CROSSTRAIN_TILE_CASES`` (a JSON list of cases: :func:`make_case`
keywords, or :func:`given_case`'s program and buffer, e.g. a compiled layer's; or ``@PATH``, the
list in the file ``PATH``, for cases too large for the environment), so new cases reuse the
build. Weights reach the units through WRITE words from the buffer, as the
compiler's programs program them (the design's arrays start at zero).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass

import cocotb
import numpy as np

from crosstrain.golden import interpreter, isa
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.tb.words import pack, unpack
from crosstrain.tb.runner import bench_params
from crosstrain.tb.testbench import run_amaranth, run_cocotb

CASES_ENV = "CROSSTRAIN_TILE_CASES"
RESULTS_ENV = "CROSSTRAIN_TILE_RESULTS"
I = isa.Instr.make

#: The bench's tile: 4 x 4 blocks, 2 ADCs, 4-bit inputs in two 2-bit DAC steps (an MVM takes 16
#: cycles, one every 12); OPA phases of 5 cycles cover 4 driven rows, so the emulator never stalls.
SMALL_PERIPHERY = {
    "crossbar.rows": 4, "crossbar.cols": 4, "converters.adcs_per_array": 2,
    "converters.dac_bits": 2, "converters.adc_bits": 5,
    "precision.weight_bits": 8, "precision.weight_frac_bits": 0, "precision.input_bits": 4,
    "precision.error_bits": 4, "precision.update_slices": 6, "precision.update_slice_bits": 3,
    "crossbar.read_latency_ns": 3, "device.write_latency_ns": 2, "tile.opa_phase_ns": 5}
#: Four such units and 128 values: room for a dense layer 6 -> 6 at batch 2 and the random cases.
SMALL_TILE = isa.TileParams(units=4, buffer_depth=128, max_length=4, queue_depth=2)


@dataclass
class TileRun:
    """What :func:`run_program` saw: the buffer read back, the first cycle ``done`` was high
    (counted from the cycle the first word was offered), ``error``, the stall counter, and the
    wall time of the program's cycles (from the first word to ``done``)."""

    buffer: np.ndarray
    cycles: int
    error: int
    stalls: int
    run_s: float


def design_params(p: PeripheryParams, tile: isa.TileParams, value_bits: int) -> dict:
    """The bench's parameters (JSON) for a tile of ``tile`` on ``p``."""
    return {"periphery": p.as_dict(), "tile": dataclasses.asdict(tile), "value_bits": value_bits}


def random_program(rng, units: int, n: int, kinds: dict) -> list:
    """``n`` random words of ``kinds`` (op -> weight) on ``units`` units, then HALT; inputs in
    buffer[0:32], STOREs to buffer[32:64]; LOOPs (1 to 3 iterations, bodies of 1 to 4 words,
    strides 0 to 4) keep their shifted addresses in those ranges."""
    names, weights = list(kinds), np.array(list(kinds.values()), float)
    prog, room, body = [], 0, 0                 # room: a LOOP's address shifts still to come
    for _ in range(n):
        kind, u = rng.choice(names, p=weights / weights.sum()), int(rng.integers(0, units))
        off = int(rng.integers(0, 4))
        length = int(rng.integers(1, 5 - off))
        body -= 1
        if body < 0:
            room = 0
        if kind == "LOOP" and body < 0:
            count, stride, body = int(rng.integers(1, 4)), int(rng.integers(0, 5)), int(rng.integers(1, 5))
            room = (count - 1) * stride
            prog.append(I("LOOP", count=count, body=body, stride=stride))
        elif kind == "LOAD":
            prog.append(I("LOAD", unit=u, reg=int(rng.integers(0, 2)), offset=off,
                          addr=int(rng.integers(0, 33 - length - room)), length=length))
        elif kind == "STORE":
            prog.append(I("STORE", unit=u, acc=int(rng.integers(0, 2)), offset=off,
                          addr=int(rng.integers(32, 65 - length - room)), length=length))
        elif kind == "WRITE":
            prog.append(I("WRITE", unit=u, row=int(rng.integers(0, 4)),
                          addr=int(rng.integers(0, 33 - length - room)), length=length))
        elif kind == "SYNC":
            prog.append(I("SYNC", mask=int(rng.integers(1, 1 << units))))
        elif kind == "MARK":
            prog.append(I("MARK", layer=1, phase=int(rng.integers(0, 3))))
        elif kind in ("NOP", "LOOP"):
            prog.append(I("NOP"))
        else:
            prog.append(I(str(kind), unit=u))
    return prog + [I("NOP")] * max(0, body) + [I("HALT")]


def make_case(p: PeripheryParams, tile: isa.TileParams, *, kind: str, seed: int = 0,
              words: int = 30, iterations: int = 1000, rounds: int = 1) -> tuple[list, np.ndarray]:
    """``(program, buffer)`` of a generated bench case on ``tile`` (``p.rows x p.cols`` units;
    every unit's random weights in buffer[64:] and WRITE words programming them first, as the
    compiler's programs do; inputs in buffer[0:32] over the whole signed range):

    - ``random``: then :func:`random_program` of ``words`` words of every kind;
    - ``loop``: then ``iterations`` iterations of a LOOP whose body drives ``rounds`` times an MVM
      on every unit and stores its output into buffer[32:] (long runs for timing; every
      iteration does the same, so the buffer ends as after one; LOOPs of at most ``2**16 - 1``
      iterations one after another).
    """
    rng = np.random.default_rng(seed)
    top, wtop = 1 << (p.input_bits - 1), 1 << (p.weight_bits - 1)
    block = p.rows * p.cols
    if 64 + tile.units * block > tile.buffer_depth or max(p.rows, p.cols) > 8:
        raise ValueError(f"a {kind} case needs crossbars of at most 8 x 8 and a buffer of "
                         f"{64 + tile.units * block} values")
    buf = np.zeros(tile.buffer_depth, np.int64)
    buf[:32] = rng.integers(-top, top, 32)
    buf[64:64 + tile.units * block] = rng.integers(-wtop, wtop, tile.units * block)
    prog = [I("WRITE", unit=u, row=r, addr=64 + u * block + r * p.cols, length=p.cols)
            for u in range(tile.units) for r in range(p.rows)]
    if kind == "random":
        return prog + random_program(rng, tile.units, words, {
            "WRITE": 2, "LOAD": 8, "MVM": 3, "MTVM": 2, "OPA": 2, "CRS": 1, "STORE": 5, "SYNC": 1,
            "LOOP": 1, "NOP": 1}), buf
    if kind == "loop":
        body = []
        for u in [u for _ in range(rounds) for u in range(tile.units)]:
            body += [I("LOAD", unit=u, reg=0, offset=0, addr=p.rows * (u % 4), length=p.rows),
                     I("MVM", unit=u), I("STORE", unit=u, acc=0, offset=0, addr=32 + p.cols * u, length=p.cols)]
        if len(body) >= 1 << isa.LOOP_BODY_BITS:
            raise ValueError(f"rounds = {rounds}: a body of {len(body)} words is longer than "
                             f"{(1 << isa.LOOP_BODY_BITS) - 1}")
        left = iterations
        while left:
            count = min(left, (1 << isa.LOOP_COUNT_BITS) - 1)
            prog += [I("LOOP", count=count, body=len(body), stride=0), *body]
            left -= count
        return prog + [I("HALT")], buf
    raise ValueError(f"unknown case kind {kind!r}: random or loop")


def given_case(program, buffer) -> dict:
    """A case of ``CROSSTRAIN_TILE_CASES`` holding its program and buffer (JSON), e.g. a program
    of the compiler (which the bench may not import)."""
    return {"program": [[i.op, [list(f) for f in i.fields]] for i in program],
            "buffer": [int(v) for v in buffer]}


def load_cases(text: str) -> list:
    """The cases ``CROSSTRAIN_TILE_CASES`` holds: its JSON list, or with ``@PATH`` the JSON list in
    the file ``PATH`` (Linux refuses an environment string over 128 KiB, ``MAX_ARG_STRLEN``: a
    layer's buffer of tens of thousands of values)."""
    if text.startswith("@"):
        with open(text[1:]) as f:
            return json.load(f)
    return json.loads(text)


def case_program(p: PeripheryParams, tile: isa.TileParams, case: dict) -> tuple[list, np.ndarray]:
    """``(program, buffer)`` of a case: :func:`given_case`'s, or :func:`make_case`'s keywords
    (``check`` aside)."""
    if "program" in case:
        return ([isa.Instr(op, tuple((k, v) for k, v in fields)) for op, fields in case["program"]],
                np.array(case["buffer"], np.int64))
    return make_case(p, tile, **{k: v for k, v in case.items() if k != "check"})


async def write_buffer(tb, values, value_bits: int) -> None:
    """``values`` into buffer addresses 0 .. len - 1 through ``host``, one a cycle; ``host.ready``
    must be high in every one of these cycles."""
    ready = tb.probe("host__ready")
    tb.set("host__en", 1)
    tb.set("host__we", 1)
    for a, v in enumerate(values):
        tb.set("host__addr", a)
        tb.set("host__wdata", pack([v], value_bits))
        await tb.ticks(1)
    tb.set("host__en", 0)
    tb.set("host__we", 0)
    tb.remove(ready)
    assert ready.high == len(values), f"host.ready low in {len(values) - ready.high} write cycles"


async def read_buffer(tb, depth: int, value_bits: int) -> np.ndarray:
    """The buffer's ``depth`` values read through ``host``, one a cycle (each in ``rdata`` the
    cycle after its read)."""
    ready, rdata = tb.probe("host__ready", trace=True), tb.probe("host__rdata", trace=True)
    tb.set("host__en", 1)
    tb.set("host__we", 0)
    for a in range(depth):
        tb.set("host__addr", a)
        await tb.ticks(1)
    tb.set("host__en", 0)
    await tb.ticks(1)
    tb.remove(ready, rdata)
    assert all(ready.values[:depth]), "host.ready low while reading the buffer"
    return np.array([unpack(v, 1, value_bits, signed=True)[0] for v in rdata.values[1:depth + 1]],
                    np.int64)


async def run_program(tb, words: list[int], buffer, *, value_bits: int, timeout: int) -> TileRun:
    """Reset, fill the buffer, run ``words`` (free runs: no Python per cycle but per word) until
    ``done`` (at most ``timeout`` cycles), read the buffer back."""
    await tb.reset()
    await write_buffer(tb, buffer, value_bits)
    start, t0 = tb.cycle, time.perf_counter()
    tb.set("instr__valid", 1)
    for k, w in enumerate(words):
        tb.set("instr__payload", w)
        await tb.free_until("instr__ready", timeout=max(1, start + timeout - tb.cycle),
                            what=f"word {k} of {len(words)} taken")
    tb.set("instr__valid", 0)
    await tb.free_until("done", timeout=max(1, start + timeout - tb.cycle), what="done")
    cycles, run_s = tb.cycle - 1 - start, time.perf_counter() - t0
    error, stalls = tb.port("error").get(), tb.port("stall_cycles").get()
    got = await read_buffer(tb, len(buffer), value_bits)
    return TileRun(buffer=got, cycles=cycles, error=error, stalls=stalls, run_s=run_s)


def check(p: PeripheryParams, tile: isa.TileParams, program, buffer, run: TileRun, note: str = ""):
    """``run`` against :func:`crosstrain.golden.interpreter.run` (arrays from zero): no error, no
    stall, buffer bit for bit, ``done`` cycle exactly; returns the interpreter's result."""
    want = interpreter.run(program, tile, p.cfg, np.asarray(buffer, np.int64))
    assert not run.error, f"error raised ({note})"
    bad = np.flatnonzero(run.buffer != want.buffer)
    assert not len(bad), f"buffer[{bad[0]}] = {run.buffer[bad[0]]}, golden {want.buffer[bad[0]]} ({note})"
    assert run.stalls == 0, f"{run.stalls} stalled cycles ({note})"
    assert run.cycles == want.cycles, f"{run.cycles} cycles, model {want.cycles} ({note})"
    return want


def timeout_for(p: PeripheryParams, program) -> int:
    """A bound on a program's cycles: every executed word (a LOOP's body ``count`` times) as
    long as the longest operation (:func:`crosstrain.golden.interpreter.durations`), plus 1,000."""
    longest = max(max(d) for d in interpreter.durations(p.cfg).values())
    executed, k = 0, 0
    while k < len(program):
        i = program[k]
        if i.op == "LOOP":
            executed += i["count"] * i["body"]
            k += 1 + i["body"]
        else:
            executed, k = executed + 1, k + 1
    return 1_000 + executed * (longest + 1)


def simulate(p: PeripheryParams, tile: isa.TileParams, program, buffer, *, value_bits: int = 32) -> TileRun:
    """:func:`run_program` on a fresh :class:`~crosstrain.rtl.tile.Tile` (arrays and buffer at
    zero) in amaranth.sim."""
    from crosstrain.rtl.tile import Tile

    words = [isa.encode(i, tile) for i in program]
    return run_amaranth(Tile(params=p, tile=tile, value_bits=value_bits),
                        lambda tb: run_program(tb, words, buffer, value_bits=value_bits,
                                               timeout=timeout_for(p, program)))


def case_note(case: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in case.items() if k not in ("program", "buffer"))


@cocotb.test()
async def programs_match_golden(dut):
    """Every case of ``CROSSTRAIN_TILE_CASES`` on the one build; a case with ``"check": false``
    is not checked here (a throughput run: its caller checks). Logs one ``tile case`` JSON line
    per case; with ``CROSSTRAIN_TILE_RESULTS`` set, writes every run (cycles, run_s, error,
    stalls, buffer) to that file as a JSON list."""
    d = bench_params()
    p, tile = PeripheryParams.from_dict(d["periphery"]), isa.TileParams(**d["tile"])
    cases = load_cases(os.environ[CASES_ENV])
    made = [case_program(p, tile, case) for case in cases]

    async def body(tb):
        runs = []
        for program, buffer in made:
            words = [isa.encode(i, tile) for i in program]
            runs.append(await run_program(tb, words, buffer, value_bits=d["value_bits"],
                                          timeout=timeout_for(p, program)))
        return runs

    runs = await run_cocotb(dut, body)
    if os.environ.get(RESULTS_ENV):
        with open(os.environ[RESULTS_ENV], "w") as out:
            json.dump([{"cycles": r.cycles, "run_s": r.run_s, "error": r.error, "stalls": r.stalls,
                        "buffer": r.buffer.tolist()} for r in runs], out)
    for case, (program, buffer), run in zip(cases, made, runs):
        if case.get("check", True):
            check(p, tile, program, buffer, run, case_note(case))
        dut._log.info("tile case " + json.dumps({"case": case_note(case), "cycles": run.cycles,
                                                 "run_s": run.run_s}))


def run_case(p: PeripheryParams, tile: isa.TileParams, case: dict, simulator: str, *,
             value_bits: int = 32) -> tuple[TileRun, float]:
    """One case (unchecked) on ``simulator`` (amaranth, icarus or verilator): ``(run, build_s)``,
    ``build_s`` the wall time besides the program's cycles (amaranth.sim: elaboration, filling
    and reading the buffer; Icarus / Verilator: export, build, cached under ``build/cocotb``,
    start-up, filling and reading)."""
    import tempfile
    from pathlib import Path

    from crosstrain.rtl.tile import Tile
    from crosstrain.tb.runner import run_bench

    t0 = time.perf_counter()
    if simulator == "amaranth":
        program, buffer = case_program(p, tile, case)
        run = simulate(p, tile, program, buffer, value_bits=value_bits)
        return run, time.perf_counter() - t0 - run.run_s
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs.json"
        tests, failed = run_bench(Tile(params=p, tile=tile, value_bits=value_bits), design="tile",
                                  params=design_params(p, tile, value_bits), simulator=simulator,
                                  test_module="crosstrain.tb.tile_bench",
                                  extra_env={CASES_ENV: json.dumps([case | {"check": False}]),
                                             RESULTS_ENV: str(out)}, ports_only=True)
        if failed or not out.exists():
            raise RuntimeError(f"the {simulator} tile bench failed (see the logs under build/cocotb)")
        d = json.loads(out.read_text())[0]
    d["buffer"] = np.array(d["buffer"], np.int64)
    run = TileRun(**d)
    return run, time.perf_counter() - t0 - run.run_s
