"""Graph processing on crossbars: the partition and streaming order against brute force, the
add-then-min semiring against scipy's shortest paths, multiply-add against float64 within the
quantization bound derived here, and the slow (every step and slice) path against the fast one."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from crosstrain.golden import config, crossbar, graph
from crosstrain.golden.config import ConfigError

CFG = config.load("graphr")
SMALL = graph.GraphEngines(ges=1, crossbars_per_ge=8)          # 2 blocks per round: many stripes


def random_graph(n, density, seed, max_weight=20):
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=density, random_state=rng, format="csr")
    a.data = rng.integers(1, max_weight + 1, a.nnz).astype(float)
    return a


def brute_force_blocks(a, R, C, slots):
    """Non-empty blocks in the streaming order, by looking at every block of the dense matrix."""
    d = a.toarray()
    n = d.shape[0]
    found = [(i, j) for i in range(-(-n // R)) for j in range(-(-n // C))
             if np.any(d[i * R:(i + 1) * R, j * C:(j + 1) * C] != 0)]
    return sorted(found, key=lambda ij: (ij[1] // slots, ij[0], ij[1]))


@pytest.mark.parametrize("n, density, engines, seed", [
    (61, 0.05, SMALL, 0), (100, 0.02, SMALL, 1), (300, 0.01, graph.GraphEngines(), 2)])
def test_partition_holds_every_edge_in_streaming_order(n, density, engines, seed):
    a = random_graph(n, density, seed)
    p = graph.partition(a, CFG, engines)
    want = brute_force_blocks(a, 8, 8, engines.slots(CFG))
    assert list(zip(p.block_row.tolist(), p.block_col.tolist())) == want, f"seed={seed}"
    assert p.grid_blocks == (-(-n // 8)) ** 2 and p.edges == a.nnz
    coo = a.tocoo()
    assert sorted(zip(p.src.tolist(), p.dst.tolist(), p.value.tolist())) == \
        sorted(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()))
    for b in range(p.blocks):                                   # each edge sits in its block
        e = slice(p.block_edges[b], p.block_edges[b + 1])
        assert np.all(p.src[e] // 8 == p.block_row[b]) and np.all(p.dst[e] // 8 == p.block_col[b])


def test_schedule_windows_rounds_and_slots():
    n = 61
    a = random_graph(n, 0.08, 3)
    for packing in graph.PACKINGS:
        engines = graph.GraphEngines(ges=1, crossbars_per_ge=8, packing=packing)
        p = graph.partition(a, CFG, engines)
        blocks = list(graph.schedule(p))
        assert [s.block for s in blocks] == list(range(p.blocks))
        d = a.toarray()
        for s in blocks:
            assert 0 <= s.row0 < s.row1 <= n and 0 <= s.col0 < s.col1 <= n
            assert s.row1 - s.row0 <= 8 and s.col1 - s.col0 <= 8
            assert np.any(d[s.row0:s.row1, s.col0:s.col1] != 0)
        by_round = {}
        for s in blocks:
            by_round.setdefault(s.round, []).append(s)
        assert sorted(by_round) == list(range(len(by_round)))
        for members in by_round.values():
            stripes = {m.col0 // (8 * 2) for m in members}
            slots = [m.slot for m in members]
            assert len(stripes) == 1 and len(set(slots)) == len(slots) and max(slots) < 2
            if packing == "subgraph":                           # one row window, crossbar = column
                assert len({m.row0 for m in members}) == 1
                assert all(m.slot == (m.col0 // 8) % 2 for m in members)
        if packing == "blocks":                                 # every round full but a stripe's last
            full = [len(m) == 2 for m in by_round.values()]
            assert sum(full) >= len(full) - p.stripes


@pytest.mark.parametrize("algorithm", ["bfs", "sssp"])
@pytest.mark.parametrize("n, density, seed", [(50, 0.06, 0), (130, 0.02, 1), (257, 0.01, 2)])
def test_add_min_is_exact(algorithm, n, density, seed):
    a = random_graph(n, density, seed)
    src = int(np.argmax(np.asarray((a != 0).sum(axis=1)).ravel()))
    ref = csgraph.shortest_path(a, indices=src, unweighted=algorithm == "bfs")
    ref = np.where(np.isinf(ref), -1, ref).astype(np.int64)
    p = graph.partition(a, CFG, SMALL)
    for fast in (True, False):
        run = getattr(graph, algorithm)(p, src, CFG, fast=fast)
        np.testing.assert_array_equal(run.values, ref, err_msg=f"seed={seed} fast={fast}")
        assert run.saturated == 0


def test_add_min_slots_are_the_active_rows_of_each_block():
    a = sp.csr_array(([1.0, 1.0, 1.0, 1.0], ([0, 0, 1, 9], [1, 9, 2, 3])), shape=(12, 12))
    p = graph.partition(a, CFG, SMALL)
    run = graph.bfs(p, 0, CFG)
    np.testing.assert_array_equal(run.values, [0, 1, 2, 2, -1, -1, -1, -1, -1, 1, -1, -1])
    first, second, third = run.passes[:3]
    # pass 1: vertex 0 drives row 0 of blocks (0,0) and (0,1): one slot each
    assert first.slots.tolist() == [1, 1] and first.active_edges == 2
    # pass 2: vertices 1 and 9 are active: row 1 of block (0,0), row 1 of block (1,0)
    assert second.slots.tolist() == [1, 1] and second.active_edges == 2
    # pass 3: vertices 2 and 3 have no out-edges; nothing changes, so it is the last
    assert len(run.passes) == 3 and third.active_edges == 0 and len(third.blocks) == 0
    # each slot is one MVM of a 9 x 8 array (the always-on row added)
    one = crossbar.count_mvm_events(graph.addmin_config(CFG), (9, 8), 1)
    assert first.events.array_steps == 2 * one.array_steps


def test_saturated_distances_are_counted_and_unreached():
    cfg = CFG.with_overrides({"precision.input_bits": 8})      # distances saturate at 127
    a = sp.csr_array(([100.0, 100.0], ([0, 1], [1, 2])), shape=(3, 3))
    run = graph.sssp(graph.partition(a, cfg), 0, cfg)
    assert run.values.tolist() == [0, 100, -1] and run.saturated == 1


def quantization_bound(a, x, run, bits_w, bits_x):
    """|A^T x - y| per destination when each weight and input code is off by at most half an LSB."""
    dw, dx = 2.0 ** -(run.frac_bits["weights"] + 1), 2.0 ** -(run.frac_bits["values"][0] + 1)
    absa = abs(a)
    return absa.T @ np.full(len(x), dx) + (absa != 0).astype(float).T @ (np.abs(x) * dw + dw * dx)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spmv_within_the_quantization_bound(seed):
    rng = np.random.default_rng(seed)
    a = random_graph(200, 0.03, seed)
    a.data = rng.normal(size=a.nnz)                             # signed values
    x = rng.normal(size=200)
    run = graph.spmv(graph.partition(a, CFG), x, CFG)
    err = np.abs(run.values - a.T @ x)
    assert np.all(err <= quantization_bound(a, x, run, 16, 16) + 1e-12), f"seed={seed}"
    assert err.max() > 0                                       # 16 bits are not float64


def float_pagerank(a, iterations, damping):
    n = a.shape[0]
    d = (a != 0).astype(float).toarray()
    out = d.sum(axis=1)
    m = np.divide(d, out[:, None], out=np.zeros_like(d), where=out[:, None] > 0)
    x = np.full(n, 1.0 / n)
    for _ in range(iterations):
        x = (1 - damping) / n + damping * (m.T @ x)
    return x


def test_pagerank_close_to_float64_and_ranks_agree():
    a = random_graph(300, 0.02, 4)
    run = graph.pagerank(graph.partition(a, CFG), CFG, iterations=20)
    ref = float_pagerank(a, 20, 0.85)
    assert np.abs(run.values - ref).max() < 1e-3 * ref.max()
    assert np.argsort(-ref)[:10].tolist() == np.argsort(-run.values)[:10].tolist()
    coarse = CFG.with_overrides({"precision.weight_bits": 8, "precision.input_bits": 8})
    worse = graph.pagerank(graph.partition(a, coarse), coarse, iterations=20)
    assert np.abs(worse.values - ref).max() > np.abs(run.values - ref).max()


def test_pagerank_fixed_point_of_networkx():
    nx = pytest.importorskip("networkx")
    g = nx.karate_club_graph()                                  # no dangling vertices
    a = nx.to_scipy_sparse_array(g, nodelist=list(g), weight=None, format="csr").astype(float)
    run = graph.pagerank(graph.partition(a, CFG), CFG, iterations=100)
    want = nx.pagerank(g, alpha=0.85, weight=None, tol=1e-12)
    # 16-bit codes: about 2**-16 of the largest weight (0.85) per edge and of the largest rank
    # per iteration, accumulated over 1 / (1 - 0.85) iterations: ~1e-4 absolute
    np.testing.assert_allclose(run.values, [want[v] for v in g], atol=1e-4)


@pytest.mark.parametrize("adc_bits", [5, 8])
def test_multiply_add_streams_blocks_through_the_crossbar(adc_bits):
    """The stripe-batched pass equals every block's sliced MVM summed per destination."""
    cfg = CFG.with_overrides({"converters.adc_bits": adc_bits})
    a = random_graph(70, 0.05, 5)
    p = graph.partition(a, cfg, SMALL)
    rng = np.random.default_rng(5)
    w_codes = rng.integers(0, 2**15, p.edges)
    x_codes = rng.integers(-2**15, 2**15, p.n)
    d = np.zeros((72, 72), np.int64)
    d[p.src, p.dst] = w_codes
    xs = np.zeros(72, np.int64)
    xs[:70] = x_codes
    want = np.zeros(72)
    for i, j in zip(p.block_row, p.block_col):
        want[j * 8:j * 8 + 8] += crossbar.mvm(d[i * 8:i * 8 + 8, j * 8:j * 8 + 8], xs[i * 8:i * 8 + 8],
                                              cfg, fast=False)
    for fast in (True, False):
        got, pas = graph.mac_pass(p, w_codes, x_codes, cfg, fast=fast)
        np.testing.assert_array_equal(got, want[:70])
        assert pas.events.adc_clipped == 0 or not fast or not cfg.adc_never_clips
    assert (pas.events.adc_clipped > 0) == (adc_bits == 5)
    assert pas.events.array_steps == p.blocks * cfg.input_steps * cfg.arrays_per_block


