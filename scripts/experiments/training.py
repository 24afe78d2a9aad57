"""The pieces every training run shares: settings, the 8x8 digits data, layer geometry, init.

Arithmetic is the accelerator's (:mod:`crosstrain.experiments.trainer` runs it): weights,
activations and errors are signed fixed-point codes of ``precision.weight_bits`` /
``input_bits`` / ``error_bits`` with ``weight_frac_bits`` / ``activation_frac_bits`` /
``error_frac_bits`` fraction bits. Convolutions are im2col GEMMs (one crossbar matrix of
``k*k*Cin x Cout`` per layer, no biases); max pooling, the softmax and the learning-rate scaling
are digital periphery. The geometry helpers here work on NHWC maps of codes or floats alike.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crosstrain.golden.config import ConfigError, HardwareConfig
from crosstrain.golden.encoding import to_fixed
from crosstrain.golden.windows import col2im, im2col, out_size

OPA_MODES = ("vector", "sample", "batch")


@dataclass(frozen=True)
class TrainingSettings:
    """How a network is trained (everything not taken from the hardware configuration)."""

    epochs: int = 4
    batch: int = 16
    learning_rate: float = 0.1
    seed: int = 0
    test_fraction: float = 0.2
    activation_frac_bits: int = 10    # 6.10: with PANTHER's 4.12 the logits saturate at 8 and
    error_frac_bits: int = 12         # training diverges; errors keep 4.12 [assumption]
    crs_period: int = 64              # samples between carry resolutions (4 batches of 16)
    opa: str = "sample"               # update slices saturate after each "vector", "sample", "batch"

    def check(self, cfg: HardwareConfig | None = None) -> None:
        """Raise ConfigError naming the first setting that cannot work (with ``cfg``, if given)."""
        for name, lo in (("epochs", 1), ("batch", 1), ("crs_period", 1), ("seed", 0)):
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
        if self.opa not in OPA_MODES:
            raise ConfigError(f"training opa = {self.opa!r} is not allowed: "
                              + " or ".join(OPA_MODES))
        if cfg is None:
            return
        p = cfg.precision
        for name, bits in (("activation_frac_bits", p.input_bits), ("error_frac_bits", p.error_bits)):
            v = getattr(self, name)
            if not 0 <= v < bits:
                raise ConfigError(f"training {name} = {v!r} is not allowed: 0 .. {bits - 1}")


def check_stored(cfg: HardwareConfig) -> None:
    """Raise ConfigError when activations and errors cannot be stored in arrays like weights
    (what a PipeLayer-like weight gradient needs)."""
    p = cfg.precision
    if p.error_bits > p.weight_bits or p.error_bits > p.input_bits:
        raise ConfigError(f"precision.error_bits = {p.error_bits} is not allowed here: errors "
                          f"are stored as an MVM matrix and streamed as MVM inputs, so at most "
                          f"weight_bits ({p.weight_bits}) and input_bits ({p.input_bits})")
    if p.input_bits > p.weight_bits:
        raise ConfigError(f"precision.input_bits = {p.input_bits} is not allowed here: "
                          f"activations are stored in arrays like weights, so at most "
                          f"weight_bits ({p.weight_bits})")


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


@dataclass(frozen=True)
class Pooling:
    """Where each max-pool output came from: the winner's index in its window, and the geometry."""

    winner: np.ndarray                # (N, Ho, Wo, C) index into the K*K window
    shape: tuple                      # input (N, H, W, C)
    kernel: int
    stride: int
    padding: int


def maxpool(a: np.ndarray, kernel: int = 2, stride: int | None = None, padding: int = 0):
    """Max-pool of (N, H, W, C); returns the pooled map and its :class:`Pooling` (first maximum
    of a window in (ky, kx) order wins)."""
    stride = stride or kernel
    n, h, w, c = a.shape
    ho, wo = out_size(h, kernel, stride, padding), out_size(w, kernel, stride, padding)
    low = np.iinfo(a.dtype).min if np.issubdtype(a.dtype, np.integer) else -np.inf
    win = im2col(a, kernel, stride, padding, fill=low).reshape(n, ho, wo, kernel * kernel, c)
    arg = win.argmax(axis=3)
    pooled = np.take_along_axis(win, arg[:, :, :, None, :], axis=3)[:, :, :, 0, :]
    return pooled, Pooling(arg, a.shape, kernel, stride, padding)


def unpool(g: np.ndarray, pooling: Pooling) -> np.ndarray:
    """Route pooled gradients (N, Ho, Wo, C) to the winners: (N, H, W, C)."""
    k2 = pooling.kernel ** 2
    onehot = np.arange(k2)[:, None] == pooling.winner[:, :, :, None, :]
    cols = (g[:, :, :, None, :] * onehot).reshape(-1, k2 * g.shape[-1])
    return col2im(cols, pooling.shape, pooling.kernel, pooling.stride, pooling.padding)


def he_normal(shapes, fan_ins, rng: np.random.Generator) -> list:
    """He-normal float matrices, drawn one after another from ``rng``."""
    return [rng.normal(0.0, math.sqrt(2.0 / f), s) for s, f in zip(shapes, fan_ins)]
