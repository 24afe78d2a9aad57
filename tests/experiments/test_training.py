"""The pieces every training run shares: the digits data, layer geometry, settings."""

import numpy as np
import pytest

from crosstrain.experiments import training
from crosstrain.golden import config
from crosstrain.golden.config import ConfigError

SHORT = training.TrainingSettings(epochs=1)


def test_digits_file_is_what_scikit_learn_loads():
    from sklearn.datasets import load_digits

    d = load_digits()
    x_tr, y_tr, x_te, y_te = training.load_digits_split(SHORT)
    assert len(x_tr) + len(x_te) == len(d.images) == 1797
    order = np.random.default_rng(SHORT.seed).permutation(len(d.images))
    n_test = len(x_te)
    assert np.array_equal(x_te[..., 0] * 16, d.images[order[:n_test]])
    assert np.array_equal(y_tr, d.target[order[n_test:]])


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch):
    real = training.importlib.util.find_spec
    monkeypatch.setattr(training.importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'crosstrain\[digits\]'"):
        training.digits_file()


def test_maxpool_routes_gradients_to_the_winner():
    a = np.array([[1, 5], [3, 2]]).reshape(1, 2, 2, 1)
    pooled, win = training.maxpool(a)
    assert pooled.item() == 5
    back = training.unpool(np.array([7]).reshape(1, 1, 1, 1), win)
    assert back[0, :, :, 0].tolist() == [[0, 7], [0, 0]]


def test_rescale_rounds_and_saturates():
    assert training.rescale([1000, -1000, 6], 2, 8).tolist() == [127, -128, 2]


@pytest.mark.parametrize("kw, needle", [
    (dict(epochs=0), "epochs = 0"),
    (dict(batch=1.5), "batch = 1.5"),
    (dict(learning_rate=-1), "learning_rate = -1"),
    (dict(test_fraction=1.0), "test_fraction = 1.0"),
    (dict(error_frac_bits=16), "error_frac_bits = 16"),
    (dict(crs_period=0), "crs_period = 0"),
    (dict(seed=-1), "seed = -1"),
    (dict(opa="cell"), "opa = 'cell'"),
])
def test_bad_settings(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        training.TrainingSettings(**kw).check(config.load("pipelayer"))


def windows_brute_force(a, k, s, p, fill=0):
    """Every k x k window at stride s over a padded with p, in (ky, kx, c) order, loop by loop."""
    n, h, w, c = a.shape
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.full((n, ho, wo, k, k, c), fill, dtype=a.dtype)
    for i in range(ho):
        for j in range(wo):
            for ky in range(k):
                for kx in range(k):
                    y, x = i * s + ky - p, j * s + kx - p
                    if 0 <= y < h and 0 <= x < w:
                        out[:, i, j, ky, kx, :] = a[:, y, x, :]
    return out.reshape(n * ho * wo, k * k * c)


@pytest.mark.parametrize("k, s, p", [(3, 1, 1), (3, 2, 1), (2, 2, 0), (4, 2, 1), (3, 3, 2), (1, 1, 0)])
def test_im2col_is_every_window(k, s, p):
    a = np.random.default_rng(k * 10 + s).normal(size=(2, 7, 6, 3))
    np.testing.assert_array_equal(training.im2col(a, k, s, p), windows_brute_force(a, k, s, p))
    g = np.random.default_rng(1).normal(size=training.im2col(a, k, s, p).shape)
    assert np.isclose((training.im2col(a, k, s, p) * g).sum(),
                      (a * training.col2im(g, a.shape, k, s, p)).sum())


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_maxpool_with_stride_and_padding(k, s, p):
    a = np.random.default_rng(3).integers(-50, 50, size=(2, 6, 5, 2))
    pooled, win = training.maxpool(a, k, s, p)
    low = np.iinfo(a.dtype).min
    ref = windows_brute_force(a, k, s, p, fill=low).reshape(pooled.shape[:3] + (k * k, 2))
    np.testing.assert_array_equal(pooled, ref.max(axis=3))
    # each window's gradient goes to its first maximum in (ky, kx) order
    g = np.random.default_rng(4).integers(1, 9, size=pooled.shape)
    expect = np.zeros(a.shape, dtype=g.dtype)
    for n, i, j, c in np.ndindex(pooled.shape):
        cells = [(i * s + ky - p, j * s + kx - p) for ky in range(k) for kx in range(k)]
        y, x = next(yx for yx in cells if 0 <= yx[0] < a.shape[1] and 0 <= yx[1] < a.shape[2]
                    and a[n, yx[0], yx[1], c] == pooled[n, i, j, c])
        expect[n, y, x, c] += g[n, i, j, c]
    np.testing.assert_array_equal(training.unpool(g, win), expect)
