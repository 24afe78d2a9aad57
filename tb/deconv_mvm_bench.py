"""A transposed convolution through the pixel-wise mapping on the MVM unit, zero skipping included.

End to end (:func:`simulate_layer`, amaranth.sim; :func:`deconv_layer`, cocotb): the address
generator (:class:`crosstrain.rtl.deconv_addr.DeconvAddressGenerator`) streams the layer's reads; each
window's reads (``slot``, input pixel ``addr``) place the pixel's ``in_channels`` values at rows
``slot*in_channels ..`` of that window's MVM input vector (:func:`window_vectors`); each phase
group's vectors run through :class:`crosstrain.rtl.mvm_unit.MvmUnit` with the analog array holding the
phase's sub-kernel (:func:`crosstrain.golden.deconv.phase_matrix`, zero-padded to the array), and each
output lands at the window's output pixel ``out``. The result must equal
:func:`crosstrain.golden.deconv.scatter` and :func:`crosstrain.golden.zeroskip.crossbar_deconv`.

Cycles of a full layer (:func:`measure_layer`, amaranth.sim): a phase group holds its sub-kernel
in ``ceil(rows / crossbar.rows)`` row tiles that run in lockstep, so the group spends a step
whenever any tile issues it (:func:`crosstrain.golden.zeroskip.layer_costs`). The unit's timing depends
only on its token stream, so each group's stream is run through one MvmUnit as vectors that
issue exactly the group's steps (:func:`step_vectors`), and the cycles from the first acceptance
to the last output are measured; the layer takes as long as its busiest group.

The cocotb top (:class:`crosstrain.rtl.deconv_mvm.DeconvMvmTop`) holds both blocks: ports
``start``, ``busy``, ``reads__*`` (the address generator) and ``i__*``, ``o__*``, ``xbar__*``
(the unit); the tests drive it with the bodies of crosstrain.tb.deconv_addr_bench
(:func:`~crosstrain.tb.deconv_addr_bench.run_layer`) and crosstrain.tb.mvm_bench
(:func:`~crosstrain.tb.mvm_bench.run_vectors`).
"""

from __future__ import annotations

import cocotb
import numpy as np

from crosstrain.golden import encoding
from crosstrain.golden.deconv import ConvTranspose, phase_inputs, phase_matrix, scatter
from crosstrain.golden.encoding import to_fixed
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.golden.zeroskip import crossbar_deconv, plan_steps, plan_tiles
from crosstrain.rtl.deconv_mvm import DeconvMvmTop
from crosstrain.tb.analog import AnalogCrossbar, CrossbarAgent
from crosstrain.tb.deconv_addr_bench import run_layer
from crosstrain.tb.deconv_addr_bench import simulate as simulate_reads
from crosstrain.tb.mvm_bench import attach, check_run, random_weights, run_vectors, simulate
from crosstrain.tb.runner import bench_params
from crosstrain.tb.testbench import run_cocotb
from crosstrain.tb.words import unpack


# ---- workload ----------------------------------------------------------------------------------
def random_layer(spec: ConvTranspose, p: PeripheryParams, rng, *, batch: int = 1):
    """Fixed-point weights (N(0, 0.5)) and ReLU-sparse inputs (ReLU of N(0, 1)) as codes."""
    frac = p.cfg.precision.weight_frac_bits
    w = to_fixed(rng.normal(0, 0.5, (spec.in_channels, spec.out_channels, spec.kernel, spec.kernel)),
                 p.weight_bits, frac)
    x = to_fixed(np.maximum(rng.standard_normal((batch, spec.in_channels, spec.height, spec.width)),
                            0), p.input_bits, frac)
    return x, w


