"""A training step through :class:`crosstrain.rtl.crossbar_unit.CrossbarUnit` with the block model of
:mod:`crosstrain.tb.crossbar_block` on its port: one body, :func:`run_step` (a
:mod:`crosstrain.tb.testbench` bench: commands from a stream source, outputs taken by a sink,
the block on ``xbar``), in amaranth.sim (:func:`simulate`) and cocotb (the test at the bottom,
on Icarus and Verilator).

The step (:func:`training_step`): ``fwd`` forward MVMs back to back, one transposed MVM, ``opas``
OPAs back to back, one CRS, one forward MVM on the resolved weights, offered as one command
stream (each command as soon as the previous is taken, ``o`` always ready). :func:`check_step`
compares every output with :func:`crosstrain.golden.crossbar.sliced_mvm` (on the initial weights, then on
:meth:`crosstrain.golden.opa.UpdateArrays.crs`'s), the update slices and both copies with the golden
update, and every operation's cycles with :mod:`crosstrain.golden.cycles`: MVM latency and back-to-back
interval, ``opa_cycles`` per OPA, ``crs_cycles``, and no dispatch overhead (a command waiting
for the unit to go idle is taken in the first idle cycle). The bench parameters are
``{"periphery": PeripheryParams.as_dict(), "seed": int, "fwd": int, "opas": int}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cocotb
import numpy as np

from crosstrain.golden import cycles
from crosstrain.golden.encoding import slice_weights
from crosstrain.golden.opa import UpdateArrays
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.rtl.crossbar_unit import Mode, Op, command_layout
from crosstrain.rtl.shift_add import output_layout
from crosstrain.tb.crossbar_block import BlockAgent, CrossbarBlock
from crosstrain.tb.mvm_bench import golden_outputs, random_inputs, random_weights
from crosstrain.tb.runner import bench_params
from crosstrain.tb.stream import StreamSink, StreamSource, random_pauses
from crosstrain.tb.testbench import run_amaranth, run_cocotb
from crosstrain.tb.words import Codec


@dataclass
class Step:
    """The commands of one training step and the golden results."""

    w0: np.ndarray
    ops: list                   # Op per command
    xs: list                    # x per command (None for CRS)
    ds: list                    # d per command (None unless OPA)
    outputs: list               # golden MVM outputs, in order
    update: UpdateArrays        # golden update slices after the CRS
    w1: np.ndarray              # golden weights after the CRS


def training_step(p: PeripheryParams, rng, *, fwd: int = 2, opas: int = 3) -> Step:
    w0 = random_weights(p, rng)
    xf = list(random_inputs(p, rng, fwd))
    xt = random_inputs(p, rng, 1, transposed=True)[0]
    lo, hi = -(1 << (p.error_bits - 1)), 1 << (p.error_bits - 1)
    ox = random_inputs(p, rng, opas)
    od = rng.integers(lo, hi, (opas, p.cols))
    x2 = random_inputs(p, rng, 1)[0]
    update = UpdateArrays(p.cfg, w0)
    update.opa(ox, od)
    w1 = update.crs()
    outputs = (golden_outputs(p, w0, xf + [xt], [False] * fwd + [True])
               + golden_outputs(p, w1, [x2], [False]))
    ops = [Op.MVM] * fwd + [Op.MVM_T] + [Op.OPA] * opas + [Op.CRS, Op.MVM]
    xs = xf + [xt] + list(ox) + [None, x2]
    ds = [None] * (fwd + 1) + list(od) + [None, None]
    return Step(w0, ops, xs, ds, outputs, update, w1)


def commands(step: Step) -> list[dict]:
    """The step's commands for the RTL's ``command_layout`` (no operand: packed as 0)."""
    return [{"op": op, "x": x, "d": d} for op, x, d in zip(step.ops, step.xs, step.ds)]


@dataclass
class Trace:
    """Cycle (index of the clock edge) of each command's acceptance and each output; the port
    mode of every cycle."""

    accepted: list = field(default_factory=list)
    emitted: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    modes: list = field(default_factory=list)
    run_s: float = 0.0


def stuck_after(p: PeripheryParams) -> int:
    return 2 * cycles.crs_cycles(p.cfg) + 10_000


def check_step(p: PeripheryParams, step: Step, model: CrossbarBlock, tr: Trace, note: str, *,
               timing: bool = True) -> dict:
    """Everything against the golden models; with ``timing`` (output always ready) every
    operation's cycles too. Returns the measured cycles per operation."""
    assert len(tr.outputs) == len(step.outputs), f"{len(tr.outputs)} outputs ({note})"
    for k, (got, want) in enumerate(zip(tr.outputs, step.outputs)):
        bad = np.flatnonzero(got != want)
        assert not len(bad), f"MVM {k}: line {bad[0]} is {got[bad[0]]}, golden {want[bad[0]]} ({note})"
    assert np.array_equal(model.arrays.update.cells, step.update.cells), f"update slices ({note})"
    levels = slice_weights(step.w1, p.cfg)[0]
    assert np.array_equal(model.arrays.forward, levels), f"forward copy ({note})"
    assert np.array_equal(model.arrays.backward, levels), f"backward copy ({note})"
    if not timing:
        return {}

    modes = np.array(tr.modes)
    acc = dict(enumerate(tr.accepted))
    mvms = [k for k, op in enumerate(step.ops) if op in (Op.MVM, Op.MVM_T)]
    opas = [k for k, op in enumerate(step.ops) if op == Op.OPA]
    crs = step.ops.index(Op.CRS)
    measured = {"mvm_latency": [], "mvm_interval": []}
    for n, k in enumerate(mvms):
        s = cycles.mvm_schedule(p.cfg, transposed=step.ops[k] == Op.MVM_T)
        got = tr.emitted[n] - acc[k]
        assert got == s.latency, f"command {k}: latency {got}, model {s.latency} ({note})"
        measured["mvm_latency"].append(got)
        if k + 1 in mvms:
            gap = acc[k + 1] - acc[k]
            assert gap == s.interval, f"command {k}: interval {gap}, model {s.interval} ({note})"
            measured["mvm_interval"].append(gap)
    # the OPAs wait for the last MVM output, then run back to back with no gap
    assert acc[opas[0]] == tr.emitted[len([k for k in mvms if k < opas[0]]) - 1] + 1, note
    opa_c = cycles.opa_cycles(p.cfg)
    for a, b in zip(opas, opas[1:]):
        assert acc[b] - acc[a] == opa_c, f"OPA interval {acc[b] - acc[a]}, model {opa_c} ({note})"
    n_opa = int(np.count_nonzero(modes == Mode.OPA.value))
    assert n_opa == len(opas) * opa_c, f"{n_opa} OPA cycles, model {len(opas)} x {opa_c} ({note})"
    assert modes[acc[opas[0]] + 1] == Mode.OPA.value, f"OPA starts the cycle after acceptance ({note})"
    # the CRS starts the cycle after the last pulse; the next MVM the cycle after the CRS
    is_crs = (modes == Mode.CRS_READ.value) | (modes == Mode.CRS_WRITE.value)
    n_crs = int(np.count_nonzero(is_crs))
    assert n_crs == cycles.crs_cycles(p.cfg), f"{n_crs} CRS cycles, model {cycles.crs_cycles(p.cfg)} ({note})"
    assert acc[crs] == acc[opas[-1]] + opa_c + 1, f"CRS dispatch ({note})"
    assert is_crs[acc[crs] + 1] and is_crs[acc[crs] + n_crs] and acc[crs + 1] == acc[crs] + n_crs + 1, \
        f"CRS span ({note})"
    measured.update(opa=n_opa // len(opas), crs=n_crs, total=len(tr.modes))
    return measured


async def run_step(tb, p: PeripheryParams, step: Step, *, pause=None) -> tuple[CrossbarBlock, Trace]:
    """The step's commands offered back to back on ``cmd``, every output taken from ``o``
    (stalled where ``pause`` says), the block model on ``xbar``; stamps relative to the first
    cycle after the reset."""
    model = CrossbarBlock(p, step.w0)
    await tb.reset()
    port = tb.add(BlockAgent(tb, model))
    src = tb.add(StreamSource(tb, "cmd", codec=Codec(command_layout(p))))
    sink = tb.add(StreamSink(tb, "o", codec=Codec(output_layout(p)), pause=pause))
    src.send_all(commands(step))
    start, t0 = tb.cycle, time.perf_counter()
    await sink.wait(len(step.outputs), timeout=stuck_after(p))
    tb.remove(src, sink, port)
    n_out = [p.rows if op == Op.MVM_T else p.cols for op in step.ops if op in (Op.MVM, Op.MVM_T)]
    return model, Trace(accepted=[t.cycle - start for t in src.transfers],
                        emitted=[t.cycle - start for t in sink.transfers],
                        outputs=[t.value[:n] for t, n in zip(sink.transfers, n_out)],
                        modes=port.modes, run_s=time.perf_counter() - t0)


def simulate(p: PeripheryParams, step: Step, *, stall_seed: int | None = None,
             stall: float = 0.5) -> tuple[CrossbarBlock, Trace]:
    """:func:`run_step` on a :class:`~crosstrain.rtl.crossbar_unit.CrossbarUnit` in
    amaranth.sim; ``o.ready`` is low with probability ``stall`` each cycle when ``stall_seed``
    is given, else always high."""
    from crosstrain.rtl.crossbar_unit import CrossbarUnit

    pause = None if stall_seed is None else random_pauses(np.random.default_rng(stall_seed), stall)
    return run_amaranth(CrossbarUnit(params=p), lambda tb: run_step(tb, p, step, pause=pause))


@cocotb.test()
async def training_step_matches_golden(dut):
    d = bench_params()
    p = PeripheryParams.from_dict(d["periphery"])
    step = training_step(p, np.random.default_rng(d["seed"]), fwd=d["fwd"], opas=d["opas"])
    model, tr = await run_cocotb(dut, lambda tb: run_step(tb, p, step))
    measured = check_step(p, step, model, tr, f"seed {d['seed']}")
    dut._log.info(f"measured cycles {measured}; {measured['total'] / tr.run_s:.0f} cycles/s")
