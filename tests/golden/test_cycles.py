import pytest

from crosstrain.golden import config, cycles


def test_isaac_mvm_schedule_by_hand():
    # ISAAC: 128 columns, 1 ADC per array at 1.28 GS/s = 128 cycles per step; read 100 ns = 128
    # cycles at 1.28 GHz; 16 steps; 2 pipeline cycles after the last code.
    s = cycles.mvm_schedule(config.load("isaac"))
    assert (s.steps, s.read_cycles, s.conv_cycles, s.step_interval) == (16, 128, 128, 128)
    assert s.latency == 128 + 15 * 128 + 128 + 2
    assert s.interval == 16 * 128 and s.adc_utilization == 1.0
    assert s.total(3) == s.latency + 2 * 2048


@pytest.mark.parametrize("adcs", [1, 2, 4, 8, 16, 32, 64, 128])
def test_fewer_shared_adcs_never_faster(adcs):
    c = config.load("panther")
    fewer = cycles.mvm_schedule(c.with_overrides({"converters.adcs_per_array": adcs}))
    if adcs > 1:
        more_sharing = cycles.mvm_schedule(c.with_overrides({"converters.adcs_per_array": adcs // 2}))
        assert more_sharing.latency >= fewer.latency
    assert 0 < fewer.adc_utilization <= 1


def test_panther_mvm_step_is_100_ns():
    # ISAAC's 8-bit ADC converts at 1.28 GS/s, one per array: a 128-column read converts in
    # 100 ns, the 100 ns crossbar read of the next step overlapping (sample-and-hold). One MVM:
    # the first read, 15 more steps, the last step's conversions, 2 register cycles.
    c = config.load("panther")
    s = cycles.mvm_schedule(c)
    assert cycles.cycles_to_seconds(c, s.step_interval) == pytest.approx(100e-9)
    assert cycles.cycles_to_seconds(c, s.latency) == pytest.approx((100 + 15 * 100 + 100) * 1e-9
                                                                   + 2 / 1.28e9)


def test_read_bound_schedule_leaves_adcs_idle():
    c = config.load("panther").with_overrides({"converters.adcs_per_array": 4})   # 32 conv cycles
    s = cycles.mvm_schedule(c)
    # 100 ns read at 1.28 GHz = 128 cycles
    assert s.step_interval == s.read_cycles == 128 and s.adc_utilization == pytest.approx(0.25)


def test_opa_and_crs_by_hand():
    c = config.load("panther")
    # 16 row-bit steps x 4 phases x 20 ns; at 1.28 GHz a 20 ns phase rounds up to 26 cycles
    assert cycles.opa_cycles(c) == 16 * 4 * 26
    read, conv, write, pipe = 128, 128, 110, 2                  # 85.7 ns write: 109.7 -> 110 cycles
    assert cycles.crs_cycles(c) == read + conv + 127 * (read + max(conv, write)) + pipe + write


def test_crs_alternates_reads_and_writes_of_the_update_slices():
    # 4 ADCs: 32 conversions per row, now shorter than a row write; the update slices cannot be
    # read and written at once, so each row costs a drive plus a write
    c = config.load("panther").with_overrides({"converters.adcs_per_array": 4, "crossbar.rows": 3})
    read, conv, write, pipe = 128, 32, 110, 2
    assert cycles.crs_cycles(c) == (read + conv) + 2 * (read + write) + (pipe + write)
    # a compose pipeline deeper than the read drive holds the previous row's write back
    slow = c.with_overrides({"tile.pipeline_cycles": 150})
    assert cycles.crs_cycles(slow) == (read + conv) + 2 * (150 + write) + (150 + write)


def test_transposed_uses_rows():
    c = config.load("panther").with_overrides({"crossbar.rows": 64, "converters.adcs_per_array": 2})
    assert cycles.mvm_schedule(c, transposed=True).conv_cycles == 32
    assert cycles.mvm_schedule(c).conv_cycles == 64


def test_reference_accounting_by_hand():
    # PANTHER's simulator: 100 ns x (16 + 2) stages per MVM, one after another; OPA 4 x 20 ns;
    # PUMA's: 128 ns x 18 (reference sheet s.1); exact nanoseconds, no rounding to cycles
    c = config.load("panther-sim")
    s = cycles.mvm_schedule(c)
    assert cycles.cycles_to_seconds(c, s.latency) == pytest.approx(1800e-9)
    assert s.interval == s.latency and s.total(3) == pytest.approx(3 * s.latency)
    assert cycles.cycles_to_seconds(c, cycles.opa_cycles(c)) == pytest.approx(80e-9)
    assert cycles.opa_phases(c) == 4 and cycles.opa_phases(config.load("panther")) == 64
    p = config.load("puma-sim")
    assert cycles.cycles_to_seconds(p, cycles.mvm_schedule(p).latency) == pytest.approx(2304e-9)
    # the CRS keeps the RTL schedule
    assert cycles.crs_cycles(c) == cycles.crs_cycles(config.load("panther"))


def test_adc_shared_by_arrays_lengthens_conversions():
    # GraphR's example: one ADC for 8 crossbars x 8 bitlines at 1 GS/s is a 64 ns step
    cfg = config.load("graphr")
    s = cycles.mvm_schedule(cfg, arrays_per_adc=8)
    assert (s.read_cycles, s.conv_cycles, s.step_interval) == (30, 64, 64)     # 29.31 ns read
    assert s.latency == 30 + 15 * 64 + 64 + 2 and s.interval == 16 * 64
    assert cycles.mvm_schedule(cfg).conv_cycles == 8
    with pytest.raises(ValueError, match="arrays_per_adc"):
        cycles.mvm_schedule(cfg, arrays_per_adc=0)