def group_matrix(spec: ConvTranspose, p: PeripheryParams, w, phase) -> np.ndarray:
    """The phase's sub-kernel as the array stores it: zero-padded to rows x cols."""
    m = phase_matrix(spec, w, spec.phases[phase])
    if m.shape[0] > p.rows or m.shape[1] > p.cols:
        raise ValueError(f"phase {phase} needs {m.shape[0]} x {m.shape[1]} cells, the array is "
                         f"{p.rows} x {p.cols}: use a larger array or fewer channels")
    out = np.zeros((p.rows, p.cols), dtype=np.int64)
    out[:m.shape[0], :m.shape[1]] = m
    return out


def window_vectors(spec: ConvTranspose, p: PeripheryParams, x, reads):
    """Per phase group, the MVM input vectors the reads assemble and their output pixels.

    ``reads`` is an address-generator sequence (columns :data:`crosstrain.golden.deconv.READ_FIELDS`);
    ``x`` one image (in_channels, height, width). Returns ``{phase: (vectors, outs)}`` with
    vectors (windows x rows): rows ``slot*in_channels + c`` = channel ``c`` of the pixel the
    window reads in that slot, 0 where it reads none.
    """
    cin = spec.in_channels
    pixels = np.asarray(x).reshape(cin, -1)
    groups = {}
    ends = np.flatnonzero(reads[:, 4]) + 1
    for window in np.split(reads, ends[:-1]):
        phase, slot, addr, out = (window[:, k] for k in range(4))
        v = np.zeros(p.rows, dtype=np.int64)
        idx = slot[:, None] * cin + np.arange(cin)
        v[idx.ravel()] = pixels[:, addr].T.ravel()
        vecs, outs = groups.setdefault(int(phase[0]), ([], []))
        vecs.append(v)
        outs.append(int(out[0]))
    return {ph: (np.array(v), np.array(o)) for ph, (v, o) in groups.items()}


def place_outputs(spec: ConvTranspose, outputs, outs, image) -> None:
    """Write each window's output vector (first ``out_channels`` lines) at its output pixel."""
    flat = image.reshape(spec.out_channels, -1)
    flat[:, outs] = np.array(outputs)[:, :spec.out_channels].T


def golden_layer(spec: ConvTranspose, p: PeripheryParams, x, w, *, skip_zero: bool):
    """The transposed conv (definition) and the decomposed crossbar model; they must agree."""
    return scatter(spec, x, w), crossbar_deconv(spec, x, w, p.cfg, skip=skip_zero)


# ---- amaranth.sim ------------------------------------------------------------------------------
def generate_reads(spec: ConvTranspose) -> np.ndarray:
    """The address generator's whole read sequence (output always ready), from amaranth.sim."""
    return simulate_reads(spec)[0]


def simulate_layer(spec: ConvTranspose, p: PeripheryParams, x, w, *, skip_zero: bool):
    """The layer (every image) through the address generator and one MvmUnit per phase group.

    Returns (output codes like :func:`crosstrain.golden.deconv.scatter`, {phase: [crosstrain.tb.mvm_bench.Run per
    image]}); each run is checked against the golden MVM and cycle model (``check_run``).
    """
    reads = generate_reads(spec)
    out = np.zeros((len(x), spec.out_channels, spec.out_height, spec.out_width), dtype=np.int64)
    runs = {}
    for n, image in enumerate(x):
        for ph, (vecs, outs) in window_vectors(spec, p, image, reads).items():
            m = group_matrix(spec, p, w, ph)
            run = simulate(p, m, list(vecs), skip_zero=skip_zero)
            check_run(p, m, list(vecs), [False] * len(vecs), run, skip_zero=skip_zero,
                      note=f"{spec.describe()} image {n} phase {ph}")
            place_outputs(spec, run.outputs, outs, out[n])
            runs.setdefault(ph, []).append(run)
    return out, runs


