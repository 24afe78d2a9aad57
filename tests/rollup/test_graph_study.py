"""A graph workload end to end: accuracy metrics, settings, summaries and the comparison rows."""

import math
import re

import numpy as np
import pytest

from crosstrain.golden import config, graph
from crosstrain.rollup import graph_study, graphs
from crosstrain.rollup.mapper import SettingError

CFG = config.load("graphr")
SMALL = graphs.load("rmat:9,8")


@pytest.mark.parametrize("algorithm", graph_study.ALGORITHMS)
def test_study_of_each_algorithm(algorithm):
    r = graph_study.study(SMALL, algorithm, CFG, graph_study.GraphSettings())
    b = r["blocks"]
    passes = 20 if algorithm == "pagerank" else 1 if algorithm == "spmv" else b["passes"]
    assert b["passes"] == passes
    assert b["blocks_processed"] + b["blocks_skipped_empty"] + b["blocks_skipped_inactive"] == \
        b["grid_blocks"] * passes
    assert [s["name"] for s in r["systems"]] == ["graphr", "cpu", "gpu"]
    cpu = r["systems"][1]
    assert cpu["speedup_vs_cpu"] == 1 and cpu["energy_saving_vs_cpu"] == 1
    acc = r["accuracy"]
    if algorithm in ("bfs", "sssp"):
        assert acc["exact"] and acc["mismatches"] == 0 and acc["reached"] > 1
        assert r["source"] == int(np.argmax(np.asarray((SMALL.adj != 0).sum(axis=1)).ravel()))
    else:
        assert 0 < acc["max_rel_error"] < 1e-2
    if algorithm == "pagerank":
        assert acc["top_k"] == 100 and acc["kendall_tau_top_k"] > 0.9 and acc["top_k_overlap"] > 0.9


def test_accuracy_metrics_on_known_values():
    ref = np.array([0.4, 0.3, 0.2, 0.1])
    run = graph.GraphRun(np.array([0.4, 0.2, 0.3, 0.1]))
    acc = graph_study.accuracy(run, ref, "pagerank", top_k=3)
    assert acc["max_abs_error"] == pytest.approx(0.1) and acc["max_rel_error"] == pytest.approx(0.25)
    # top 3 of ref: 0, 1, 2; ours orders 1 and 2 the other way: one discordant pair of three
    assert acc["kendall_tau_top_k"] == pytest.approx(1 / 3) and acc["top_k_overlap"] == 1
    bfs = graph_study.accuracy(graph.GraphRun(np.array([0, 1, -1]), saturated=2), np.array([0, 1, 2]), "bfs", 3)
    assert bfs == {"exact": False, "mismatches": 1, "saturated": 2, "reached": 3}


def test_narrow_adc_and_fewer_bits_lose_accuracy():
    rows = graph_study.sweep(graphs.load("rmat:7,4"), "pagerank", CFG, graph_study.GraphSettings(),
                             bits=(8, 16), adc_bits=(7, 5))
    got = {(r["value_bits"], r["adc_bits"]): r for r in rows}
    assert got[(16, 7)]["adc_clipped"] == 0 and got[(16, 5)]["adc_clipped"] > 0
    assert got[(16, 7)]["max_rel_error"] < got[(8, 7)]["max_rel_error"]
    assert got[(16, 7)]["max_rel_error"] < got[(16, 5)]["max_rel_error"]


def test_settings_are_changed_by_name():
    s = graph_study.GraphSettings()
    s = s.with_setting("graph.packing", "blocks").with_setting("memory.memory_bw_gbs", 100)
    s = s.with_setting("cpu.bandwidth_efficiency", 0.5).with_setting("gpu.compute_efficiency", 0.25)
    s = s.with_setting("gpu.edge_bytes", 12)
    assert (s.engines.packing, s.graphr.memory_bw_gbs, s.cpu.bandwidth_efficiency) == ("blocks", 100.0, 0.5)
    assert (s.gpu.roofline.compute_efficiency, s.gpu.edge_bytes) == (0.25, 12)
    with pytest.raises(SettingError, match="unknown setting 'graph.nosuch': use graph.FIELD"):
        s.with_setting("graph.nosuch", 1)
    with pytest.raises(SettingError, match="memory.memory_bw_gbs = 'fast'"):
        s.with_setting("memory.memory_bw_gbs", "fast")


def test_summary_geomeans():
    def result(graphr_t, cpu_t, gpu_t):
        return {"systems": [{"name": "graphr", "time_s": graphr_t, "energy_j": 1.0},
                            {"name": "cpu", "time_s": cpu_t, "energy_j": 4.0},
                            {"name": "gpu", "time_s": gpu_t, "energy_j": 2.0}]}
    s = graph_study.summary([result(1.0, 2.0, 1.0), result(1.0, 8.0, 3.0)])
    assert s["cpu"]["speedup_geomean"] == pytest.approx(4.0)
    assert (s["gpu"]["speedup_min"], s["gpu"]["speedup_max"]) == (1.0, 3.0)
    assert s["cpu"]["energy_saving_geomean"] == 4.0 and s["gpu"]["energy_saving_max"] == 2.0


def test_comparison_rows_name_the_paper_and_the_command():
    rows = graph_study.comparison_rows(CFG, datasets=("wikivote",), algorithms=("bfs",))
    assert [r["paper"] for r in rows] == ["16.01x (2.40-132.67x)", "33.82x (4.50-217.88x)",
                                         "1.69-2.19x", "4.77-8.91x"]
    assert all(r["command"] == "crosstrain graph --algorithm bfs --graph rmat:wikivote" for r in rows)
    for r in rows:
        assert all(math.isfinite(float(v)) and float(v) > 0 for v in re.findall(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", r["ours"]))
