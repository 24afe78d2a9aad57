"""Ternary weights (PIM-TGAN): a layer's weights as ``alpha * t`` with ``t`` in {-1, 0, +1}.

PIM-TGAN (ICCD 2018; reference sheet section 7, abstract only) trains a GAN whose weights are
"statistically" ternarized, stores them in SOT-MRAM computational sub-arrays and turns every
multiply-accumulate into additions and subtractions. Its rule is not public. [assumption] We use
the statistical rule of Ternary Weight Networks (Li, Zhang & Liu, arXiv 1605.04711, 2016), which
chooses the threshold from the weights' statistics: ``delta = 0.7 * mean(|w|)``, ``t = sign(w)``
where ``|w| > delta`` (else 0), and the scale ``alpha = mean(|w|)`` over the non-zero ``t``.
TWN derives it as an approximation of the threshold that minimises ``||w - alpha t||^2``;
:func:`optimal_ternarize` finds that threshold exactly (for a fixed number ``k`` of non-zeros
the best choice keeps the ``k`` largest ``|w|`` and the error is ``sum(w^2) - S_k^2 / k``,
``S_k`` their sum), so the statistical rule's loss can be measured against it.

Storage and arithmetic: one cell pair per weight (``g_plus, g_minus`` in {0, 1}; ``+1`` = (1, 0),
``-1`` = (0, 1), ``0`` = (0, 0)); a column's output is the sum of the inputs on its ``+1`` rows
minus the sum on its ``-1`` rows, i.e. one addition or subtraction per non-zero weight and no
multiplication (:func:`ternary_mvm`); ``alpha`` scales the column once.

All functions are pure NumPy; bad input raises :class:`crosstrain.golden.config.ConfigError`
with one line naming the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crosstrain.golden.config import ConfigError

#: TWN's statistical threshold factor: delta = 0.7 * mean(|w|) (Li, Zhang & Liu 2016).
DELTA_FACTOR = 0.7


@dataclass(frozen=True)
class Ternary:
    """``w ~ alpha * t``: ``t`` int8 in {-1, 0, +1} of ``w``'s shape, threshold ``delta``
    (``|w| > delta`` is kept), scale ``alpha`` (0 when every ``t`` is 0)."""

    t: np.ndarray
    alpha: float
    delta: float


def _weights(w) -> np.ndarray:
    a = np.asarray(w, dtype=np.float64)
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ConfigError(f"ternary weights: {a.size} values, "
                          f"{int(np.size(a) - np.isfinite(a).sum())} not finite: give finite weights")
    return a


def _with_threshold(a: np.ndarray, delta: float) -> Ternary:
    keep = np.abs(a) > delta
    t = (np.sign(a) * keep).astype(np.int8)
    alpha = float(np.abs(a[keep]).mean()) if keep.any() else 0.0
    return Ternary(t, alpha, float(delta))


def ternarize(w, *, delta_factor: float = DELTA_FACTOR) -> Ternary:
    """The statistical ternarization of ``w`` (TWN's rule, module docstring)."""
    if not (isinstance(delta_factor, (int, float)) and not isinstance(delta_factor, bool)
            and math.isfinite(delta_factor) and delta_factor >= 0):
        raise ConfigError(f"ternary delta_factor = {delta_factor!r} is not allowed: a finite number "
                          ">= 0 (TWN: 0.7)")
    a = _weights(w)
    return _with_threshold(a, delta_factor * float(np.abs(a).mean()))


def optimal_ternarize(w) -> Ternary:
    """The threshold ternarization with the least ``||w - alpha t||^2`` (module docstring): the
    least over every ``alpha`` and ``t`` when no two ``|w|`` tie at the threshold (a threshold
    cannot split a tie); of equal errors the one with the fewest non-zeros; ``delta`` is the
    largest ``|w|`` left out (0 when all are kept)."""
    a = _weights(w)
    mags = np.sort(np.abs(a).ravel())[::-1]
    sums = np.cumsum(mags)
    k = np.arange(1, mags.size + 1)
    splits = np.append(mags[:-1] > mags[1:], True)       # the k largest can be cut off here
    best = int(np.argmax(np.where(splits, sums ** 2 / k, -np.inf)))   # first maximum
    return _with_threshold(a, float(mags[best + 1]) if best + 1 < mags.size else 0.0)


def ternary_error(w, tern: Ternary) -> float:
    """``||w - alpha t||^2``."""
    a = _weights(w)
    return float(((a - tern.alpha * tern.t) ** 2).sum())


def cell_pair(t) -> tuple[np.ndarray, np.ndarray]:
    """The two cells of every ternary weight: ``(g_plus, g_minus)``, 0/1 each, never both 1."""
    t = np.asarray(t)
    if not np.isin(t, (-1, 0, 1)).all():
        raise ConfigError("ternary weights must be -1, 0 or +1; got "
                          f"{sorted(set(np.unique(t).tolist()) - {-1, 0, 1})[:5]}")
    return (t == 1).astype(np.int8), (t == -1).astype(np.int8)


def ternary_mvm(x, t) -> tuple[np.ndarray, int, int]:
    """``x @ t`` of ternary ``t`` (rows x cols) by additions and subtractions only: (outputs,
    additions, subtractions). Every column adds the inputs on its ``+1`` cells and subtracts those
    on its ``-1`` cells, so the counts are the non-zero weights of each sign (per input vector)."""
    g_plus, g_minus = cell_pair(t)
    x = np.asarray(x)
    if g_plus.ndim != 2 or x.shape[-1] != g_plus.shape[0]:
        raise ConfigError(f"ternary_mvm: inputs of {x.shape[-1] if x.ndim else 0} values against "
                          f"{g_plus.shape[0] if g_plus.ndim else 0} weight rows")
    vectors = int(np.prod(x.shape[:-1], dtype=np.int64))
    y = x @ g_plus - x @ g_minus
    return y, vectors * int(g_plus.sum()), vectors * int(g_minus.sum())
