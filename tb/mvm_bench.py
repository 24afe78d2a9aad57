"""Drivers and cocotb bench of crosstrain.rtl.mvm_unit.MvmUnit with the analog crossbar of crosstrain.tb.analog.

:func:`simulate` runs vectors through the unit in amaranth.sim and :func:`run_vectors` does the
same in cocotb (Icarus or Verilator); both return a :class:`Run` (outputs and the clock edge of
every input and output transfer, conversions counted) that :func:`check_run` compares with
:func:`crosstrain.golden.crossbar.sliced_mvm` (values, ADC clipping included) and with
:func:`crosstrain.golden.cycles.mvm_schedule` (latency and interval, exactly). The benches of
``crosstrain bench mvm`` / ``bench sim`` reuse them.

The exported top has ports ``i__*``, ``o__*``, ``xbar__*``, ``clk``, ``rst``; every payload is
packed or unpacked as one integer per transfer (:func:`crosstrain.tb.words.pack` / :func:`crosstrain.tb.words.unpack`).
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
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from crosstrain.golden import crossbar, encoding
from crosstrain.golden.cycles import mvm_schedule
from crosstrain.golden.events import Events
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.golden.zeroskip import plan_steps, stream_cycles
from crosstrain.tb.analog import AnalogCrossbar, amaranth_process, cocotb_process
from crosstrain.tb.runner import bench_params, run_bench
from crosstrain.tb.words import pack, unpack

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
    """What a driver saw: one output per vector (``n_out`` values each) and the clock edge of
    each input and output transfer; ``first``: index of the first vector the outputs belong to
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
    assert len(run.outputs) == len(want), f"{len(run.outputs)} outputs for {len(want)} vectors ({note})"
    for k, (got, exp) in enumerate(zip(run.outputs, want)):
        bad = np.flatnonzero(got != exp)
        assert not len(bad), (f"vector {k}: line {bad[0]} is {got[bad[0]]}, golden {exp[bad[0]]} "
                              f"({len(bad)} lines differ; {note})")
    if not timing:
        return
    slots = tokens_per_vector(p, xs, skip_zero=skip_zero)
    for k, t in enumerate(transposed):
        s = mvm_schedule(p.cfg, transposed=bool(t))
        lat = s.read_cycles + (slots[k] - 1) * s.step_interval + s.conv_cycles + p.pipeline_cycles
        got = run.emitted[k] - run.accepted[k]
        assert got == lat, f"vector {k}: latency {got} cycles, model {lat} ({note})"
        if k + 1 < len(xs):
            gap = run.accepted[k + 1] - run.accepted[k]
            assert gap == slots[k] * s.step_interval, \
                f"vector {k}: interval {gap} cycles, model {slots[k] * s.step_interval} ({note})"
    if skip_zero and not any(transposed):
        total = run.emitted[-1] - run.accepted[0]
        assert total == stream_cycles(p.cfg, sum(slots)), \
            f"stream of {sum(slots)} tokens: {total} cycles, model {stream_cycles(p.cfg, sum(slots))}"


def stuck_after(p: PeripheryParams) -> int:
    """Cycles without any transfer after which a driver declares the unit stuck."""
    return 4 * max(mvm_schedule(p.cfg, transposed=t).latency for t in (False, True)) + 1000


def vector_words(p: PeripheryParams, xs, transposed) -> list[int]:
    """Input payloads: ``x`` (padded to the port's lines) then the ``transposed`` bit."""
    n = max(p.rows, p.cols)
    words = []
    for x, t in zip(xs, transposed):
        v = np.zeros(n, np.int64)
        v[:len(x)] = x
        words.append(pack(v, p.input_bits) | (int(bool(t)) << (n * p.input_bits)))
    return words


def output_values(p: PeripheryParams, word: int, transposed: bool) -> np.ndarray:
    n_out = p.rows if transposed else p.cols
    return unpack(word, max(p.rows, p.cols), p.out_width, signed=True)[:n_out]


