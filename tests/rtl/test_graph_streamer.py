"""GraphR's sub-block streamer with the MVM unit and the analog crossbar: block windows against
crosstrain.golden.graph.schedule, block outputs against crosstrain.golden.crossbar.block_mvm, the
destinations' sums against crosstrain.golden.graph.mac_pass (bit for bit, ADC clipping included)
and cycles against crosstrain.golden.cycles.graph_stream_cycles (amaranth.sim on small R-MAT
graphs; cocotb on Icarus and Verilator)."""

import gc

import numpy as np
import pytest

from crosstrain.golden.cycles import graph_stream_cycles, mvm_schedule, write_row_cycles
from crosstrain.golden.graph import GraphEngines, StreamerParams, mac_pass
from crosstrain.golden.periphery import periphery_params
from crosstrain.rollup.graphs import rmat
from crosstrain.rtl.graph_streamer import GraphStreamer
from crosstrain.tb.graph_bench import check_graph, graph_partition, simulate, spmv_codes
from crosstrain.tb.runner import run_bench

# graphr's 8x8 crossbars of 4-bit cells with 8-bit values (8 input steps, two slices) and short
# reads and writes, so a block takes about 60 cycles
SMALL = {"precision.input_bits": 8, "precision.weight_bits": 8, "crossbar.read_latency_ns": 3,
         "device.write_latency_ns": 2, "converters.adcs_per_array": 2}


def streamer(extra=None, **sizes) -> StreamerParams:
    return StreamerParams(periphery_params(SMALL | (extra or {}), preset="graphr"),
                          **({"vertices": 48, "blocks": 36, "edges": 128} | sizes))


def rmat_graph(vertices: int, edges: int, seed: int) -> dict:
    a = rmat(vertices, edges, seed=seed).tocoo()
    return {"n": vertices, "src": a.row.tolist(), "dst": a.col.tolist(), "value": a.data.tolist()}


def case(params: StreamerParams, graph: dict, slots: int, seed: int):
    engines = GraphEngines(ges=1, crossbars_per_ge=slots * params.periphery.cfg.arrays_per_block)
    part = graph_partition(params, graph, engines)
    return (part, *spmv_codes(params, part, seed))


@pytest.mark.parametrize("slots", [1, 3])
@pytest.mark.parametrize("extra", [{}, {"converters.adc_bits": 4},
                                   {"crossbar.encoding": "differential", "tile.pipeline_cycles": 3}])
@pytest.mark.parametrize("seed", range(2))
def test_blocks_windows_sums_and_cycles_match_the_golden_models(seed, extra, slots):
    params = streamer(extra)
    part, w, x = case(params, rmat_graph(44, 90, seed), slots, seed)
    assert part.blocks < part.grid_blocks, "no empty block to skip"
    note = f"seed={seed} {extra} slots={slots}"
    check_graph(params, part, w, x, simulate(params, part, w, x), note=note)
    if "converters.adc_bits" in extra:
        events = mac_pass(part, w, x, params.periphery.cfg, fast=False)[1].events
        assert events.adc_clipped > 0, f"the clipping case does not clip ({note})"


def test_cycle_model_by_hand():
    """graph_stream_cycles against the schedule written out for SMALL: read 3, conversions 4
    (8 columns / 2 ADCs), 8 steps -> latency 3 + 7 x 4 + 4 + 2 = 37; 8 rows x 2-cycle writes."""
    cfg = streamer().periphery.cfg
    assert (mvm_schedule(cfg).latency, write_row_cycles(cfg)) == (37, 2)
    assert graph_stream_cycles(cfg, [1, 4]) == (1 + 3 + 16 + 37) + (4 + 3 + 16 + 37)
    assert graph_stream_cycles(cfg, []) == 0


@pytest.mark.parametrize("seed", range(2))
def test_output_back_pressure(seed):
    """Random stalls on ``o``: every block once, in order, the same values; the run is longer."""
    params = streamer()
    part, w, x = case(params, rmat_graph(32, 60, seed), 2, seed)
    run = simulate(params, part, w, x, stall_seed=seed, stall=0.7)
    check_graph(params, part, w, x, run, note=f"seed={seed} stalled", timing=False)
    total = graph_stream_cycles(params.periphery.cfg, np.diff(part.block_edges))
    assert run.outputs[-1].cycle - run.start > total, f"seed={seed}: no stall reached the streamer"


@pytest.mark.parametrize("at", [2, 70, 150])
def test_reset_mid_stream(at, seed=2):
    """A two-cycle reset ``at`` cycles after ``start`` (first block fetching, second programming,
    third in its MVM): no handshake while ``rst`` is high (the stream agents check it), idle
    right after, and the graph, still in the memories, streams again exactly (values, cycles)."""
    params = streamer()
    part, w, x = case(params, rmat_graph(32, 60, seed), 2, seed)
    run = simulate(params, part, w, x, reset_at=at)
    check_graph(params, part, w, x, run, note=f"seed={seed} reset at {at}")


def test_a_graph_filling_every_memory_word():
    """Blocks and edges exactly as many as the memories hold (the edge pointer reaches the depth)."""
    graph = rmat_graph(16, 30, 4)
    base = streamer(vertices=16)
    part, _, _ = case(base, graph, 1, 4)
    params = streamer(vertices=16, blocks=part.blocks, edges=part.edges)
    part, w, x = case(params, graph, 1, 4)
    check_graph(params, part, w, x, simulate(params, part, w, x), note="full memories")


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_parameters_are_one_line():
    p = periphery_params(SMALL, preset="graphr")
    with pytest.raises(TypeError, match="params must be a crosstrain.golden.graph.StreamerParams"):
        GraphStreamer(params=p)
    with pytest.raises(ValueError, match=r"StreamerParams.edges must be an integer in \[1, 1048576\], not 0"):
        StreamerParams(p, edges=0)
    with pytest.raises(TypeError, match="StreamerParams.periphery must be"):
        StreamerParams(None)
    small = streamer(vertices=16, blocks=2)
    with pytest.raises(ValueError, match="the graph needs blocks = .*, the streamer holds 2: raise "
                                         "StreamerParams.blocks"):
        case(small, rmat_graph(16, 30, 0), 1, 0)
    gc.collect()


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cocotb_bench_on_a_small_rmat_graph(simulator):
    params = streamer(vertices=32, blocks=16, edges=64)      # 10 of the 16 blocks non-empty
    d = {"streamer": params.as_dict(), "graph": rmat_graph(32, 30, 1), "slots": 2, "seed": 1}
    tests, failed = run_bench(GraphStreamer(params=params), design="graph_streamer", params=d,
                              simulator=simulator, test_module="crosstrain.tb.graph_bench")
    assert (tests, failed) == (3, 0)
