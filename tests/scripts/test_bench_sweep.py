"""``crosstrain bench sweep``: runs both worker counts and the memory run, strict JSON (a
benchmark: nothing here is timed)."""

from crosstrain.cli import main
from crosstrain.output import strict_loads


def test_bench_sweep_json(capsys):
    assert main(["bench", "sweep", "--points", "4", "--memory-points", "10", "--json"]) == 0
    d = strict_loads(capsys.readouterr().out)
    assert d["points"] == 4 and d["memory_points"] == 10 and d["network"] == "vgg8-cifar10"
    assert d["ratio"] == d["points_per_s_2_workers"] / d["points_per_s_1_worker"]
    assert d["points_per_s_1_worker"] == 4 / d["seconds_1_worker"]
    assert d["rss_growth_mb"] == d["rss_end_mb"] - d["rss_warm_mb"] and d["rss_warm_mb"] > 0
    assert 0 < d["median_estimate_s"] <= d["max_estimate_s"]