def group_steps(spec: ConvTranspose, p: PeripheryParams, x) -> dict[int, np.ndarray]:
    """Per phase group that runs, the steps each of its MVMs issues (MVMs x input_steps, images
    one after another) for input codes ``x`` (batch, in_channels, height, width): the union over
    the group's row tiles, which run in lockstep."""
    out = {}
    for ph in spec.phases:
        ny, nx = ph.y.read_count, ph.x.read_count
        if not ny or not nx:
            continue
        vec = phase_inputs(spec, x, ph)[:, :ny, :nx].reshape(-1, ph.slots * spec.in_channels)
        out[ph.index] = np.logical_or.reduce([t.issued for t in plan_tiles(vec, p.cfg)])
    return out


def step_vectors(p: PeripheryParams, issued) -> np.ndarray:
    """Vectors (row 0 used) that issue exactly the steps ``issued`` (vectors x input_steps) under
    zero skipping: bit ``k*dac_bits`` for magnitude step ``k``, the sign bit for the sign step."""
    issued = np.asarray(issued, dtype=bool)
    s, d = p.input_steps, p.dac_bits
    value = issued[:, :s - 1].astype(np.int64) @ (np.int64(1) << (d * np.arange(s - 1)))
    value = value - (issued[:, s - 1].astype(np.int64) << (p.input_bits - 1))
    vecs = np.zeros((len(issued), p.rows), dtype=np.int64)
    vecs[:, 0] = value
    assert np.array_equal(plan_steps(vecs, p.cfg).issued, issued), "step vectors do not encode the plan"
    return vecs


def measure_layer(spec: ConvTranspose, p: PeripheryParams, x, *, skip_zero: bool, seed: int = 0):
    """Crossbar cycles of each phase group's token stream through MvmUnit in amaranth.sim.

    Without ``skip_zero`` every window issues every step. Returns ``{phase: (tokens, cycles)}``:
    the tokens the group's stream holds (an all-zero window costs one ``empty`` token) and the
    cycles from the first vector accepted to the last output taken.
    Groups whose streams are identical (every group, without skipping) are simulated once.
    """
    rng = np.random.default_rng(seed)
    w = random_weights(p, rng)
    out, seen = {}, {}
    for ph, issued in group_steps(spec, p, x).items():
        if not skip_zero:
            issued = np.ones_like(issued)
        key = (issued.shape, issued.tobytes())
        if key not in seen:
            vecs = list(step_vectors(p, issued))
            run = simulate(p, w, vecs, skip_zero=skip_zero)
            tokens = len(plan_steps(np.array(vecs), p.cfg).tokens()) if skip_zero else issued.size
            seen[key] = (tokens, run.emitted[-1] - run.accepted[0])
        out[ph] = seen[key]
    return out


# ---- cocotb ------------------------------------------------------------------------------------
def bench_top(d: dict) -> DeconvMvmTop:
    """The top for bench parameters ``d`` (``spec``, ``params``, ``skip_zero``, ``seed``)."""
    return DeconvMvmTop(spec=ConvTranspose(**d["spec"]), params=PeripheryParams.from_dict(d["params"]),
                        skip_zero=d["skip_zero"])


class RecordingCrossbar(AnalogCrossbar):
    """The analog model, also recording the levels of every sampled drive (the issued steps)."""

    def __init__(self, params, weights):
        super().__init__(params, weights)
        self.drives = []

    def sample(self, drive, transposed):
        self.drives.append(unpack(drive, max(self.params.rows, self.params.cols),
                                  self.params.dac_bits)[:self.params.rows])
        return super().sample(drive, transposed)


def setup():
    """Bench parameters, spec, params, the recording analog model and the rng."""
    d = bench_params()
    spec, p = ConvTranspose(**d["spec"]), PeripheryParams.from_dict(d["params"])
    return d, spec, p, np.random.default_rng(d["seed"])


async def attach_top(tb, p: PeripheryParams) -> CrossbarAgent:
    """Reset the top (``start`` low) and put a recording analog model on its ``xbar`` port."""
    tb.set("start", 0)
    return await attach(tb, p, np.zeros((p.rows, p.cols), dtype=np.int64), RecordingCrossbar)


