"""The mapper: counts derived on paper, agreement with the golden model's event counters,
conservation, the transposed-convolution decomposition and monotonicity."""

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crosstrain.golden import config, crossbar, cycles, zeroskip
from crosstrain.golden.deconv import read_sequence
from crosstrain.golden.events import Events
from crosstrain.golden.opa import UpdateArrays
from crosstrain.rollup import mapper
from crosstrain.rollup.mapper import (
    Counts,
    SettingError,
    Technique,
    gemms,
    map_layer,
    map_network,
    mvm_cycles,
    replication_factors,
)
from crosstrain.rollup.networks import Layer, NetBuilder, NetworkError, builtin, conv_transpose, mlp

PANTHER = config.load("panther")
PLAIN = Technique(replication=1, pipeline=False, crs_samples=3)


def fc(n_in, n_out, *, first=True):
    return Layer("fc", "fc", in_ch=n_in, out_ch=n_out, needs_input_error=not first)


def test_one_layer_mlp_counted_on_paper():
    # FC 300 -> 150 on PANTHER (128x128 arrays, 16-bit weights in 8 two-bit slices, offset
    # encoding: 8 arrays per block; 16-bit inputs through 1-bit DACs: 15 magnitude + 1 sign =
    # 16 steps; 16 update slices), batch 3, no replication, CRS every iteration.
    # Blocks: ceil(300/128) = 3 row blocks (128, 128, 44 rows) x ceil(150/128) = 2 column blocks.
    nm = map_network(mlp((300, 150)), PANTHER, PLAIN, batch=3)
    lm = nm.layers[0]
    f = lm.phases["forward"].counts
    assert f.array_steps == 3 * 6 * 8 * 16                  # vectors x blocks x arrays x steps
    assert f.adc_conversions == 3 * 16 * 8 * (3 * 150)     # each row block converts all 150 columns
    assert f.dac_conversions == 3 * 16 * 8 * (2 * 300)     # each column block drives all 300 rows
    assert f.shift_adds == f.adc_conversions
    # one MVM at 1.28 GHz: read 100 ns = 128 cycles; 128 columns / 1 ADC = 128 cycles per step;
    # latency = 128 + 15*128 + 128 + 2 pipeline = 2178, then one every 16*128 = 2048; the last
    # output's trip into the unit's output register and the tile's buffer (STORE read, write: 3
    # cycles, rtl/tile.py); then each
    # sample's loads and stores (300 inputs for each of 2 column blocks, 150 outputs from each of
    # 3 row blocks, 16 bits: 65.625 accesses of 2 ns) and its 150 outputs over the network (31 ns
    # + 2400 bits at 32 per ns)
    fw = lm.phases["forward"]
    assert fw.movement_cycles == pytest.approx((65.625 * 2 + 31 + 75) * 1.28)
    assert fw.batch_cycles == pytest.approx(2178 + 2 * 2048 + 3 + 3 * fw.movement_cycles)
    assert (f.buffer_bits, f.network_bits, f.transfers) == (3 * 1050 * 16, 3 * 150 * 16, 3)
    # the first layer propagates no error
    assert lm.phases["backward"].counts == Counts() and "backward" not in lm.arrays
    # OPA: per OPA per block 16 update slices x 16 row-bit steps x 4 polarity phases
    g = lm.phases["gradient"]
    assert g.counts.opa_phases == 3 * 6 * 16 * 16 * 4
    assert g.counts.opa_steps == 3 * 6 * 16 * 16
    # 20 ns phases: 26 cycles at 1.28 GHz, and one cycle finishing the stretch of OPAs before
    # the CRS (rtl/tile.py); each OPA loads its x and error (65.625 accesses)
    assert g.movement_cycles == pytest.approx(65.625 * 2 * 1.28)
    assert g.batch_cycles == pytest.approx(3 * 16 * 4 * 26 + 1 + 3 * g.movement_cycles)
    # CRS: read 300 rows of each of 2 column blocks in 16 slices; rewrite 16 update slices and
    # the 8 forward slices of all 45,000 weights; row-pipelined read (256) vs write (110 cycles),
    # and the cycle finishing it
    c = lm.phases["crs"]
    assert (c.counts.row_reads, c.counts.crs_ops) == (2 * 300 * 16, 6)
    assert c.counts.cell_writes == 300 * 150 * (16 + 8)
    assert c.counts.rows_written == 2 * 300 * (16 + 8)
    assert c.batch_cycles == 256 + 127 * 256 + 110 + 2 + 1
    assert lm.arrays == {"forward": 6 * 8, "update": 6 * 16}
    assert lm.writes_per_cell == {"update": 3 + 1, "forward": 1}   # 3 OPAs + 1 CRS rewrite
    t = nm.timeline()
    assert (t["forward"], t["backward"], t["update"]) == (fw.batch_cycles, g.batch_cycles, 0)
    assert t["total"] == pytest.approx(fw.batch_cycles + g.batch_cycles + 32881)


