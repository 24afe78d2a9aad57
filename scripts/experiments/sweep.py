"""Design-space sweeps: points of a grid, a resumable results table, local or Dask workers, and
the Pareto front (docs/sweeps.md).

A sweep is a list of *resolved points*: plain JSON-able dicts that say everything one evaluation
needs. Each point's key is a hash of its resolved dict (:func:`point_key`), so a rerun recognises
the points it already has whatever order the grid was given in. :class:`ResultStore` is the
results table, a JSONL file that only grows: one line per finished point, the points that
finish together written with one ``write`` and flushed to disk (``fsync``) before the next, so a
sweep killed at any moment leaves complete lines and at most one torn last line, which the next
run drops and redoes.

:func:`run` evaluates the points that are not yet in the store with a caller's ``evaluate``
function (a module-level function, so that worker processes can import it) in this process, in a
local process pool or on a Dask distributed cluster, and appends each result as it arrives. The
results are stored as JSON data only, never as pickles.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from crosstrain.errors import UserError

SCHEMA = "crosstrain.sweep/1"
MAX_POINTS = 1_000_000          # points of one sweep (a larger grid needs --random N)
KEY_HEX = 20                    # hex digits of a point key (80 bits)
DASK_IN_FLIGHT = 1000           # tasks submitted to a Dask cluster at a time
CHUNK_SECONDS = 0.1             # work per task of a local pool (seconds)
CHUNK_MAX = 64                  # points per task of a local pool, at most


def grid_size(axes: dict[str, tuple]) -> int:
    return math.prod(len(v) for v in axes.values())


def points(axes: dict[str, tuple], sample: int | None = None, seed: int = 0) -> list[dict]:
    """The grid points of ``axes`` (name -> values), as ``{name: value}`` dicts in the grid's
    order (the last axis fastest), or ``sample`` of them drawn without replacement with ``seed``
    (kept in grid order)."""
    total = grid_size(axes)
    if sample is None:
        if total > MAX_POINTS:
            raise UserError(f"the grid has {total:,} points, more than {MAX_POINTS:,}: draw some with "
                            "--random N")
        return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    if not 1 <= sample <= min(total, MAX_POINTS):
        raise UserError(f"--random {sample:,}: the grid has {total:,} points; draw 1 to "
                        f"{min(total, MAX_POINTS):,}")
    return [_point(axes, i) for i in sorted(random.Random(seed).sample(range(total), sample))]


def _point(axes: dict[str, tuple], index: int) -> dict:
    """Grid point number ``index`` (mixed radix, the last axis fastest)."""
    out = {}
    for name in reversed(list(axes)):
        index, digit = divmod(index, len(axes[name]))
        out[name] = axes[name][digit]
    return {name: out[name] for name in axes}


def canonical(obj) -> str:
    """``obj`` as canonical JSON: sorted keys, no spaces, tuples as lists."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True)


def point_key(resolved: dict) -> str:
    """The key of a resolved point: the first :data:`KEY_HEX` hex digits of the SHA-256 of its
    canonical JSON."""
    return hashlib.sha256(canonical(resolved).encode()).hexdigest()[:KEY_HEX]


