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
#: Column sums :func:`sliced_mvm` forms per GEMM (a block of drives): 4 MB of float32.
SUMS_BLOCK_VALUES = 1 << 20


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

    Arithmetic is exact for integer levels: the column sums of a row tile are one GEMM in
    float32 when no sum can reach 2**24 (``rows x dac_max x`` the tile's largest level), else
    float64 (exact to 2**53), else int64; the slices and the steps are combined the same way.
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
    dac_max = (1 << cfg.converters.dac_bits) - 1
    arr_w = (sign << shift).astype(np.int64)
    z_bound = cfg.adc_max_code * float(np.abs(arr_w).sum())          # one step's code, all slices
    z_dtype = _exact_dtype(z_bound)
    arr_wz = arr_w.astype(z_dtype)
    # the steps' weighted sum of one tile: exact in float64 up to 2**53, else summed in int64
    by_step = _exact_dtype(z_bound * float(np.abs(coef).sum())) != np.int64
    acc = np.zeros((n_vec, n_out), dtype=np.int64)
    col_tiles = math.ceil(n_out / out_per_array)
    for r0 in range(0, n_in, per_array):
        r1 = min(r0 + per_array, n_in)
        tile = lv[:, r0:r1, :]
        top = float(tile.max(initial=0)) if integer_levels else float(np.abs(tile).max(initial=0))
        sum_dtype = _exact_dtype((r1 - r0) * dac_max * top)
        if sum_dtype == np.int64 and not integer_levels:
            sum_dtype = np.float64                                  # analog values: no exactness to keep
        drive = steps[:, :, r0:r1].reshape(n_steps * n_vec, r1 - r0).astype(sum_dtype)
        # (r, C*A): a GEMM gives every array's column sums for every step and vector; it runs
        # a block of drives at a time so that the ADC and the slices' sum read the block from
        # cache (the whole product is never held)
        lv2 = np.ascontiguousarray(np.moveaxis(tile, 0, 2), dtype=sum_dtype).reshape(r1 - r0, -1)
        z = np.empty((len(drive), n_out), dtype=z_dtype)
        block = max(1, SUMS_BLOCK_VALUES // lv2.shape[1])
        for b0 in range(0, len(drive), block):
            d = drive[b0:b0 + block]
            p = d @ lv2
            if read_sigma:
                rms = np.sqrt(np.square(d).sum(axis=1, keepdims=True))
                p += (read_rng.standard_normal(p.shape, dtype=p.dtype) * read_sigma) * rms
            if p.dtype == np.int64 and lsb != 1.0:
                p = p.astype(np.float64)
            _adc_inplace(p, cfg, events, integer=integer_levels and not read_sigma)
            codes = p.reshape(-1, n_arr).astype(z_dtype, copy=False)
            z[b0:b0 + block] = (codes @ arr_wz).reshape(len(d), n_out)
        z = z.reshape(n_steps, n_vec * n_out)
        if by_step:
            acc += (coef.astype(np.float64) @ z).astype(np.int64).reshape(n_vec, n_out)
        else:
            for s in range(n_steps):
                acc += coef[s] * z[s].astype(np.int64).reshape(n_vec, n_out)
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

    The proof is the bound ``sum_r drive_k[r] * max_c levels[a, r, c] <= top`` for every step
    ``k``, vector and array of every row tile, computed exactly by :func:`_step_sums` against
    the distinct row-maximum vectors of the arrays (usually one: every row has a cell at the
    top level in every array).
    """
    if cfg.adc_never_clips:
        return True
    if cfg.converters.adc_lsb != 1.0:
        return False
    lv = np.swapaxes(levels, 1, 2) if transposed else levels
    per_array = cfg.crossbar.cols if transposed else cfg.crossbar.rows
    u = encoding.bit_pattern(np.atleast_2d(x), cfg.precision.input_bits)
    spans = encoding.step_bits(cfg)
    for r0 in range(0, lv.shape[1], per_array):
        r1 = min(r0 + per_array, lv.shape[1])
        rowmax = lv[:, r0:r1].max(axis=2)                                    # (A, r)
        distinct = rowmax[:1] if (rowmax == rowmax[0]).all() else np.unique(rowmax, axis=0)
        if _step_sums(u[:, r0:r1], distinct.T.astype(np.int64), spans).max(initial=0) > cfg.adc_max_code:
            return False
    return True


def _step_sums(u: np.ndarray, weights: np.ndarray, spans) -> np.ndarray:
    """``sums[k, v, a] = sum_r drive_k(u[v, r]) * weights[r, a]``, exactly, for unsigned input bit
    patterns ``u``, non-negative integer ``weights`` and the steps' bit ``spans`` ((lo, width):
    ``drive_k = (u >> lo) & (2**width - 1)``).

    Steps whose fields lie ``f`` bits apart (``f`` = bits of the largest sum) share one GEMV of
    ``u`` masked to their bits: step ``k``'s sum lands in bits ``lo_k ..`` of the (exact) result.
    So ``input_bits`` 1-bit steps of 128 rows of 2-bit cells take 9 GEMVs, not 16.
    """
    bound = int(weights.sum(axis=0).max(initial=0)) * max((1 << width) - 1 for _, width in spans)
    f = max(1, bound.bit_length())
    groups: list[list[int]] = []                    # step indices; first fit in order of lo
    for k, (lo, _) in enumerate(spans):
        fit = next((g for g in groups if spans[g[-1]][0] + f <= lo), None)
        if fit is None:
            groups.append([k])
        else:
            fit.append(k)
    dtype = _exact_dtype(float(bound * max(sum(1 << spans[k][0] for k in g) for g in groups)))
    w = weights.astype(dtype)
    w = w[:, 0] if w.shape[1] == 1 else w              # one column: a GEMV
    masked = np.empty_like(u)
    values = np.empty((len(groups), len(u), weights.shape[1]), dtype=np.int64)
    for i, g in enumerate(groups):
        mask = sum(((1 << spans[k][1]) - 1) << spans[k][0] for k in g)
        np.bitwise_and(u, u.dtype.type(mask), out=masked)
        values[i] = (masked @ w).reshape(len(u), -1)
    group_of = np.empty(len(spans), dtype=np.intp)
    for i, g in enumerate(groups):
        group_of[g] = i
    lo = np.array([lo for lo, _ in spans], dtype=np.int64)[:, None, None]
    return (values[group_of] >> lo) & ((1 << f) - 1)


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


def block_mvm(w: np.ndarray, x: np.ndarray, cfg: HardwareConfig, *, events: Events | None = None,
              fast: bool = True, chunk: int = 8192) -> np.ndarray:
    """Many small MVMs at once: ``y[b] = x[b] @ w[b]`` for B blocks of one array each.

    ``w`` holds B signed integer matrices (B x R x C) with R <= rows and C <= cols of the array,
    ``x`` one signed integer input vector per block (B x R). Each block is what :func:`mvm`
    computes for it (same slices, steps, ADC and shift-and-add, same events), batched over the
    blocks so that no Python loop runs per block. When no conversion can clip whatever the data
    (``cfg.adc_never_clips``) and ``fast``, the result is the exact products summed (one batched
    contraction); otherwise every step and slice of ``chunk`` blocks at a time is simulated.
    Returns int64 when exact (``adc_lsb`` = 1), else float64.
    """
    events = events if events is not None else Events()
    w64 = encoding.check_range("weight", w, cfg.precision.weight_bits)
    x64 = encoding.check_range("input", x, cfg.precision.input_bits)
    if w64.ndim != 3 or x64.shape != w64.shape[:2]:
        raise ValueError(f"blocks {w64.shape} and inputs {x64.shape} do not match: expected B x R x C "
                         "and B x R")
    n_blk, n_in, n_out = w64.shape
    if n_in > cfg.crossbar.rows or n_out > cfg.crossbar.cols:
        raise ValueError(f"a {n_in} x {n_out} block does not fit one {cfg.crossbar.rows} x "
                         f"{cfg.crossbar.cols} array")
    events += count_mvm_events(cfg, (n_in, n_out), n_blk)
    if fast and cfg.adc_never_clips:
        bound = 2.0 ** (cfg.precision.input_bits + cfg.precision.weight_bits - 2) * n_in
        dt = np.float64 if bound < _F64_EXACT else np.int64
        return np.einsum("br,brc->bc", x64.astype(dt), w64.astype(dt)).astype(np.int64)
    parts = [_sliced_blocks(w64[b:b + chunk], x64[b:b + chunk], cfg, events)
             for b in range(0, n_blk, chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, n_out), np.int64)


def _sliced_blocks(w: np.ndarray, x: np.ndarray, cfg: HardwareConfig, events: Events) -> np.ndarray:
    """Every step and slice of a batch of blocks (see :func:`block_mvm`); only clipping is counted
    here, the other events by the caller."""
    levels, sign, shift = encoding.slice_weights(w, cfg)          # (A, B, R, C)
    steps, coef = encoding.input_steps(x, cfg)                    # (S, B, R)
    p = np.einsum("sbr,abrc->sabc", steps.astype(np.float32), levels.astype(np.float32))
    _adc_inplace(p, cfg, events, integer=True)
    z = np.einsum("sabc,a->sbc", p.astype(np.int64), (sign << shift).astype(np.int64))
    acc = np.einsum("sbc,s->bc", z, coef)
    bias = encoding.weight_offset(cfg) * x.sum(axis=1, keepdims=True)
    if cfg.converters.adc_lsb == 1.0:
        return acc - bias
    return acc.astype(np.float64) * cfg.converters.adc_lsb - bias


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
