"""What the analog crossbar and its converters compute: bit-sliced MVM and transposed MVM.

One MVM of signed integer inputs ``x`` (N x R) through a signed integer weight matrix ``w``
(R x C) proceeds as the hardware does:

1. ``w`` is sliced over physical arrays (:func:`crosstrain.golden.encoding.slice_weights`); ``x`` is
   applied in ``input_steps`` DAC steps (:func:`crosstrain.golden.encoding.input_steps`). Logical
   matrices taller than the array (R > rows) use several arrays whose results add digitally.
2. Each step, each array's columns sum ``DAC level x cell level`` over the driven rows
   (:func:`column_sums`), optionally with device non-idealities.
3. The ADC converts each column sum to ``clip(rint(sum / adc_lsb), 0, 2**adc_bits - 1)``
   (:func:`adc`).
4. The shift-and-add weights each code by its step coefficient (the sign step negative) and its
   array's ``sign * 2**shift``, sums, scales by ``adc_lsb``, and removes the offset bias
   (``2**(weight_bits-1) * sum(x)``) in offset encoding.

With ``adc_lsb = 1``, no read noise and integer levels, the result is an exact int64; when, in
addition, no column sum can exceed the ADC's top code, it equals ``x @ w`` exactly, and
:func:`mvm` then takes a fast path (one matmul) after proving that no conversion can clip.
The transposed MVM drives the columns and converts the rows of the same arrays.
"""

from __future__ import annotations

import math

import numpy as np

from crosstrain.golden import encoding
from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.events import Events

_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53


def column_sums(levels: np.ndarray, drive: np.ndarray) -> np.ndarray:
    """Analog column sums ``sum_r drive[..., r] * levels[a, r, c]`` of shape (..., A, C)."""
    lv = np.asarray(levels)
    return np.tensordot(np.asarray(drive, dtype=np.float64), lv.astype(np.float64), axes=([-1], [1]))


def adc(sums: np.ndarray, cfg: HardwareConfig) -> np.ndarray:
    """ADC codes (int64) of analog sums: round to the nearest code, clip to the converter range."""
    return np.clip(np.rint(np.asarray(sums, dtype=np.float64) / cfg.converters.adc_lsb),
                   0, cfg.adc_max_code).astype(np.int64)


def _adc_inplace(p: np.ndarray, cfg: HardwareConfig, events: Events, *, integer: bool) -> None:
    """Convert column sums in place; ``integer`` sums (ideal levels, no noise) need no rounding
    and cannot be negative, so a clean block costs one pass (its maximum)."""
    lsb, top = cfg.converters.adc_lsb, cfg.adc_max_code
    if lsb != 1.0:
        np.divide(p, lsb, out=p)
    if not (integer and lsb == 1.0):
        np.rint(p, out=p)
        np.maximum(p, 0, out=p)
    if p.size and p.max() > top:
        events.adc_clipped += int(np.count_nonzero(p > top))
        np.minimum(p, top, out=p)


def _exact_dtype(bound: float):
    """Smallest float type that holds every integer up to ``bound`` exactly, else int64."""
    if bound < _F32_EXACT:
        return np.float32
    if bound < _F64_EXACT:
        return np.float64
    return np.int64


def sliced_mvm(levels: np.ndarray, sign: np.ndarray, shift: np.ndarray, x: np.ndarray,
               cfg: HardwareConfig, *, transposed: bool = False, events: Events | None = None,
               read_rng: np.random.Generator | None = None, integer_levels: bool = True):
    """Bit-sliced (transposed) MVM through given array levels; see the module docstring.

    ``levels`` (A, R, C) may be non-integer (programmed with non-idealities). Returns int64
    when the result is exact, else float64.
    """
    events = events if events is not None else Events()
    lv = np.swapaxes(levels, 1, 2) if transposed else levels
    n_arr, n_in, n_out = lv.shape
    per_array = cfg.crossbar.cols if transposed else cfg.crossbar.rows
    out_per_array = cfg.crossbar.rows if transposed else cfg.crossbar.cols
    x2 = np.atleast_2d(x)
    _check_length(x2, n_in, transposed)
    steps, coef = encoding.input_steps(x2, cfg)
    n_steps, n_vec = steps.shape[:2]
    lsb = cfg.converters.adc_lsb
    read_sigma = cfg.nonideal.read_sigma * cfg.cell_max
    exact = lsb == 1.0 and read_sigma == 0 and integer_levels
    arr_w = (sign << shift).astype(np.int64)
    z_dtype = _exact_dtype(cfg.adc_max_code * float(np.abs(arr_w).sum()))
    acc = np.zeros((n_vec, n_out), dtype=np.int64)
    col_tiles = math.ceil(n_out / out_per_array)
    for r0 in range(0, n_in, per_array):
        r1 = min(r0 + per_array, n_in)
        drive = steps[:, :, r0:r1].reshape(n_steps * n_vec, r1 - r0).astype(np.float32)
        # (r, C, A): one GEMM gives every array's column sums for every step and vector
        lv2 = np.ascontiguousarray(np.moveaxis(lv[:, r0:r1, :], 0, 2), dtype=np.float32)
        p = drive @ lv2.reshape(r1 - r0, n_out * n_arr)
        if read_sigma:
            rms = np.sqrt(np.square(drive).sum(axis=1, keepdims=True))
            p += (read_rng.standard_normal(p.shape, dtype=np.float32) * read_sigma) * rms
        _adc_inplace(p, cfg, events, integer=integer_levels and not read_sigma)
        z = p.reshape(-1, n_arr).astype(z_dtype, copy=False) @ arr_w.astype(z_dtype)
        z = z.reshape(n_steps, n_vec, n_out).astype(np.int64)
        for s in range(n_steps):
            acc += coef[s] * z[s]
        events.array_steps += n_steps * n_vec * n_arr * col_tiles
        events.dac_conversions += n_steps * n_vec * n_arr * col_tiles * (r1 - r0)
        events.adc_conversions += n_steps * n_vec * n_arr * n_out
        events.shift_adds += n_steps * n_vec * n_arr * n_out
    bias = encoding.weight_offset(cfg) * x2.astype(np.int64).sum(axis=1, keepdims=True)
    y = acc - bias if exact else acc.astype(np.float64) * lsb - bias
    return y if np.ndim(x) > 1 else y[0]