# ---- amaranth.sim driver -----------------------------------------------------------------------
def simulate(p: PeripheryParams, w, xs, transposed=None, *, skip_zero: bool = False,
             stall_seed: int | None = None, stall: float = 0.3, reset_at: int | None = None,
             vcd: str | None = None) -> Run:
    """Run ``xs`` through an :class:`~crosstrain.rtl.mvm_unit.MvmUnit` in amaranth.sim, inputs offered back
    to back; ``o.ready`` is random (``stall`` probability low) when ``stall_seed`` is given,
    else always high; ``reset_at`` pulses reset for two cycles at that cycle."""
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator

    from crosstrain.rtl.mvm_unit import MvmUnit

    t0 = time.perf_counter()
    transposed = [False] * len(xs) if transposed is None else list(transposed)
    dut = MvmUnit(params=p, skip_zero=skip_zero)
    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.dut = dut
    model = AnalogCrossbar(p, w)
    words = vector_words(p, xs, transposed)
    rng = np.random.default_rng(stall_seed)
    run = Run()

    async def bench(ctx):
        k, modes, progress, offered = 0, [], 0, -1
        while len(run.outputs) < len(xs) - run.first:
            assert run.cycles - progress < stuck_after(p), \
                f"stuck: {len(run.outputs)} outputs after {run.cycles} cycles"
            ready = 1 if stall_seed is None else int(rng.random() >= stall)
            ctx.set(dut.o.ready, ready)
            resetting = reset_at is not None and reset_at <= run.cycles < reset_at + 2
            ctx.set(cd.rst, resetting)
            if k < len(xs) and offered != k:
                ctx.set(dut.i.payload.as_value(), words[k])
                offered = k
            ctx.set(dut.i.valid, k < len(xs) and not resetting)
            # the output register holds still through its transfer: read it only then
            taken = ready and ctx.get(dut.o.valid)
            word = ctx.get(dut.o.payload.as_value()) if taken else None
            *_, iv, ir, conv = await ctx.tick().sample(dut.i.valid, dut.i.ready, dut.xbar.convert)
            run.cycles += 1
            if resetting:
                run.first, modes = k, []
                run.outputs, run.accepted, run.emitted = [], [], []
                continue
            if (iv and ir) or taken:
                progress = run.cycles
            if iv and ir:
                run.accepted.append(run.cycles)
                modes.append(transposed[k])
                k += 1
            if taken:
                run.outputs.append(output_values(p, word, modes[len(run.outputs)]))
                run.emitted.append(run.cycles)
            if conv:
                run.conversions += 1
                run.last_conversion = run.cycles
                if run.first_conversion < 0:
                    run.first_conversion = run.cycles

    async def analog(ctx):
        await amaranth_process(ctx, dut.xbar, model)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(analog, background=True)
    t1 = time.perf_counter()
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    run.build_s, run.run_s = t1 - t0, time.perf_counter() - t1
    return run


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


# ---- cocotb driver -----------------------------------------------------------------------------
async def reset(dut, cycles: int = 2):
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def start(dut):
    """Clock, analog model (random weights from the bench parameters' seed) and reset;
    returns (params, model, rng, seed)."""
    d = bench_params()
    p = PeripheryParams.from_dict(d["params"])
    rng = np.random.default_rng(d["seed"])
    model = AnalogCrossbar(p, random_weights(p, rng))
    Clock(dut.clk, 10, unit="ns").start()
    cocotb.start_soon(cocotb_process(dut, model))
    await reset(dut)
    return p, model, rng, d["seed"]


async def run_vectors(dut, p: PeripheryParams, xs, transposed=None, *, stall_rng=None,
                      stall: float = 0.3, ready_after: int = 0, reset_at: int | None = None) -> Run:
    """The cocotb twin of :func:`simulate` (the same stimulus rules and :class:`Run`);
    ``ready_after`` also holds ``o.ready`` low until that cycle."""
    transposed = [False] * len(xs) if transposed is None else list(transposed)
    words = vector_words(p, xs, transposed)
    run, k, modes, progress = Run(), 0, [], 0
    while len(run.outputs) < len(xs) - run.first:
        assert run.cycles - progress < stuck_after(p), \
            f"stuck: {len(run.outputs)} outputs after {run.cycles} cycles"
        await RisingEdge(dut.clk)
        ready = 1 if stall_rng is None else int(stall_rng.random() >= stall)
        ready = ready if run.cycles >= ready_after else 0
        dut.o__ready.value = ready
        resetting = reset_at is not None and reset_at <= run.cycles < reset_at + 2
        dut.rst.value = int(resetting)
        if k < len(xs):
            dut.i__payload.value = words[k]
        dut.i__valid.value = int(k < len(xs) and not resetting)
        await ReadOnly()
        run.cycles += 1
        if resetting:
            run.first, modes = k, []
            run.outputs, run.accepted, run.emitted = [], [], []
            continue
        if k < len(xs) and int(dut.i__ready.value):
            progress = run.cycles
            run.accepted.append(run.cycles)
            modes.append(transposed[k])
            k += 1
        if ready and int(dut.o__valid.value):
            progress = run.cycles
            word = dut.o__payload.value.to_unsigned()
            run.outputs.append(output_values(p, word, modes[len(run.outputs)]))
            run.emitted.append(run.cycles)
        if int(dut.xbar__convert.value):
            run.conversions += 1
            run.last_conversion = run.cycles
            if run.first_conversion < 0:
                run.first_conversion = run.cycles
    await RisingEdge(dut.clk)
    dut.i__valid.value = 0
    return run


