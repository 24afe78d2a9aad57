"""The fixed-point digits CNN: its pieces, its arithmetic against the golden MVM, its training."""

import numpy as np
import pytest

from crosstrain.experiments import training
from crosstrain.golden import config
from crosstrain.golden import write_elim as we
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


def test_progress_wraps_every_training_step():
    seen = {}

    def progress(iterable, *, desc, total):
        seen.update(desc=desc, total=total)
        for step in iterable:
            seen["last"] = step
            yield step
    result = training.train(config.load("pipelayer"), SHORT, [we.Ledger(config.load("pipelayer"))],
                            progress=progress)
    assert seen == {"desc": "training, every write kept", "total": result.steps,
                    "last": result.steps - 1}
    assert len(result.epoch_accuracy) == SHORT.epochs


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


def test_training_learns_and_loss_free_policies_do_not_change_it():
    cfg = config.load("pipelayer")
    base = we.Ledger(cfg)
    r0 = training.train(cfg, SHORT, [base])
    assert r0.accuracy > 0.6                  # chance is 0.1
    acting = we.Ledger(cfg, [we.POLICIES["zero-row"], we.POLICIES["update-cell"]])
    r1 = training.train(cfg, SHORT, [acting])
    assert r1.accuracy == r0.accuracy
    for layer, _, _, _ in training.LAYERS:
        assert np.array_equal(acting.stores["updates", layer].array.weights,
                              base.stores["updates", layer].array.weights)
    assert acting.summary("errors").tally.events.cell_writes < base.summary("errors").tally.offered_cells


def test_recorded_writes_are_the_training_values():
    cfg = config.load("pipelayer")
    seen = []

    class Recorder(we.Ledger):
        def write(self, phase, layer, new):
            seen.append((phase, layer, np.array(new)))
            return super().write(phase, layer, new)

    training.train(cfg, training.TrainingSettings(epochs=1, batch=400), [Recorder(cfg)])
    acts = {ly: m for ph, ly, m in seen if ph == "activations"}
    errs = {ly: m for ph, ly, m in seen if ph == "errors"}
    assert acts["conv1"].shape == (400 * 64, 1) and errs["conv1"].shape == (400 * 64, 8)
    assert (acts["conv2"] >= 0).all() and (acts["fc"] >= 0).all()          # after ReLU
    assert (errs["conv1"] == 0).mean() > 0.5                               # ReLU' and pooling
    assert (errs["fc"] != 0).mean() > 0.9                                  # softmax error
    assert 3 * 3 == len([1 for ph, _, _ in seen if ph == "updates"])        # 3 steps x 3 layers


def test_observers_must_be_loss_free():
    cfg = config.load("pipelayer")
    with pytest.raises(ValueError, match="small-row-1pct"):
        training.train(cfg, SHORT, [we.Ledger(cfg), we.Ledger(cfg, [we.POLICIES["small-row-1pct"]])])


@pytest.mark.parametrize("kw, needle", [
    (dict(epochs=0), "epochs = 0"),
    (dict(batch=1.5), "batch = 1.5"),
    (dict(learning_rate=-1), "learning_rate = -1"),
    (dict(test_fraction=1.0), "test_fraction = 1.0"),
    (dict(error_frac_bits=16), "error_frac_bits = 16"),
])
def test_bad_settings(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        training.TrainingSettings(**kw).check(config.load("pipelayer"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_training_reaches_ninety_percent(seed):
    cfg = config.load("pipelayer")
    r = training.train(cfg, training.TrainingSettings(seed=seed), [we.Ledger(cfg)])
    assert r.accuracy >= 0.9, f"seed={seed}: {r.epoch_accuracy}"
