"""The roll-up: networks and network files, the mapper, per-system cost (ReRAM, digital, GPU,
3D-ReG) and the estimate behind ``crosstrain estimate``; graph workloads and their cost on GraphR,
a CPU and a GPU behind ``crosstrain graph``. Built on :mod:`crosstrain.golden`."""
