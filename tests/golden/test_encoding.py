import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from crosstrain.golden import config, encoding


def cfg_for(bits_per_cell, weight_slices, input_bits, dac_bits, encoding_name):
    return config.HardwareConfig().with_overrides({
        "device.bits_per_cell": bits_per_cell,
        "precision.weight_bits": bits_per_cell * weight_slices,
        "precision.weight_frac_bits": 0,
        "precision.update_slices": 32 // bits_per_cell + 1,
        "precision.input_bits": input_bits, "precision.error_bits": 8,
        "converters.dac_bits": dac_bits, "crossbar.encoding": encoding_name})


configs = st.tuples(st.sampled_from([1, 2, 4]), st.integers(1, 4), st.integers(2, 12),
                    st.integers(1, 3), st.sampled_from(["offset", "differential"])).filter(
    lambda t: t[3] < t[2]).map(lambda t: cfg_for(*t))


@settings(max_examples=60, deadline=None)
@given(configs, st.integers(0, 2**32 - 1))
def test_weights_round_trip(cfg, seed):
    rng = np.random.default_rng(seed)
    wb = cfg.precision.weight_bits
    w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), (5, 7))
    levels, sign, shift = encoding.slice_weights(w, cfg)
    assert levels.shape[0] == cfg.arrays_per_block
    assert levels.max() <= cfg.cell_max
    np.testing.assert_array_equal(encoding.compose_weights(levels, sign, shift, cfg), w,
                                  err_msg=f"seed={seed}")


@settings(max_examples=60, deadline=None)
@given(configs, st.integers(0, 2**32 - 1))
def test_input_steps_round_trip(cfg, seed):
    rng = np.random.default_rng(seed)
    n = cfg.precision.input_bits
    x = rng.integers(-(1 << (n - 1)), 1 << (n - 1), (4, 9))
    x[0, 0], x[0, 1] = -(1 << (n - 1)), (1 << (n - 1)) - 1
    steps, coef = encoding.input_steps(x, cfg)
    assert steps.shape[0] == cfg.input_steps
    assert steps.max() < (1 << cfg.converters.dac_bits)
    assert coef[-1] == -(1 << (n - 1)) and steps[-1].max() <= 1
    np.testing.assert_array_equal(np.tensordot(coef, steps.astype(np.int64), axes=(0, 0)), x,
                                  err_msg=f"seed={seed}")


def test_out_of_range_values_are_rejected():
    cfg = config.load("panther")
    for bad in (np.array([[1 << 15]]), np.array([[-(1 << 15) - 1]])):
        try:
            encoding.slice_weights(bad, cfg)
        except ValueError as e:
            assert "16 signed bits" in str(e)
        else:
            raise AssertionError("accepted an out-of-range weight")


def test_conductance_mapping_spans_goff_to_gon():
    cfg = config.load("panther")
    g = encoding.levels_to_conductance(np.array([0, cfg.cell_max]), cfg)
    assert g[0] == cfg.device.g_off_us and g[1] == cfg.device.g_on_us
    np.testing.assert_allclose(encoding.conductance_to_levels(g, cfg), [0, cfg.cell_max])


def test_to_fixed_rounds_and_saturates():
    assert encoding.to_fixed([0.5, -9.0, 100.0], 8, 2).tolist() == [2, -36, 127]
    assert encoding.to_fixed([300.0, -300.0], 8, -1).tolist() == [127, -128]
