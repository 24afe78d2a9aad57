"""Cycle model of the crossbar periphery's MVM / transposed MVM / OPA / CRS schedules.

Cycles are periphery clock cycles (``tile.clock_ghz``); one ADC finishes one conversion per
cycle. The RTL in ``rtl/`` is checked against these formulas exactly, and the roll-up uses them
at scale, so they are the single statement of the schedule:

MVM (one logical rows x cols block; all its slice arrays work in parallel, each with its own
``adcs_per_array`` ADCs):

- each of the ``input_steps`` steps drives the rows for ``read_cycles`` cycles, then samples
  the columns (sample-and-hold); the ADCs convert the sampled step in ``conv_cycles`` =
  ceil(columns / adcs_per_array) cycles while the next step is already being driven;
- so a new step starts every ``step_interval`` = max(read_cycles, conv_cycles) cycles;
- the output vector is valid ``pipeline_cycles`` after the last conversion (the ADC presents a
  conversion's codes registered, in the next cycle: that register is the first of the
  ``pipeline_cycles``, here and in CRS):
  ``latency = read_cycles + (steps - 1) * step_interval + conv_cycles + pipeline_cycles``;
- back to back, a new MVM starts every ``steps * step_interval`` cycles, so ADC utilization in
  steady state is ``conv_cycles / step_interval``.

The transposed MVM is the same schedule with rows and columns exchanged (columns driven, rows
converted). When ``arrays_per_adc`` arrays share their converters (GraphR's graph engines: one
ADC for several crossbars), a step's conversions take ``arrays_per_adc`` times as long:
``conv_cycles`` = ceil(lines x arrays_per_adc / adcs_per_array).

OPA (PANTHER): ``input_bits`` row-bit steps x 4 polarity phases, each ``opa_phase_cycles``;
the driver takes the next OPA's vectors in the last cycle of the last phase, so back-to-back
OPAs start every ``opa_cycles`` cycles.

CRS (carry resolution of one block): the update slices are read row by row (a one-hot row drive
for ``read_cycles``, sampled into the column sample-and-holds, then ``conv_cycles`` of
conversions), each column composed as its codes arrive (``pipeline_cycles`` from the conversion,
the ADC's output register included, as for MVM), and the
row written back: clean digits to the update slices and the new levels to the forward and
backward copies, all arrays at once, for ``write_row_cycles``. An array cannot be read and
written at the same time, so the update slices alternate: drive row ``r``, then write row
``r - 1`` while the ADCs convert row ``r`` from the sample-and-holds. A row's write also waits
for its last column to leave the compose pipeline. Slot by slot:

- row 0: ``read_cycles + conv_cycles``;
- rows 1 .. rows-1: ``max(read_cycles, pipeline_cycles) + max(conv_cycles, write_row_cycles)``;
- the last write: ``pipeline_cycles + write_row_cycles``.

The tile's ends (:class:`crosstrain.rtl.tile.Tile`, timed by ``golden/interpreter.py``): an MVM's
output enters the unit's output register one cycle after the schedule's ``latency``
(:data:`OUTPUT_REGISTER_CYCLES`); the STORE that takes it reads it there and writes the tile's
buffer in the next cycle (:data:`STORE_CYCLES`); an OPA, CRS or row write is finished one cycle
after its schedule (:data:`FINISH_CYCLES`, the unit's done register). So a stream of MVMs whose
outputs are stored takes :func:`stream_end_cycles` more than ``total(n)``, and a stretch of OPAs or
a CRS :func:`finish_cycles` more than its schedule; the roll-up charges both (reference accounting:
neither, as the simulators it reproduces do not).

Graph streamer (:class:`crosstrain.rtl.graph_streamer.GraphStreamer`, GraphR's sub-block
streamer on one graph-engine crossbar): each non-empty block in turn takes one cycle to read its
header, one per edge to read its edges into the block register plus one for the last, ``rows x
write_row_cycles`` to program the crossbar row by row, one cycle to hand the source values to
the MVM unit and ``latency`` (MVM) until its output is taken; the next block's header is read
in the next cycle (:func:`graph_stream_cycles`).

Reference accounting (``tile.accounting = "reference"``; presets ``panther-sim``, ``puma-sim``):
not a schedule the RTL runs but the way PANTHER's and PUMA's simulators charge time, for putting
our numbers beside theirs. A stage lasts max(read, conversions) = ``step_interval``, in exact
nanoseconds (no rounding to whole cycles, so results may be fractional cycles); an MVM takes
``(input_steps + reference_stages)`` stages and the next starts only when it is done (every
instruction charged its full latency); an OPA takes its 4 polarity phases whatever the bit count
(``4 * opa_phase_ns``). CRS and row writes keep the RTL schedule. The RTL refuses such a
configuration (crosstrain.golden.periphery).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from crosstrain.golden.config import HardwareConfig
from crosstrain.golden.write_elim import ComparatorParams


OUTPUT_REGISTER_CYCLES = 1
STORE_CYCLES = 2
FINISH_CYCLES = 1


def stream_end_cycles(cfg: HardwareConfig) -> int:
    """Cycles after ``MvmSchedule.total(n)`` until the last output of a stream of MVMs is stored
    in the tile's buffer (module docstring); 0 under reference accounting."""
    return 0 if cfg.tile.accounting == "reference" else OUTPUT_REGISTER_CYCLES + STORE_CYCLES


