"""The sweep engine: grid points, point keys, the append-only results table, the local and Dask
engines (a worker killed mid-sweep loses no point) and the Pareto front."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sys
import time

import pytest

from crosstrain.errors import UserError
from crosstrain.experiments import sweep


def test_grid_points_in_order_last_axis_fastest():
    axes = {"a": (1, 2, 3), "b": ("x", "y")}
    assert sweep.points(axes) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"},
                                  {"a": 2, "b": "y"}, {"a": 3, "b": "x"}, {"a": 3, "b": "y"}]
    assert sweep.grid_size(axes) == 6


def test_random_points_are_distinct_grid_points_and_reproducible():
    axes = {"a": tuple(range(7)), "b": tuple(range(5)), "c": (0.5, 1.5, 2.5)}
    grid = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    drawn = sweep.points(axes, 40, seed=3)
    assert len(drawn) == 40 and all(p in grid for p in drawn)
    assert len({json.dumps(p, sort_keys=True) for p in drawn}) == 40
    assert [grid.index(p) for p in drawn] == sorted(grid.index(p) for p in drawn)   # grid order
    assert sweep.points(axes, 40, seed=3) == drawn and sweep.points(axes, 40, seed=4) != drawn
    assert sweep.points(axes, len(grid), seed=9) == grid


def test_random_points_of_a_huge_grid_without_listing_it():
    axes = {f"x{i}": tuple(range(100)) for i in range(6)}          # 10^12 points
    drawn = sweep.points(axes, 5, seed=1)
    # the point's index from its digits (x0 the most significant) is in the seeded sample
    index = [sum(p[f"x{i}"] * 100 ** (5 - i) for i in range(6)) for p in drawn]
    assert index == sorted(random.Random(1).sample(range(100 ** 6), 5))


@pytest.mark.parametrize("n", [0, 7])
def test_random_more_points_than_the_grid_is_one_error(n):
    with pytest.raises(UserError, match=r"--random .*: the grid has 6 points"):
        sweep.points({"a": (1, 2, 3), "b": (1, 2)}, n)


def test_a_grid_too_large_to_list_asks_for_random():
    with pytest.raises(UserError, match="--random N"):
        sweep.points({f"x{i}": tuple(range(100)) for i in range(4)})


def test_point_key_is_the_content_not_the_order():
    a = {"set": {"crossbar.rows": 64, "x.y": (6, 6, 5)}, "batch": 64}
    b = {"batch": 64, "set": {"x.y": [6, 6, 5], "crossbar.rows": 64}}
    assert sweep.point_key(a) == sweep.point_key(b)
    assert len(sweep.point_key(a)) == sweep.KEY_HEX
    assert sweep.point_key({**a, "batch": 32}) != sweep.point_key(a)


def _record(i: int) -> dict:
    resolved = {"x": i}
    return {"key": sweep.point_key(resolved), "resolved": resolved, "y": 2 * i}


def test_store_appends_whole_lines_and_reads_them_back(tmp_path):
    path = tmp_path / "r.jsonl"
    with sweep.ResultStore(path) as store:
        store.extend([_record(0)])
        store.extend([_record(1), _record(2)])
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and [json.loads(line) for line in lines[:-1]] == [_record(i) for i in range(3)]
    with sweep.ResultStore(path) as store:
        assert store.keys == {_record(i)["key"] for i in range(3)} and store.ignored == 0
        assert list(store) == [_record(i) for i in range(3)]


def test_store_drops_a_torn_last_line_and_ignores_bad_ones(tmp_path):
    path = tmp_path / "r.jsonl"
    forged = {**_record(5), "key": _record(6)["key"]}             # a key that is not its point's
    good = [json.dumps(_record(i)) for i in range(2)]
    body = "\n".join([good[0], "not json", json.dumps(forged), "[1, 2]", good[1]]) + "\n"
    path.write_text(body + json.dumps(_record(9))[:25])            # killed in the middle of a write
    with sweep.ResultStore(path) as store:
        assert store.keys == {_record(0)["key"], _record(1)["key"]}
        assert store.ignored == 4                                  # 3 bad lines + the torn one
        assert path.read_text() == body                            # the torn tail is cut off
        store.extend([_record(9)])
    with sweep.ResultStore(path) as store:
        assert _record(9)["key"] in store.keys and list(store)[-1] == _record(9)


def test_a_non_finite_result_is_one_error_and_no_line(tmp_path):
    with sweep.ResultStore(tmp_path / "r.jsonl") as store:
        with pytest.raises(UserError, match="not finite"):
            sweep.run([{"x": 1}], lambda resolved: {"y": float("nan")}, store)
    assert (tmp_path / "r.jsonl").read_bytes() == b""


def test_a_second_sweep_into_the_same_table_is_refused(tmp_path):
    with sweep.ResultStore(tmp_path / "r.jsonl"):
        with pytest.raises(UserError, match="in use by another sweep"):
            sweep.ResultStore(tmp_path / "r.jsonl").__enter__()


def _table(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("workers", [1, 2])
def test_run_evaluates_only_missing_points(tmp_path, workers):
    # ``dict`` as the evaluation: importable in every worker, result = the point itself
    tasks = [{"x": i} for i in range(12)]
    with sweep.ResultStore(tmp_path / "r.jsonl") as store:
        assert sweep.run(tasks[:5], dict, store, workers=workers) == 5
    with sweep.ResultStore(tmp_path / "r.jsonl") as store:
        assert sweep.run(tasks + tasks[:3], dict, store, workers=workers) == 7
    rows = _table(tmp_path / "r.jsonl")
    assert sorted(r["x"] for r in rows) == list(range(12))       # none lost, none twice
    assert all(r["key"] == sweep.point_key({"x": r["x"]}) and r["resolved"] == {"x": r["x"]} for r in rows)


def test_local_workers_take_fast_points_in_chunks(tmp_path):
    """Points that take microseconds go to the workers many at a time (the finished chunks
    arrive as few batches, one write each), and every point comes back once."""
    todo = {f"k{i}": {"x": i} for i in range(400)}
    batches = list(sweep._pool(todo, dict, sweep.local_pool(2), 2, owned=True))
    got = [key for batch in batches for key, _ in batch]
    assert sorted(got) == sorted(todo) and len(got) == 400
    assert all(result == todo[key] for batch in batches for key, result in batch)
    assert len(batches) < 40, f"{len(batches)} batches for 400 fast points: not chunked"


def _slow_double(resolved: dict) -> dict:
    time.sleep(0.1)
    return {"y": 2 * resolved["x"]}


def test_dask_equals_local_and_a_killed_worker_loses_no_point(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    monkeypatch.setattr(sweep, "DASK_IN_FLIGHT", 4)             # points are submitted as others end

    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the test module is not importable
    tasks = [{"x": i} for i in range(16)]
    with sweep.ResultStore(tmp_path / "local.jsonl") as store:
        sweep.run(tasks, _slow_double, store)
    killed = []

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)

        def kill_after_two(stream, total):
            for n, item in enumerate(stream):
                if n == 2:
                    victim = sorted(pids)[0]
                    os.kill(pids[victim], signal.SIGKILL)
                    killed.append(victim)
                yield item
        with sweep.ResultStore(tmp_path / "dask.jsonl") as store:
            assert sweep.run(tasks, _slow_double, store, client=client, progress=kill_after_two) == 16
    assert killed
    local, dask = _table(tmp_path / "local.jsonl"), _table(tmp_path / "dask.jsonl")
    assert len(dask) == 16 and all(r["y"] == 2 * r["resolved"]["x"] for r in dask)
    assert sorted(local, key=lambda r: r["y"]) == sorted(dask, key=lambda r: r["y"])


def _dominated_brute(costs, i) -> bool:
    return any(all(a <= b for a, b in zip(other, costs[i])) and any(a < b for a, b in zip(other, costs[i]))
               for j, other in enumerate(costs) if j != i)


def test_pareto_front_by_hand():
    costs = [(1, 5, 5), (2, 2, 2), (3, 3, 3), (1, 5, 5), (5, 1, 9), (2, 2, 3)]
    # (3,3,3) and (2,2,3) are dominated by (2,2,2); equal rows are both kept
    assert sweep.pareto(costs) == [0, 1, 3, 4]
    assert sweep.pareto([]) == []


@pytest.mark.parametrize("seed", range(5))
def test_pareto_front_equals_brute_force(seed):
    rng = random.Random(seed)
    costs = [tuple(rng.choice(range(6)) for _ in range(3)) for _ in range(60)]
    expected = [i for i in range(len(costs)) if not _dominated_brute(costs, i)]
    assert sweep.pareto(costs) == expected, f"seed {seed}"
