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


def test_im2col_and_col2im_are_adjoint():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 4, 4, 3))
    g = rng.normal(size=(2 * 16, 27))
    assert np.isclose((training.im2col(a) * g).sum(), (a * training.col2im(g, a.shape)).sum())


def test_im2col_window_order():
    a = np.arange(9.0).reshape(1, 3, 3, 1)
    cols = training.im2col(a)
    # centre pixel's window is the whole image, in (ky, kx) order
    assert cols[4].tolist() == list(range(9))
    # the top-left pixel sees padding above and to the left
    assert cols[0].tolist() == [0, 0, 0, 0, 0, 1, 0, 3, 4]


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
    (dict(opa="cell"), "opa = 'cell'"),
])
def test_bad_settings(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        training.TrainingSettings(**kw).check(config.load("pipelayer"))
