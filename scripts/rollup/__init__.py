"""The roll-up: networks and network files, the mapper, per-system cost (ReRAM, digital, GPU,
3D-ReG) and the estimate behind ``crosstrain estimate``. Built on :mod:`crosstrain.golden`."""
