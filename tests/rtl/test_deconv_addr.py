"""The transposed-conv address generator against crosstrain.golden.deconv.read_sequence (amaranth.sim, cocotb)."""

import gc

import numpy as np
import pytest

from crosstrain.golden.deconv import ConvTranspose, DeconvError, read_sequence
from crosstrain.rtl.deconv_addr import DeconvAddressGenerator
from crosstrain.tb.deconv_addr_bench import simulate
from crosstrain.tb.runner import run_bench

# corner cases: uneven sub-kernels, cropping padding, empty windows (output_padding > padding),
# stride 1, a kernel of one tap, the FCN 8x layer, a non-square map
DIRECTED = [
    dict(kernel=4, stride=2, padding=1, height=5, width=3),
    dict(kernel=5, stride=3, padding=2, output_padding=2, height=3, width=4),
    dict(kernel=3, stride=1, padding=4, height=7, width=7),
    dict(kernel=2, stride=2, padding=0, output_padding=1, height=3, width=2),
    dict(kernel=1, stride=1, padding=0, height=1, width=1),
    dict(kernel=16, stride=8, padding=4, height=3, width=2),
    dict(kernel=3, stride=2, padding=0, output_padding=1, height=4, width=4),
]


def random_spec(seed):
    rng = np.random.default_rng(seed)
    while True:
        k, s = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        try:
            return ConvTranspose(in_channels=1, out_channels=1, kernel=k, stride=s,
                                 padding=int(rng.integers(0, k + 1)),
                                 output_padding=int(rng.integers(0, s)),
                                 height=int(rng.integers(1, 7)), width=int(rng.integers(1, 7)))
        except DeconvError:
            continue


@pytest.mark.parametrize("params", DIRECTED, ids=lambda p: "k{kernel}s{stride}".format(**p))
def test_directed_layers_issue_the_golden_sequence_one_read_per_cycle(params):
    spec = ConvTranspose(in_channels=1, out_channels=1, **params)
    want = read_sequence(spec)
    got, cycles = simulate(spec)
    np.testing.assert_array_equal(got, want)
    # one read per cycle, then busy falls: the cycle after the last read sees busy low
    assert cycles == len(want) + 1


@pytest.mark.parametrize("seed", range(10))
def test_random_layers_under_back_pressure(seed):
    # the bench's sink fails on a payload that changes while stalled (crosstrain.tb.stream)
    spec = random_spec(seed)
    got, _ = simulate(spec, ready_seed=seed, restart_at=3)
    np.testing.assert_array_equal(got, read_sequence(spec), err_msg=f"seed={seed} {spec}")


def test_a_full_dcgan_layer():
    """DCGAN ct5 (64->3, 32x32 -> 64x64): 15,876 reads, one per cycle."""
    spec = ConvTranspose(in_channels=64, out_channels=3, kernel=4, stride=2, padding=1, height=32,
                         width=32)
    got, cycles = simulate(spec)
    np.testing.assert_array_equal(got, read_sequence(spec))
    # per axis and phase: 32 windows x 2 taps, one tap outside the input at one border
    assert cycles == len(got) + 1 == 4 * (2 * 32 - 1) ** 2 + 1


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_rejects_a_spec_of_the_wrong_type():
    with pytest.raises(TypeError, match="spec must be a crosstrain.golden.deconv.ConvTranspose, not {'kernel'"):
        DeconvAddressGenerator(spec={"kernel": 4})
    gc.collect()            # the half-built component warns when collected: do it under the filter


COCOTB_SPEC = ConvTranspose(in_channels=8, out_channels=4, kernel=5, stride=3, padding=1,
                            output_padding=2, height=6, width=5)


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cocotb_bench(simulator):
    tests, failed = run_bench(DeconvAddressGenerator(spec=COCOTB_SPEC), design="deconv_addr",
                              params=COCOTB_SPEC.as_params(), simulator=simulator,
                              test_module="crosstrain.tb.deconv_addr_bench")
    assert (tests, failed) == (3, 0)
