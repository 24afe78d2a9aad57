"""The golden transposed convolution against plain-loop oracles written here, for every formulation."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crosstrain.golden import deconv
from crosstrain.golden.deconv import ConvTranspose, DeconvError
from crosstrain.rollup.deconv_nets import NETWORKS


def oracle(x, w, g, s, p, op):
    """Forward, input gradient and weight gradient of ConvTranspose2d by the scatter definition.

    Plain loops over batch, input pixels and kernel taps; only the channel products are numpy.
    """
    n, cin, h, wd = x.shape
    cout, k = w.shape[1], w.shape[2]
    ho, wo = (h - 1) * s - 2 * p + k + op, (wd - 1) * s - 2 * p + k + op
    out = np.zeros((n, cout, ho, wo), dtype=np.int64)
    dx = np.zeros_like(x, dtype=np.int64)
    dw = np.zeros_like(w, dtype=np.int64)
    for b in range(n):
        for i in range(h):
            for j in range(wd):
                for ky in range(k):
                    for kx in range(k):
                        y, xx = i * s + ky - p, j * s + kx - p
                        if 0 <= y < ho and 0 <= xx < wo:
                            out[b, :, y, xx] += x[b, :, i, j] @ w[:, :, ky, kx]
                            dx[b, :, i, j] += w[:, :, ky, kx] @ g[b, :, y, xx]
                            dw[:, :, ky, kx] += np.outer(x[b, :, i, j], g[b, :, y, xx])
    return out, dx, dw


@st.composite
def layers(draw):
    k, s = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    params = dict(kernel=k, stride=s, padding=draw(st.integers(0, k)),
                  output_padding=draw(st.integers(0, s - 1)), height=draw(st.integers(1, 5)),
                  width=draw(st.integers(1, 5)), in_channels=draw(st.integers(1, 3)),
                  out_channels=draw(st.integers(1, 3)))
    try:
        return ConvTranspose(**params), draw(st.integers(1, 2))
    except DeconvError:
        assume(False)


def rand_operands(spec, batch, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-20, 21, (batch, spec.in_channels, spec.height, spec.width))
    w = rng.integers(-20, 21, (spec.in_channels, spec.out_channels, spec.kernel, spec.kernel))
    g = rng.integers(-20, 21, (batch, spec.out_channels, spec.out_height, spec.out_width))
    return x, w, g


@settings(max_examples=150, deadline=None)
@given(layers(), st.integers(0, 2**32 - 1))
def test_three_formulations_and_backward_match_the_loop_oracle(layer, seed):
    spec, batch = layer
    x, w, g = rand_operands(spec, batch, seed)
    out, dx, dw = oracle(x, w, g, spec.stride, spec.padding, spec.output_padding)
    msg = f"seed={seed} {spec}"
    for f in (deconv.zero_insert, deconv.scatter, deconv.polyphase):
        got = f(spec, x, w)
        assert got.dtype == np.int64, msg
        np.testing.assert_array_equal(got, out, err_msg=f"{f.__name__} {msg}")
    np.testing.assert_array_equal(deconv.backward_input(spec, g, w), dx, err_msg=msg)
    np.testing.assert_array_equal(deconv.backward_input_strided(spec, g, w), dx, err_msg=msg)
    np.testing.assert_array_equal(deconv.backward_weight(spec, x, g), dw, err_msg=msg)


@pytest.mark.parametrize("name", ["ct1", "ct2", "ct3", "ct4", "ct5"])
def test_dcgan_generator_layers_agree(name):
    """Full-size DCGAN layers: formulations agree exactly, backward forms are adjoints of forward."""
    spec = next(layer.spec for layer in NETWORKS["dcgan"] if layer.name == name)
    rng = np.random.default_rng(1)
    # small integers in float64: every sum stays exact and BLAS does the work
    x = rng.integers(-3, 4, (1, spec.in_channels, spec.height, spec.width)).astype(np.float64)
    w = rng.integers(-3, 4, (spec.in_channels, spec.out_channels, 4, 4)).astype(np.float64)
    g = rng.integers(-3, 4, (1, spec.out_channels, spec.out_height, spec.out_width)).astype(np.float64)
    out = deconv.polyphase(spec, x, w)
    assert out.shape == (1, spec.out_channels, 2 * spec.height if spec.stride == 2 else 4,
                         2 * spec.width if spec.stride == 2 else 4)
    np.testing.assert_array_equal(deconv.zero_insert(spec, x, w), out)
    np.testing.assert_array_equal(deconv.scatter(spec, x, w), out)
    dx = deconv.backward_input(spec, g, w)
    np.testing.assert_array_equal(deconv.backward_input_strided(spec, g, w), dx)
    dw = deconv.backward_weight(spec, x, g)
    # <g, T(x, w)> is linear in x and in w: its gradients must reproduce it exactly
    assert (g * out).sum() == (dx * x).sum() == (dw * w).sum()


@settings(max_examples=100, deadline=None)
@given(layers())
def test_read_sequence_reads_each_useful_pixel_tap_pair_once(layer):
    spec, _ = layer
    seq = deconv.read_sequence(spec)
    phase, slot, addr, out, last = seq.T
    s, p, k = spec.stride, spec.padding, spec.kernel
    want = set()
    for i in range(spec.height):
        for j in range(spec.width):
            for ky in range(k):
                for kx in range(k):
                    y, x = i * s + ky - p, j * s + kx - p
                    if 0 <= y < spec.out_height and 0 <= x < spec.out_width:
                        want.add((i * spec.width + j, y * spec.out_width + x))
    pairs = list(zip(addr.tolist(), out.tolist()))
    assert len(pairs) == len(set(pairs)) == len(want) and set(pairs) == want
    # phases in order; a window's reads are contiguous, in slot order, and `last` marks the final one
    assert np.all(np.diff(phase) >= 0)
    for o in np.unique(out):
        at = np.flatnonzero(out == o)
        assert np.all(np.diff(at) == 1) and np.all(np.diff(slot[at]) > 0)
        assert last[at].tolist() == [0] * (len(at) - 1) + [1]
    # the output phase of each read matches its group, and the slot selects the tap that links them
    for ph in spec.phases:
        sel = phase == ph.index
        y, x = np.divmod(out[sel], spec.out_width)
        assert np.all((y + p) % s == ph.y.phase) and np.all((x + p) % s == ph.x.phase)
        jy, jx = np.divmod(slot[sel], ph.x.taps)
        iy, ix = np.divmod(addr[sel], spec.width)
        np.testing.assert_array_equal(iy * s + ph.y.phase + s * jy - p, y)
        np.testing.assert_array_equal(ix * s + ph.x.phase + s * jx - p, x)


@settings(max_examples=40, deadline=None)
@given(layers(), st.integers(0, 2**32 - 1))
def test_following_the_reads_computes_the_layer(layer, seed):
    """Gather each read pixel, multiply by its slot's sub-kernel tap, add at its output pixel."""
    spec, batch = layer
    x, w, g = rand_operands(spec, batch, seed)
    expected, _, _ = oracle(x, w, g, spec.stride, spec.padding, spec.output_padding)
    acc = np.zeros((batch, spec.out_channels, spec.out_height * spec.out_width), dtype=np.int64)
    xf = x.reshape(batch, spec.in_channels, -1)
    for phase, slot, addr, out, _ in deconv.read_sequence(spec):
        ph = spec.phases[phase]
        jy, jx = divmod(slot, ph.x.taps)
        tap = w[:, :, ph.y.phase + spec.stride * jy, ph.x.phase + spec.stride * jx]
        acc[:, :, out] += xf[:, :, addr] @ tap
    np.testing.assert_array_equal(acc.reshape(expected.shape), expected, err_msg=f"seed={seed}")