def test_transposed_mvm_converts_rows_and_drives_columns():
    lm = map_layer(fc(300, 150, first=False), PANTHER, PLAIN, batch=3)
    b = lm.phases["backward"].counts
    assert b.array_steps == 3 * 6 * 8 * 16
    assert b.adc_conversions == 3 * 16 * 8 * (2 * 300)    # each column block converts 300 rows
    assert b.dac_conversions == 3 * 16 * 8 * (3 * 150)    # each row block drives 150 columns
    assert lm.arrays["backward"] == 48
    assert lm.phases["crs"].counts.cell_writes == 300 * 150 * (16 + 8 + 8)


def test_counts_agree_with_golden_event_counters():
    """A 20 -> 12 FC layer on 16 x 16 arrays (2 row blocks), batch 3: run the golden crossbar
    (slow path, which counts step by step) and the golden OPA/CRS, compare with the mapper."""
    cfg = PANTHER.with_overrides({"crossbar.rows": 16, "crossbar.cols": 16})
    rng = np.random.default_rng(6)
    n_in, n_out, B = 20, 12, 3
    w = rng.integers(-2**15, 2**15, (n_in, n_out))
    x = rng.integers(-2**15, 2**15, (B, n_in))
    d = rng.integers(-2**15, 2**15, (B, n_out))
    fwd, bwd, upd = Events(), Events(), Events()
    crossbar.mvm(w, x, cfg, events=fwd, fast=False)
    crossbar.mvm(w, d, cfg, transposed=True, events=bwd, fast=False)
    copy_writes = 0
    for r0 in range(0, n_in, 16):
        u = UpdateArrays(cfg, w[r0:r0 + 16])
        u.events = Events()                                   # count the OPAs and CRS only
        u.opa(x[:, r0:r0 + 16], d)
        u.crs()
        upd += u.events
        copy_writes += 2 * cfg.arrays_per_block * u.cells.shape[1] * n_out   # caller: fwd + bwd copies
    lm = map_layer(fc(n_in, n_out, first=False), cfg, PLAIN, batch=B)
    for phase, ev in (("forward", fwd), ("backward", bwd)):
        c = lm.phases[phase].counts
        for name in ("array_steps", "dac_conversions", "adc_conversions", "shift_adds"):
            assert getattr(c, name) == getattr(ev, name), (phase, name)
    assert lm.phases["gradient"].counts.opa_phases == upd.opa_phases
    assert lm.phases["gradient"].counts.opa_steps == upd.opa_steps
    crs = lm.phases["crs"].counts
    assert crs.crs_ops == upd.crs_ops
    assert crs.cell_writes == upd.cell_writes + copy_writes
    assert crs.rows_written == upd.rows_written + copy_writes // n_out


def test_layer_counts_add_up_to_phase_totals():
    for name, tech in (("vgg8-cifar10", Technique()), ("dcgan-generator", Technique(update="serial")),
                       ("resnet18-cifar10", Technique(update="external", pim_phases=("forward", "backward")))):
        nm = map_network(builtin(name), PANTHER, tech, batch=8)
        for phase in ("forward", "backward", "gradient", "update", "crs", "writes"):
            total = nm.phase_counts(phase).as_dict()
            for key, value in total.items():
                assert value == pytest.approx(sum(l.phases[phase].counts.as_dict()[key] for l in nm.layers))
        assert nm.arrays == sum(sum(l.arrays.values()) for l in nm.layers)


