"""PANTHER outer-product accumulate (OPA) on update slices, and carry resolution (CRS).

The update copy of a block keeps a wide weight of ``W = update_slices * bits_per_cell`` bits,
stored with an offset of ``2**(W-1)`` as base-``2**bits_per_cell`` digits, one digit per update
slice array (LSB slice first). Each update-slice cell has ``slice_bits[m]`` bits of range: its
nominal digit (0 .. 2**bits_per_cell - 1) sits at a bias of ``(2**slice_bits[m] -
2**bits_per_cell) // 2`` so that it can move both ways until carries are resolved.

OPA of a row vector ``x`` (R) and column vector ``d`` (C), both signed integers:

- ``|x|`` is applied on the rows one bit per step (``input_bits`` steps, LSB first);
- at step ``j`` the column value ``(|d| << j) >> opa_shift`` is split into ``bits_per_cell``-wide
  pieces; piece ``m`` drives the columns of update slice ``m`` (a pulse of that width);
- signs are applied in four polarity phases (row sign, column sign) = (+,+), (+,-), (-,+),
  (-,-): a phase drives only rows and columns of its signs, and potentiates when the signs agree,
  depresses otherwise;
- each cell moves by ``x_bit * piece`` per step and saturates at 0 and ``2**slice_bits - 1``.

Composing the slices with weights ``2**(bits_per_cell * m)`` therefore adds exactly ``x (x) d``
(the outer product) to the wide weight when ``opa_shift`` is 0 and no cell saturates.

CRS reads every slice, composes the wide weight, rounds it to the ``weight_bits`` format
(``W - weight_bits`` low bits dropped, round half up, saturating), and re-slices the wide weight
into clean digits; the caller writes the returned weights into the forward and backward arrays.

Non-ideal updates (all off by default): ``c2c_sigma`` spreads each cell's pulse count per OPA;
``ltp_nonlinearity`` / ``ltd_nonlinearity`` bend the pulse-to-conductance curve (NeuroSim's
exponential form); ``update_levels`` quantizes the reachable conductance states.
"""

from __future__ import annotations

import numpy as np

from crosstrain.golden import encoding
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.events import Events

PHASES = ((1, 1), (1, -1), (-1, 1), (-1, -1))   # (row sign, column sign), in drive order
_CHUNK_CELLS = 1 << 21      # OPA pulses computed at once (cells x OPAs), to bound memory


def opa_drive(x: np.ndarray, d: np.ndarray, cfg: HardwareConfig):
    """What one OPA drives, step by step and phase by phase.

    Returns ``(rows, pieces)``: ``rows`` bool of shape (J, 4, R), the rows driven at step ``j``
    in phase ``k`` (see :data:`PHASES`); ``pieces`` uint8 of shape (J, 4, M, C), the pulse width
    on each column of each update slice.
    """
    p, b = cfg.precision, cfg.device.bits_per_cell
    x = encoding.check_range("OPA row input", x, p.input_bits)
    d = encoding.check_range("OPA column input", d, p.error_bits)
    n_steps, n_slices = p.input_bits, p.update_slices
    ax, ad = np.abs(x), np.abs(d)
    xbits = ((ax[None, :] >> np.arange(n_steps)[:, None]) & 1).astype(bool)          # (J, R)
    v = (ad[None, :] << np.arange(n_steps)[:, None]) >> p.opa_shift                  # (J, C)
    pieces = encoding.slice_unsigned(v, n_slices, b).transpose(1, 0, 2)               # (J, M, C)
    xneg, dneg = x < 0, d < 0
    rows = np.stack([xbits & (xneg == (sr < 0)) for sr, _ in PHASES], axis=1)
    colmask = np.stack([dneg == (sc < 0) for _, sc in PHASES])                        # (4, C)
    return rows, pieces[:, None, :, :] * colmask[None, :, None, :]


