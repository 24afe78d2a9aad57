"""A programmed crossbar block: stored conductances with device non-idealities and wear.

:class:`ProgrammedArray` holds one logical weight matrix over its physical slice arrays. It
adds to the ideal model of :mod:`crosstrain.golden.crossbar` what a real device does, each effect off by
default and drawn from one seeded generator (``nonideal.seed``) so runs are reproducible:

- ``d2d_sigma``: a fixed per-cell lognormal factor on the conductance range (drawn once);
- ``stuck_on_fraction`` / ``stuck_off_fraction``: cells fixed at g_on / g_off (drawn once);
- ``program_sigma``: Gaussian error of every programmed conductance (each write);
- ``read_sigma``: Gaussian noise of every cell on every read step (aggregated per column).

Levels are relative to g_off: the g_off baseline current of each column is assumed removed by
a reference column. Every write increments a per-cell counter (``write_counts``) used for
endurance.
"""

from __future__ import annotations

import numpy as np

from crosstrain.golden import encoding
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.crossbar import sliced_mvm
from crosstrain.golden.events import Events


class ProgrammedArray:
    """Weights stored in crossbars; MVM and transposed MVM through what was really programmed.

    Parameters
    ----------
    cfg : HardwareConfig
    weights : array of int, shape (R, C)
        Signed fixed-point weight codes (``precision.weight_bits``).
    """

    def __init__(self, cfg: HardwareConfig, weights: np.ndarray):
        self.cfg = cfg
        self.events = Events()
        self.rng = np.random.default_rng(cfg.nonideal.seed)
        w = encoding.check_range("weight", weights, cfg.precision.weight_bits)
        if w.ndim != 2:
            raise ValueError(f"weights must be a 2-D matrix, got shape {w.shape}")
        levels, self.sign, self.shift = encoding.slice_weights(w, cfg)
        n = cfg.nonideal
        self._d2d = (np.exp(self.rng.normal(0.0, n.d2d_sigma, levels.shape)) if n.d2d_sigma
                     else None)
        u = self.rng.random(levels.shape) if (n.stuck_on_fraction or n.stuck_off_fraction) else None
        self._stuck_on = None if u is None else u < n.stuck_on_fraction
        self._stuck_off = None if u is None else (u >= n.stuck_on_fraction) & (
            u < n.stuck_on_fraction + n.stuck_off_fraction)
        self.write_counts = np.zeros(levels.shape, dtype=np.int64)
        self.target = np.zeros_like(levels)
        self.levels = np.zeros(levels.shape, dtype=np.float64)
        self.program(w)

    @property
    def ideal(self) -> bool:
        """True when the stored levels are exactly the targets (no device effect enabled)."""
        n = self.cfg.nonideal
        return not (n.d2d_sigma or n.program_sigma or n.stuck_on_fraction or n.stuck_off_fraction)

    @property
    def weights(self) -> np.ndarray:
        """The signed weights the targets encode."""
        return encoding.compose_weights(self.target, self.sign, self.shift, self.cfg)

    def program(self, weights: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Write ``weights`` (R x C); with ``mask`` (R x C bool), only the weights where it is True.

        Every slice cell of a written weight counts as one cell write; each (array, row) with any
        written cell counts as one row programming operation.
        """
        w = encoding.check_range("weight", weights, self.cfg.precision.weight_bits)
        if w.shape != self.target.shape[1:]:
            raise ValueError(f"weights shape {w.shape} does not match the programmed block "
                             f"{self.target.shape[1:]}")
        new, _, _ = encoding.slice_weights(w, self.cfg)
        sel = np.ones(new.shape, bool) if mask is None else np.broadcast_to(mask, new.shape)
        self.target = np.where(sel, new, self.target)
        g = self.target.astype(np.float64)
        n, top = self.cfg.nonideal, self.cfg.cell_max
        if self._d2d is not None:
            g = g * self._d2d
        if n.program_sigma:
            g = g + self.rng.normal(0.0, n.program_sigma * top, g.shape)
        g = np.clip(g, 0.0, top)
        if self._stuck_on is not None:
            g = np.where(self._stuck_on, float(top), np.where(self._stuck_off, 0.0, g))
        self.levels = np.where(sel, g, self.levels)
        self.write_counts += sel
        self.events.cell_writes += int(sel.sum())
        self.events.rows_written += int(sel.any(axis=2).sum())

    def mvm(self, x: np.ndarray, *, transposed: bool = False, events: Events | None = None) -> np.ndarray:
        """MVM (``x @ W``) or transposed MVM (``x @ W.T``) through the stored conductances; its
        events go to ``events`` (default: the array's own)."""
        return sliced_mvm(self.levels, self.sign, self.shift, x, self.cfg, transposed=transposed,
                          events=self.events if events is None else events, read_rng=self.rng,
                          integer_levels=self.ideal)

    def mvm_t(self, x: np.ndarray) -> np.ndarray:
        return self.mvm(x, transposed=True)

    def conductance_us(self) -> np.ndarray:
        """Programmed conductances (microsiemens) of every cell, shape (A, R, C)."""
        return encoding.levels_to_conductance(self.levels, self.cfg)
