# %% [markdown]
# # A tour of CrossTrain's Python API
#
# A notebook-style script (cells marked `# %%`, as VS Code and Jupytext read them). Run it whole
# with `python docs/examples/api_tour.py`; `tests/test_docs.py` runs it in the suite. The API is
# documented in docs/api.md.

# %%
import crosstrain

# %% [markdown]
# ## A configuration
# `load_config` takes a preset or a TOML file and the names of the command line's `--set`.

# %%
cfg = crosstrain.load_config("panther", set={"converters.adcs_per_array": 4})
print(f"{cfg.name}: {cfg.crossbar.rows}x{cfg.crossbar.cols} arrays, {cfg.weight_slices} slices per "
      f"weight, {cfg.converters.adcs_per_array} ADCs per array")

# %% [markdown]
# ## One estimate
# One training iteration of a network on some systems, against the GPU baseline (always first).

# %%
result = crosstrain.estimate("vgg8-cifar10", ["panther", "pipelayer"], batch=64)
for s in result.to_dict()["systems"]:
    print(f"{s['name']:<10} {s['latency_s'] * 1e3:9.3f} ms {s['energy_j'] * 1e3:10.3f} mJ "
          f"speedup {s['speedup_vs_gpu']:8.2f}x")

# %% [markdown]
# ## A sweep
# Any `--set` name is a key of `set=`: configuration fields (applied to both presets) and the
# estimate's own settings (`cost.*`, `gpu.*`, `reg3d.*`, `link.NAME.*`, `mapper.*`).

# %%
for adcs in (1, 2, 4, 8):
    d = crosstrain.estimate("vgg8-cifar10", ["panther"], set={"converters.adcs_per_array": adcs}).to_dict()
    panther = d["systems"][1]
    print(f"{adcs} ADC(s) per array: {panther['latency_s'] * 1e3:8.3f} ms, {panther['area_mm2']:8.1f} mm2")

# %% [markdown]
# ## As a DataFrame
# `to_pandas()` gives the rows of the report's systems.csv (`to_pandas("layers")`: layers.csv);
# it needs pandas (`pip install 'crosstrain[pandas]'`).

# %%
try:
    frame = result.to_pandas()
except ImportError as e:
    print(e)
else:
    print(frame[["name", "latency_s", "energy_j", "speedup_vs_gpu"]].to_string(index=False))
