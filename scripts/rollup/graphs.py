"""Graph workloads: R-MAT graphs (Graph500-style, deterministic from a seed), graph files (edge
list, Matrix Market) and networkx's bundled small graphs (networkx is optional).

A workload is named by one string (:func:`load`):

- ``rmat:SCALE,EF`` — 2**SCALE vertices and EF x 2**SCALE distinct directed edges;
- ``rmat:NAME`` — an R-MAT graph with the vertex and edge counts of one of GraphR's data sets
  (:data:`DATASETS`, reference sheet section 7);
- ``nx:NAME`` — a graph that ships with networkx (:data:`NETWORKX`), both directions of every edge;
- anything else is a file: ``.mtx`` (Matrix Market, scipy.io) or an edge list (one ``SRC DST
  [WEIGHT]`` per line, whitespace or commas, ``#`` / ``%`` comments, vertices numbered from 0).

R-MAT (Chakrabarti et al., SDM 2004) with the Graph500 parameters a = 0.57, b = c = 0.19,
d = 0.05: each edge picks one quadrant per bit of its endpoints; vertex labels are then permuted
at random, as the Graph500 generator does, so that the numbering carries no locality. Self loops
and repeated edges are dropped and more edges drawn until there are at least as many distinct
edges as requested; a seeded random choice drops the surplus. Vertex counts that are not
powers of two keep the edges whose permuted endpoints fall below the count. Edge weights (used by SSSP and SpMV) are integers drawn uniformly from
1 .. :data:`RMAT_MAX_WEIGHT` [assumption: Graph500's SSSP draws real weights in [0, 1); the
crossbar's add-then-min needs integers].
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

from crosstrain.errors import UserError

RMAT_ABCD = (0.57, 0.19, 0.19, 0.05)
RMAT_MAX_WEIGHT = 255

# GraphR's data sets (vertices, edges), reference sheet section 7.
DATASETS = {
    "wikivote": (7_000, 103_000),
    "slashdot": (82_000, 948_000),
    "amazon": (262_000, 1_200_000),
    "webgoogle": (880_000, 5_100_000),
    "livejournal": (4_800_000, 69_000_000),
    "orkut": (3_000_000, 106_000_000),
}

# networkx's bundled graphs (no download): name -> generator function name.
NETWORKX = {
    "karate": "karate_club_graph",
    "davis": "davis_southern_women_graph",
    "florentine": "florentine_families_graph",
    "lesmis": "les_miserables_graph",
}


@dataclass(frozen=True)
class Graph:
    """A workload: ``adj[u, v]`` is the value of the edge u -> v (1 where the source has none)."""

    name: str
    adj: sp.csr_array
    description: str

    @property
    def vertices(self) -> int:
        return self.adj.shape[0]

    @property
    def edges(self) -> int:
        return self.adj.nnz


def rmat(vertices: int, edges: int, *, seed: int = 0) -> sp.csr_array:
    """``edges`` distinct directed edges (no self loops) of an R-MAT graph on ``vertices``."""
    if vertices < 2 or edges < 1:
        raise UserError(f"R-MAT needs at least 2 vertices and 1 edge, got {vertices} and {edges}")
    if edges > vertices * (vertices - 1) // 4:
        raise UserError(f"R-MAT: {edges} edges on {vertices} vertices is denser than a quarter of "
                        "all pairs; lower the edge factor")
    scale = max(1, (vertices - 1).bit_length())
    rng = np.random.default_rng(seed)
    perm = rng.permutation(1 << scale)
    cum = np.cumsum(RMAT_ABCD)[:3].astype(np.float32)  # quadrant 0..3 = (row bit, column bit)
    keys = np.zeros(0, np.int64)
    draw = edges
    while len(keys) < edges:
        draw = int(draw * 1.5) + 16
        u = np.zeros(draw, np.int64)
        v = np.zeros(draw, np.int64)
        for bit in range(scale):                       # one quadrant per edge at each bit
            r = rng.random(draw, dtype=np.float32)
            q = (r > cum[0]).astype(np.int64) + (r > cum[1]) + (r > cum[2])
            u |= (q >> 1) << bit
            v |= (q & 1) << bit
        u, v = perm[u], perm[v]
        ok = (u < vertices) & (v < vertices) & (u != v)
        keys = np.sort(np.concatenate([keys, u[ok] * vertices + v[ok]]))
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]      # distinct
    keys = np.delete(keys, rng.choice(len(keys), len(keys) - edges, replace=False))
    w = rng.integers(1, RMAT_MAX_WEIGHT + 1, edges).astype(np.float64)
    return sp.csr_array((w, (keys // vertices, keys % vertices)), shape=(vertices, vertices))


def _rmat_spec(body: str, seed: int) -> Graph:
    name = body.strip().lower()
    if name in DATASETS:
        n, m = DATASETS[name]
        return Graph(f"rmat:{name}", rmat(n, m, seed=seed),
                     f"R-MAT at GraphR's {name} size ({n:,} vertices, {m:,} edges), seed {seed}")
    m = re.fullmatch(r"(\d+),(\d+)", name)
    if not m:
        raise UserError(f"--graph rmat:{body}: expected rmat:SCALE,EF (e.g. rmat:16,16) or "
                        f"rmat:NAME with NAME one of {', '.join(DATASETS)}")
    scale, ef = int(m[1]), int(m[2])
    if not 1 <= scale <= 26 or ef < 1:
        raise UserError(f"--graph rmat:{body}: SCALE must be 1 .. 26 and EF at least 1")
    n = 1 << scale
    return Graph(f"rmat:{scale},{ef}", rmat(n, ef * n, seed=seed),
                 f"R-MAT scale {scale}, edge factor {ef} (Graph500 a,b,c,d = 0.57,0.19,0.19,0.05), seed {seed}")


def _networkx(name: str) -> Graph:
    if name not in NETWORKX:
        raise UserError(f"--graph nx:{name}: use one of {', '.join(NETWORKX)} (networkx's bundled graphs)")
    try:
        import networkx as nx
    except ImportError:
        raise UserError("--graph nx:...: networkx is not installed; pip install 'crosstrain[graphs]' "
                        "or use rmat:SCALE,EF or a file") from None
    g = getattr(nx, NETWORKX[name])()
    adj = nx.to_scipy_sparse_array(g, nodelist=list(g), weight="weight", format="csr")
    return Graph(f"nx:{name}", sp.csr_array(adj, dtype=np.float64),
                 f"networkx {NETWORKX[name]}(), both directions of every edge")


def _edge_list(path: Path) -> sp.csr_array:
    src, dst, val = [], [], []
    for no, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#")[0].split("%")[0].replace(",", " ").split()
        if not text:
            continue
        if len(text) not in (2, 3):
            raise UserError(f"{path}:{no}: expected 'SRC DST [WEIGHT]', got {line.strip()!r}")
        try:
            u, v = int(text[0]), int(text[1])
            w = float(text[2]) if len(text) == 3 else 1.0
        except ValueError:
            raise UserError(f"{path}:{no}: vertices must be integers and the weight a number: "
                            f"{line.strip()!r}") from None
        if u < 0 or v < 0:
            raise UserError(f"{path}:{no}: vertex numbers start at 0, got {line.strip()!r}")
        src.append(u)
        dst.append(v)
        val.append(w)
    if not src:
        raise UserError(f"{path}: no edges found")
    n = max(max(src), max(dst)) + 1
    return sp.csr_array((val, (src, dst)), shape=(n, n))


def _file(spec: str) -> Graph:
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"--graph {spec!r}: no such file; use rmat:SCALE,EF, rmat:NAME "
                        f"({', '.join(DATASETS)}), nx:NAME ({', '.join(NETWORKX)}) or a graph file")
    if path.suffix == ".mtx":
        try:
            m = sp.csr_array(scipy.io.mmread(str(path)), dtype=np.float64)
        except (ValueError, TypeError, OSError) as e:
            raise UserError(f"{path}: not a readable Matrix Market file: {str(e).splitlines()[0]}") from None
        if m.shape[0] != m.shape[1]:
            raise UserError(f"{path}: a graph's matrix must be square, got {m.shape[0]} x {m.shape[1]}")
    else:
        m = _edge_list(path)
    m.sum_duplicates()
    return Graph(path.name, m, f"file {path}")


def load(spec: str, *, seed: int = 0) -> Graph:
    """The workload named by ``spec`` (see the module docstring)."""
    kind, sep, body = spec.partition(":")
    if sep and kind == "rmat":
        return _rmat_spec(body, seed)
    if sep and kind == "nx":
        return _networkx(body)
    return _file(spec)