# ---- cocotb tests ------------------------------------------------------------------------------
@cocotb.test()
async def random_back_to_back_and_transposed(dut):
    p, model, rng, seed = await start(dut)
    xs = list(random_inputs(p, rng, 2)) + list(random_inputs(p, rng, 1, transposed=True))
    modes = [False, False, True]
    run = await run_vectors(dut, p, xs, modes)
    w = model.weights
    check_run(p, w, xs, modes, run, note=f"seed {seed}")
    s = mvm_schedule(p.cfg)
    if s.conv_cycles == s.step_interval and p.rows == p.cols:
        assert run.adc_utilization == 1.0, f"ADC utilization {run.adc_utilization}"


@cocotb.test()
async def zeros_extremes_and_clipping(dut):
    p, model, rng, seed = await start(dut)
    w = model.weights
    lo, hi = -(1 << (p.input_bits - 1)), (1 << (p.input_bits - 1)) - 1
    xs = [np.zeros(p.rows, np.int64), np.full(p.rows, lo), np.where(np.arange(p.rows) % 2, lo, hi)]
    run = await run_vectors(dut, p, xs)
    check_run(p, w, xs, [False] * 3, run, note=f"seed {seed}: zeros and extremes")
    # extreme weights: every cell at its top level, every row driven -> the ADC clips
    wc, xc = clipping_case(p)
    model.program(wc)
    events = Events()
    levels, sign, shift = encoding.slice_weights(wc, p.cfg)
    crossbar.sliced_mvm(levels, sign, shift, xc, p.cfg, events=events)
    assert events.adc_clipped > 0, "the clipping case does not clip"
    run = await run_vectors(dut, p, list(xc))
    check_run(p, wc, list(xc), [False], run, note="clipping")


@cocotb.test()
async def output_back_pressure(dut):
    p, model, rng, seed = await start(dut)
    w = model.weights
    xs = list(random_inputs(p, rng, 3))
    s = mvm_schedule(p.cfg)
    # the first output waits past the second vector's final conversion, then random stalls
    run = await run_vectors(dut, p, xs, stall_rng=rng, stall=0.7,
                            ready_after=s.latency + s.interval + 100)
    assert run.emitted[1] - run.accepted[1] > s.latency, "the second vector was not held up"
    check_run(p, w, xs, [False] * 3, run, note=f"seed {seed}: back-pressure", timing=False)


@cocotb.test()
async def reset_mid_operation(dut):
    p, model, rng, seed = await start(dut)
    w = model.weights
    xs = list(random_inputs(p, rng, 3))
    s = mvm_schedule(p.cfg)
    run = await run_vectors(dut, p, xs, reset_at=s.interval + s.interval // 2)
    assert run.first == 2, f"reset hit after {run.first} vectors were accepted"
    check_run(p, w, xs, [False] * 3, run, note=f"seed {seed}: reset mid-operation")


if os.environ.get(WORKLOAD_ENV):
    @cocotb.test()
    async def workload_run(dut):
        """The benchmark workload (``crosstrain bench sim``): timed, results written as JSON."""
        spec = json.loads(os.environ[WORKLOAD_ENV])
        p, model, rng, seed = await start(dut)
        xs = list(random_inputs(p, rng, spec["vectors"]))
        t0 = time.perf_counter()
        run = await run_vectors(dut, p, xs)
        run.run_s = time.perf_counter() - t0
        exact = outputs_exact(p, model.weights, xs, [False] * len(xs), run)
        Path(spec["out"]).write_text(json.dumps(run.timing() | {"exact": exact}))
