import numpy as np

from crosstrain.golden import config
from crosstrain.golden.array import ProgrammedArray


def rand(rng, shape):
    return rng.integers(-(1 << 15), 1 << 15, shape)


def noisy(**kw):
    return config.load("panther").with_overrides({f"nonideal.{k}": v for k, v in kw.items()})


def test_ideal_array_is_exact_and_counts_writes():
    rng = np.random.default_rng(0)
    w, x = rand(rng, (64, 32)), rand(rng, (4, 64))
    a = ProgrammedArray(config.load("panther"), w)
    np.testing.assert_array_equal(a.mvm(x), x @ w)
    np.testing.assert_array_equal(a.mvm_t(rand(rng, (2, 32)))[0].shape, (64,))
    assert a.events.cell_writes == 8 * 64 * 32 and a.events.rows_written == 8 * 64
    mask = np.zeros(w.shape, bool)
    mask[:3, :5] = True
    a.program(-w, mask=mask)
    assert a.events.cell_writes == 8 * 64 * 32 + 8 * 15
    assert a.write_counts[:, :3, :5].min() == 2 and a.write_counts[:, 3:, :].max() == 1
    np.testing.assert_array_equal(a.weights[:3, :5], -w[:3, :5])


def test_noise_is_seeded_and_nonzero():
    rng = np.random.default_rng(1)
    w, x = rand(rng, (32, 16)), rand(rng, (3, 32))
    cfg = noisy(program_sigma=0.02, read_sigma=0.01, d2d_sigma=0.05, seed=5)
    y1 = ProgrammedArray(cfg, w).mvm(x)
    y2 = ProgrammedArray(cfg, w).mvm(x)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1, x @ w)
    y3 = ProgrammedArray(cfg.with_overrides({"nonideal.seed": 6}), w).mvm(x)
    assert not np.array_equal(y1, y3)
    # small noise: the error stays small relative to the signal
    rel = np.abs(y1 - x @ w).max() / np.abs(x @ w).max()
    assert rel < 0.5


def test_stuck_cells_fraction_and_levels():
    cfg = noisy(stuck_on_fraction=0.1, stuck_off_fraction=0.2, seed=2)
    a = ProgrammedArray(cfg, np.zeros((128, 128), int))
    on = (a.levels == cfg.cell_max) & (a.target != cfg.cell_max)
    frac_on = a._stuck_on.mean()
    frac_off = a._stuck_off.mean()
    assert abs(frac_on - 0.1) < 0.01 and abs(frac_off - 0.2) < 0.01
    assert on.any()
    assert (a.levels[a._stuck_off] == 0).all()


def test_conductances_within_device_range():
    cfg = noisy(program_sigma=0.5, seed=3)
    g = ProgrammedArray(cfg, np.random.default_rng(0).integers(-100, 100, (8, 8))).conductance_us()
    assert g.min() >= cfg.device.g_off_us and g.max() <= cfg.device.g_on_us
