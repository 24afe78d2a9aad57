"""Transposed convolution (ConvTranspose2d) computed three ways, its backward, and its crossbar maps.

Semantics are PyTorch's ``ConvTranspose2d`` without bias, dilation or groups. For an input
``x[n, c, i, j]`` (``in_channels`` x ``height`` x ``width``) and weights ``w[c, o, ky, kx]``
(``in_channels`` x ``out_channels`` x ``kernel`` x ``kernel``)::

    out[n, o, y, x] = sum over c, ky, kx of  x[n, c, (y+p-ky)/s, (x+p-kx)/s] * w[c, o, ky, kx]

over the taps where ``y+p-ky`` and ``x+p-kx`` are divisible by the stride ``s`` and land inside
the input (``p`` = padding). The output is ``(height-1)*s - 2p + kernel + output_padding`` high
(width likewise).

The three formulations, which agree exactly on integer data:

- :func:`zero_insert` (naive): put ``s-1`` zeros between input pixels, pad by ``kernel-1-p``
  (plus ``output_padding`` at the end), and correlate with the flipped kernel. This is what a
  crossbar computes when the zero-inserted map is streamed into its rows: ``naive_inputs @
  naive_matrix``, K*K*in_channels rows per output pixel, most of them zeros for ``s > 1``.
- :func:`scatter`: the definition; every input pixel adds ``x * w[:, :, ky, kx]`` to output
  ``(i*s + ky - p, j*s + kx - p)``.
- :func:`polyphase` (RED / ZARA pixel-wise mapping): the output phase ``((y+p) mod s,
  (x+p) mod s)`` only ever meets the sub-kernel ``w[:, :, ry::s, rx::s]``, so the layer is ``s*s``
  small convolutions over the *original* input, one crossbar group per phase
  (``phase_inputs @ phase_matrix``); no inserted zero is stored or driven.

Phase geometry, per axis (:class:`PhaseAxis`): the output row ``y = s*q + r - p`` of phase ``r``
reads input rows ``q - j`` with sub-kernel taps ``ky = r + s*j``, ``j < taps``; rows outside
the input have no pixel (the address generator reads nothing there; the crossbar row stays idle).

Backward (also through the decomposition): the input gradient is the transposed MVM of each
phase's crossbar group driven with that phase's output errors, scattered back over its window
(:func:`backward_input`; the same thing as an ordinary strided convolution of the error with the
kernel, :func:`backward_input_strided`); the weight gradient of a sub-kernel is the sum over its
phase's windows of window (x) error, an outer-product accumulate (:func:`backward_weight`).

All functions keep the dtype of their operands (integers stay exact) and loop at most over
phases or kernel taps, never over pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from crosstrain.golden.userinput import shown


class DeconvError(ValueError):
    """An impossible transposed-convolution shape; the message names the parameter and the fix."""


@dataclass(frozen=True)
class PhaseAxis:
    """One output phase along one axis.

    ``phase`` is ``r = (y + padding) mod stride``; the phase's outputs are ``y = stride*q + r -
    padding`` for ``q_lo <= q <= q_hi`` and use kernel taps ``r, r+stride, ...`` (``taps`` of
    them). Windows with ``q > q_read_hi`` hold no input pixel (only when ``output_padding >
    padding``); their outputs are zero and no crossbar step is spent on them.
    """

    phase: int
    taps: int
    q_lo: int
    q_hi: int
    q_read_hi: int
    first_out: int          # y of q_lo; the phase's outputs are first_out, first_out + stride, ...
    reads: int              # (window, tap) pairs on an input pixel; a phase reads reads_y * reads_x

    @property
    def count(self) -> int:
        """Outputs of this phase along the axis."""
        return self.q_hi - self.q_lo + 1

    @property
    def read_count(self) -> int:
        """Outputs of this phase along the axis that read at least one input pixel."""
        return max(0, self.q_read_hi - self.q_lo + 1)


@dataclass(frozen=True)
class Phase:
    """One crossbar group of the pixel-wise mapping: the sub-kernel of output phase (y.phase, x.phase)."""

    index: int
    y: PhaseAxis
    x: PhaseAxis

    @property
    def slots(self) -> int:
        """Kernel taps of the sub-kernel; each slot is ``in_channels`` crossbar rows."""
        return self.y.taps * self.x.taps


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DeconvError(f"{name} = {value!r}: must be a positive integer")


@dataclass(frozen=True)
class ConvTranspose:
    """The shape of one transposed-convolution layer; the one parameter object for golden and RTL.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel, stride : int
        Square kernel and stride.
    padding : int
        Rows / columns cropped from each side of the full output; ``>= 0``.
    output_padding : int
        Extra rows / columns at the bottom / right; ``0 <= output_padding < stride``.
    height, width : int
        Input feature-map size.

    Raises :class:`DeconvError` (one line naming the parameter) for negative padding,
    ``output_padding >= stride``, an empty output, or a kernel smaller than the stride that
    leaves gaps: output rows/columns whose phase ``(y + padding) mod stride >= kernel`` meet no
    kernel tap at all (they would be identically zero, a layer no network means to build).
    """

    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    height: int = 1
    width: int = 1

    def __post_init__(self):
        for name in ("in_channels", "out_channels", "kernel", "stride", "height", "width"):
            _positive_int(name, getattr(self, name))
        for name in ("padding", "output_padding"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise DeconvError(f"{name} = {v!r}: must be an integer")
        k, s, p, op = self.kernel, self.stride, self.padding, self.output_padding
        if p < 0:
            raise DeconvError(f"padding = {p} is negative: it crops the full output and must be >= 0")
        if not 0 <= op < s:
            raise DeconvError(f"output_padding = {op} must be >= 0 and < stride ({s}): it only picks "
                              f"one of the {s} output sizes that map back to the same input size")
        axes = (("height", self.height), ("width", self.width))
        for axis, n in axes:
            size = (n - 1) * s + k + op - 2 * p
            if size < 1:
                raise DeconvError(f"padding = {p} leaves no output along {axis}: ({n}-1)*{s} + {k} + "
                                  f"{op} - 2*{p} = {size}; use padding <= {((n - 1) * s + k + op - 1) // 2}")
        for axis, n in axes:
            gaps = _gaps(k, s, p, (n - 1) * s + k + op - 2 * p)
            if gaps:
                raise DeconvError(f"kernel = {k} is smaller than stride = {s}: output {axis} positions "
                                  f"with (index + padding) mod stride in {shown(gaps)} meet no kernel tap "
                                  f"(gaps); use kernel >= stride")

    @classmethod
    def for_output(cls, *, output_size: tuple[int, int], **kwargs) -> "ConvTranspose":
        """The layer whose output is ``output_size``, choosing ``output_padding`` (as PyTorch does)."""
        if "kernel" not in kwargs:
            raise DeconvError("kernel is missing: give kernel (and stride, padding, height, width)")
        s, k, p = kwargs.get("stride", 1), kwargs["kernel"], kwargs.get("padding", 0)
        h, w = kwargs.get("height", 1), kwargs.get("width", 1)
        base = [(n - 1) * s + k - 2 * p for n in (h, w)]
        pads = [want - b for want, b in zip(output_size, base)]
        for axis, b, want in zip(("height", "width"), base, output_size):
            if not b <= want < b + s:
                raise DeconvError(f"output_size {tuple(output_size)} does not match the input: along "
                                  f"{axis} a {k}x{k} stride-{s} padding-{p} transposed conv gives "
                                  f"{b}..{b + s - 1}, not {want}")
        if pads[0] != pads[1]:
            raise DeconvError(f"output_size {tuple(output_size)} needs output_padding {pads[0]} along "
                              f"height but {pads[1]} along width; one output_padding serves both axes")
        return cls(output_padding=pads[0], **kwargs)

    @property
    def out_height(self) -> int:
        return (self.height - 1) * self.stride + self.kernel + self.output_padding - 2 * self.padding

    @property
    def out_width(self) -> int:
        return (self.width - 1) * self.stride + self.kernel + self.output_padding - 2 * self.padding

    def _axis(self, axis: str) -> tuple[int, int]:
        return (self.height, self.out_height) if axis == "y" else (self.width, self.out_width)

    def _phase_axis(self, axis: str, r: int) -> PhaseAxis | None:
        """Phase ``r`` along ``axis``, or None when no output has it."""
        n_in, n_out = self._axis(axis)
        k, s, p = self.kernel, self.stride, self.padding
        q_lo = -((r - p) // s)                    # ceil((p - r) / s), >= 0 since r < s
        q_hi = (n_out - 1 + p - r) // s
        if q_hi < q_lo:
            return None
        taps = len(range(r, k, s))
        q_read_hi = min(q_hi, n_in + taps - 2)
        # window q_lo + u reads tap j at input q_lo + u - j: count u + (taps-1-j) in a range
        first = taps - 1 - q_lo
        reads = tap_hits(max(0, q_read_hi - q_lo + 1), taps, 1, first, first + n_in)
        return PhaseAxis(phase=r, taps=taps, q_lo=q_lo, q_hi=q_hi, q_read_hi=q_read_hi,
                         first_out=s * q_lo + r - p, reads=reads)

    def axis_phases(self, axis: str) -> tuple[PhaseAxis, ...]:
        """The phases present along ``axis`` ("y" or "x"), in order of ``r`` (``stride`` steps)."""
        return tuple(a for a in (self._phase_axis(axis, r) for r in range(self.stride)) if a)

    def axis_phase_classes(self, axis: str) -> tuple[tuple[PhaseAxis, int, int], ...]:
        """The phases along ``axis`` in runs of equal geometry, without visiting every phase.

        Returns ``(first, position, count)`` per run, in order of ``r``: ``first`` is the run's
        first phase, ``position`` its index in :meth:`axis_phases`, and the ``count`` phases
        ``first.phase ..`` all have ``first``'s taps, windows and reads. ``taps``, ``q_lo`` and
        ``q_hi`` are steps in ``r`` (at ``kernel``, ``padding`` and ``out - 1 + padding`` mod
        ``stride``), so there are at most four runs, whatever the stride.
        """
        k, s, p = self.kernel, self.stride, self.padding
        cuts = sorted({0, s, k % s, p % s, (self._axis(axis)[1] - 1 + p) % s + 1})
        out, position = [], 0
        for lo, hi in zip(cuts, cuts[1:]):
            first = self._phase_axis(axis, lo)
            if first:
                out.append((first, position, hi - lo))
                position += hi - lo
        return tuple(out)

    @cached_property
    def phases(self) -> tuple[Phase, ...]:
        """Crossbar groups of the pixel-wise mapping, row-major over (y phase, x phase)."""
        ys, xs = self.axis_phases("y"), self.axis_phases("x")
        return tuple(Phase(index=i * len(xs) + j, y=py, x=px)
                     for i, py in enumerate(ys) for j, px in enumerate(xs))

    def phase_classes(self) -> tuple[tuple[Phase, int], ...]:
        """Crossbar groups of equal geometry: ``(first, count)``, where ``first`` is the class's
        first group (its :attr:`phases` entry) and ``count`` groups share its sub-kernel shape,
        windows and reads. Costs come from these in time independent of the stride."""
        ys, xs = self.axis_phase_classes("y"), self.axis_phase_classes("x")
        n_x = sum(n for _, _, n in xs)
        return tuple((Phase(index=iy * n_x + ix, y=py, x=px), ny * nx)
                     for py, iy, ny in ys for px, ix, nx in xs)

    def as_params(self) -> dict:
        """Plain values (for JSON, cocotb benches); ``ConvTranspose(**spec.as_params())`` rebuilds it."""
        return {k: getattr(self, k) for k in ("in_channels", "out_channels", "kernel", "stride",
                                              "padding", "output_padding", "height", "width")}

    def describe(self) -> str:
        return (f"{self.in_channels}->{self.out_channels} k{self.kernel} s{self.stride} "
                f"p{self.padding}{f' op{self.output_padding}' if self.output_padding else ''} "
                f"{self.height}x{self.width}->{self.out_height}x{self.out_width}")

    # ---- shape checks shared by every function -------------------------------------------
    def check_input(self, x: np.ndarray, name: str = "x") -> np.ndarray:
        return _check_shape(name, x, ("in_channels", "height", "width"),
                            (self.in_channels, self.height, self.width))

    def check_output(self, g: np.ndarray, name: str = "g") -> np.ndarray:
        return _check_shape(name, g, ("out_channels", "out_height", "out_width"),
                            (self.out_channels, self.out_height, self.out_width))

    def check_weight(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w)
        want = (self.in_channels, self.out_channels, self.kernel, self.kernel)
        if w.shape != want:
            raise DeconvError(f"weight has shape {w.shape}, expected (in_channels, out_channels, "
                              f"kernel, kernel) = {want}")
        return w


def _gaps(k: int, s: int, p: int, size: int) -> str:
    """The phases ``(y + p) mod s`` of outputs ``0 <= y < size`` that no tap ``< k`` serves, as
    text ("" for none); in closed form (the outputs' phases are one cyclic run from ``p mod s``)."""
    start, n = p % s, min(size, s)
    runs = [(start, min(s, start + n)), (0, start + n - s)]      # the run, and its wrap-around
    gaps = [(max(lo, k), hi) for lo, hi in runs if max(lo, k) < hi]
    return ", ".join(f"{lo}" if hi == lo + 1 else f"{lo}..{hi - 1}" for lo, hi in sorted(gaps))


def tap_hits(count: int, taps: int, stride: int, lo: int, hi: int) -> int:
    """``#{(i, t): 0 <= i < count, 0 <= t < taps, lo <= i*stride + t < hi}``, in closed form.

    Windows ``i`` at ``stride`` spacing, each ``taps`` wide, against the range ``[lo, hi)``: the
    kernel taps of a convolution that land on real input, or of a transposed convolution that
    land inside the output.
    """
    return _taps_below(count, taps, stride, hi) - _taps_below(count, taps, stride, lo)


def _taps_below(count, taps, stride, x):
    """``#{(i, t): 0 <= i < count, 0 <= t < taps, i*stride + t < x}``: window ``i`` adds
    ``clamp(x - i*stride, 0, taps)``, all ``taps`` for the first ``full`` windows, then
    ``x - i*stride`` (an arithmetic series) up to window ``part``."""
    full = min(count, max(0, (x - taps) // stride + 1))
    part = min(count, max(0, (x - 1) // stride + 1))
    n = part - full
    return full * taps + n * x - stride * ((full + part - 1) * n // 2)


def _check_shape(name, a, labels, want):
    a = np.asarray(a)
    if a.ndim != 4 or a.shape[1:] != want:
        expect = ", ".join(f"{lab}={v}" for lab, v in zip(labels, want))
        raise DeconvError(f"{name} has shape {a.shape}, expected (batch, {expect})")
    return a


def _pad(a: np.ndarray, pads) -> np.ndarray:
    """Pad the last two axes by ``((top, bottom), (left, right))``; negative amounts crop."""
    grow = [(0, 0)] * (a.ndim - 2) + [(max(b, 0), max(e, 0)) for b, e in pads]
    a = np.pad(a, grow)
    (t, b), (lft, r) = pads
    return a[..., max(-t, 0):a.shape[-2] - max(-b, 0), max(-lft, 0):a.shape[-1] - max(-r, 0)]


def _windows(a: np.ndarray, size: tuple[int, int], flip: bool) -> np.ndarray:
    """(N, C, H, W) -> (N, H', W', ka, kb, C) windows; ``flip`` reverses each window."""
    v = sliding_window_view(a, size, axis=(2, 3))
    if flip:
        v = v[..., ::-1, ::-1]
    return v.transpose(0, 2, 3, 4, 5, 1)


def _to_nchw(rows: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, C, H, W)."""
    return np.ascontiguousarray(rows.transpose(0, 3, 1, 2))


# ---- naive: zero insertion + convolution ----------------------------------------------------
def zero_inserted(spec: ConvTranspose, x: np.ndarray) -> np.ndarray:
    """The input with ``stride-1`` zeros between pixels and ``kernel-1-padding`` border zeros."""
    x = spec.check_input(x)
    s, k, p, op = spec.stride, spec.kernel, spec.padding, spec.output_padding
    n, c, h, w = x.shape
    z = np.zeros((n, c, (h - 1) * s + 1, (w - 1) * s + 1), dtype=x.dtype)
    z[..., ::s, ::s] = x
    e = k - 1 - p
    return _pad(z, ((e, e + op), (e, e + op)))


def naive_inputs(spec: ConvTranspose, x: np.ndarray) -> np.ndarray:
    """Crossbar input vectors of the naive mapping: (N, out_h, out_w, kernel*kernel*in_channels).

    Row ``(ky*kernel + kx)*in_channels + c`` of an output pixel's vector is the zero-inserted input
    under kernel tap ``(ky, kx)``.
    """
    z = zero_inserted(spec, x)
    v = _windows(z, (spec.kernel, spec.kernel), flip=True)
    return v.reshape(v.shape[:3] + (-1,))


def naive_matrix(spec: ConvTranspose, w: np.ndarray) -> np.ndarray:
    """The weight matrix the naive mapping stores: (kernel*kernel*in_channels, out_channels)."""
    w = spec.check_weight(w)
    return w.transpose(2, 3, 0, 1).reshape(-1, spec.out_channels)


def zero_insert(spec: ConvTranspose, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The transposed conv as the naive crossbar mapping computes it (zero insertion + conv)."""
    return _to_nchw(naive_inputs(spec, x) @ naive_matrix(spec, w))


# ---- the definition: direct scatter ------------------------------------------------------------
def scatter(spec: ConvTranspose, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The transposed conv by its definition: every input pixel scatters ``x * w`` over ``kernel^2`` outputs."""
    x, w = spec.check_input(x), spec.check_weight(w)
    s, k, p = spec.stride, spec.kernel, spec.padding
    n, _, h, wd = x.shape
    full = np.zeros((n, spec.out_channels, max((h - 1) * s + k, p + spec.out_height),
                     max((wd - 1) * s + k, p + spec.out_width)), dtype=np.result_type(x, w))
    for ky in range(k):
        for kx in range(k):
            contrib = np.tensordot(x, w[:, :, ky, kx], axes=(1, 0))      # (N, H, W, O)
            full[..., ky:ky + (h - 1) * s + 1:s, kx:kx + (wd - 1) * s + 1:s] += _to_nchw(contrib)
    return full[..., p:p + spec.out_height, p:p + spec.out_width]


# ---- the pixel-wise (polyphase) decomposition ---------------------------------------------------
def phase_windows(spec: ConvTranspose, x: np.ndarray, phase: Phase) -> np.ndarray:
    """The windows of one phase group as a view of the padded input (nothing per window is
    copied): (N, q count y, q count x, taps y, taps x, in_channels), ``[.., jy, jx, c]`` of window
    ``(qy, qx)`` being ``x[c, qy-jy, qx-jx]``, or 0 outside the input."""
    x = spec.check_input(x)
    py, px = phase.y, phase.x
    xp = _pad(x, ((py.taps - 1, max(0, py.q_hi - spec.height + 1)),
                  (px.taps - 1, max(0, px.q_hi - spec.width + 1))))
    return _windows(xp, (py.taps, px.taps), flip=True)[:, py.q_lo:py.q_hi + 1, px.q_lo:px.q_hi + 1]


def phase_inputs(spec: ConvTranspose, x: np.ndarray, phase: Phase) -> np.ndarray:
    """Crossbar input vectors of one phase group: (N, q count y, q count x, slots*in_channels).

    Row ``(jy*taps_x + jx)*in_channels + c`` at window ``(qy, qx)`` is ``x[c, qy-jy, qx-jx]``,
    or 0 where that pixel is outside the input (an idle row).
    """
    v = phase_windows(spec, x, phase)
    return v.reshape(v.shape[:3] + (-1,))


def phase_matrix(spec: ConvTranspose, w: np.ndarray, phase: Phase) -> np.ndarray:
    """The sub-kernel ``w[:, :, ry::s, rx::s]`` as its group's weight matrix (slots*in_channels, out_channels)."""
    w = spec.check_weight(w)
    s = spec.stride
    sub = w[:, :, phase.y.phase::s, phase.x.phase::s]
    return sub.transpose(2, 3, 0, 1).reshape(-1, spec.out_channels)


def phase_view(spec: ConvTranspose, a: np.ndarray, phase: Phase) -> np.ndarray:
    """The outputs (or output errors) of one phase: a strided view (N, C, q count y, q count x)."""
    return a[..., phase.y.first_out::spec.stride, phase.x.first_out::spec.stride]


def polyphase(spec: ConvTranspose, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The transposed conv as ``stride^2`` sub-kernel convolutions over the original input."""
    x, w = spec.check_input(x), spec.check_weight(w)
    out = np.zeros((len(x), spec.out_channels, spec.out_height, spec.out_width),
                   dtype=np.result_type(x, w))
    for ph in spec.phases:
        phase_view(spec, out, ph)[...] = _to_nchw(phase_inputs(spec, x, ph) @ phase_matrix(spec, w, ph))
    return out


# ---- backward --------------------------------------------------------------------------------
def backward_input(spec: ConvTranspose, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dL/dx from the output error ``g``, through the decomposition.

    Each phase group runs a transposed MVM (its stored sub-kernel driven from the columns with
    the phase's errors); row ``(jy, jx, c)`` of window ``(qy, qx)`` adds into ``dx[c, qy-jy, qx-jx]``.
    """
    g, w = spec.check_output(g), spec.check_weight(w)
    c = spec.in_channels
    # window q, slot j adds into x row q - j >= -(taps - 1): keep a margin of the largest taps
    my, mx = max(ph.y.taps for ph in spec.phases), max(ph.x.taps for ph in spec.phases)
    qy, qx = max(ph.y.q_hi for ph in spec.phases), max(ph.x.q_hi for ph in spec.phases)
    dx = np.zeros((len(g), c, my + max(qy + 1, spec.height), mx + max(qx + 1, spec.width)),
                  dtype=np.result_type(g, w))
    for ph in spec.phases:
        ty, tx = ph.y.taps, ph.x.taps
        err = phase_view(spec, g, ph).transpose(0, 2, 3, 1)            # (N, Qy, Qx, O)
        rows = (err @ phase_matrix(spec, w, ph).T).reshape(err.shape[:3] + (ty, tx, c))
        for jy in range(ty):
            for jx in range(tx):
                y0, x0 = my + ph.y.q_lo - jy, mx + ph.x.q_lo - jx
                dx[:, :, y0:y0 + ph.y.count, x0:x0 + ph.x.count] += _to_nchw(rows[:, :, :, jy, jx])
    return dx[:, :, my:my + spec.height, mx:mx + spec.width]


def backward_input_strided(spec: ConvTranspose, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dL/dx as an ordinary strided convolution of the error with the kernel (no decomposition)."""
    g, w = spec.check_output(g), spec.check_weight(w)
    p, op, s, k = spec.padding, spec.output_padding, spec.stride, spec.kernel
    gp = _pad(g, ((p, p - op), (p, p - op)))                            # (N, O, (H-1)s+K, ...)
    v = _windows(gp, (k, k), flip=False)[:, ::s, ::s]                   # (N, H, W, K, K, O)
    return _to_nchw(np.tensordot(v, w, axes=([3, 4, 5], [2, 3, 1])))


def backward_weight(spec: ConvTranspose, x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """dL/dw through the decomposition: per phase, the outer-product accumulate of windows and errors."""
    x, g = spec.check_input(x), spec.check_output(g)
    s = spec.stride
    dw = np.zeros((spec.in_channels, spec.out_channels, spec.kernel, spec.kernel),
                  dtype=np.result_type(x, g))
    for ph in spec.phases:
        win = phase_inputs(spec, x, ph)                                  # (N, Qy, Qx, rows)
        err = phase_view(spec, g, ph).transpose(0, 2, 3, 1)             # (N, Qy, Qx, O)
        dm = np.tensordot(win, err, axes=([0, 1, 2], [0, 1, 2]))         # (rows, O)
        sub = dm.reshape(ph.y.taps, ph.x.taps, spec.in_channels, spec.out_channels)
        dw[:, :, ph.y.phase::s, ph.x.phase::s] = sub.transpose(2, 3, 0, 1)
    return dw


# ---- the address sequence of the pixel-wise mapping ---------------------------------------------
READ_FIELDS = ("phase", "slot", "addr", "out", "last")


def read_sequence(spec: ConvTranspose) -> np.ndarray:
    """Every input read of the pixel-wise mapping, in the order the address generator issues them.

    Returns an int64 array of shape (reads, 5) with columns :data:`READ_FIELDS`: the phase group,
    the sub-kernel slot (rows ``slot*in_channels ..``), the input pixel ``iy*width + ix``, the output
    pixel ``y*out_width + x``, and 1 on the last read of a window. Order: phases as
    :attr:`ConvTranspose.phases`, then windows row-major ``(qy, qx)``, then slots row-major
    ``(jy, jx)``; only pixels inside the input are read, windows without one are skipped.
    """
    chunks = []
    for ph in spec.phases:
        py, px = ph.y, ph.x
        if not py.read_count or not px.read_count:
            continue
        qy, qx, jy, jx = np.meshgrid(np.arange(py.q_lo, py.q_read_hi + 1),
                                     np.arange(px.q_lo, px.q_read_hi + 1),
                                     np.arange(py.taps), np.arange(px.taps), indexing="ij")
        iy, ix = qy - jy, qx - jx
        inside = (iy >= 0) & (iy < spec.height) & (ix >= 0) & (ix < spec.width)
        y = spec.stride * qy + py.phase - spec.padding
        x = spec.stride * qx + px.phase - spec.padding
        rows = np.stack([c[inside] for c in (np.full_like(iy, ph.index), jy * px.taps + jx,
                                             iy * spec.width + ix, y * spec.out_width + x)], axis=1)
        last = np.r_[rows[1:, 3] != rows[:-1, 3], True]        # the window's output changes next
        chunks.append(np.column_stack([rows, last]).astype(np.int64))
    return np.concatenate(chunks) if chunks else np.zeros((0, len(READ_FIELDS)), dtype=np.int64)
