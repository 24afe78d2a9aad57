"""GPU roofline: a layer costed on paper; the power model's consistency; bad settings."""

import pytest

from crosstrain.rollup.gpu import (
    GpuSettings,
    Kernel,
    core_power_w,
    gpu,
    gpu_cost,
    kernel_time_energy,
    kernels,
)
from crosstrain.rollup.mapper import SettingError
from crosstrain.rollup.networks import NetBuilder


def fc_net():
    b = NetBuilder("fc", (1000, 1, 1))
    b.fc(1000)
    return b.build()


def test_fc_layer_by_hand():
    # RTX 2080 Ti: 13.4 TFLOP/s fp32 at 50 %, 616 GB/s at 80 %, 5 us per kernel, 250 W board
    # less 616 GB/s x 8 bit x 15 pJ/bit = 73.92 W of GDDR6 -> 176.08 W core.
    spec = gpu("rtx2080ti")
    assert core_power_w(spec) == pytest.approx(250 - 73.92)
    c = gpu_cost(fc_net(), spec, batch=100)
    # forward: 2 x 100 x 1e6 FLOPs; bytes (100 x 1000 + 1e6) x 4 read + 100 x 1000 x 4 written
    t_fwd = max(2e8 / 6.7e12, 4.8e6 / 492.8e9) + 5e-6
    assert c.phases["forward"].latency_s == pytest.approx(t_fwd)
    assert c.phases["forward"].energy_j == pytest.approx(176.08 * t_fwd + 4.8e6 * 8 * 15e-12)
    assert c.phases["backward"].latency_s == 0                  # the input needs no error
    # update: 2e6 FLOPs, 3 x 4e6 bytes: memory-bound
    assert c.phases["update"].latency_s == pytest.approx(1.2e7 / 492.8e9 + 5e-6)
    assert c.latency_s == pytest.approx(sum(p.latency_s for p in c.phases.values()))


def test_a_memory_bound_kernel_draws_the_board_power():
    spec, s = gpu("v100"), GpuSettings(bandwidth_efficiency=1.0, kernel_overhead_s=0.0)
    t, e = kernel_time_energy(Kernel("k", "forward", 0.0, 1e9, 0.0), spec, s)
    assert t == pytest.approx(1e9 / 900e9)
    assert sum(e.values()) / t == pytest.approx(spec.board_power_w)


def test_kernels_skip_the_first_layers_backward_and_count_pool_traffic():
    b = NetBuilder("n", (3, 8, 8))
    b.conv(4, 3, 1, 1)
    b.pool(2)
    ks = {(k.layer, k.phase): k for k in kernels(b.build(), 2, GpuSettings())}
    assert ("conv1", "backward") not in ks and ("pool2", "backward") in ks
    assert ks[("pool2", "forward")].read_bytes == 2 * 4 * 8 * 8 * 4


def test_bad_gpu_settings():
    with pytest.raises(SettingError, match="unknown GPU"):
        gpu("voodoo2")
    with pytest.raises(SettingError, match="compute_efficiency"):
        GpuSettings(compute_efficiency=1.5)
    with pytest.raises(SettingError, match="no tensor peak"):
        gpu_cost(fc_net(), gpu("gtx1080"), batch=1, settings=GpuSettings(precision="tensor"))
