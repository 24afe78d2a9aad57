"""How signed fixed-point numbers become cell levels, conductances and DAC steps.

Weights
    A signed ``weight_bits`` integer is stored across ``weight_slices`` arrays of
    ``bits_per_cell`` bits each (slice ``l`` holds bits ``l*b .. l*b+b-1``, LSB slice first).

    - ``offset`` (ISAAC): the stored value is ``w + 2**(weight_bits-1)``, unsigned; the MVM
      subtracts ``2**(weight_bits-1) * sum(x)`` digitally.
    - ``differential``: ``max(w, 0)`` is stored in a positive set of slice arrays and
      ``max(-w, 0)`` in a negative set; the shift-and-add subtracts the negative set.

    Every physical array is described by its levels, a sign (+1/-1) and a shift (bits).

Inputs
    A two's-complement ``input_bits`` integer is applied in ``input_steps`` crossbar steps:
    the low ``input_bits - 1`` bits in ``dac_bits``-wide chunks, LSB chunk first (DAC level =
    chunk value), then one sign step that drives the sign bit with weight ``-2**(input_bits-1)``.
"""

from __future__ import annotations

import numpy as np

from crosstrain.golden.config import HardwareConfig


def check_range(name: str, values: np.ndarray, bits: int) -> np.ndarray:
    """Return ``values`` as int64, or raise ValueError if any is outside signed ``bits``."""
    v = np.asarray(values)
    if v.size and not np.issubdtype(v.dtype, np.integer):
        if not np.all(np.isfinite(v)) or np.any(v != np.round(v)):
            raise ValueError(f"{name} must be integers (fixed-point codes), got dtype {v.dtype}")
    v = v.astype(np.int64, copy=False)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if v.size and (v.min() < lo or v.max() > hi):
        bad = v.min() if v.min() < lo else v.max()
        raise ValueError(f"{name} value {int(bad)} does not fit in {bits} signed bits [{lo}, {hi}]")
    return v


def to_fixed(x, bits: int, frac_bits: int) -> np.ndarray:
    """Real values as signed ``bits``-bit fixed-point codes with ``frac_bits`` fraction bits
    (rounded to nearest, saturated). A negative ``frac_bits`` drops integer bits."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 2.0 ** frac_bits), lo, hi).astype(np.int64)


def weight_offset(cfg: HardwareConfig) -> int:
    """The bias added before slicing (offset encoding) or 0 (differential)."""
    return 1 << (cfg.precision.weight_bits - 1) if cfg.crossbar.encoding == "offset" else 0


def slice_unsigned(u: np.ndarray, n_slices: int, bits: int) -> np.ndarray:
    """Digits of non-negative integers ``u`` in base ``2**bits``: shape (n_slices, *u.shape).
    Works in ``u``'s own integer type (a narrow unsigned ``u`` keeps the temporaries small)."""
    shifts = (np.arange(n_slices) * bits).astype(u.dtype).reshape((-1,) + (1,) * u.ndim)
    return ((u[None] >> shifts) & u.dtype.type((1 << bits) - 1)).astype(np.uint8)


def bit_pattern(x: np.ndarray, bits: int) -> np.ndarray:
    """The two's-complement ``bits``-bit patterns of signed integers ``x``, in the narrowest
    unsigned type that holds them."""
    dtype = np.min_scalar_type((1 << bits) - 1)
    u = np.asarray(x).astype(dtype)                       # wraps modulo 2**(8 * itemsize)
    return u if bits == 8 * dtype.itemsize else u & dtype.type((1 << bits) - 1)


def slice_weights(w: np.ndarray, cfg: HardwareConfig):
    """Levels of every physical array holding the signed integer matrix ``w`` (R x C).

    Returns ``(levels, sign, shift)``: levels of shape (A, R, C) in 0..cell_max, and per array a
    sign (+1 / -1) and a shift in bits, so that ``w == sum_a sign[a] * levels[a] << shift[a]
    - weight_offset(cfg)``.
    """
    w = check_range("weight", w, cfg.precision.weight_bits)
    b, n = cfg.device.bits_per_cell, cfg.weight_slices
    shift = np.arange(n, dtype=np.int64) * b
    if cfg.crossbar.encoding == "offset":
        return slice_unsigned(w + weight_offset(cfg), n, b), np.ones(n, np.int64), shift
    levels = np.concatenate([slice_unsigned(np.maximum(w, 0), n, b),
                             slice_unsigned(np.maximum(-w, 0), n, b)])
    return levels, np.repeat(np.array([1, -1], np.int64), n), np.concatenate([shift, shift])


def compose_weights(levels, sign, shift, cfg: HardwareConfig) -> np.ndarray:
    """Inverse of :func:`slice_weights` for integer levels."""
    lv = np.asarray(levels, dtype=np.int64)
    total = np.tensordot(sign << shift, lv, axes=(0, 0))
    return total - weight_offset(cfg)


def levels_to_conductance(levels, cfg: HardwareConfig) -> np.ndarray:
    """Conductance in microsiemens of each level, evenly spaced from g_off to g_on."""
    d = cfg.device
    return d.g_off_us + np.asarray(levels, dtype=np.float64) / cfg.cell_max * (d.g_on_us - d.g_off_us)


def conductance_to_levels(g, cfg: HardwareConfig) -> np.ndarray:
    """Inverse of :func:`levels_to_conductance` (continuous, no rounding)."""
    d = cfg.device
    return (np.asarray(g, dtype=np.float64) - d.g_off_us) / (d.g_on_us - d.g_off_us) * cfg.cell_max


def step_coefficients(cfg: HardwareConfig) -> np.ndarray:
    """Weight of each input step in the shift-and-add (the last one, the sign step, negative)."""
    n, d = cfg.precision.input_bits, cfg.converters.dac_bits
    mag = [1 << (k * d) for k in range(cfg.input_steps - 1)]
    return np.array(mag + [-(1 << (n - 1))], dtype=np.int64)


def input_steps(x: np.ndarray, cfg: HardwareConfig):
    """DAC levels of every step for the signed integer inputs ``x`` (N x R).

    Returns ``(steps, coef)``: steps of shape (S, N, R) (uint8 DAC levels) and the int64 step
    coefficients, so that ``x == sum_s coef[s] * steps[s]``.
    """
    n, d = cfg.precision.input_bits, cfg.converters.dac_bits
    u = bit_pattern(check_range("input", x, n), n)
    low = u & u.dtype.type((1 << (n - 1)) - 1)
    mag = slice_unsigned(low, cfg.input_steps - 1, d)
    sign = (u >> u.dtype.type(n - 1)).astype(np.uint8)[None]
    return np.concatenate([mag, sign]), step_coefficients(cfg)


def step_bits(cfg: HardwareConfig) -> list[tuple[int, int]]:
    """``(lowest bit, width)`` of the input bit pattern that each step drives: ``dac_bits``-wide
    chunks of the low ``input_bits - 1`` bits, LSB first, then the sign bit."""
    n, d = cfg.precision.input_bits, cfg.converters.dac_bits
    return [(lo, min(d, n - 1 - lo)) for lo in range(0, n - 1, d)] + [(n - 1, 1)]