def test_tconv_decomposition_rows_and_utilization():
    # DCGAN tconv2: 512 -> 256, k4 s2 p1, 4x4 -> 8x8. Each of the 4 output phases uses a 2x2
    # sub-kernel: 512*4 = 2048 rows, on the 16 outputs of that phase; naive: 512*16 = 8192 rows
    # on all 64 outputs, of which 3/4 of the driven rows carry inserted zeros.
    layer = builtin("dcgan-generator").layers[1]
    parts = gemms(layer, tconv="decomposed")
    assert [(g.rows, g.cols, g.vectors) for g in parts] == [(2048, 256, 16)] * 4
    naive, = gemms(layer, tconv="naive")
    assert (naive.rows, naive.vectors) == (8192, 64)
    # useful multiply-adds are the same work either way: per dimension 4*4 - 2 cropped taps = 14
    assert sum(g.useful_macs for g in parts) == naive.useful_macs == 512 * 256 * 14 * 14
    tech = Technique(tconv="decomposed")
    for l in builtin("dcgan-generator").layers[1:]:              # every stride-2 layer
        dec = map_layer(l, PANTHER, tech, batch=1)
        nai = map_layer(l, PANTHER, Technique(), batch=1)
        assert dec.utilization == 1.0                            # every driven row reads a pixel
        assert nai.utilization <= 0.25                           # 3/4 of rows carry inserted zeros
        assert dec.phases["forward"].counts.dac_conversions < nai.phases["forward"].counts.dac_conversions


@pytest.mark.parametrize("geometry", [(8, 4, 2, 1, 0, 4), (3, 5, 3, 2, 1, 6), (4, 3, 1, 1, 0, 5), (4, 4, 2, 0, 1, 5)])
def test_decomposition_is_golden_deconvs(geometry):
    """Arrays, MVMs, events and cycles of the decomposed and naive mappings (batch 1, no
    replication) equal crosstrain.golden.zeroskip.layer_costs, issue 4's cost of the same mapping
    (its MVMs; the roll-up adds the last output's 3 cycles into the tile's buffer)."""
    cin, k, s, p, op, hw = geometry
    l = Layer("t", "tconv", in_ch=cin, out_ch=6, in_h=hw, in_w=hw, kernel=k, stride=s, padding=p,
              output_padding=op)
    ref = zeroskip.layer_costs(conv_transpose(l), PANTHER)
    for tconv, name in (("decomposed", "decomposed"), ("naive", "naive")):
        lm = map_layer(l, PANTHER, Technique(tconv=tconv, replication=1), batch=1)
        f = lm.phases["forward"]
        assert lm.arrays["forward"] == ref[name].arrays
        assert sum(g.vectors for g in lm.gemms) == ref[name].mvms
        assert sum(g.issued_macs for g in lm.gemms) == ref[name].issued_macs
        assert lm.utilization == pytest.approx(ref[name].utilization)
        assert f.batch_cycles - f.movement_cycles == pytest.approx(ref[name].cycles + 3)   # the MVMs
        for key in ("array_steps", "dac_conversions", "adc_conversions", "shift_adds"):
            assert getattr(f.counts, key) == getattr(ref[name].events, key), (tconv, key)


def test_tconv_of_a_single_pixel_is_a_dense_layer():
    # DCGAN tconv1: 100 x 1 x 1 -> 512 x 4 x 4 (k4 s1 p0): each output reads the one input once
    first = builtin("dcgan-generator").layers[0]
    g, = gemms(first, tconv="decomposed")
    assert (g.rows, g.cols, g.vectors, g.useful_macs) == (100, 512 * 16, 1, 100 * 512 * 16)
    assert map_layer(first, PANTHER, Technique(), batch=1).utilization == pytest.approx(1 / 16)


@pytest.mark.parametrize("net", ["vgg8-cifar10", "resnet18-cifar10"])
def test_more_adc_sharing_is_never_faster(net):
    lat = []
    for adcs in (128, 32, 8, 2, 1):                  # fewer ADCs per array = more sharing
        cfg = PANTHER.with_overrides({"converters.adcs_per_array": adcs})
        lat.append(map_network(builtin(net), cfg, Technique(), batch=4).timeline()["total"])
    assert all(a <= b for a, b in zip(lat, lat[1:]))
    assert lat[-1] > lat[0]