def _check_length(x2: np.ndarray, n_in: int, transposed: bool) -> None:
    if x2.ndim != 2 or x2.shape[-1] != n_in:
        raise ValueError(f"input length {x2.shape[-1]} does not match the matrix's "
                         f"{'columns' if transposed else 'rows'} ({n_in})")


def cannot_clip(levels: np.ndarray, x: np.ndarray, cfg: HardwareConfig, *, transposed=False) -> bool:
    """True when no conversion of this MVM can exceed the ADC's top code (a proof, not a guess).

    First a cheap bound per vector (every non-zero input driving its row at the full DAC level:
    ``dac_max * sum_{r: x_r != 0} max_c levels[a, r, c]``), then, if that is not enough, the
    exact bound of every step ``sum_r drive[r] * max_c levels[a, r, c]``.
    """
    if cfg.adc_never_clips:
        return True
    if cfg.converters.adc_lsb != 1.0:
        return False
    lv = np.swapaxes(levels, 1, 2) if transposed else levels
    per_array = cfg.crossbar.cols if transposed else cfg.crossbar.rows
    x2 = np.atleast_2d(x)
    rowmax = lv.max(axis=2).T.astype(np.float32)             # (R, A)
    dac_max = (1 << cfg.converters.dac_bits) - 1
    tiles = [(r0, min(r0 + per_array, lv.shape[1])) for r0 in range(0, lv.shape[1], per_array)]
    active = (x2 != 0).astype(np.float32)
    if all((active[:, a:b] @ rowmax[a:b]).max(initial=0) * dac_max <= cfg.adc_max_code
           for a, b in tiles):
        return True
    steps, _ = encoding.input_steps(x2, cfg)
    for r0, r1 in tiles:
        d = steps[:, :, r0:r1].reshape(-1, r1 - r0).astype(np.float32)
        if (d @ rowmax[r0:r1]).max(initial=0) > cfg.adc_max_code:
            return False
    return True


def mvm(w: np.ndarray, x: np.ndarray, cfg: HardwareConfig, *, transposed: bool = False,
        events: Events | None = None, fast: bool = True):
    """Ideal bit-sliced MVM ``x @ w`` (or ``x @ w.T`` when ``transposed``) as the hardware computes it.

    ``w`` is a signed integer matrix (R x C), ``x`` signed integer inputs (N x R, or N x C when
    transposed; 1-D for one vector). Event counts are added to ``events``. With ``fast`` and a
    proof that no ADC conversion clips, the result comes from one matmul (same value, same
    events); otherwise every step and slice is simulated.
    """
    w64 = encoding.check_range("weight", w, cfg.precision.weight_bits)
    _check_length(np.atleast_2d(x), w64.shape[0 if not transposed else 1], transposed)
    levels = None if cfg.adc_never_clips else encoding.slice_weights(w64, cfg)
    if fast and (cfg.adc_never_clips or cannot_clip(levels[0], x, cfg, transposed=transposed)):
        x2 = encoding.check_range("input", np.atleast_2d(x), cfg.precision.input_bits)
        bound = 2.0 ** (cfg.precision.input_bits + cfg.precision.weight_bits - 2) * x2.shape[1]
        y = exact_matmul(x2, w64.T if transposed else w64, bound)
        if events is not None:
            events += count_mvm_events(cfg, w64.shape, len(x2), transposed=transposed)
        return y if np.ndim(x) > 1 else y[0]
    return sliced_mvm(*(levels or encoding.slice_weights(w64, cfg)), x, cfg, transposed=transposed,
                      events=events)


def exact_matmul(a: np.ndarray, b: np.ndarray, bound: float) -> np.ndarray:
    """``a @ b`` for integers whose every partial sum is at most ``bound`` in magnitude."""
    if bound < _F64_EXACT:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def count_mvm_events(cfg: HardwareConfig, shape, n_vec: int, *, transposed=False) -> Events:
    """Events of ``n_vec`` MVMs through an R x C logical matrix (same as :func:`sliced_mvm`)."""
    n_rows, n_cols = shape
    n_in, n_out = (n_cols, n_rows) if transposed else (n_rows, n_cols)
    per_array = cfg.crossbar.cols if transposed else cfg.crossbar.rows
    out_per_array = cfg.crossbar.rows if transposed else cfg.crossbar.cols
    n_arr, steps = cfg.arrays_per_block, cfg.input_steps
    tiles_in = math.ceil(n_in / per_array)
    tiles_out = math.ceil(n_out / out_per_array)
    conv = steps * n_vec * n_arr * tiles_in * n_out
    return Events(array_steps=steps * n_vec * n_arr * tiles_in * tiles_out,
                  dac_conversions=steps * n_vec * n_arr * tiles_out * n_in,
                  adc_conversions=conv, shift_adds=conv)
