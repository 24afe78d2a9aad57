"""``crosstrain graph`` and ``crosstrain bench graph``: strict JSON, the table, one-line errors."""


import pytest

from crosstrain.cli import main
from crosstrain.output import strict_loads


def run_json(capsys, *args):
    assert main(["graph", *args, "--json"]) == 0
    return strict_loads(capsys.readouterr().out)


def test_json_keys_and_settings(capsys):
    d = run_json(capsys, "--graph", "rmat:8,4", "--algorithm", "pagerank,bfs", "--iterations", "5",
                 "--set", "graph.packing=blocks", "--set", "converters.adc_bits=7",
                 "--set", "cpu.bandwidth_efficiency=0.5")
    assert [r["algorithm"] for r in d["runs"]] == ["pagerank", "bfs"]
    assert d["settings"]["engines"]["packing"] == "blocks" and d["hardware"]["converters"]["adc_bits"] == 7
    assert d["settings"]["cpu"]["bandwidth_efficiency"] == 0.5 and d["settings"]["iterations"] == 5
    pr = d["runs"][0]
    assert pr["blocks"]["passes"] == 5 and len(pr["frac_bits"]["values"]) == 5
    for key in ("graph", "vertices", "edges", "blocks", "accuracy", "systems", "elapsed_s", "hardware"):
        assert key in pr
    for s in pr["systems"]:
        for key in ("name", "time_s", "energy_j", "components", "speedup_vs_cpu", "energy_saving_vs_cpu"):
            assert key in s
    assert d["runs"][1]["accuracy"]["exact"] is True
    assert set(d["summary"]) == {"cpu", "gpu"} and d["elapsed_s"] > 0


def test_table_and_sweep(capsys):
    assert main(["graph", "--graph", "rmat:6,4", "--algorithm", "spmv", "--sweep"]) == 0
    out = capsys.readouterr().out
    assert "spmv on rmat:6,4" in out and "blocks:" in out and "accuracy:" in out
    assert "by value and ADC width" in out and "adc_clipped" in out


def test_several_graphs(tmp_path, capsys):
    f = tmp_path / "g.txt"
    f.write_text("0 1 3\n1 2 4\n2 0 5\n")
    d = run_json(capsys, "--graph", str(f), "--graph", "rmat:5,2", "--algorithm", "sssp", "--source", "0")
    assert [r["graph"] for r in d["runs"]] == ["g.txt", "rmat:5,2"]
    assert d["runs"][0]["accuracy"]["exact"] and d["runs"][0]["source"] == 0


@pytest.mark.parametrize("args, needle", [
    (["--algorithm", "dfs"], "--algorithm 'dfs'"),
    (["--graph", "rmat:x"], "expected rmat:SCALE,EF"),
    (["--set", "graph.nosuch=1"], "unknown setting 'graph.nosuch'"),
    (["--set", "precision.weight_bits=7"], "precision.weight_bits"),
    (["--set", "graph.ges=0"], "graph.ges = 0"),
    (["--set", "nonsense"], "expected NAME=VALUE with a dotted NAME"),
    (["--preset", "nosuch"], "unknown preset"),
    (["--graph", "rmat:5,2", "--algorithm", "bfs", "--source", "99"], "--source 99"),
    (["--graph", "rmat:5,2", "--iterations", "0"], "--iterations: '0' is out of range"),
])
def test_bad_input_is_one_line(capsys, args, needle):
    assert main(["graph", "--graph", "rmat:5,2", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err


def test_sssp_on_real_weights_is_refused(tmp_path, capsys):
    f = tmp_path / "g.txt"
    f.write_text("0 1 0.5\n")
    assert main(["graph", "--graph", str(f), "--algorithm", "sssp"]) == 2
    assert "sssp edge weight 0.5" in capsys.readouterr().err


def test_bench_graph_reports_the_goal(capsys):
    assert main(["bench", "graph", "--scale", "8", "--edge-factor", "4", "--iterations", "3", "--json"]) == 0
    d = strict_loads(capsys.readouterr().out)
    assert d["vertices"] == 256 and d["edges"] == 1024 and d["goal_s"] == 10.0
    assert d["total_s"] == pytest.approx(d["generate_s"] + d["partition_s"] + d["golden_pagerank_s"])
    assert d["ratio_vs_float64"] > 0 and d["max_rel_error"] < 1e-2