def opa_pulses(xs: np.ndarray, ds: np.ndarray, cfg: HardwareConfig, group: int = 1) -> np.ndarray:
    """Signed pulses each update-slice cell receives from OPAs, summed over the steps and phases
    of an OPA (what :meth:`UpdateArrays.apply_phases` adds for the :func:`opa_drive` of one row)
    and over each ``group`` of consecutive OPAs: integers of shape (N / group, R, M, C) for
    ``xs`` (N, R) and ``ds`` (N, C) (row before slice: one matmul per group yields them).

    A cell (r, c) is driven in exactly one phase, the one of its signs, so its pulses are
    ``sign(x_r) sign(d_c) sum_j bit_j(|x_r|) piece_m,j(|d_c|)``. The pieces of step ``j`` are
    the digits of ``|d| << (j - opa_shift)``: with ``j - opa_shift = b*t + e`` (``0 <= e < b``),
    digit ``m`` is digit ``m - t`` of ``|d| << e``, so ``b`` digit tables give every step.
    """
    p, b = cfg.precision, cfg.device.bits_per_cell
    xs = encoding.check_range("OPA row input", xs, p.input_bits)
    ds = encoding.check_range("OPA column input", ds, p.error_bits)
    (n, n_rows), n_cols = xs.shape, ds.shape[1]
    n_steps, n_slices, n_groups = p.input_bits, p.update_slices, n // group
    exact = np.float32 if group * n_steps * cfg.cell_max < 1 << 24 else np.float64
    raw = np.abs(xs).astype("<u8").view(np.uint8).reshape(n, n_rows, 8)
    xbits = np.unpackbits(raw, axis=2, bitorder="little")[:, :, :n_steps].astype(exact)  # (N, R, J)
    xbits *= np.where(xs < 0, -1, 1).astype(exact)[:, :, None]
    n_digits = -(-(p.error_bits + b) // b)
    sign = np.where(ds < 0, -1, 1).astype(exact)
    tables = [(encoding.slice_unsigned(np.abs(ds) << e, n_digits, b).astype(exact) * sign)
              .transpose(1, 0, 2) for e in range(b)]                                  # (N, K, C)
    pieces = np.zeros((n, n_steps, n_slices, n_cols), dtype=exact)
    for j in range(n_steps):
        t, e = divmod(j - p.opa_shift, b)
        lo, hi = max(0, t), min(n_slices, n_digits + t)
        if lo < hi:
            pieces[:, j, lo:hi] = tables[e][:, lo - t:hi - t]
    rows = xbits.reshape(n_groups, group, n_rows, n_steps).transpose(0, 2, 1, 3)
    total = np.matmul(rows.reshape(n_groups, n_rows, group * n_steps),
                      pieces.reshape(n_groups, group * n_steps, -1))
    return total.reshape(n_groups, n_rows, n_slices, n_cols)


def carry_resolve(wide: np.ndarray, wide_bits: int, drop: int, weight_bits: int):
    """CRS arithmetic: ``wide`` saturated to ``wide_bits`` signed bits, and the weights it
    rounds to (``drop`` low bits dropped, round half up, saturated to ``weight_bits``)."""
    wide = np.clip(wide, -(1 << (wide_bits - 1)), (1 << (wide_bits - 1)) - 1)
    w = (wide + ((1 << drop) >> 1)) >> drop if drop else wide
    return wide, np.clip(w, -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1)


class UpdateArrays:
    """The PANTHER update copy of one R x C block.

    Parameters
    ----------
    cfg : HardwareConfig
    weights : array of int, shape (R, C)
        Initial weights in the ``weight_bits`` format; the wide weight starts at
        ``weights << (W - weight_bits)``.
    """

    def __init__(self, cfg: HardwareConfig, weights: np.ndarray):
        self.cfg = cfg
        p, b = cfg.precision, cfg.device.bits_per_cell
        self.wide_bits = p.update_slices * b
        self.drop = self.wide_bits - p.weight_bits
        self.cell_top = np.array([(1 << h) - 1 for h in cfg.slice_bits], dtype=np.float64)
        self.bias = np.array([((1 << h) - (1 << b)) // 2 for h in cfg.slice_bits], dtype=np.int64)
        self.events = Events()
        self.rng = np.random.default_rng(cfg.nonideal.seed)
        w = encoding.check_range("weight", weights, p.weight_bits)
        self.write_counts = np.zeros((p.update_slices,) + w.shape, dtype=np.int64)
        self.cells = np.zeros(self.write_counts.shape, dtype=np.float64)
        self._store(w << self.drop)

    def _store(self, wide: np.ndarray) -> None:
        b = self.cfg.device.bits_per_cell
        u = wide + (1 << (self.wide_bits - 1))
        digits = encoding.slice_unsigned(u, self.cfg.precision.update_slices, b).astype(np.int64)
        self.cells = (digits + self.bias[:, None, None]).astype(np.float64)
        self.write_counts += 1
        self.events.cell_writes += self.cells.size
        self.events.rows_written += self.cells.shape[0] * self.cells.shape[1]

    def write_row(self, row: int, weights: np.ndarray) -> None:
        """Program row ``row`` of every slice with ``weights`` (C values in the ``weight_bits``
        format: the wide weight ``weights << (W - weight_bits)``, as at construction); the
        other rows keep their cells."""
        w = encoding.check_range("weight", np.asarray(weights), self.cfg.precision.weight_bits)
        b = self.cfg.device.bits_per_cell
        u = (w << self.drop) + (1 << (self.wide_bits - 1))
        digits = encoding.slice_unsigned(u, self.cfg.precision.update_slices, b).astype(np.int64)
        self.cells[:, row, :] = digits + self.bias[:, None]
        self.write_counts[:, row, :] += 1
        self.events.cell_writes += self.cells.shape[0] * self.cells.shape[2]
        self.events.rows_written += self.cells.shape[0]

    def compose(self) -> np.ndarray:
        """The wide weight the slices hold now (cells read back to the nearest integer level)."""
        b = self.cfg.device.bits_per_cell
        digits = np.rint(self.cells).astype(np.int64) - self.bias[:, None, None]
        scale = np.left_shift(np.int64(1), b * np.arange(len(digits), dtype=np.int64))
        return np.tensordot(scale, digits, axes=(0, 0)) - (1 << (self.wide_bits - 1))

    def opa(self, x: np.ndarray, d: np.ndarray, *, group: int = 1) -> None:
        """Apply the outer products of row inputs ``x`` (R or N x R) and columns ``d`` (C or N x C),
        one OPA per row, in order, as pulse trains of ``group`` consecutive OPAs: each train as
        one :meth:`apply_phases` of all its :func:`opa_drive` phases (the cells saturate once,
        after the train). ``group=1`` (default): every OPA on its own, as the hardware drives
        them; larger groups model the update saturating once per sample or per mini-batch."""
        xs, ds = np.atleast_2d(x), np.atleast_2d(d)
        if xs.shape[0] != ds.shape[0]:
            raise ValueError(f"OPA batch sizes differ: {xs.shape[0]} row vectors, {ds.shape[0]} column vectors")
        if xs.shape[1] != self.cells.shape[1] or ds.shape[1] != self.cells.shape[2]:
            raise ValueError(f"OPA vectors {xs.shape[1]} x {ds.shape[1]} do not match the block "
                             f"{self.cells.shape[1]} x {self.cells.shape[2]}")
        if group < 1 or len(xs) % group:
            raise ValueError(f"OPA group {group} does not divide the {len(xs)} OPAs")
        p, n = self.cfg.precision, self.cfg.nonideal
        ideal = not (n.c2c_sigma or n.ltp_nonlinearity or n.ltd_nonlinearity or n.update_levels)
        m, r, c = self.cells.shape
        rows = group * max(1, _CHUNK_CELLS // (group * max(m * r * c, p.input_bits * m * c)))
        for r0 in range(0, len(xs), rows):
            inc = opa_pulses(xs[r0:r0 + rows], ds[r0:r0 + rows], self.cfg, group)
            self.write_counts += np.count_nonzero(inc, axis=0).transpose(1, 0, 2)
            self.events.opa_phases += len(inc) * group * p.input_bits * len(PHASES) * p.update_slices
            self.events.opa_steps += len(inc) * group * p.input_bits * p.update_slices
            if ideal:
                self._walk(inc, group)
            else:
                for step in inc.transpose(0, 2, 1, 3):
                    self.cells = self._update(self.cells, step.astype(np.float64))

    def _walk(self, inc: np.ndarray, group: int) -> None:
        """Ideal cells through the pulse trains ``inc`` (G, R, M, C) one after another, saturating
        after each (as :meth:`_update`). Where no cell can reach a limit (an OPA moves a cell by
        at most ``input_bits * cell_max`` levels) the trains are summed at once."""
        cells, top = self.cells.transpose(1, 0, 2), self.cell_top[None, :, None]    # (R, M, C)
        room = float(np.minimum(cells, top - cells).min())
        if room // (group * self.cfg.precision.input_bits * self.cfg.cell_max) >= len(inc):
            cells = cells + inc.sum(axis=0, dtype=np.float64)
        else:
            flat = cells.astype(inc.dtype).ravel()
            tops = np.broadcast_to(top, cells.shape).astype(inc.dtype).ravel()
            over, under = np.empty(flat.shape, bool), np.empty(flat.shape, bool)
            for step in inc.reshape(len(inc), -1):
                flat += step
                np.greater(flat, tops, out=over)
                np.less(flat, 0, out=under)
                hits = int(np.count_nonzero(over)) + int(np.count_nonzero(under))
                if hits:
                    self.events.opa_saturated += hits
                    np.clip(flat, 0, tops, out=flat)
            cells = flat.reshape(cells.shape).astype(np.float64)
        self.cells = cells.transpose(1, 0, 2).copy()

    def apply_phases(self, rows: np.ndarray, pieces: np.ndarray, signs: np.ndarray) -> None:
        """Apply the driven phases of one OPA (as :func:`opa_drive` lays them out, flattened over
        steps and phases): ``rows`` bool (P, R), ``pieces`` (P, M, C) pulse widths, ``signs``
        (P,) +1 to potentiate, -1 to depress. Cells saturate once, after the whole OPA."""
        # pulses[m, r, c] = sum over phases of row bit x piece, signed by the phase
        r2 = np.asarray(rows).T.astype(np.float64)                                 # (R, P)
        pc = (np.asarray(pieces, dtype=np.float64)
              * np.asarray(signs, dtype=np.float64)[:, None, None]).reshape(len(signs), -1)  # (P, M*C)
        inc = (r2 @ pc).reshape(r2.shape[0], self.cells.shape[0], -1).transpose(1, 0, 2)
        touched = inc != 0
        self.cells = self._update(self.cells, inc)
        self.write_counts += touched
        self.events.opa_phases += len(signs) * self.cfg.precision.update_slices
        self.events.opa_steps += len(signs) // len(PHASES) * self.cfg.precision.update_slices

    def _update(self, cells: np.ndarray, pulses: np.ndarray) -> np.ndarray:
        n = self.cfg.nonideal
        top = self.cell_top[:, None, None]
        if n.c2c_sigma:
            pulses = pulses * (1.0 + self.rng.normal(0.0, n.c2c_sigma, pulses.shape))
        if n.ltp_nonlinearity or n.ltd_nonlinearity:
            g = cells / top
            up = _curve_step(g, pulses / top, n.ltp_nonlinearity)
            down = 1.0 - _curve_step(1.0 - g, -pulses / top, n.ltd_nonlinearity)
            new = np.where(pulses >= 0, up, down) * top
        else:
            new = cells + pulses
        self.events.opa_saturated += int(np.count_nonzero((new > top) | (new < 0)))
        new = np.clip(new, 0.0, top)
        if n.update_levels:
            q = n.update_levels - 1
            new = np.rint(new / top * q) / q * top
        return new

    def crs(self) -> np.ndarray:
        """Resolve carries: compose, round to ``weight_bits`` (saturating), re-slice. Returns the
        new weights for the forward / backward arrays."""
        wide, w = carry_resolve(self.compose(), self.wide_bits, self.drop,
                                self.cfg.precision.weight_bits)
        self._store(wide)
        self.events.crs_ops += 1
        return w


def _curve_step(g: np.ndarray, dp: np.ndarray, nu: float) -> np.ndarray:
    """Normalized conductance after ``dp`` (fraction of full range) pulses from state ``g``
    on the curve G(P) = (1 - exp(-nu P)) / (1 - exp(-nu)), linear when ``nu`` is 0."""
    if nu == 0:
        return g + dp
    k = 1.0 - np.exp(-nu)
    pos = -np.log(np.clip(1.0 - g * k, 1e-12, None)) / nu
    return (1.0 - np.exp(-nu * np.clip(pos + dp, 0.0, None))) / k
