"""Bench of crosstrain.rtl.mvm_unit.MvmUnit with the analog crossbar of crosstrain.tb.analog.

One body, :func:`run_vectors` (a :mod:`crosstrain.tb.testbench` bench: vectors offered on
``i`` by a stream source, outputs taken from ``o`` by a sink, the analog model on ``xbar``),
serves amaranth.sim (:func:`simulate`) and cocotb on Icarus or Verilator (the tests at the
bottom). It returns a :class:`Run` (outputs and the cycle of every input and output transfer,
conversions counted) that :func:`check_run` compares with
:func:`crosstrain.golden.crossbar.sliced_mvm` (values, ADC clipping included) and with
:func:`crosstrain.golden.cycles.mvm_schedule` (latency and interval, exactly). The benches of
``crosstrain bench mvm`` / ``bench sim`` reuse them.

Payloads are packed and unpacked with the RTL's own layouts
(:class:`crosstrain.tb.words.Codec` of ``vector_layout`` / ``output_layout``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cocotb
import numpy as np

from crosstrain.golden import crossbar, encoding
from crosstrain.golden.cycles import mvm_schedule
from crosstrain.golden.events import Events
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.golden.zeroskip import plan_steps, stream_cycles
from crosstrain.rtl.input_streamer import vector_layout
from crosstrain.rtl.shift_add import output_layout
from crosstrain.tb.analog import AnalogCrossbar, CrossbarAgent
from crosstrain.tb.runner import bench_params, run_bench
from crosstrain.tb.scoreboard import Scoreboard
from crosstrain.tb.stream import StreamSink, StreamSource, Transfer, paused_for, random_pauses
from crosstrain.tb.testbench import run_amaranth, run_cocotb
from crosstrain.tb.words import Codec

#: Environment variable that turns on the cocotb ``workload`` test (JSON: vectors, out path).
WORKLOAD_ENV = "CROSSTRAIN_MVM_WORKLOAD"
SIMULATORS = ("amaranth", "icarus", "verilator")


# ---- workloads ---------------------------------------------------------------------------------
def random_weights(p: PeripheryParams, rng) -> np.ndarray:
    lo, hi = -(1 << (p.weight_bits - 1)), 1 << (p.weight_bits - 1)
    return rng.integers(lo, hi, (p.rows, p.cols))


def random_inputs(p: PeripheryParams, rng, n: int, *, transposed: bool = False) -> np.ndarray:
    lo, hi = -(1 << (p.input_bits - 1)), 1 << (p.input_bits - 1)
    return rng.integers(lo, hi, (n, p.cols if transposed else p.rows))


def clipping_case(p: PeripheryParams):
    """Weights whose every slice level is the top level (offset: the largest weight;
    differential: the most negative) and inputs driving every row in every magnitude step."""
    top = (1 << (p.weight_bits - 1)) - 1
    w = np.full((p.rows, p.cols), top if p.encoding == "offset" else -top)
    return w, np.full((1, p.rows), -1)


# ---- golden expectations -----------------------------------------------------------------------
@dataclass
class Run:
    """What a bench saw: one output per vector (``n_out`` values each) and the cycle of each
    input and output transfer; ``first``: index of the first vector the outputs belong to
    (vectors accepted before a reset are lost)."""

    outputs: list = field(default_factory=list)
    accepted: list = field(default_factory=list)
    emitted: list = field(default_factory=list)
    conversions: int = 0            # cycles with xbar.convert high
    first_conversion: int = -1
    last_conversion: int = -1
    cycles: int = 0
    first: int = 0
    build_s: float = 0.0            # elaboration (amaranth) or build + start-up (cocotb)
    run_s: float = 0.0              # wall time of the simulated cycles

    def timing(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "outputs"}

    @property
    def adc_utilization(self) -> float:
        """Converting cycles over the cycles from the first to the last conversion."""
        span = self.last_conversion - self.first_conversion + 1
        return self.conversions / span if self.conversions else 0.0


def outputs_exact(p: PeripheryParams, w, xs, transposed, run: Run) -> bool:
    want = golden_outputs(p, w, list(xs)[run.first:], list(transposed)[run.first:])
    return len(want) == len(run.outputs) and all(np.array_equal(a, b)
                                                 for a, b in zip(run.outputs, want))


def golden_outputs(p: PeripheryParams, w, xs, transposed) -> list[np.ndarray]:
    levels, sign, shift = encoding.slice_weights(w, p.cfg)
    return [crossbar.sliced_mvm(levels, sign, shift, x, p.cfg, transposed=bool(t))
            for x, t in zip(xs, transposed)]


def tokens_per_vector(p: PeripheryParams, xs, *, skip_zero: bool) -> list[int]:
    """Step slots each vector occupies: ``input_steps``, or its zero-skipping tokens."""
    if not skip_zero:
        return [p.input_steps] * len(xs)
    return [len(plan_steps(np.asarray(x)[None], p.cfg).tokens()) for x in xs]


def check_run(p: PeripheryParams, w, xs, transposed, run: Run, *, note: str,
              skip_zero: bool = False, timing: bool = True) -> None:
    """Outputs equal the golden model bit for bit; with ``timing`` (inputs offered back to back,
    output always ready) every latency and interval equals the cycle model exactly."""
    xs, transposed = list(xs)[run.first:], list(transposed)[run.first:]
    want = golden_outputs(p, w, xs, transposed)
    outputs, inputs = Scoreboard("output", note=note), Scoreboard("input", note=note)
    slots = tokens_per_vector(p, xs, skip_zero=skip_zero) if timing else None
    at = run.accepted[0] if run.accepted else 0
    for k, (value, t) in enumerate(zip(want, transposed)):
        cycle = None
        if timing:
            s = mvm_schedule(p.cfg, transposed=bool(t))
            cycle = run.accepted[k] + s.read_cycles + (slots[k] - 1) * s.step_interval \
                + s.conv_cycles + p.pipeline_cycles
            inputs.expect(k, cycle=at)
            at += slots[k] * s.step_interval
        outputs.expect(value, cycle=cycle)
    outputs.check([Transfer(c, v) for c, v in zip(run.emitted, run.outputs)])
    if not timing:
        return
    inputs.check([Transfer(c, k) for k, c in enumerate(run.accepted)])
    if skip_zero and not any(transposed):
        total = run.emitted[-1] - run.accepted[0]
        assert total == stream_cycles(p.cfg, sum(slots)), \
            f"stream of {sum(slots)} tokens: {total} cycles, model {stream_cycles(p.cfg, sum(slots))}"


def stuck_after(p: PeripheryParams) -> int:
    """Cycles a vector may take at most before a driver declares the unit stuck."""
    return 4 * max(mvm_schedule(p.cfg, transposed=t).latency for t in (False, True)) + 1000


# ---- the bench body: the same in amaranth.sim and cocotb ---------------------------------------
async def run_vectors(tb, p: PeripheryParams, xbar: CrossbarAgent, xs, transposed=None, *,
                      pause=None, reset_at: int | None = None) -> Run:
    """Offer ``xs`` back to back on ``i`` and take every output from ``o`` (``pause``: a pause
    generator of :mod:`crosstrain.tb.stream` for back-pressure); ``reset_at`` holds ``rst`` high
    for two cycles that many cycles after the first offer, which loses every vector accepted
    before it (``Run.first``). ``xbar`` answers the crossbar port."""
    transposed = [False] * len(xs) if transposed is None else list(transposed)
    codec = Codec(vector_layout(p))
    src = tb.add(StreamSource(tb, "i", codec=codec))
    sink = tb.add(StreamSink(tb, "o", codec=Codec(output_layout(p)), pause=pause))
    src.send_all({"x": x, "transposed": int(bool(t))} for x, t in zip(xs, transposed))
    xbar.count_from_now()
    start, first, dropped = tb.cycle, 0, 0
    if reset_at is not None:
        await tb.ticks(reset_at)
        await tb.reset(2)
        first, dropped = len(src.transfers), len(sink.transfers)
        xbar.count_from_now()
    await sink.wait(dropped + len(xs) - first, timeout=stuck_after(p) * (len(xs) + 1))
    tb.remove(src, sink)
    ins, outs = src.transfers[first:], sink.transfers[dropped:]
    n_out = [p.rows if t else p.cols for t in transposed[first:]]
    return Run(outputs=[o.value[:n] for o, n in zip(outs, n_out)],
               accepted=[t.cycle for t in ins], emitted=[t.cycle for t in outs],
               conversions=xbar.conversions, first_conversion=xbar.first,
               last_conversion=xbar.last, cycles=tb.cycle - start, first=first)


async def attach(tb, p: PeripheryParams, w, model_class=AnalogCrossbar):
    """Reset the unit and put the analog model (weights ``w``) on its port; returns the agent."""
    xbar = tb.add(CrossbarAgent(tb, model_class(p, w)))
    await tb.reset()
    return xbar


def simulate(p: PeripheryParams, w, xs, transposed=None, *, skip_zero: bool = False,
             stall_seed: int | None = None, stall: float = 0.3, reset_at: int | None = None,
             vcd: str | None = None) -> Run:
    """:func:`run_vectors` through an :class:`~crosstrain.rtl.mvm_unit.MvmUnit` in amaranth.sim;
    ``o.ready`` is low with probability ``stall`` each cycle when ``stall_seed`` is given, else
    always high."""
    from crosstrain.rtl.mvm_unit import MvmUnit

    t0 = time.perf_counter()
    dut = MvmUnit(params=p, skip_zero=skip_zero)
    pause = None if stall_seed is None else random_pauses(np.random.default_rng(stall_seed), stall)

    async def body(tb):
        xbar = await attach(tb, p, w)
        t1 = time.perf_counter()
        run = await run_vectors(tb, p, xbar, xs, transposed, pause=pause, reset_at=reset_at)
        run.build_s, run.run_s = t1 - t0, time.perf_counter() - t1
        return run

    return run_amaranth(dut, body, vcd=vcd)


# ---- the benchmark workload: N random MVMs back to back through a panther-size block ----------
def workload(p: PeripheryParams, vectors: int, seed: int):
    """Random weights, then ``vectors`` random inputs, from one generator (cocotb's
    :func:`start` draws the weights the same way)."""
    rng = np.random.default_rng(seed)
    w = random_weights(p, rng)
    return w, list(random_inputs(p, rng, vectors))


def run_workload(p: PeripheryParams, simulator: str, *, vectors: int, seed: int = 1):
    """The workload on ``simulator`` (amaranth, icarus or verilator); returns ``(run, exact)``
    with the run's cycle stamps and timings, and whether every output equals the golden one."""
    w, xs = workload(p, vectors, seed)
    if simulator == "amaranth":
        run = simulate(p, w, xs)
        return run, outputs_exact(p, w, xs, [False] * vectors, run)
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}: use one of {', '.join(SIMULATORS)}")
    from crosstrain.rtl.mvm_unit import MvmUnit

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "workload.json"
        t0 = time.perf_counter()
        run_bench(MvmUnit(params=p), design="mvm_unit", params={"params": p.as_dict(), "seed": seed},
                  simulator=simulator, test_module="crosstrain.tb.mvm_bench", testcase="workload_run",
                  extra_env={WORKLOAD_ENV: json.dumps({"vectors": vectors, "out": str(out)})})
        total = time.perf_counter() - t0
        if not out.exists():
            raise RuntimeError(f"the {simulator} workload wrote no result (see build/cocotb logs)")
        d = json.loads(out.read_text())
    exact = d.pop("exact")
    run = Run(**d)
    run.build_s = total - run.run_s
    return run, exact


