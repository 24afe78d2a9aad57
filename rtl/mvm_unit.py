"""The bit-sliced MVM / transposed-MVM unit: input streamer, ADC sequencer and shift-and-add
around one crossbar port."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.periphery import check_params
from crosstrain.rtl.adc_sequencer import AdcSequencer, MvmPortSignature
from crosstrain.rtl.input_streamer import InputStreamer, vector_layout
from crosstrain.rtl.shift_add import ShiftAdd, check_pipeline, output_layout


class MvmUnit(wiring.Component):
    """Bit-sliced MVM (``x @ W``) or transposed MVM (``x @ W.T``) of the arrays behind ``xbar``.

    Each input vector is split into DAC steps (:class:`~crosstrain.rtl.input_streamer.InputStreamer`),
    each step driven and sampled on the crossbar and its lines converted by the shared ADCs
    (:class:`~crosstrain.rtl.adc_sequencer.AdcSequencer`), and the codes shifted and added
    (:class:`~crosstrain.rtl.shift_add.ShiftAdd`). The result equals :func:`crosstrain.golden.crossbar.sliced_mvm`
    bit for bit, ADC clipping included.

    Timing (:func:`crosstrain.golden.cycles.mvm_schedule` of the vector's mode, exactly): with the output
    always ready, a vector accepted at clock edge ``e`` is taken from ``o`` at edge ``e +
    latency`` (``o.valid`` rises one cycle earlier); vectors offered back to back are accepted
    every ``interval = input_steps * step_interval`` cycles, and every ADC converts every cycle
    when ``conv_cycles == step_interval`` (panther: utilization 1.0). This holds whenever
    ``step_interval > pipeline_cycles``. With ``skip_zero``, each vector costs one step slot per
    token of :meth:`crosstrain.golden.zeroskip.StepPlan.tokens` (an all-zero vector's ``empty`` token
    included), so a stream of ``T`` tokens takes :func:`crosstrain.golden.zeroskip.stream_cycles` ``(cfg,
    T)`` cycles from the first acceptance to the last output. A stalled output holds the
    final conversion of the next vector (and the sample after it) until it is taken.

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
        ``pipeline_cycles`` must be at least 2.
    skip_zero : bool
        Issue only the steps that drive some line (zero skipping).

    Members
    -------
    i : In(stream.Signature(vector_layout(params)))
        Input vectors ``x`` (signed ``input_bits`` per line) and ``transposed``.
    o : Out(stream.Signature(output_layout(params)))
        Output vectors (signed ``out_width`` per line), in input order.
    xbar : Out(MvmPortSignature(params))
        The crossbar port toward the analog arrays (see
        :class:`crosstrain.rtl.adc_sequencer.MvmPortSignature`).
    """

    def __init__(self, *, params, skip_zero: bool = False):
        self._params = check_params(params)
        check_pipeline(params)
        if not isinstance(skip_zero, bool):
            raise TypeError(f"skip_zero must be a bool, not {skip_zero!r}")
        self._skip_zero = skip_zero
        super().__init__({
            "i": In(stream.Signature(vector_layout(params))),
            "o": Out(stream.Signature(output_layout(params))),
            "xbar": Out(MvmPortSignature(params)),
        })

    @property
    def params(self):
        return self._params

    @property
    def skip_zero(self) -> bool:
        return self._skip_zero

    def elaborate(self, platform):
        m = Module()
        p = self._params
        m.submodules.streamer = streamer = InputStreamer(params=p, skip_zero=self._skip_zero)
        m.submodules.sequencer = sequencer = AdcSequencer(params=p)
        m.submodules.shift_add = shift_add = ShiftAdd(params=p)
        wiring.connect(m, wiring.flipped(self.i), streamer.i)
        wiring.connect(m, streamer.o, sequencer.i)
        wiring.connect(m, sequencer.o, shift_add.i)
        wiring.connect(m, shift_add.o, wiring.flipped(self.o))
        wiring.connect(m, sequencer.xbar, wiring.flipped(self.xbar))
        m.d.comb += sequencer.emitted.eq(self.o.valid & self.o.ready)
        return m
