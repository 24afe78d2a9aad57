"""Ternary weights (crosstrain.golden.ternary) against brute-force references."""

import itertools

import numpy as np
import pytest

from crosstrain.golden.config import ConfigError
from crosstrain.golden.ternary import cell_pair, optimal_ternarize, ternarize, ternary_error, ternary_mvm


def _brute_force_least_error(w):
    """min over every t in {-1,0,1}^n and the best alpha for it (<w,t> / <t,t>) of
    ||w - alpha t||^2, enumerated."""
    best = float((w ** 2).sum())                       # t = 0
    for t in itertools.product((-1, 0, 1), repeat=w.size):
        t = np.array(t, dtype=float)
        n = (t * t).sum()
        if n:
            alpha = (w * t).sum() / n
            best = min(best, float(((w - alpha * t) ** 2).sum()))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_optimal_ternarization_reaches_the_enumerated_minimum(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=7) * rng.uniform(0.1, 3)
    got = ternary_error(w, optimal_ternarize(w))
    assert got == pytest.approx(_brute_force_least_error(w), rel=1e-12, abs=1e-15), f"seed={seed}"


@pytest.mark.parametrize("seed", range(4))
def test_statistical_rule_is_twn_elementwise_and_close_to_the_optimum(seed):
    rng = np.random.default_rng(100 + seed)
    w = rng.normal(size=(64, 32))
    tern = ternarize(w)
    flat = [float(v) for v in w.ravel()]
    delta = 0.7 * sum(abs(v) for v in flat) / len(flat)
    kept = [abs(v) for v in flat if abs(v) > delta]
    assert tern.delta == pytest.approx(delta, rel=1e-12), f"seed={seed}"
    assert tern.alpha == pytest.approx(sum(kept) / len(kept), rel=1e-12), f"seed={seed}"
    for v, t in zip(flat, tern.t.ravel().tolist()):
        assert t == ((v > delta) - (v < -delta)), f"seed={seed}"
    # TWN: 0.7 E|w| approximates the best threshold for normal weights (0.56 sigma against about
    # 0.61 sigma); its error stays within 2 % of the least
    best = ternary_error(w, optimal_ternarize(w))
    assert best <= ternary_error(w, tern) <= 1.02 * best, f"seed={seed}"


@pytest.mark.parametrize("seed", range(4))
def test_ternary_mvm_is_additions_and_subtractions(seed):
    rng = np.random.default_rng(200 + seed)
    t = rng.integers(-1, 2, size=(12, 5))
    x = rng.integers(-50, 50, size=(3, 12))
    y, adds, subs = ternary_mvm(x, t)
    want = np.zeros((3, 5), dtype=np.int64)
    n_add = n_sub = 0
    for v in range(3):                                   # loops: add on +1 cells, subtract on -1
        for c in range(5):
            for r in range(12):
                if t[r, c] == 1:
                    want[v, c] += x[v, r]
                    n_add += 1
                elif t[r, c] == -1:
                    want[v, c] -= x[v, r]
                    n_sub += 1
    assert np.array_equal(y, want) and (adds, subs) == (n_add, n_sub), f"seed={seed}"
    g_plus, g_minus = cell_pair(t)
    assert np.array_equal(g_plus - g_minus, t) and not (g_plus & g_minus).any()


def test_bad_input_is_one_line():
    with pytest.raises(ConfigError, match="delta_factor = -1"):
        ternarize([1.0, 2.0], delta_factor=-1)
    with pytest.raises(ConfigError, match="1 not finite"):
        ternarize([1.0, float("nan")])
    with pytest.raises(ConfigError, match=r"must be -1, 0 or \+1; got \[2\]"):
        cell_pair([[2, 0]])
    with pytest.raises(ConfigError, match="inputs of 3 values against 2 weight rows"):
        ternary_mvm([1, 2, 3], [[1], [0]])