# ---- cocotb tests (the bodies above, on Icarus or Verilator) ---------------------------------
def setup():
    """The bench parameters: (params, random weights from the seed, rng, seed)."""
    d = bench_params()
    p = PeripheryParams.from_dict(d["params"])
    rng = np.random.default_rng(d["seed"])
    return p, random_weights(p, rng), rng, d["seed"]


@cocotb.test()
async def random_back_to_back_and_transposed(dut):
    p, w, rng, seed = setup()
    xs = list(random_inputs(p, rng, 2)) + list(random_inputs(p, rng, 1, transposed=True))
    modes = [False, False, True]

    async def body(tb):
        return await run_vectors(tb, p, await attach(tb, p, w), xs, modes)

    run = await run_cocotb(dut, body)
    check_run(p, w, xs, modes, run, note=f"seed {seed}")
    s = mvm_schedule(p.cfg)
    if s.conv_cycles == s.step_interval and p.rows == p.cols:
        assert run.adc_utilization == 1.0, f"ADC utilization {run.adc_utilization}"


@cocotb.test()
async def zeros_extremes_and_clipping(dut):
    p, w, rng, seed = setup()
    lo, hi = -(1 << (p.input_bits - 1)), (1 << (p.input_bits - 1)) - 1
    xs = [np.zeros(p.rows, np.int64), np.full(p.rows, lo), np.where(np.arange(p.rows) % 2, lo, hi)]
    # extreme weights: every cell at its top level, every row driven -> the ADC clips
    wc, xc = clipping_case(p)
    events = Events()
    levels, sign, shift = encoding.slice_weights(wc, p.cfg)
    crossbar.sliced_mvm(levels, sign, shift, xc, p.cfg, events=events)
    assert events.adc_clipped > 0, "the clipping case does not clip"

    async def body(tb):
        xbar = await attach(tb, p, w)
        first = await run_vectors(tb, p, xbar, xs)
        xbar.model.program(wc)
        return first, await run_vectors(tb, p, xbar, list(xc))

    run, clipped = await run_cocotb(dut, body)
    check_run(p, w, xs, [False] * 3, run, note=f"seed {seed}: zeros and extremes")
    check_run(p, wc, list(xc), [False], clipped, note="clipping")


