"""Training through the crossbars: the OPA update against integer arithmetic written here, what
saturation and narrow ADCs cost, the back-propagation against finite differences, and where each
system runs its phases."""

import numpy as np
import pytest

from crosstrain.experiments.train_networks import digits_cnn
from crosstrain.experiments.trainer import FLOAT, SYSTEMS, Trainer, fit, initial_weights, one_blas_thread
from crosstrain.experiments.training import TrainingSettings, load_digits_split
from crosstrain.golden import config
from crosstrain.golden.encoding import to_fixed
from crosstrain.rollup.networks import NetBuilder

DATA = load_digits_split(TrainingSettings())


@pytest.fixture(autouse=True)
def blas_on_one_thread():
    """As fit() runs (the small GEMMs here are slower on several BLAS threads)."""
    with one_blas_thread():
        yield


def small_mlp():
    b = NetBuilder("mlp-64-32-10", (1, 8, 8))
    b.fc(32, name="fc1")
    b.fc(10, name="fc2")
    return b.build()


class ExactUpdate(Trainer):
    """PANTHER's update as plain integer arithmetic: each layer's wide weight starts at its
    weight codes times 2**drop and gains the exact outer product x (x) d of every sample, with
    d = -lr / batch * delta on the wide weight's LSB; after every crs_period-th sample every
    layer takes round(wide / 2**drop) (half up, saturated) and the wide weight saturates."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        p, s = self.cfg.precision, self.s
        self.drop = p.update_slices * self.cfg.device.bits_per_cell - p.weight_bits
        frac_d = p.weight_frac_bits + self.drop - s.activation_frac_bits
        self.d_scale = -s.learning_rate / s.batch * 2.0 ** (frac_d - s.error_frac_bits)
        self.ref_wide = [w * 2 ** self.drop for w in self.w]
        self.seen = 0

    def update(self, ops, n):
        p = self.cfg.precision
        lim, wlim = 2 ** (p.error_bits - 1), 2 ** (p.update_slices * 2 - 1)
        for k in range(n):
            for j, x, d in ops:
                per = len(x) // n
                dk = np.clip(np.rint(d[k * per:(k + 1) * per] * self.d_scale), -lim, lim - 1)
                self.ref_wide[j] = self.ref_wide[j] + x[k * per:(k + 1) * per].T.astype(np.int64) @ \
                    dk.astype(np.int64)
            self.seen += 1
            if self.seen % self.s.crs_period == 0:
                for j in range(len(self.w)):
                    self.ref_wide[j] = np.clip(self.ref_wide[j], -wlim, wlim - 1)
                    w = np.floor_divide(self.ref_wide[j] + 2 ** (self.drop - 1), 2 ** self.drop)
                    top = 2 ** (p.weight_bits - 1)
                    self.w[j] = np.clip(w, -top, top - 1)


@pytest.mark.parametrize("opa, crs_period", [("vector", 24), ("sample", 24), ("batch", 32)])
def test_opa_and_crs_without_saturation_train_exactly_like_the_exact_update(opa, crs_period):
    cfg = config.load("panther").with_overrides({"precision.update_slice_bits": [16]})
    s = TrainingSettings(crs_period=crs_period, opa=opa)
    net = digits_cnn()
    init = initial_weights(net, np.random.default_rng(0))
    hw, ref = (cls(net, SYSTEMS["panther"], cfg, s, init) for cls in (Trainer, ExactUpdate))
    x, y = DATA[0], DATA[1]
    steps = 8
    for b in range(steps):
        batch = slice(b * s.batch, (b + 1) * s.batch)
        hw.step(x[batch], y[batch])
        ref.step(x[batch], y[batch])
        for j in range(3):
            np.testing.assert_array_equal(hw.w[j], ref.w[j], err_msg=f"step {b}, layer {j}")
    assert hw.update_events().opa_saturated == 0 and hw.counters.error_clipped == 0
    assert hw.counters.crs_rounds == steps * s.batch // crs_period
    p = cfg.precision
    start = [to_fixed(w, p.weight_bits, p.weight_frac_bits) for w in init]
    assert all((hw.w[j] != start[j]).mean() > 0.5 for j in range(3))     # the weights did move
    for j in range(3):                        # the slices hold the exact wide weight, carries too
        np.testing.assert_array_equal(hw.slices[j].compose(), ref.ref_wide[j])


def test_saturating_slices_and_a_narrow_adc_cost_accuracy():
    net, s = small_mlp(), TrainingSettings(epochs=1)
    cfg = config.load("panther")
    exact = fit(net, SYSTEMS["digital"], cfg, s, DATA)
    saturating = fit(net, SYSTEMS["panther"],
                     cfg.with_overrides({"precision.update_slice_bits": [2]}), s, DATA)
    narrow_adc = fit(net, SYSTEMS["panther"], cfg.with_overrides({"converters.adc_bits": 3}), s, DATA)
    assert exact.accuracy > 0.7
    assert saturating.update.opa_saturated > 0
    assert saturating.accuracy < exact.accuracy - 0.1, (saturating.accuracy, exact.accuracy)
    assert narrow_adc.events["forward"].adc_clipped > 0
    assert narrow_adc.accuracy < exact.accuracy - 0.1, (narrow_adc.accuracy, exact.accuracy)


def mixed_net():
    """Every trainable kind and geometry: strided padded conv, max pool with padding, tconv, fc."""
    b = NetBuilder("mixed", (1, 8, 8))
    b.conv(4, 3, 2, 1, name="conv")
    b.pool(3, 1, 1, name="pool")
    b.tconv(3, 4, 2, 1, name="tconv")
    b.fc(10, name="fc")
    return b.build()


def test_float_backward_is_the_gradient_of_the_loss():
    net = mixed_net()
    init = initial_weights(net, np.random.default_rng(2))
    s = TrainingSettings(batch=4)
    x, y = DATA[0][:4], DATA[1][:4]

    def loss(weights):
        t = Trainer(net, FLOAT, None, s, weights)
        t.wf = [w.astype(np.float64) for w in weights]
        logits, _ = t.forward(x.astype(np.float64), training=True)
        z = logits - logits.max(axis=1, keepdims=True)
        return float((np.log(np.exp(z).sum(axis=1)) - z[np.arange(4), y]).sum())

    t = Trainer(net, FLOAT, None, s, init)
    t.wf = [w.astype(np.float64) for w in init]
    logits, saved = t.forward(x.astype(np.float64), training=True)
    rng = np.random.default_rng(7)
    for j, xm, d in t.backward(saved, logits.astype(np.float64), y):
        grad = xm.T @ d
        v = rng.normal(size=grad.shape)
        eps = 1e-5
        plus = [w + (eps * v if i == j else 0) for i, w in enumerate(init)]
        minus = [w - (eps * v if i == j else 0) for i, w in enumerate(init)]
        numeric = (loss(plus) - loss(minus)) / (2 * eps)
        assert np.isclose((grad * v).sum(), numeric, rtol=1e-4, atol=1e-8), net.weight_layers[j].name


@pytest.mark.parametrize("name, kinds", [
    ("panther", {"forward", "backward"}),
    ("pipelayer", {"forward", "backward", "gradient"}),
    ("3d-reg-conservative", {"forward"}),
    ("3d-reg-aggressive", {"forward", "backward"}),
    ("digital", set()),
])
def test_each_system_runs_its_phases_on_the_crossbars(name, kinds):
    net = small_mlp()
    cfg = config.load("panther")
    t = Trainer(net, SYSTEMS[name], cfg, TrainingSettings(crs_period=16),
                initial_weights(net, np.random.default_rng(0)))
    t.step(DATA[0][:16], DATA[1][:16])
    assert {k for k, e in t.events.items() if e.adc_conversions} == kinds
    assert (t.update_events().opa_phases > 0) == (name == "panther")
    assert (t.counters.crs_rounds == 1) == (name in ("panther", "digital"))


def test_same_initialization_and_sample_order_for_every_system(monkeypatch):
    import crosstrain.experiments.trainer as trainer_module

    net, s = small_mlp(), TrainingSettings(epochs=1, batch=700)
    seen = {}

    class Recorder(Trainer):
        def step(self, images, labels):
            seen.setdefault(self.sys.name, []).append(labels.copy())
            super().step(images, labels)

    monkeypatch.setattr(trainer_module, "Trainer", Recorder)
    fit(net, FLOAT, None, s, DATA)
    fit(net, SYSTEMS["pipelayer"], config.load("pipelayer"), s, DATA)
    assert len(seen["float"]) == 2 and all(
        np.array_equal(a, b) for a, b in zip(seen["float"], seen["pipelayer"]))
    init = initial_weights(net, np.random.default_rng(s.seed))
    t = Trainer(net, SYSTEMS["pipelayer"], config.load("pipelayer"), s, init)
    np.testing.assert_array_equal(t.w[0], to_fixed(init[0], 16, 12))


def test_device_model_is_seeded_and_changes_the_results():
    net, s = small_mlp(), TrainingSettings(batch=64, crs_period=64)
    base = config.load("panther")
    noisy = base.with_overrides({"nonideal.program_sigma": 0.05, "nonideal.read_sigma": 0.02,
                                 "nonideal.c2c_sigma": 0.1})
    init = initial_weights(net, np.random.default_rng(0))

    def three_steps(cfg):
        t = Trainer(net, SYSTEMS["panther"], cfg, s, init)
        for b in range(3):
            t.step(DATA[0][b * 64:(b + 1) * 64], DATA[1][b * 64:(b + 1) * 64])
        return t

    a, b, ideal = three_steps(noisy), three_steps(noisy), three_steps(base)
    assert ideal.copies is None and a.copies is not None
    assert all(np.array_equal(x, y) for x, y in zip(a.w, b.w))          # seeded: reproducible
    assert not all(np.array_equal(x, y) for x, y in zip(a.w, ideal.w))  # and it matters
    fwd, bwd = a.copies[0]
    assert not np.array_equal(fwd.levels, bwd.levels)                  # two copies, two draws
