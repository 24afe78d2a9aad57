"""Address generator of the pixel-wise (sub-kernel) mapping of a transposed convolution."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.deconv import ConvTranspose


#: Largest stride the generator is built for: its per-phase constants are Mux chains of
#: ``stride`` entries per axis (the built-in layers of crosstrain.rollup.deconv_nets use 1, 2 and 8).
MAX_STRIDE = 64


def _bits(n: int):
    """An unsigned shape holding 0 .. n-1 (at least one bit)."""
    return unsigned(max(1, (n - 1).bit_length()))


def read_layout(spec: ConvTranspose) -> data.StructLayout:
    """Payload of one read; fields as :data:`crosstrain.golden.deconv.READ_FIELDS`."""
    return data.StructLayout({
        "phase": _bits(len(spec.phases)),
        "slot": _bits(max(ph.slots for ph in spec.phases)),
        "addr": _bits(spec.height * spec.width),
        "out": _bits(spec.out_height * spec.out_width),
        "last": 1,
    })


class DeconvAddressGenerator(wiring.Component):
    """Issues, phase by phase, the input pixels each output window of a transposed conv reads.

    For every output phase (one crossbar group holding one sub-kernel) and every output pixel of
    that phase, it streams the addresses of the original input pixels under the sub-kernel's taps,
    skipping taps that fall outside the input. No inserted zero is ever addressed. The sequence is
    exactly :func:`crosstrain.golden.deconv.read_sequence` of the same ``spec``.

    Parameters
    ----------
    spec : crosstrain.golden.deconv.ConvTranspose
        Kernel, stride, padding, output padding and input feature-map size (channels do not
        change the addresses: one address fetches a pixel's ``in_channels`` vector).

    Members
    -------
    start : In(1)
        Pulse while idle to generate the whole layer once; ignored while ``busy``.
    busy : Out(1)
        High from the cycle after ``start`` until the cycle after the last read is accepted.
    o : Out(stream.Signature(read_layout(spec)))
        One read per transfer: ``phase`` (crossbar group), ``slot`` (sub-kernel tap; rows
        ``slot*in_channels ..``), ``addr`` (input pixel ``iy*width + ix``), ``out`` (output pixel
        ``y*out_width + x``), ``last`` (last read of the window: the MVM can start).

    Timing: ``o.valid`` rises the cycle after ``start``; one read is accepted per cycle while
    ``o.ready`` is high, with no bubble between windows or phases, so a layer takes exactly
    ``len(read_sequence(spec))`` cycles of ``o.ready``, plus one cycle after ``start``.
    """

    def __init__(self, *, spec: ConvTranspose):
        if not isinstance(spec, ConvTranspose):
            raise TypeError(f"spec must be a crosstrain.golden.deconv.ConvTranspose, not {spec!r}")
        if spec.stride > MAX_STRIDE:
            raise ValueError(f"stride = {spec.stride} is not allowed in RTL: 1 to {MAX_STRIDE} (each "
                             "output phase along an axis is one entry of the generator's phase tables)")
        self._spec = spec
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "o": Out(stream.Signature(read_layout(spec))),
        })

    @property
    def spec(self) -> ConvTranspose:
        return self._spec

    def elaborate(self, platform):
        m = Module()
        spec = self._spec
        s, p = spec.stride, spec.padding
        n_x_all = len(spec.axis_phases("x"))
        # phases along each axis that read at least one pixel, with their index among all phases
        ys = [(i, a) for i, a in enumerate(spec.axis_phases("y")) if a.read_count]
        xs = [(i, a) for i, a in enumerate(spec.axis_phases("x")) if a.read_count]

        def table(values):
            """Per-phase constants looked up by a Mux chain: continuous assignments, which every
            simulator evaluates at time 0 (Icarus leaves a case block on a never-changing index
            undefined)."""
            def lookup(index):
                out = Const(values[-1], range(max(values) + 1))
                for k in reversed(range(len(values) - 1)):
                    out = Mux(index == k, values[k], out)
                return out
            return lookup

        def columns(items):
            return {"index": table([i for i, _ in items]),
                    "phase": table([a.phase for _, a in items]),
                    "taps": table([a.taps for _, a in items]),
                    "q_lo": table([a.q_lo for _, a in items]),
                    "q_hi": table([a.q_read_hi for _, a in items])}
        ty, tx = columns(ys), columns(xs)

        py = Signal(range(len(ys)))
        px = Signal(range(len(xs)))
        qy = Signal(range(max(a.q_read_hi for _, a in ys) + 1))
        qx = Signal(range(max(a.q_read_hi for _, a in xs) + 1))
        jy = Signal(range(max(a.taps for _, a in ys)))
        jx = Signal(range(max(a.taps for _, a in xs)))
        busy = Signal()

        def j_lo(q, n_in):
            """First tap whose pixel q - j lies inside an input of n_in pixels."""
            return Mux(q >= n_in, q - (n_in - 1), 0)

        def j_hi(q, taps):
            return Mux(q < taps - 1, q, taps - 1)

        jy_hi, jx_hi = j_hi(qy, ty["taps"](py)), j_hi(qx, tx["taps"](px))
        payload = self.o.payload
        m.d.comb += [
            self.busy.eq(busy),
            self.o.valid.eq(busy),
            payload.phase.eq(ty["index"](py) * n_x_all + tx["index"](px)),
            payload.slot.eq(jy * tx["taps"](px) + jx),
            payload.addr.eq((qy - jy) * spec.width + (qx - jx)),
            payload.out.eq((s * qy + ty["phase"](py) - p) * spec.out_width
                           + (s * qx + tx["phase"](px) - p)),
            payload.last.eq((jy == jy_hi) & (jx == jx_hi)),
        ]

        def enter(new_qy, new_qx):
            """Go to window (new_qy, new_qx) at its first in-range tap."""
            m.d.sync += [qy.eq(new_qy), qx.eq(new_qx),
                         jy.eq(j_lo(new_qy, spec.height)), jx.eq(j_lo(new_qx, spec.width))]

        with m.If(busy):
            with m.If(self.o.ready):
                with m.If(jx != jx_hi):
                    m.d.sync += jx.eq(jx + 1)
                with m.Elif(jy != jy_hi):
                    m.d.sync += [jy.eq(jy + 1), jx.eq(j_lo(qx, spec.width))]
                with m.Elif(qx != tx["q_hi"](px)):
                    enter(qy, qx + 1)
                with m.Elif(qy != ty["q_hi"](py)):
                    enter(qy + 1, tx["q_lo"](px))
                with m.Elif(px != len(xs) - 1):
                    m.d.sync += px.eq(px + 1)
                    enter(ty["q_lo"](py), tx["q_lo"](px + 1))
                with m.Elif(py != len(ys) - 1):
                    m.d.sync += [py.eq(py + 1), px.eq(0)]
                    enter(ty["q_lo"](py + 1), tx["q_lo"](0))
                with m.Else():
                    m.d.sync += busy.eq(0)
        with m.Elif(self.start):
            m.d.sync += [busy.eq(1), py.eq(0), px.eq(0)]
            enter(ty["q_lo"](0), tx["q_lo"](0))
        return m