def test_shared_exponent_codes():
    codes, frac = graph.shared_exponent_codes([0.5, -0.25, 0.001], 8)
    assert frac == 7 and codes.tolist() == [64, -32, 0]
    codes, frac = graph.shared_exponent_codes([300.0], 8)       # 300 > 127: integer bits dropped
    assert frac == -2 and codes.tolist() == [75]


@pytest.mark.parametrize("call, message", [
    (lambda: graph.partition(sp.csr_array((3, 4)), CFG), "must be square"),
    (lambda: graph.bfs(graph.partition(sp.eye(4, format="csr"), CFG), 7, CFG), "source vertex 7"),
    (lambda: graph.sssp(graph.partition(sp.eye(4, format="csr") * 0.5, CFG), 0, CFG), "sssp edge weight 0.5"),
    (lambda: graph.GraphEngines(ges=0), "graph.ges = 0"),
    (lambda: graph.GraphEngines(packing="dense"), "graph.packing = 'dense'"),
    (lambda: graph.GraphEngines(ges=1, crossbars_per_ge=2).slots(CFG), "cannot hold one block"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises((ValueError, ConfigError), match=message):
        call()


def test_narrow_adc_add_min_stays_in_range():
    """Clipped conversions give wrong sums; the min unit keeps distances in the unsigned range."""
    cfg = CFG.with_overrides({"precision.weight_bits": 8, "precision.input_bits": 8, "converters.adc_bits": 3})
    a = random_graph(120, 0.04, 6)
    run = graph.sssp(graph.partition(a, cfg, SMALL), 0, cfg)
    assert run.values.min() >= -1 and run.values.max() < 127
    assert sum(p.events.adc_clipped for p in run.passes) > 0