class ResultStore:
    """The results table ``path`` (JSONL), one line per finished point, append-only.

    Use it as a context manager: it takes an exclusive lock (a second sweep into the same table
    is refused), drops a torn last line and reads the keys of the finished points into
    :attr:`keys`; iterating over the store reads the records back one at a time (the table is
    never held in memory). A line that is not a JSON object whose ``key`` is the key of its
    ``resolved`` point is ignored (:attr:`ignored` counts them).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.keys: set[str] = set()
        self.ignored = 0
        self._fd = None

    def __enter__(self) -> ResultStore:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise UserError(f"cannot open the results table {self.path}: {e.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise UserError(f"{self.path} is in use by another sweep: wait for it or use another "
                            "--out") from None
        self._read()
        return self

    def __exit__(self, *exc) -> None:
        os.close(self._fd)          # closing releases the lock

    def _read(self) -> None:
        size = end = 0
        with open(self._fd, "rb", closefd=False) as f:
            f.seek(0)
            for line in f:
                size += len(line)
                if not line.endswith(b"\n"):       # a torn last line: dropped, its point redone
                    break
                end = size
                record = _parse(line)
                if record is None:
                    self.ignored += 1
                else:
                    self.keys.add(record["key"])
        if end < size:
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
            self.ignored += 1

    def __iter__(self) -> Iterator[dict]:
        """The valid records of the table, in the order they were written."""
        with open(self._fd, "rb", closefd=False) as f:
            f.seek(0)
            for line in f:
                record = _parse(line)
                if record is not None:
                    yield record

    def extend(self, records: Iterable[dict]) -> None:
        """Write ``records``, one line each, with one ``write`` and flush them to disk (a write
        cut short leaves whole lines and at most one torn last line)."""
        records = list(records)
        lines = []
        for record in records:
            try:
                lines.append(canonical(record) + "\n")
            except ValueError:
                raise UserError(f"internal error: point {record['key']} gave a number that is not "
                                "finite (a bug: please report it with the command line)") from None
        data = "".join(lines).encode()
        written = os.write(self._fd, data)
        if written != len(data):
            raise UserError(f"{self.path}: short write ({written} of {len(data)} bytes; disk full?)")
        os.fsync(self._fd)
        self.keys.update(record["key"] for record in records)


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("resolved"), dict):
        return None
    return record if record.get("key") == point_key(record["resolved"]) else None


# --- engines -------------------------------------------------------------------------------------

def run(tasks: list[dict], evaluate: Callable[[dict], dict], store: ResultStore, *, workers: int = 1,
        client=None, pool=None, progress: Callable[[Iterable, int], Iterable] | None = None) -> int:
    """Evaluate the resolved points ``tasks`` that ``store`` does not hold yet and append a record
    ``{"key", "resolved", **evaluate(resolved)}`` for each as it finishes. ``client``: a
    ``distributed.Client`` to run on; else ``pool`` (a :func:`local_pool` of ``workers``
    processes, kept open by the caller) or ``workers`` local processes (1: this process).
    ``progress(iterable, total)`` wraps the stream of finished points (a progress bar). Returns
    the number of points evaluated."""
    todo = {}
    for resolved in tasks:
        key = point_key(resolved)
        if key not in store.keys:
            todo.setdefault(key, resolved)
    if client is not None:
        batches = ([item] for item in _dask(todo, evaluate, client))
    elif pool is not None or workers > 1:
        batches = _pool(todo, evaluate, pool or local_pool(workers), workers, owned=pool is None)
    else:
        batches = ([(key, evaluate(resolved))] for key, resolved in todo.items())

    def committed():                # each batch is stored (one write, one fsync) before it counts
        for batch in batches:
            store.extend({"key": key, "resolved": todo[key], **result} for key, result in batch)
            yield from batch
    stream = progress(committed(), len(todo)) if progress else committed()
    for _ in stream:
        pass
    return len(todo)


def local_pool(workers: int):
    """A pool of ``workers`` local processes (spawned: no state copied from this process) that
    ignore SIGINT: Ctrl-C stops this process, which stops them, without a traceback from each."""
    import concurrent.futures as cf
    import multiprocessing
    import signal

    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))


def _pool(todo: dict, evaluate, pool, workers: int, *, owned: bool) -> Iterator[list[tuple[str, dict]]]:
    """The points on ``pool`` of ``workers`` processes (shut down at the end when ``owned``) in
    chunks, at most two chunks per worker in flight; yields the points of the chunks that finish
    together. A chunk is one point at first, then sized to about :data:`CHUNK_SECONDS` of work
    (at most :data:`CHUNK_MAX` points, and no more than the remaining points spread over twice
    the workers): fast points would otherwise spend more time in the pool's messages than in
    the estimate."""
    import concurrent.futures as cf

    pending = iter(todo.items())
    left = len(todo)
    per_point = None                                  # seconds of one point, measured

    def submit():
        nonlocal left
        size = 1 if per_point is None else int(CHUNK_SECONDS / max(per_point, 1e-6))
        size = max(1, min(size, CHUNK_MAX, left // (2 * workers)))
        chunk = list(itertools.islice(pending, size))
        if chunk:
            left -= len(chunk)
            running[pool.submit(_evaluate_chunk, evaluate, [r for _, r in chunk])] = [k for k, _ in chunk]

    with contextlib.ExitStack() as stack:
        if owned:
            stack.enter_context(pool)
        running = {}
        try:
            for _ in range(2 * workers):
                submit()
            while running:
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                batch = []
                for future in finished:
                    keys = running.pop(future)
                    try:
                        results, seconds = future.result()
                    except cf.process.BrokenProcessPool:
                        raise UserError("a worker process died; the finished points are saved: rerun "
                                        "the same command to resume") from None
                    per_point = seconds / len(keys)
                    batch.extend(zip(keys, results))
                for _ in finished:
                    submit()
                yield batch
        finally:
            for future in running:
                future.cancel()
            if owned:
                pool.shutdown(cancel_futures=True)


def _evaluate_chunk(evaluate, chunk: list[dict]) -> tuple[list[dict], float]:
    """``evaluate`` of every point of ``chunk`` (in a worker), and the seconds they took."""
    t0 = time.perf_counter()
    return [evaluate(resolved) for resolved in chunk], time.perf_counter() - t0


def _dask(todo: dict, evaluate, client) -> Iterator[tuple[str, dict]]:
    """Every point as one task on the cluster of ``client``, at most :data:`DASK_IN_FLIGHT` at a
    time. Dask reruns the tasks of a worker that dies on another worker; results come back as
    plain dicts."""
    from distributed import KilledWorker, as_completed

    pending = iter(todo.items())
    futures = {}

    def submit(key, resolved):
        future = client.submit(evaluate, resolved, key=f"crosstrain-sweep-{key}", pure=False)
        futures[future] = key
        return future

    finished = as_completed([submit(k, r) for k, r in itertools.islice(pending, DASK_IN_FLIGHT)])
    try:
        for future in finished:
            key = futures.pop(future)
            try:
                result = future.result()
            except KilledWorker:
                raise UserError(f"point {key} was running on every worker that died (Dask gave up on "
                                "it); the finished points are saved: rerun to resume") from None
            yield key, result
            for k, r in itertools.islice(pending, 1):
                finished.add(submit(k, r))
    finally:
        client.cancel(list(futures))


# --- Pareto front --------------------------------------------------------------------------------

def pareto(costs: list[tuple[float, ...]]) -> list[int]:
    """Indexes of the rows of ``costs`` (to minimise) that no other row dominates: no other row is
    at most as large in every column and smaller in one. Equal rows are all kept.

    Rows are visited in lexicographic order, so a row's dominators come before it; a row that
    some earlier row dominates is also dominated by a row of the front found so far (follow the
    dominators back), so each row is checked against the front only."""
    import numpy as np

    if not costs:
        return []
    x = np.asarray(costs, dtype=float)
    front: list[int] = []
    for i in sorted(range(len(costs)), key=lambda i: tuple(x[i])):
        f = x[front]
        if not (np.all(f <= x[i], axis=1) & np.any(f < x[i], axis=1)).any():
            front.append(i)
    return sorted(front)
