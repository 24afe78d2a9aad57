"""PANTHER's baselines: PANTHER's own training flow with other units in place of its crossbars.

PANTHER's simulator (puma-simulator, branch ``training``; reference sheet section 1) costs its
baselines by changing only the latency and power of one access of the crossbar operations:
mapping, digital parts, leakage, network and tile stay PANTHER's, so every baseline has the
PANTHER chip's area (the digital MVM unit's 8.97x longer access is PUMA's iso-area figure). Each
variant here is the set of configuration overrides that does the same to ``--preset``: an MVM
step (one input bit on one slice) is one access, an OPA row-bit step on one update array is one
access (so the RTL-backed serial schedule takes ``input_bits`` x 4 of them in turn, the reference
accounting 4).

``digital``            digital MVM unit, 897 ns at 1.274 mW per access = 1,142.6 pJ
                       (constants_digital.py: 100 ns x 8.97, 2.74 mW x 4.17 / 8.97), and the CMOS
                       outer-product unit for the update; weights are exact digital words, so there
                       are no update slices to carry-resolve (no CRS) and no cell wear
``cmos-op``            ReRAM crossbar MVMs, CMOS outer-product unit: 256 ns at 1.134 mW per access
                       = 290.3 pJ (constants_cmosOP.py: 20 ns x 12.8, 4.44 mW x 3.27 / 12.8)
``pipelayer-panther``  PANTHER's PipeLayer-like variant: MVM steps at 2.74 mW (274 pJ per 100 ns,
                       constants_pipelayer.py) and the update by serial writes, 475 ns at
                       2.74 + 4.44 x 53 = 238.06 mW per access = 113,078.5 pJ
"""

from __future__ import annotations

from crosstrain.golden.config import HardwareConfig

VARIANTS = {
    "digital": {"crossbar.read_latency_ns": 897.0, "tile.mvm_step_energy_pj": 897.0 * 1.274,
                "tile.opa_phase_ns": 256.0, "tile.opa_step_energy_pj": 256.0 * 1.134},
    "cmos-op": {"tile.opa_phase_ns": 256.0, "tile.opa_step_energy_pj": 256.0 * 1.134},
    "pipelayer-panther": {"tile.mvm_step_energy_pj": 100.0 * 2.74, "tile.opa_phase_ns": 475.0,
                          "tile.opa_step_energy_pj": 475.0 * (2.74 + 4.44 * 53)},
}
NO_CRS = ("digital",)          # exact digital weights: nothing to carry-resolve

DESCRIPTIONS = {
    "digital": "PANTHER's digital baseline: digital MVM units (897 ns, 1,142.6 pJ per access) and "
               "a CMOS outer-product unit (256 ns, 290.3 pJ), iso-area, no CRS",
    "cmos-op": "PANTHER's CMOS-OP baseline: crossbar MVMs, CMOS outer-product unit (256 ns, "
               "290.3 pJ per access)",
    "pipelayer-panther": "PANTHER's PipeLayer-like baseline: crossbar MVMs (274 pJ per step), update "
                         "by serial writes (475 ns, 113 nJ per access)",
}


def variant(cfg: HardwareConfig, name: str) -> HardwareConfig:
    """``cfg`` with the units of variant ``name`` in place of its crossbar operations."""
    return cfg.with_overrides({**VARIANTS[name], "name": f"{cfg.name}:{name}"})