def expected_rejection(k, s, p, op, h, w):
    """Which parameter an invalid layer must be rejected for (None when valid), decided here."""
    if p < 0:
        return "padding"
    if op < 0 or op >= s:
        return "output_padding"
    sizes = [(n - 1) * s + k + op - 2 * p for n in (h, w)]
    if min(sizes) < 1:
        return "padding"
    if any((y + p) % s >= k for size in sizes for y in range(size)):
        return "kernel"
    return None


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(-2, 6), st.integers(-1, 4),
       st.integers(1, 4), st.integers(1, 4))
def test_invalid_layers_are_rejected_naming_the_parameter(k, s, p, op, h, w):
    bad = expected_rejection(k, s, p, op, h, w)
    args = dict(in_channels=1, out_channels=1, kernel=k, stride=s, padding=p, output_padding=op,
                height=h, width=w)
    if bad is None:
        spec = ConvTranspose(**args)
        assert spec.out_height >= 1 and all(ph.slots >= 1 for ph in spec.phases)
    else:
        with pytest.raises(DeconvError) as e:
            ConvTranspose(**args)
        assert str(e.value).startswith(f"{bad} = "), str(e.value)
        assert "\n" not in str(e.value)


def test_kernel_smaller_than_stride_is_accepted_only_without_gaps():
    # a single input pixel, kernel 1, stride 3: the one output meets tap 0, no gap
    assert ConvTranspose(in_channels=1, out_channels=1, kernel=1, stride=3).out_height == 1
    with pytest.raises(DeconvError, match=r"kernel = 1 is smaller than stride = 3.*gaps"):
        ConvTranspose(in_channels=1, out_channels=1, kernel=1, stride=3, height=2, width=2)


