"""A small CNN trained on scikit-learn's 8x8 digits in the accelerator's fixed point.

The network (``digits-cnn``): conv 3x3 1->8 (pad 1), ReLU, max-pool 2 -> conv 3x3 8->16 (pad 1),
ReLU, max-pool 2 -> fully connected 64->10, softmax cross-entropy; no biases, so every weight
layer is one crossbar matrix (im2col GEMM, ``k*k*Cin x Cout``).

Arithmetic is the accelerator's: weights, activations and errors are signed fixed-point codes of
``precision.weight_bits`` / ``input_bits`` / ``error_bits`` with ``weight_frac_bits`` /
``activation_frac_bits`` / ``error_frac_bits`` fraction bits; every product is the golden bit-sliced
MVM's (:func:`crosstrain.golden.crossbar.mvm`: its one-matmul path where it has proved that no ADC
conversion can clip, else every step and slice simulated, clipping as the hardware would);
results are rounded back to the code's format with saturation. Forward: ``z = X W``; error
back-propagation: the transposed MVM ``delta W^T``; weight gradient: ``X^T delta`` with the error
stored in arrays and the activations streamed. The softmax, max-pool routing and the learning-
rate scaling are digital periphery (float, then rounded to codes).

Every matrix the training writes into arrays (see :mod:`crosstrain.golden.write_elim`: activations,
errors, weight updates) goes through a :class:`crosstrain.golden.write_elim.Ledger`. The first ledger acts:
what it returns is what the MVMs use, so a lossy policy changes the training. The others only
observe the same values; they must be loss-free (then they would return the same values).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crosstrain.golden import crossbar
from crosstrain.golden.config import ConfigError, HardwareConfig
from crosstrain.golden.encoding import to_fixed
from crosstrain.golden.events import Events

# (name, kind, input channels / features, output channels / features); 8x8 input, 3x3 kernels
LAYERS = (("conv1", "conv", 1, 8), ("conv2", "conv", 8, 16), ("fc", "dense", 64, 10))
KERNEL = 3


@dataclass(frozen=True)
class TrainingSettings:
    """How the digits CNN is trained (everything not taken from the hardware configuration)."""

    epochs: int = 4
    batch: int = 16
    learning_rate: float = 0.1
    seed: int = 0
    test_fraction: float = 0.2
    activation_frac_bits: int = 10    # 6.10: with PANTHER's 4.12 the logits saturate at 8 and
    error_frac_bits: int = 12         # training diverges; errors keep 4.12 [assumption]

    def check(self, cfg: HardwareConfig) -> None:
        """Raise ConfigError naming the first setting that cannot work with ``cfg``."""
        p = cfg.precision
        for name, lo in (("epochs", 1), ("batch", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ConfigError(f"training {name} = {v!r} is not allowed: an integer >= {lo}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0
                and math.isfinite(self.learning_rate)):
            raise ConfigError(f"training learning_rate = {self.learning_rate!r} is not allowed: "
                              "a positive number")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"training test_fraction = {self.test_fraction!r} is not allowed: "
                              "between 0 and 1")
        for name, bits in (("activation_frac_bits", p.input_bits), ("error_frac_bits", p.error_bits)):
            v = getattr(self, name)
            if not 0 <= v < bits:
                raise ConfigError(f"training {name} = {v!r} is not allowed: 0 .. {bits - 1}")
        if p.error_bits > p.weight_bits or p.error_bits > p.input_bits:
            raise ConfigError(f"precision.error_bits = {p.error_bits} is not allowed here: errors "
                              f"are stored as an MVM matrix and streamed as MVM inputs, so at most "
                              f"weight_bits ({p.weight_bits}) and input_bits ({p.input_bits})")
        if p.input_bits > p.weight_bits:
            raise ConfigError(f"precision.input_bits = {p.input_bits} is not allowed here: "
                              f"activations are stored in arrays like weights, so at most "
                              f"weight_bits ({p.weight_bits})")


@dataclass
class TrainingResult:
    accuracy: float                 # test accuracy after the last epoch
    epoch_accuracy: list            # test accuracy after each epoch
    steps: int
    ledgers: list                   # the acting ledger first, then the observers
    events: dict                    # MVM events by kind: forward, backward, gradient
    mvm_vectors: dict               # (kind, layer) -> vectors per step and matrix shape


def digits_file() -> Path:
    """The 8x8 digits table scikit-learn ships (what ``sklearn.datasets.load_digits`` reads);
    found without importing scikit-learn, whose import alone takes seconds."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" \
        if spec and spec.submodule_search_locations else None
    if path is None or not path.exists():
        raise ConfigError("the digits data set comes with scikit-learn, the `digits` extra: "
                          "pip install 'crosstrain[digits]' (a checkout: bash scripts/setup.sh)")
    return path


