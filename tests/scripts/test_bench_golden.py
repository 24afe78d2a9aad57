"""``crosstrain bench golden``: interleaved rounds, ratios within a round, strict JSON."""


import numpy as np

from crosstrain.bench.golden import rounds, spread
from crosstrain.cli import main
from crosstrain.output import strict_loads


def test_rounds_interleave_the_contenders_in_rotating_order():
    calls = []
    contenders = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    times = rounds(contenders, 4)
    assert calls == list("abc" "bca" "cab" "abc")
    assert all(t.shape == (4,) and (t >= 0).all() for t in times.values())


def test_spread_is_the_median_and_quartiles():
    assert spread(np.array([4.0, 1.0, 3.0, 2.0, 5.0])) == {"median": 3.0, "q1": 2.0, "q3": 4.0}


def test_bench_golden_json(capsys):
    assert main(["bench", "golden", "--vectors", "64", "--repeat", "3", "--json"]) == 0
    d = strict_loads(capsys.readouterr().out)
    assert d["threads"] == 1 and d["repeat"] == 3 and d["timer"] == "process CPU time"
    assert set(d["encodings"]) == {"offset", "differential"}
    ratios = [d["lossless_vs_matmul"], d["proof_vs_matmul"]] + [
        e["sliced_vs_stacked_gemm"] for e in d["encodings"].values()]
    for r in ratios:
        assert 0 < r["q1"] <= r["median"] <= r["q3"], r
    assert d["encodings"]["differential"]["arrays"] == 2 * d["encodings"]["offset"]["arrays"]
    assert all(e["column_sums_fit_float32"] for e in d["encodings"].values())   # 128 x 1 x 3
    assert d["lossless_exact"] is True and d["lossless_adc_bits"] == 9
    assert d["goals"] == {"sliced_vs_stacked_gemm": 1.5, "lossless_vs_matmul": 2.0,
                          "proof_vs_matmul": 1.0}
