"""The roll-up next to the tile: every weight layer of a small network compiled into a tile
program (:mod:`crosstrain.rollup.compiler`) and timed by the golden interpreter, whose schedule
is the RTL tile's (``tests/rtl/test_tile.py`` checks them cycle for cycle), beside what the
roll-up (:func:`crosstrain.rollup.mapper.map_layer` + ``golden/cycles.py``) charges for the same
layer with the same settings (``crosstrain estimate --rtl``).

The roll-up is run with the tile's mapping: transposed convolutions decomposed into ZARA's
phase groups (``tconv="decomposed"``), no bit-plane zero skipping and no write elimination (the
tile does neither). Per phase (forward, backward, gradient, crs) the tile's cycles are the
interpreter's phase cycles (the busiest unit's stretch); the model's are the phase's batch
cycles, of which ``movement`` are eDRAM and network cycles the tile does not model. A layer's
model cycles are its own :meth:`~crosstrain.rollup.mapper.NetworkMap.timeline` (forward, then
error back-propagation and gradient concurrently, update, CRS); the tile's are the whole
program. The tile's
``program`` phase (every weight row written once) has no counterpart in the roll-up, which
charges no initial programming per iteration. docs/estimate.md ("The roll-up against the tile")
says where the two differ and why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from crosstrain.golden import interpreter, isa
from crosstrain.golden.config import HardwareConfig
from crosstrain.rollup.compiler import MAX_TIMED, CompileError, compile_layer, tile_for
from crosstrain.rollup.mapper import NetworkMap, Technique, map_layer, replication_factors
from crosstrain.rollup.networks import Network

PHASES = ("forward", "backward", "gradient", "crs")


@dataclass(frozen=True)
class LayerRun:
    """One layer on the tile and in the roll-up; cycles per phase (:data:`PHASES`)."""

    layer: str
    kind: str
    units: int
    replication: int
    tile_cycles: int                 # the whole program, weight programming included
    program_cycles: int              # the tile's weight programming (no roll-up counterpart)
    tile: dict[str, int]             # phase -> the interpreter's cycles
    model: dict[str, float]          # phase -> the roll-up's batch cycles
    movement: dict[str, float]       # phase -> of the model's, eDRAM and network cycles
    model_cycles: float              # the layer alone in the roll-up's timeline (module docstring)

    def as_dict(self) -> dict:
        return {"layer": self.layer, "kind": self.kind, "units": self.units,
                "replication": self.replication, "tile_cycles": self.tile_cycles,
                "model_cycles": self.model_cycles,
                "program_cycles": self.program_cycles,
                "phases": {p: {"tile": self.tile[p], "model": self.model[p],
                               "model_movement": self.movement[p]} for p in PHASES}}


def tile_technique(tech: Technique) -> Technique:
    """``tech`` with the tile's mapping (module docstring)."""
    return replace(tech, tconv="decomposed", zero_skip=(), write_elim=())


def run_layers(net: Network, cfg: HardwareConfig, tech: Technique, *, batch: int) -> list[LayerRun]:
    """Every weight layer of ``net`` compiled, timed on the interpreter and mapped by the roll-up.
    :class:`~crosstrain.rollup.compiler.CompileError` (one line) when a layer does not fit one
    tile or executes more than ``MAX_TIMED`` instructions."""
    tech = tile_technique(tech)
    copies = replication_factors(net, tech)
    out = []
    for layer in net.weight_layers:
        g = copies.get(layer.name, 1)
        try:
            probe = tile_for(layer, cfg, units=isa.MAX_UNITS, batch=batch)
            need = len(compile_layer(layer, cfg, probe, batch=batch, technique=tech, replication=g).blocks)
        except CompileError as e:
            raise CompileError(f"--rtl runs each layer on one tile: {e}") from None
        tile = tile_for(layer, cfg, units=need, batch=batch)
        comp = compile_layer(layer, cfg, tile, batch=batch, technique=tech, replication=g)
        steps = sum(isa.executed(comp.program).values())
        if steps > MAX_TIMED:
            raise CompileError(f"--rtl: layer {layer.name} of {net.name} executes {steps:,} tile "
                               f"instructions at batch {batch}, more than the {MAX_TIMED:,} the cycle "
                               "model steps through: use a smaller network or --batch")
        res = interpreter.run(comp.program, tile, cfg)
        mapped = map_layer(layer, cfg, tech, batch=batch, replication=g)
        alone = NetworkMap(Network(layer.name, (layer,), net.input_shape), cfg, tech, batch, [mapped])
        phases = mapped.phases
        out.append(LayerRun(
            layer.name, layer.kind, need, g, res.cycles, res.phase_cycles.get("program", 0),
            {p: res.phase_cycles.get(p, 0) for p in PHASES},
            {p: phases[p].batch_cycles for p in PHASES},
            {p: batch * phases[p].movement_cycles for p in PHASES},
            alone.timeline()["total"]))
    return out
