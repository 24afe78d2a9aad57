"""Graph workloads: R-MAT properties, data set sizes, files and networkx graphs, one-line errors."""

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from crosstrain.errors import UserError
from crosstrain.rollup import graphs


def test_rmat_has_the_requested_distinct_edges_and_is_seeded():
    a = graphs.rmat(1 << 10, 8 << 10, seed=3)
    assert a.shape == (1024, 1024) and a.nnz == 8192
    assert a.diagonal().sum() == 0                               # no self loops
    coo = a.tocoo()
    assert len(set(zip(coo.row.tolist(), coo.col.tolist()))) == 8192
    assert coo.data.min() >= 1 and coo.data.max() <= graphs.RMAT_MAX_WEIGHT
    assert np.all(coo.data == np.round(coo.data))
    again = graphs.rmat(1 << 10, 8 << 10, seed=3)
    assert (a != again).nnz == 0
    assert (a != graphs.rmat(1 << 10, 8 << 10, seed=4)).nnz > 0


def test_rmat_degrees_are_skewed():
    # a = 0.57: a vertex's bits each favour one side, so degrees follow a heavy tail, unlike a
    # uniform random graph whose largest degree stays within a few times the mean
    a = graphs.rmat(1 << 12, 16 << 12)
    out = np.asarray((a != 0).sum(axis=1)).ravel()
    assert out.max() > 10 * out.mean()
    assert np.count_nonzero(out == 0) > 0.1 * len(out)


def test_rmat_at_a_dataset_size():
    g = graphs.load("rmat:wikivote")
    assert (g.vertices, g.edges) == graphs.DATASETS["wikivote"] == (7_000, 103_000)
    g = graphs.load("rmat:10,4")
    assert (g.vertices, g.edges, g.name) == (1024, 4096, "rmat:10,4")


def test_edge_list_file(tmp_path):
    f = tmp_path / "g.txt"
    f.write_text("# a comment\n0 1\n1,2,5.5\n\n% another\n2 0 2  # trailing\n0 1\n")
    g = graphs.load(str(f))
    assert g.vertices == 3 and g.edges == 3
    assert g.adj[0, 1] == 2.0 and g.adj[1, 2] == 5.5 and g.adj[2, 0] == 2.0   # repeated edges add


def test_matrix_market_file(tmp_path):
    m = sp.random(20, 20, density=0.1, random_state=0, format="coo")
    scipy.io.mmwrite(str(tmp_path / "m.mtx"), m)
    g = graphs.load(str(tmp_path / "m.mtx"))
    assert g.vertices == 20 and abs(g.adj - m.tocsr()).max() < 1e-12
    scipy.io.mmwrite(str(tmp_path / "r.mtx"), sp.random(3, 4, density=0.5, random_state=0))
    with pytest.raises(UserError, match="must be square, got 3 x 4"):
        graphs.load(str(tmp_path / "r.mtx"))


def test_networkx_graphs():
    pytest.importorskip("networkx")
    g = graphs.load("nx:karate")
    assert g.vertices == 34 and g.edges == 2 * 78 and (g.adj != g.adj.T).nnz == 0
    assert graphs.load("nx:lesmis").adj.max() > 1                # les Miserables carries weights


@pytest.mark.parametrize("spec, message", [
    ("rmat:16", "expected rmat:SCALE,EF"),
    ("rmat:nosuch", "rmat:NAME with NAME one of wikivote"),
    ("rmat:40,2", "SCALE must be 1 .. 26"),
    ("rmat:3,8", "denser than a quarter"),
    ("nx:nosuch", "use one of karate"),
    ("missing.txt", "no such file"),
    ("BAD1", ":2: expected 'SRC DST"),
    ("BAD2", ":1: vertices must be integers"),
    ("BAD3", ":1: vertex numbers start at 0"),
    ("BAD4", "no edges found"),
])
def test_bad_workloads_are_one_line_errors(tmp_path, spec, message):
    files = {"BAD1": "0 1\n0 1 2 3\n", "BAD2": "a b\n", "BAD3": "-1 2\n", "BAD4": "# nothing\n"}
    if spec in files:
        (tmp_path / "g.txt").write_text(files[spec])
        spec = str(tmp_path / "g.txt")
    with pytest.raises(UserError, match=message) as e:
        graphs.load(spec)
    assert "\n" not in str(e.value)