@cocotb.test()
async def output_back_pressure(dut):
    p, w, rng, seed = setup()
    xs = list(random_inputs(p, rng, 3))
    s = mvm_schedule(p.cfg)
    # the first output waits past the second vector's final conversion, then random stalls
    pause = paused_for(s.latency + s.interval + 100, random_pauses(rng, 0.7))

    async def body(tb):
        return await run_vectors(tb, p, await attach(tb, p, w), xs, pause=pause)

    run = await run_cocotb(dut, body)
    assert run.emitted[1] - run.accepted[1] > s.latency, "the second vector was not held up"
    check_run(p, w, xs, [False] * 3, run, note=f"seed {seed}: back-pressure", timing=False)


@cocotb.test()
async def reset_mid_operation(dut):
    p, w, rng, seed = setup()
    xs = list(random_inputs(p, rng, 3))
    s = mvm_schedule(p.cfg)

    async def body(tb):
        return await run_vectors(tb, p, await attach(tb, p, w), xs,
                                 reset_at=s.interval + s.interval // 2)

    run = await run_cocotb(dut, body)
    assert run.first == 2, f"reset hit after {run.first} vectors were accepted"
    check_run(p, w, xs, [False] * 3, run, note=f"seed {seed}: reset mid-operation")


if os.environ.get(WORKLOAD_ENV):
    @cocotb.test()
    async def workload_run(dut):
        """The benchmark workload (``crosstrain bench sim``): timed, results written as JSON."""
        spec = json.loads(os.environ[WORKLOAD_ENV])
        p, w, rng, seed = setup()
        xs = list(random_inputs(p, rng, spec["vectors"]))

        async def body(tb):
            xbar = await attach(tb, p, w)
            t0 = time.perf_counter()
            run = await run_vectors(tb, p, xbar, xs)
            run.run_s = time.perf_counter() - t0
            return run

        run = await run_cocotb(dut, body)
        exact = outputs_exact(p, w, xs, [False] * len(xs), run)
        Path(spec["out"]).write_text(json.dumps(run.timing() | {"exact": exact}))