def load_digits_split(settings: TrainingSettings):
    """Images in [0, 1] (N, 8, 8, 1) and labels, split into train and test by ``seed``."""
    data = np.loadtxt(digits_file(), delimiter=",")
    x = (data[:, :-1].reshape(-1, 8, 8) / 16.0)[..., None]
    y = data[:, -1].astype(np.int64)
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * settings.test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def rescale(codes: np.ndarray, shift: int, bits: int) -> np.ndarray:
    """Drop ``shift`` fraction bits of integer products, rounding to nearest, with saturation."""
    return to_fixed(codes, bits, -shift)


def im2col(a: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N*H*W, K*K*C) 3x3 windows with zero padding 1, (ky, kx, c) order."""
    n, h, w, c = a.shape
    p = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = [p[:, ky:ky + h, kx:kx + w, :] for ky in range(KERNEL) for kx in range(KERNEL)]
    return np.concatenate(cols, axis=3).reshape(n * h * w, KERNEL * KERNEL * c)


def col2im(g: np.ndarray, shape) -> np.ndarray:
    """Adjoint of :func:`im2col`: sum window gradients back onto the (N, H, W, C) map."""
    n, h, w, c = shape
    g = g.reshape(n, h, w, KERNEL * KERNEL, c)
    p = np.zeros((n, h + 2, w + 2, c), dtype=g.dtype)
    for k in range(KERNEL * KERNEL):
        ky, kx = divmod(k, KERNEL)
        p[:, ky:ky + h, kx:kx + w, :] += g[:, :, :, k, :]
    return p[:, 1:-1, 1:-1, :]


def maxpool(a: np.ndarray):
    """2x2 max-pool of (N, H, W, C); returns the pooled map and the one-hot winner mask."""
    n, h, w, c = a.shape
    win = a.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(
        n, h // 2, w // 2, c, 4)
    arg = win.argmax(axis=-1)
    onehot = np.arange(4) == arg[..., None]
    return win.max(axis=-1), onehot


def unpool(g: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Route pooled gradients (N, H/2, W/2, C) to the winners: (N, H, W, C)."""
    n, h2, w2, c = g.shape
    full = (g[..., None] * onehot).reshape(n, h2, w2, c, 2, 2)
    return full.transpose(0, 1, 4, 2, 5, 3).reshape(n, h2 * 2, w2 * 2, c)


def init_weights(cfg: HardwareConfig, rng: np.random.Generator) -> dict:
    """He-normal weights as codes."""
    p = cfg.precision
    out = {}
    for name, kind, cin, cout in LAYERS:
        fan_in = KERNEL * KERNEL * cin if kind == "conv" else cin
        w = rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_in, cout))
        out[name] = to_fixed(w, p.weight_bits, p.weight_frac_bits)
    return out


