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
  console command.

Importing :mod:`crosstrain` itself loads none of them.
"""
