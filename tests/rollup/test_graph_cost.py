"""GraphR, CPU and GPU costs of graph passes, worked out by hand from the preset and settings."""

import numpy as np
import pytest
import scipy.sparse as sp

from crosstrain.golden import config, graph
from crosstrain.rollup import graph_cost
from crosstrain.rollup.mapper import SettingError

CFG = config.load("graphr")
N = 12


def adjacency(edges):
    src, dst = zip(*edges)
    return sp.csr_array(([1.0] * len(edges), (src, dst)), shape=(N, N))


# graphr preset: 1 GHz; a row write 50.88 ns -> 51 cycles, x 8 rows; read 29.31 ns -> 30 cycles;
# 8 crossbars share an ADC: 8 x 8 conversions = 64 cycles per step, 16 input steps, 2 pipeline
WRITE = 8 * 51
LATENCY = 30 + 15 * 64 + 64 + 2
INTERVAL = 16 * 64


def test_pagerank_pass_by_hand():
    part = graph.partition(adjacency([(0, 1), (0, 9), (1, 2)]), CFG)
    assert part.blocks == 2                                    # blocks (0, 0) and (0, 1)
    run = graph.pagerank(part, CFG, iterations=1)
    c = graph_cost.graphr_cost(part, run, "pagerank", CFG)
    assert c.details["rounds"] == 1                            # one subgraph: row window 0
    assert c.time_s == pytest.approx((WRITE + LATENCY) * 1e-9)
    e = c.components
    cells = 2 * 8 * 8 * 4                                      # two blocks of four 4-bit slices
    assert e["cell_write"] == pytest.approx(cells * 1.38e-12)
    conversions = 2 * 16 * 4 * 8                               # blocks x steps x arrays x columns
    # one breakdown: an MVM step's array read, DACs and ADC conversions are the `mvm` component
    adc = conversions * 1.56e-12
    dac = conversions * 0.39e-12                               # 8 rows driven per array step
    array = 2 * 16 * 4 * 0.117e-12
    assert e["mvm"] == pytest.approx(adc + dac + array)
    assert e["shift_add"] == pytest.approx(conversions * 0.04e-12)
    read_bits = 3 * 80 + 8 * 16                                # 3 COO edges + one row window's values
    assert e["memory_read"] == pytest.approx(read_bits / 512 * 1.08e-12)
    assert e["memory_write"] == pytest.approx(N * 16 / 512 * 3910e-12)
    assert e["salu"] == pytest.approx(2 * 8 * 0.04e-12)
    assert c.energy_j == pytest.approx(sum(e.values()))


def test_add_min_rounds_last_as_long_as_their_busiest_block():
    # pass 1: vertex 0 drives row 0 of block (0, 0); pass 2: rows 1, 2, 3 of the same block
    part = graph.partition(adjacency([(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 5)]), CFG)
    run = graph.bfs(part, 0, CFG)
    assert [p.slots.tolist() for p in run.passes] == [[1], [3], []]
    c = graph_cost.graphr_cost(part, run, "bfs", CFG)
    ge = (WRITE + LATENCY) + (WRITE + LATENCY + 2 * INTERVAL)
    memory_only = N * 16 / (288 * 8e9)                         # the last pass writes the values
    assert c.time_s == pytest.approx(ge * 1e-9 + memory_only)
    assert c.details["time_slots"] == 4 and c.details["rounds"] == 2


def test_packing_blocks_never_needs_more_rounds():
    a = sp.random(300, 300, density=0.02, random_state=1, format="csr")
    runs = {}
    for packing in graph.PACKINGS:
        engines = graph.GraphEngines(ges=2, crossbars_per_ge=16, packing=packing)   # 8 slots
        part = graph.partition(a, CFG, engines)
        runs[packing] = graph_cost.graphr_cost(part, graph.pagerank(part, CFG, iterations=1), "pagerank",
                                               CFG, engines)
    assert runs["blocks"].details["rounds"] <= runs["subgraph"].details["rounds"]
    per_stripe = [int(k) for k in np.diff(part.stripe_blocks)]
    assert part.stripes == 5 and runs["blocks"].details["rounds"] == sum(-(-k // 8) for k in per_stripe)
    assert runs["blocks"].energy_j == pytest.approx(runs["subgraph"].energy_j, rel=0.01)


def test_cpu_and_gpu_rooflines_by_hand():
    part = graph.partition(adjacency([(0, 1), (0, 9), (1, 2)]), CFG)
    run = graph.pagerank(part, CFG, iterations=1)
    cpu = graph_cost.cpu_cost(run, N, "pagerank")
    b = 3 * 8 + N * 3 * 4                                      # edges + vertex reads / writes
    t = b / (118e9 * 0.8)
    assert cpu.time_s == pytest.approx(t)
    assert cpu.energy_j == pytest.approx(170 * t + b * 8 * 15e-12)
    weighted = graph_cost.cpu_cost(run, N, "sssp")
    assert weighted.details["bytes"] == b + 3 * 4
    gpu = graph_cost.gpu_cost(run, N, "pagerank")
    b = 3 * 8 + N * 4 * 4
    t = max(6 / (4.29e12 * 0.5), b / (288e9 * 0.8)) + 5e-6    # K40c at the GPU model's efficiencies
    assert gpu.time_s == pytest.approx(t)
    core = 235 - 288e9 * 8 * 15e-12
    assert gpu.energy_j == pytest.approx(core * t + b * 8 * 15e-12)


@pytest.mark.parametrize("make, message", [
    (lambda: graph_cost.GraphrSettings(memory_bw_gbs=0), "memory_bw_gbs = 0"),
    (lambda: graph_cost.CpuSettings(cpu="i9"), "cpu = 'i9'"),
    (lambda: graph_cost.CpuSettings(bandwidth_efficiency=2.0), "bandwidth_efficiency = 2.0"),
    (lambda: graph_cost.GpuGraphSettings(gpu="k80"), "unknown GPU 'k80'"),
])
def test_bad_settings(make, message):
    with pytest.raises(SettingError, match=message):
        make()