def finish_cycles(cfg: HardwareConfig) -> int:
    """Cycles after the schedule of a stretch of OPAs, a CRS or a row write until the unit has
    finished it (module docstring); 0 under reference accounting."""
    return 0 if cfg.tile.accounting == "reference" else FINISH_CYCLES


def ns_to_cycles(cfg: HardwareConfig, ns: float) -> int:
    """Whole periphery cycles covering ``ns`` nanoseconds (at least one)."""
    return max(1, math.ceil(ns * cfg.tile.clock_ghz - 1e-9))


@dataclass(frozen=True)
class MvmSchedule:
    steps: int
    read_cycles: int
    conv_cycles: int
    step_interval: int
    latency: int              # input accepted -> output vector valid, one MVM alone
    interval: int             # cycles between starts of back-to-back MVMs
    adc_utilization: float    # steady-state fraction of ADC-cycles converting

    def total(self, n: int) -> int:
        """Cycles for ``n`` back-to-back MVMs, first input to last output."""
        return 0 if n <= 0 else self.latency + (n - 1) * self.interval


def mvm_schedule(cfg: HardwareConfig, *, transposed: bool = False, arrays_per_adc: int = 1) -> MvmSchedule:
    if arrays_per_adc < 1:
        raise ValueError(f"arrays_per_adc must be a positive integer, not {arrays_per_adc!r}")
    lines = cfg.crossbar.rows if transposed else cfg.crossbar.cols
    steps = cfg.input_steps
    read = ns_to_cycles(cfg, cfg.crossbar.read_latency_ns)
    conv = math.ceil(lines * arrays_per_adc / cfg.converters.adcs_per_array)
    if cfg.tile.accounting == "reference":
        stage = max(cfg.crossbar.read_latency_ns * cfg.tile.clock_ghz, conv)
        total = (steps + cfg.tile.reference_stages) * stage
        return MvmSchedule(steps=steps, read_cycles=read, conv_cycles=conv, step_interval=stage,
                           latency=total, interval=total, adc_utilization=conv / stage)
    step_interval = max(read, conv)
    latency = read + (steps - 1) * step_interval + conv + cfg.tile.pipeline_cycles
    return MvmSchedule(steps=steps, read_cycles=read, conv_cycles=conv, step_interval=step_interval,
                       latency=latency, interval=steps * step_interval,
                       adc_utilization=conv / step_interval)


def opa_phase_cycles(cfg: HardwareConfig) -> int:
    return ns_to_cycles(cfg, cfg.tile.opa_phase_ns)


def opa_phases(cfg: HardwareConfig) -> int:
    """Polarity phases one OPA drives in turn: every row-bit step's 4 (reference accounting: 4)."""
    return 4 if cfg.tile.accounting == "reference" else cfg.precision.input_bits * 4


def opa_cycles(cfg: HardwareConfig) -> int:
    """One outer-product update of a block: every row-bit step in four polarity phases; also
    the interval between back-to-back OPAs. Reference accounting: the 4 phases, in exact ns."""
    if cfg.tile.accounting == "reference":
        return opa_phases(cfg) * cfg.tile.opa_phase_ns * cfg.tile.clock_ghz
    return opa_phases(cfg) * opa_phase_cycles(cfg)


def write_row_cycles(cfg: HardwareConfig) -> int:
    return ns_to_cycles(cfg, cfg.device.write_latency_ns)


def crs_cycles(cfg: HardwareConfig) -> int:
    """One carry resolution of a block (read, compose, re-slice, write): see the module
    docstring for the schedule."""
    s = mvm_schedule(cfg)
    read, conv, pipe = s.read_cycles, s.conv_cycles, cfg.tile.pipeline_cycles
    write = write_row_cycles(cfg)
    slot = max(read, pipe) + max(conv, write)
    return read + conv + (cfg.crossbar.rows - 1) * slot + pipe + write


def graph_stream_cycles(cfg: HardwareConfig, edges_per_block) -> int:
    """Cycles of the graph streamer over non-empty blocks holding ``edges_per_block`` edges each,
    from the cycle ``start`` is seen to the cycle the last block's output is taken (output always
    ready): per block ``edges + 3 + rows * write_row_cycles + latency`` (module docstring)."""
    n = [int(k) for k in edges_per_block]
    per_block = 3 + cfg.crossbar.rows * write_row_cycles(cfg) + mvm_schedule(cfg).latency
    return sum(n) + len(n) * per_block


def cycles_to_seconds(cfg: HardwareConfig, cycles: int | float) -> float:
    return cycles / (cfg.tile.clock_ghz * 1e9)


def comparator_latency(p: ComparatorParams) -> int:
    """Cycles from a beat accepted by the write-elimination comparator
    (:class:`crosstrain.rtl.write_elim.WriteEliminator`) to its result valid, with the result
    always taken: one per register stage (``p.stages``). Back to back, one beat per cycle."""
    return p.stages


def level_sum_stages(cfg: HardwareConfig) -> int:
    """Register stages of the ADC sequencer's sum of a step's drive levels (the offset-encoding
    correction of :class:`crosstrain.rtl.adc_sequencer.AdcSequencer`). The sum is taken at the
    step's sample, ``read_cycles - 1`` cycles after the step's levels are first driven, so up to
    that many stages cost no cycle: the schedule above does not change. One stage per two adder
    levels of the ``max(rows, cols)``-input tree is enough (panther: 3 stages of its 7 levels,
    under 128 read cycles)."""
    levels = (max(cfg.crossbar.rows, cfg.crossbar.cols) - 1).bit_length()
    return max(0, min(-(-levels // 2) - 1, mvm_schedule(cfg).read_cycles - 1))