def test_skipping_and_elimination_only_save():
    net = builtin("vgg8-cifar10")
    for update in ("opa", "serial"):
        base = map_network(net, PANTHER, Technique(update=update), batch=4)
        saved = map_network(net, PANTHER, Technique(
            update=update, zero_skip=(("forward", 0.3), ("backward", 0.2), ("gradient", 0.1)),
            write_elim=(("writes", 0.5), ("update", 0.5), ("crs", 0.5))), batch=4)
        assert saved.timeline()["total"] < base.timeline()["total"]
        for phase in ("forward", "backward", "gradient", "update", "crs", "writes"):
            a, b = saved.phase_counts(phase), base.phase_counts(phase)
            assert a.array_steps <= b.array_steps and a.cell_writes <= b.cell_writes
        assert saved.max_writes_per_cell <= base.max_writes_per_cell


def test_replication_trades_arrays_for_cycles():
    l = builtin("vgg8-cifar10").layers[0]                    # 1024 output pixels
    one = map_layer(l, PANTHER, Technique(replication=1), batch=2, replication=1)
    four = map_layer(l, PANTHER, Technique(replication=4), batch=2, replication=4)
    assert four.total_arrays == 4 * one.total_arrays
    assert four.phases["forward"].batch_cycles < one.phases["forward"].batch_cycles / 3
    # balanced: the largest convolution (conv6, 64 pixels) is not replicated, conv1 (1024) x16
    g = replication_factors(builtin("vgg8-cifar10"), Technique())
    assert (g["conv6"], g["conv1"], g["conv3"], g["fc1"]) == (1, 16, 4, 1)


def test_pipelining_a_single_layer_changes_nothing():
    net = mlp((300, 150))
    for update in ("opa", "serial"):
        piped = map_network(net, PANTHER, Technique(update=update, replication=1), batch=5).timeline()
        flat = map_network(net, PANTHER, Technique(update=update, replication=1, pipeline=False),
                           batch=5).timeline()
        assert piped["forward"] == pytest.approx(flat["forward"])
        assert piped["backward"] == pytest.approx(flat["backward"])


def test_mvm_cycles_without_skipping_is_the_schedule():
    s = cycles.mvm_schedule(PANTHER)
    assert mvm_cycles(s, 7) == s.total(7)
    assert mvm_cycles(s, 0) == 0
    # skipping half the steps removes half of every MVM's steps after the first one's read
    assert mvm_cycles(s, 2, 0.5) == s.total(2) - 0.5 * (s.interval + 15 * s.step_interval)


@pytest.mark.parametrize("kwargs, needle", [
    ({"update": "magic"}, "update = 'magic'"),
    ({"tconv": "fast"}, "tconv = 'fast'"),
    ({"zero_skip": (("update", 0.1),)}, "zero_skip phase 'update'"),
    ({"write_elim": (("writes", 1.0),)}, "a fraction in [0, 1)"),
    ({"replication": 0}, "replication = 0"),
    ({"crs_samples": -1}, "crs_samples = -1"),
    ({"update": "external", "pim_phases": ("forward", "gradient")}, "gradient off the crossbars"),
    ({"pim_phases": ("forward",)}, "pim_phases applies"),
])
def test_bad_techniques_name_the_setting(kwargs, needle):
    with pytest.raises(SettingError) as e:
        Technique(**kwargs)
    assert needle in str(e.value)


