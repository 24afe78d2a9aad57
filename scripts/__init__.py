"""CrossTrain: a cycle-accurate, verifiable model of ReRAM processing-in-memory training
accelerators.

One import package whose parts depend on each other in one direction only (docs/ARCHITECTURE.md;
``tests/test_layout.py`` checks it):

- :mod:`crosstrain.golden`: numpy references of what the crossbars and their converters compute
  (configuration and presets, encoding, crossbar, OPA/CRS, cycles, deconvolution, zero skipping,
  the write-elimination comparator, graph processing); imports nothing else of CrossTrain.
- :mod:`crosstrain.rtl`: the Amaranth periphery, its Verilog export and block registry.
- :mod:`crosstrain.tb`: cocotb / amaranth.sim benches of the RTL against golden.
- :mod:`crosstrain.rollup`: networks, mapper, cost, GPU, 3D-ReG, the estimate; graph workloads and
  their cost.
- :mod:`crosstrain.experiments`: training runs and the write-elimination study.
- :mod:`crosstrain.cli`, :mod:`crosstrain.commands`, :mod:`crosstrain.bench`: the ``crosstrain``
  console command, whose values follow one grammar (:mod:`crosstrain.options`).

The public API (docs/api.md): :func:`crosstrain.estimate`, :func:`crosstrain.load_config` and
:func:`crosstrain.import_torch` (from :mod:`crosstrain.api`). Importing :mod:`crosstrain` itself
loads none of the layers: the API is imported on first use.
"""

__all__ = ["estimate", "import_torch", "load_config"]


def __getattr__(name):
    if name in __all__:
        from crosstrain import api
        return getattr(api, name)
    raise AttributeError(f"module 'crosstrain' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