def test_output_size_picks_output_padding_or_names_the_mismatch():
    common = dict(in_channels=2, out_channels=2, kernel=3, stride=2, padding=1, height=4, width=5)
    spec = ConvTranspose.for_output(output_size=(8, 10), **common)
    assert spec.output_padding == 1 and (spec.out_height, spec.out_width) == (8, 10)
    with pytest.raises(DeconvError, match=r"output_size \(9, 10\).*along height .* gives 7\.\.8"):
        ConvTranspose.for_output(output_size=(9, 10), **common)
    with pytest.raises(DeconvError, match=r"output_padding 0 along height but 1 along width"):
        ConvTranspose.for_output(output_size=(7, 10), **common)


def test_operand_shapes_and_types_are_checked():
    spec = ConvTranspose(in_channels=2, out_channels=3, kernel=4, stride=2, padding=1, height=4,
                         width=4)
    x, w = np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 4, 4))
    with pytest.raises(DeconvError, match=r"x has shape \(1, 3, 4, 4\), expected \(batch, "
                                          r"in_channels=2, height=4, width=4\)"):
        deconv.polyphase(spec, np.zeros((1, 3, 4, 4)), w)
    with pytest.raises(DeconvError, match=r"weight has shape \(3, 2, 4, 4\)"):
        deconv.scatter(spec, x, np.zeros((3, 2, 4, 4)))
    with pytest.raises(DeconvError, match=r"g has shape"):
        deconv.backward_input(spec, np.zeros((1, 3, 7, 8)), w)
    with pytest.raises(DeconvError, match=r"stride = 0: must be a positive integer"):
        ConvTranspose(in_channels=1, out_channels=1, kernel=2, stride=0)
    with pytest.raises(DeconvError, match=r"padding = 1.5: must be an integer"):
        ConvTranspose(in_channels=1, out_channels=1, kernel=2, padding=1.5)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 12), st.integers(1, 6), st.integers(1, 5), st.integers(-15, 40),
       st.integers(0, 40))
def test_tap_hits_counts_window_taps_in_a_range(count, taps, stride, lo, width):
    hi = lo + width
    want = sum(lo <= i * stride + t < hi for i in range(count) for t in range(taps))
    assert deconv.tap_hits(count, taps, stride, lo, hi) == want


@st.composite
def wide_layers(draw):
    """Layers with every relation of kernel, stride and padding (kernel < stride included)."""
    k, s = draw(st.integers(1, 9)), draw(st.integers(1, 7))
    try:
        return ConvTranspose(in_channels=1, out_channels=1, kernel=k, stride=s,
                             padding=draw(st.integers(0, k + 2)),
                             output_padding=draw(st.integers(0, s - 1)),
                             height=draw(st.integers(1, 6)), width=draw(st.integers(1, 6)))
    except DeconvError:
        assume(False)


@settings(max_examples=300, deadline=None)
@given(wide_layers())
def test_phase_classes_are_runs_of_equal_phases(spec):
    """The closed-form runs cover exactly the enumerated phases, each phase with its run's
    geometry, and every phase's reads are the (window, tap) pairs on input pixels counted here."""
    geometry = ("taps", "q_lo", "q_hi", "q_read_hi", "reads")
    for axis, n_in in (("y", spec.height), ("x", spec.width)):
        phases = spec.axis_phases(axis)
        runs = spec.axis_phase_classes(axis)
        assert len(runs) <= 4 and sum(n for *_, n in runs) == len(phases)
        for first, pos, n in runs:
            assert phases[pos] == first
            for ph in phases[pos:pos + n]:
                assert [getattr(ph, f) for f in geometry] == [getattr(first, f) for f in geometry]
        for ph in phases:
            assert ph.reads == sum(0 <= q - j < n_in for q in range(ph.q_lo, ph.q_read_hi + 1)
                                   for j in range(ph.taps))
    reads = np.bincount(deconv.read_sequence(spec)[:, 0], minlength=len(spec.phases))
    assert [ph.y.reads * ph.x.reads for ph in spec.phases] == reads.tolist()
    classes = spec.phase_classes()
    assert sum(n for _, n in classes) == len(spec.phases)
    for first, _ in classes:
        assert spec.phases[first.index] == first


def test_huge_kernel_and_stride_take_no_memory():
    """kernel = stride = 10**9: checking the layer and classing its 10**18 phase groups is
    closed form (the enumeration would hold 10**9 phases per axis)."""
    tracemalloc.start()
    try:
        spec = ConvTranspose(in_channels=3, out_channels=2, kernel=10**9, stride=10**9, padding=7,
                             height=3, width=2)
        classes = spec.phase_classes()
        with pytest.raises(DeconvError, match=r"in '1\.\.999999999' meet no kernel tap"):
            ConvTranspose(in_channels=1, out_channels=1, kernel=1, stride=10**9, height=2, width=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    assert sum(n for _, n in classes) == (10**9) ** 2
    # kernel = stride: every output pixel reads exactly one input pixel (with one tap)
    assert sum(n * ph.y.reads * ph.x.reads for ph, n in classes) == (3 * 10**9 - 14) * (2 * 10**9 - 14)
