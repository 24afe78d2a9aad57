"""A training step through :class:`crosstrain.rtl.emulated_unit.EmulatedCrossbarUnit` (the crossbar unit on
its RTL crossbar emulator, no Python on the port): one body, :func:`run_step`, in amaranth.sim
(:func:`simulate`) and cocotb (the test at the bottom, on Icarus and Verilator).

The step is :func:`crosstrain.tb.crossbar_unit_bench.training_step`'s (forward MVMs, a transposed MVM, OPAs
back to back, a CRS, a forward MVM on the resolved weights) with a transposed MVM on the
resolved weights appended (it reads the backward copy the CRS wrote). :func:`check_run`
compares every output with :func:`crosstrain.golden.crossbar.sliced_mvm`, and every operation's cycles,
stalled cycles taken out, with :mod:`crosstrain.golden.cycles`; the stalled cycles with
:func:`expected_stalls`. In amaranth.sim the memories are read at the end and compared with
the golden update slices and copies (:func:`check_memories`). Bench parameters:
``{"periphery": PeripheryParams.as_dict(), "seed": int, "fwd": int, "opas": int}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cocotb
import numpy as np

from crosstrain.golden import cycles
from crosstrain.golden.encoding import slice_weights
from crosstrain.golden.opa import opa_drive
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.rtl.crossbar_unit import Op, command_layout
from crosstrain.rtl.shift_add import output_layout
from crosstrain.tb.crossbar_unit_bench import Step, commands, stuck_after, training_step
from crosstrain.tb.mvm_bench import golden_outputs, random_inputs
from crosstrain.tb.runner import bench_params
from crosstrain.tb.stream import StreamSink, StreamSource
from crosstrain.tb.testbench import run_amaranth, run_cocotb
from crosstrain.tb.words import Codec, unpack


def emulator_step(p: PeripheryParams, rng, *, fwd: int = 2, opas: int = 3) -> Step:
    """:func:`~crosstrain.tb.crossbar_unit_bench.training_step` and a transposed MVM on the resolved weights."""
    step = training_step(p, rng, fwd=fwd, opas=opas)
    xt = random_inputs(p, rng, 1, transposed=True)[0]
    step.ops.append(Op.MVM_T)
    step.xs.append(xt)
    step.ds.append(None)
    step.outputs += golden_outputs(p, step.w1, [xt], [True])
    return step


@dataclass
class Run:
    """Cycles (relative to the first cycle after the reset) of each command's acceptance and
    each output, the outputs, ``stall`` of every cycle, the stall counter at the end and, in
    amaranth.sim, the memories' words by name."""

    accepted: list
    emitted: list
    outputs: list
    stalls: np.ndarray
    stall_count: int
    memories: dict = field(default_factory=dict)
    run_s: float = 0.0

    def unit_cycle(self, c: int) -> int:
        """Cycle ``c`` on the unit's clock: the stalled cycles before it taken out."""
        return c - int(self.stalls[:c].sum())


def expected_stalls(p: PeripheryParams, step: Step) -> int:
    """Stalled cycles of a step whose OPAs run back to back, followed by a CRS and then an MVM,
    by the emulator's documented rule: after a phase that drives ``n`` rows
    (:func:`crosstrain.golden.opa.opa_drive`), ``n + 1 - opa_phase_cycles`` at the next phase
    start, or ``n - opa_phase_cycles`` at the CRS; ``lines_per_adc - write_row_cycles -
    read_cycles + 1`` at the sample of the MVM after the CRS (the forward copy's last row
    write, from the first cycle of the CRS's last write); each when positive."""
    per = p.opa_phase_cycles
    driven = np.concatenate([opa_drive(x, d, p.cfg)[0].reshape(-1, p.rows).sum(axis=1)
                             for op, x, d in zip(step.ops, step.xs, step.ds) if op == Op.OPA])
    after_crs = p.lines_per_adc() - p.write_row_cycles - p.read_cycles + 1
    return (int(np.maximum(0, driven[:-1] + 1 - per).sum()) + max(0, int(driven[-1]) - per)
            + max(0, after_crs))


def check_run(p: PeripheryParams, step: Step, run: Run, note: str) -> dict:
    """Outputs against golden, every operation's cycles on the unit's clock against
    :mod:`crosstrain.golden.cycles`, the stalls against :func:`expected_stalls`. Returns the
    measured cycles."""
    assert len(run.outputs) == len(step.outputs), f"{len(run.outputs)} outputs ({note})"
    for k, (got, want) in enumerate(zip(run.outputs, step.outputs)):
        bad = np.flatnonzero(got != want)
        assert not len(bad), f"MVM {k}: line {bad[0]} is {got[bad[0]]}, golden {want[bad[0]]} ({note})"
    acc = [run.unit_cycle(c) for c in run.accepted]
    out = [run.unit_cycle(c) for c in run.emitted]
    mvms = [k for k, op in enumerate(step.ops) if op in (Op.MVM, Op.MVM_T)]
    for n, k in enumerate(mvms):
        s = cycles.mvm_schedule(p.cfg, transposed=step.ops[k] == Op.MVM_T)
        assert out[n] - acc[k] == s.latency, f"command {k}: latency {out[n] - acc[k]}, model {s.latency} ({note})"
        if k + 1 in mvms and step.ops[k + 1] == step.ops[k]:
            gap = acc[k + 1] - acc[k]
            assert gap == s.interval, f"command {k}: interval {gap}, model {s.interval} ({note})"
    opas = [k for k, op in enumerate(step.ops) if op == Op.OPA]
    crs = step.ops.index(Op.CRS)
    opa_c, crs_c = cycles.opa_cycles(p.cfg), cycles.crs_cycles(p.cfg)
    for a, b in zip(opas, opas[1:]):
        assert acc[b] - acc[a] == opa_c, f"OPA interval {acc[b] - acc[a]}, model {opa_c} ({note})"
    assert acc[crs] == acc[opas[-1]] + opa_c + 1, f"CRS dispatch {acc[crs] - acc[opas[-1]]} ({note})"
    assert acc[crs + 1] == acc[crs] + crs_c + 1, f"CRS took {acc[crs + 1] - acc[crs] - 1}, model {crs_c} ({note})"
    want = expected_stalls(p, step)
    stalled = int(run.stalls.sum())
    assert stalled == run.stall_count == want, \
        f"{stalled} stalled cycles (counter {run.stall_count}), expected {want} ({note})"
    return {"opa": opa_c, "crs": crs_c, "stalls": stalled, "total": len(run.stalls)}