def expected_drives(p: PeripheryParams, xs, *, skip_zero: bool) -> list[np.ndarray]:
    """The DAC levels of every step the unit must sample, in order (empty tokens sample nothing)."""
    steps, _ = encoding.input_steps(np.array(xs), p.cfg)          # (S, N, R)
    if not skip_zero:
        return [steps[k, n] for n in range(len(xs)) for k in range(p.input_steps)]
    return [steps[k, n] for n, k, *_, empty in plan_steps(np.array(xs), p.cfg).tokens() if not empty]


def check_drives(p, model: RecordingCrossbar, xs, *, skip_zero: bool, note: str) -> None:
    want = expected_drives(p, xs, skip_zero=skip_zero)
    got = model.drives
    assert len(got) == len(want), f"{len(got)} steps sampled, golden issues {len(want)} ({note})"
    for k, (g, e) in enumerate(zip(got, want)):
        assert np.array_equal(g, e), f"sampled step {k} drives {g.tolist()}, golden {e.tolist()} ({note})"


@cocotb.test()
async def zero_skipping_issues_the_golden_steps(dut):
    """ReLU-sparse vectors, all-zero vectors, a vector with one value: the sampled steps are the
    golden plan's (every step without skipping), outputs are sliced_mvm, cycles stream_cycles."""
    d, spec, p, rng = setup()
    w = random_weights(p, rng)
    frac = p.cfg.precision.weight_frac_bits
    xs = list(to_fixed(np.maximum(rng.standard_normal((6, p.rows)), 0), p.input_bits, frac))
    xs[1][:] = 0
    xs[4][:] = 0
    xs[5][:] = 0
    xs[5][p.rows // 2] = -1                                   # every bit set: no step skipped

    async def body(tb):
        xbar = await attach_top(tb, p)
        xbar.model.program(w)
        return xbar.model, await run_vectors(tb, p, xbar, xs)

    model, run = await run_cocotb(dut, body)
    note = f"seed {d['seed']} skip_zero={d['skip_zero']}"
    check_run(p, w, xs, [False] * len(xs), run, note=note, skip_zero=d["skip_zero"])
    check_drives(p, model, xs, skip_zero=d["skip_zero"], note=note)


@cocotb.test()
async def deconv_layer(dut):
    """The layer through the RTL read sequence and the unit equals golden scatter and
    crossbar_deconv (ReLU-sparse inputs, random fixed-point weights)."""
    d, spec, p, rng = setup()
    x, w = random_layer(spec, p, rng)
    out = np.zeros((1, spec.out_channels, spec.out_height, spec.out_width), dtype=np.int64)

    async def body(tb):
        xbar = await attach_top(tb, p)
        reads, _ = await run_layer(tb, spec, prefix="reads")
        for ph, (vecs, outs) in window_vectors(spec, p, x[0], reads).items():
            m = group_matrix(spec, p, w, ph)
            xbar.model.program(m)
            xbar.model.drives.clear()
            run = await run_vectors(tb, p, xbar, list(vecs))
            note = f"seed {d['seed']} phase {ph} skip_zero={d['skip_zero']}"
            check_run(p, m, list(vecs), [False] * len(vecs), run, note=note, skip_zero=d["skip_zero"])
            check_drives(p, xbar.model, list(vecs), skip_zero=d["skip_zero"], note=note)
            place_outputs(spec, run.outputs, outs, out[0])

    await run_cocotb(dut, body)
    for name, want in zip(("scatter", "crossbar_deconv"),
                          golden_layer(spec, p, x, w, skip_zero=d["skip_zero"])):
        bad = np.argwhere(out != want)
        assert not len(bad), (f"output {tuple(bad[0])} is {out[tuple(bad[0])]}, golden {name} "
                              f"{want[tuple(bad[0])]} ({len(bad)} differ; seed {d['seed']})")
