"""3D-ReG: link traffic by hand, mapping differences, GPU-only points, gain-loss ratio."""

import pytest

from crosstrain.golden import config
from crosstrain.rollup.gpu import gpu, gpu_cost
from crosstrain.rollup.mapper import SettingError
from crosstrain.rollup.networks import NetBuilder, builtin
from crosstrain.rollup.reg3d import Reg3dSettings, gain_loss_ratio, gpu_only, memory_path, reg3d_cost

PANTHER = config.load("panther")
SPEC = gpu("rtx2080ti")


def mlp():
    b = NetBuilder("mlp1", (300, 1, 1))
    b.fc(150)
    return b.build()


@pytest.mark.parametrize("mapping, error_bits", [("conservative", 0), ("aggressive", 4 * 16 * 150)])
def test_link_traffic_by_hand(mapping, error_bits):
    # batch 4, 16-bit values: input activations 4 x 300, network output 4 x 150, weights
    # 45,000 back; aggressive also sends the errors of the layer's output. TSV: 0.05 pJ/bit.
    s = reg3d_cost(mlp(), PANTHER, SPEC, mapping=mapping, link_name="tsv", batch=4)
    bits = 4 * 16 * 300 + 4 * 16 * 150 + 45_000 * 16 + error_bits
    assert s.phases["transfer"].events["link_bits"] == bits
    assert s.phases["transfer"].energy_j == pytest.approx(bits * 0.05e-12)


def test_aggressive_keeps_a_backward_copy_and_offloads_the_gpu():
    net = builtin("vgg8-cifar10")
    con = reg3d_cost(net, PANTHER, SPEC, mapping="conservative", link_name="miv", batch=8)
    agg = reg3d_cost(net, PANTHER, SPEC, mapping="aggressive", link_name="miv", batch=8)
    assert agg.arrays > con.arrays
    assert agg.phases["backward"].components.get("gpu_core", 0) == 0
    assert con.phases["backward"].components["gpu_core"] > 0


def test_faster_cheaper_links_never_cost_more():
    net = builtin("resnet18-cifar10")
    runs = [reg3d_cost(net, PANTHER, SPEC, mapping="aggressive", link_name=l, batch=8)
            for l in ("2d", "tsv", "miv")]
    assert runs[0].latency_s >= runs[1].latency_s >= runs[2].latency_s
    assert runs[0].energy_j >= runs[1].energy_j >= runs[2].energy_j


def test_gpu_only_points():
    net = builtin("vgg8-cifar10")
    base = gpu_cost(net, SPEC, batch=8)
    same = gpu_only(net, SPEC, PANTHER, memory="dram", link_name="2d", batch=8)
    assert (same.name, same.latency_s, same.energy_j) == ("gpu", base.latency_s, base.energy_j)
    tsv = Reg3dSettings().link("tsv")
    m = memory_path("reram", tsv, SPEC, PANTHER)
    assert m.read_pj_per_bit == pytest.approx(6.5e3 / 32768 + 0.05)    # PANTHER serial read per bit
    assert m.write_pj_per_bit == pytest.approx(1.38 / 2 + 0.05)        # PANTHER cell write / 2 bits
    with pytest.raises(SettingError, match="main memory"):
        memory_path("flash", tsv, SPEC, PANTHER)


def test_gain_loss_ratio_definition():
    assert gain_loss_ratio(2.0, 3.0, 0.5) == pytest.approx(6.0 / 1.5)
    assert gain_loss_ratio(2.0, 3.0, 0.0) == 6.0
    with pytest.raises(SettingError):
        gain_loss_ratio(1.0, 1.0, -1.0)
    with pytest.raises(SettingError, match="unknown link"):
        reg3d_cost(mlp(), PANTHER, SPEC, mapping="aggressive", link_name="wifi", batch=1)
    with pytest.raises(SettingError, match="mapping"):
        reg3d_cost(mlp(), PANTHER, SPEC, mapping="bold", link_name="tsv", batch=1)