def check_memories(p: PeripheryParams, step: Step, words: dict, note: str) -> None:
    """The emulator's memories (read back as words) against the golden update slices and the
    copies of the resolved weights, in the layout of
    :func:`crosstrain.rtl.crossbar_emulator.memory_images` (unpacked here independently)."""
    b, lvl = p.bits_per_cell, p.update_level_bits
    lpa, lpa_t, adcs = p.lines_per_adc(), p.lines_per_adc(transposed=True), p.adcs_per_array
    levels = slice_weights(step.w1, p.cfg)[0]
    upd = np.stack([unpack(w, p.update_slices * p.cols, lvl).reshape(p.update_slices, p.cols)
                    for w in words["upd"]], axis=1)
    bad = np.argwhere(upd != np.rint(step.update.cells))
    assert not len(bad), f"update cell [slice, row, col] {bad[0].tolist()} ({note})"
    for k in range(p.arrays):
        fwd = np.stack([unpack(w, adcs * p.rows, b).reshape(adcs, p.rows) for w in words[f"fwd{k}"]])
        cols = fwd.transpose(1, 0, 2).reshape(adcs * lpa, p.rows)            # [column][row]
        assert np.array_equal(cols[:p.cols].T, levels[k]), f"forward copy of array {k} ({note})"
        assert not cols[p.cols:].any(), f"forward copy padding of array {k} ({note})"
        bwd = np.stack([unpack(w, adcs * p.cols, b).reshape(adcs, p.cols) for w in words[f"bwd{k}"]])
        rows = bwd.transpose(1, 0, 2).reshape(adcs * lpa_t, p.cols)
        assert np.array_equal(rows[:p.rows], levels[k]), f"backward copy of array {k} ({note})"
        assert not rows[p.rows:].any(), f"backward copy padding of array {k} ({note})"


async def run_step(tb, p: PeripheryParams, step: Step, memories: dict | None = None) -> Run:
    """The step's commands offered back to back on ``cmd``, every output taken from ``o``;
    ``memories`` (amaranth.sim: name -> ``amaranth.lib.memory.Memory``) are read at the end."""
    await tb.reset()
    src = tb.add(StreamSource(tb, "cmd", codec=Codec(command_layout(p))))
    sink = tb.add(StreamSink(tb, "o", codec=Codec(output_layout(p))))
    stall = tb.probe("stall", trace=True)
    src.send_all(commands(step))
    start, t0 = tb.cycle, time.perf_counter()
    # stalls at most rows + 1 cycles a phase and lines_per_adc an operation
    stalls = len(step.ops) * ((p.rows + 1) * cycles.opa_phases(p.cfg) + p.lines_per_adc())
    await sink.wait(len(step.outputs), timeout=stuck_after(p) + stalls)
    tb.remove(src, sink, stall)
    n_out = [p.rows if op == Op.MVM_T else p.cols for op in step.ops if op in (Op.MVM, Op.MVM_T)]
    words = {name: [tb.ctx.get(mem.data[i]) for i in range(mem.depth)] for name, mem in (memories or {}).items()}
    return Run(accepted=[t.cycle - start for t in src.transfers],
               emitted=[t.cycle - start for t in sink.transfers],
               outputs=[t.value[:n] for t, n in zip(sink.transfers, n_out)],
               stalls=np.array(stall.values, dtype=np.int64), stall_count=tb.port("stall_cycles").get(),
               memories=words, run_s=time.perf_counter() - t0)


def simulate(p: PeripheryParams, step: Step) -> Run:
    """:func:`run_step` on an :class:`~crosstrain.rtl.emulated_unit.EmulatedCrossbarUnit` holding
    ``step.w0``, in amaranth.sim, its memories read at the end."""
    from crosstrain.rtl.emulated_unit import EmulatedCrossbarUnit

    dut = EmulatedCrossbarUnit(params=p, weights=step.w0)
    return run_amaranth(dut, lambda tb: run_step(tb, p, step, dut.emulator.memories))


@cocotb.test()
async def emulated_step_matches_golden(dut):
    d = bench_params()
    p = PeripheryParams.from_dict(d["periphery"])
    step = emulator_step(p, np.random.default_rng(d["seed"]), fwd=d["fwd"], opas=d["opas"])
    run = await run_cocotb(dut, lambda tb: run_step(tb, p, step))
    measured = check_run(p, step, run, f"seed {d['seed']}")
    dut._log.info(f"measured cycles {measured}; {measured['total'] / run.run_s:.0f} cycles/s")