def test_forward_and_backward_cycles_are_what_the_rtl_takes(seed=3):
    """The roll-up's MVM cycles of a layer's mini-batch equal the MVM unit's, measured in
    amaranth.sim on the same configuration (a 16x16 array keeps the simulation short), and 3
    cycles for the last output's trip into the tile's buffer (output register, STORE read and
    write: tests/rtl/test_tile.py times them against the interpreter)."""
    from crosstrain.golden.periphery import periphery_params
    from crosstrain.tb.mvm_bench import random_inputs, random_weights, simulate

    p = periphery_params({"crossbar.rows": 16, "crossbar.cols": 16, "crossbar.read_latency_ns": 20})
    b = NetBuilder("two-fc", (16, 1, 1))
    b.fc(16, name="fc1")
    b.fc(16, name="fc2")              # fed by fc1, so its error is propagated backward
    batch = 3
    fc2 = map_network(b.build(), p.cfg, batch=batch).layers[1]
    rng = np.random.default_rng(seed)
    w = random_weights(p, rng)
    for phase, transposed in (("forward", False), ("backward", True)):
        run = simulate(p, w, random_inputs(p, rng, batch, transposed=transposed), [transposed] * batch)
        measured = run.emitted[-1] - run.accepted[0]
        work = fc2.phases[phase]         # the MVMs; loads, stores and transfers come on top
        assert work.batch_cycles - batch * work.movement_cycles == pytest.approx(measured + 3), \
            f"{phase}: seed={seed}"


def per_phase_gemms(layer):
    """The decomposed mapping one phase group at a time, from the read sequence (the enumeration
    that phase classes replace): (rows, cols, vectors, macs) per group that runs."""
    spec = conv_transpose(layer)
    reads = np.bincount(read_sequence(spec)[:, 0], minlength=len(spec.phases))
    return sorted((ph.slots * layer.in_ch, layer.out_ch, ph.y.read_count * ph.x.read_count,
                   int(reads[ph.index]) * layer.in_ch * layer.out_ch)
                  for ph in spec.phases if ph.y.read_count * ph.x.read_count)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(2, 6), st.integers(0, 4), st.integers(0, 5), st.integers(2, 5),
       st.integers(1, 4), st.sampled_from(["opa", "serial", "external"]))
@example(8, 4, 2, 0, 3, 2, "serial")             # two classes of two phases per axis
def test_phase_classes_cost_what_their_groups_cost(k, s, p, op, h, cin, update):
    """Phase groups of one geometry are one Gemm with ``groups`` copies: the same Gemms as the
    group-by-group enumeration, and map_layer counts them as it counts the groups one by one."""
    try:
        layer = Layer("t", "tconv", in_ch=cin, out_ch=5, in_h=h, in_w=h + 1, kernel=k, stride=s,
                      padding=p, output_padding=op % s)
    except NetworkError:
        return
    parts = gemms(layer, tconv="decomposed")
    if layer.in_h == layer.in_w == 1:
        return
    expanded = [x for x in parts for _ in range(x.groups)]
    if (k, s, p) == (8, 4, 2):
        assert [x.groups for x in parts] == [4] * 4
    assert sorted((x.rows, x.cols, x.vectors, x.issued_macs) for x in expanded) == per_phase_gemms(layer)
    assert all(x.issued_macs == x.useful_macs for x in parts)
    tech = Technique(update=update, tconv="decomposed", replication=2,
                     pim_phases=("forward", "backward") if update == "external" else
                     ("forward", "backward", "gradient"))
    grouped = map_layer(layer, PANTHER, tech, batch=3, replication=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mapper, "gemms", lambda l, tconv: tuple(replace(x, groups=1) for x in expanded))
        one_by_one = map_layer(layer, PANTHER, tech, batch=3, replication=2)
    assert grouped.arrays == one_by_one.arrays
    assert grouped.utilization == pytest.approx(one_by_one.utilization)
    for phase, work in grouped.phases.items():
        other = one_by_one.phases[phase]
        assert work.counts.as_dict() == pytest.approx(other.counts.as_dict()), phase
        assert (work.sample_cycles, work.batch_cycles) == (other.sample_cycles, other.batch_cycles)


def test_huge_tconv_maps_without_memory():
    """kernel = stride = 1024 (the largest a layer may have): 2**20 phase groups, one Gemm class."""
    layer = Layer("t", "tconv", in_ch=2, out_ch=3, in_h=2, in_w=2, kernel=1024, stride=1024)
    tracemalloc.start()
    try:
        lm = map_layer(layer, PANTHER, Technique(tconv="decomposed"), batch=2)
        naive = map_layer(layer, PANTHER, Technique(), batch=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    g, = lm.gemms
    assert (g.rows, g.vectors, g.groups) == (2, 4, 1024 ** 2) and lm.utilization == 1.0
    assert naive.gemms[0].rows == 2 * 1024 ** 2