class _Step:
    """One mini-batch through the network with the accelerator's arithmetic."""

    def __init__(self, cfg, settings, ledgers, events, vectors):
        self.cfg, self.s, self.ledgers, self.events, self.vectors = (
            cfg, settings, ledgers, events, vectors)
        p = cfg.precision
        self.a_bits, self.e_bits, self.w_frac = p.input_bits, p.error_bits, p.weight_frac_bits

    def write(self, phase, layer, new):
        acting, *observers = self.ledgers
        seen = acting.write(phase, layer, new)
        for ledger in observers:
            ledger.write(phase, layer, new)
        return seen

    def mvm(self, kind, layer, w, x, *, transposed=False):
        self.vectors[(kind, layer)] = (len(x), np.shape(w))
        return crossbar.mvm(w, x, self.cfg, transposed=transposed, events=self.events[kind])

    def forward(self, weights, images, *, training=True):
        """Logits codes and, per layer, what the backward pass needs: the layer input as the
        buffer arrays hold it (written here when ``training``), its pre-activation and the
        pooling winners."""
        a = to_fixed(images, self.a_bits, self.s.activation_frac_bits)
        saved = {}
        for name, kind, _, _ in LAYERS:
            x = im2col(a) if kind == "conv" else a.reshape(len(a), -1)
            z = rescale(self.mvm("forward", name, weights[name], x), self.w_frac, self.a_bits)
            mat = a.reshape(-1, a.shape[-1]) if kind == "conv" else x
            seen = self.write("activations", name, mat).reshape(a.shape) if training else a
            if kind == "conv":
                z = z.reshape(a.shape[:3] + (-1,))
                a, win = maxpool(np.maximum(z, 0))
            else:
                win = None
            saved[name] = (seen, z, win)
        return z, saved

    def backward(self, weights, saved, logits, labels):
        """Weight gradients (products of codes, activation + error fraction bits)."""
        s = self.s
        z = logits / 2.0 ** s.activation_frac_bits
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(labels)), labels] -= 1.0
        delta = to_fixed(p, self.e_bits, s.error_frac_bits)
        grads = {}
        for name, kind, _, _ in reversed(LAYERS):
            seen_a = saved[name][0]
            d2 = delta.reshape(-1, delta.shape[-1])
            stored_d = self.write("errors", name, d2)
            xs = im2col(seen_a) if kind == "conv" else seen_a.reshape(len(seen_a), -1)
            grads[name] = self.gradient(name, stored_d, xs)
            if name == LAYERS[0][0]:
                break
            back = self.mvm("backward", name, weights[name], d2, transposed=True)
            if kind == "conv":
                back = col2im(back, seen_a.shape)
            _, z_prev, win_prev = saved[_previous(name)]
            back = rescale(back, self.w_frac, self.e_bits).reshape(
                z_prev.shape[:1] + win_prev.shape[1:4])
            delta = unpool(back, win_prev) * (z_prev > 0)
        return grads

    def gradient(self, name, stored_d, xs):
        """dW = X^T delta through the arrays holding delta; skipped tiles skip their MVMs."""
        n_vec = xs.shape[1]
        self.vectors[("gradient", name)] = (n_vec, stored_d.shape)
        g = crossbar.mvm(stored_d, xs.T, self.cfg, events=self.events["gradient"])
        rows, cols = self.cfg.crossbar.rows, self.cfg.crossbar.cols
        for ledger in self.ledgers:
            for (rt, ct), skip in np.ndenumerate(ledger.skipped_tiles(name)):
                if skip:
                    shape = (min(rows, stored_d.shape[0] - rt * rows),
                             min(cols, stored_d.shape[1] - ct * cols))
                    ledger.mvm_skipped += crossbar.count_mvm_events(self.cfg, shape, n_vec)
        return g

    def update(self, weights, grads, batch):
        """New weights written through the acting ledger; returns what the arrays hold."""
        p, s = self.cfg.precision, self.s
        scale = -s.learning_rate / batch * 2.0 ** (
            p.weight_frac_bits - s.activation_frac_bits - s.error_frac_bits)
        out = {}
        for name, _, _, _ in LAYERS:
            dw = np.rint(grads[name] * scale).astype(np.int64)
            top = (1 << (p.weight_bits - 1)) - 1
            new = np.clip(weights[name] + dw, -top - 1, top)
            out[name] = self.write("updates", name, new)
        return out


def _previous(name: str) -> str:
    names = [n for n, _, _, _ in LAYERS]
    return names[names.index(name) - 1]


def _untracked(iterable, **_):
    return iterable


def accuracy(cfg, settings, weights, images, labels) -> float:
    """Test accuracy of ``weights`` (codes) through the same arithmetic."""
    step = _Step(cfg, settings, [], {"forward": Events()}, {})
    logits, _ = step.forward(weights, images, training=False)
    return float(np.mean(logits.argmax(axis=1) == labels))


def train(cfg: HardwareConfig, settings: TrainingSettings, ledgers, *, progress=None) -> TrainingResult:
    """Train the digits CNN; ``ledgers[0]`` acts on the writes, the others observe them.

    ``progress(iterable, desc=..., total=...)``, if given, wraps the loop over training steps
    (the command line passes a progress bar)."""
    settings.check(cfg)
    for ledger in ledgers[1:]:
        if not ledger.exact:
            names = ", ".join(p.name for p in ledger.policies if not p.exact)
            raise ValueError(f"observing ledgers must be loss-free; {names} changes what the "
                             "arrays hold: give it its own training run")
    rng = np.random.default_rng(settings.seed)
    x_train, y_train, x_test, y_test = load_digits_split(settings)
    weights = init_weights(cfg, rng)
    events = {"forward": Events(), "backward": Events(), "gradient": Events()}
    vectors: dict = {}
    step = _Step(cfg, settings, list(ledgers), events, vectors)
    n_batches = len(x_train) // settings.batch
    per_epoch, steps = [], 0
    todo = range(settings.epochs * n_batches)
    desc = "training, " + ("+".join(p.name for p in ledgers[0].policies) or "every write kept")
    for _ in (progress or _untracked)(todo, desc=desc, total=len(todo)):
        b = steps % n_batches
        if b == 0:
            order = rng.permutation(len(x_train))
        idx = order[b * settings.batch:(b + 1) * settings.batch]
        logits, saved = step.forward(weights, x_train[idx])
        grads = step.backward(weights, saved, logits, y_train[idx])
        weights = step.update(weights, grads, settings.batch)
        steps += 1
        if steps % n_batches == 0:
            per_epoch.append(accuracy(cfg, settings, weights, x_test, y_test))
    return TrainingResult(accuracy=per_epoch[-1], epoch_accuracy=per_epoch, steps=steps,
                          ledgers=list(ledgers), events=events, mvm_vectors=vectors)
