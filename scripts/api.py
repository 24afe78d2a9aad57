"""CrossTrain's public API for scripts and notebooks (docs/api.md).

``crosstrain.estimate(...)`` is ``crosstrain estimate`` without the report folder,
``crosstrain.load_config(...)`` is ``crosstrain config show`` and ``crosstrain.import_torch(...)``
turns a PyTorch module into a network ``estimate`` takes; the first two take the names of the command
line's ``--set`` (:mod:`crosstrain.options`) as typed Python values, e.g.
``set={"converters.adcs_per_array": 4, "cost.duty": 0.5}``. Bad input raises a ``ValueError``
subclass with a one-line message (:class:`~crosstrain.golden.config.ConfigError`,
:class:`~crosstrain.rollup.mapper.SettingError`, :class:`~crosstrain.rollup.networks.NetworkError`).
"""

from __future__ import annotations

from dataclasses import dataclass

from crosstrain import accuracy as accuracy_source
from crosstrain import experiment, options
from crosstrain.errors import UserError
from crosstrain.estimate_report import LAYER_COLUMNS, layer_rows, system_rows
from crosstrain.golden import config
from crosstrain.golden.config import ConfigError, HardwareConfig
from crosstrain.golden.userinput import shown
from crosstrain.rollup import network_files
from crosstrain.rollup.estimate import ALL_SYSTEMS, DEFAULT_NETWORK, DEFAULT_SYSTEMS, Estimate
from crosstrain.rollup.estimate import estimate as _estimate
from crosstrain.rollup.networks import Gan, Network
from crosstrain.rollup.reg3d import ACCURACY_DROP_DEFAULT


def _dotted(values: dict | None, prefix: str = "") -> dict:
    """``{"crossbar": {"rows": 64}}`` or ``{"crossbar.rows": 64}`` -> ``{"crossbar.rows": 64}``,
    lists as tuples (the values are cached by content)."""
    out = {}
    for key, v in (values or {}).items():
        name = f"{prefix}{key}"
        if isinstance(v, dict):
            out |= _dotted(v, name + ".")
        elif isinstance(v, str) or not hasattr(v, "__iter__"):
            out[name] = v
        else:
            out[name] = tuple(v)
    return out


def load_config(preset_or_file: str = "panther", set: dict | None = None) -> HardwareConfig:
    """The configuration of a preset name or TOML file with ``set`` applied: configuration fields
    as ``{"section.field": value}`` (or nested ``{"section": {"field": value}}``)."""
    return config.load(preset_or_file).with_overrides(_dotted(set))


@dataclass
class EstimateResult:
    """One training iteration of a network on each system (the GPU baseline first)."""

    estimate: Estimate
    accuracy: dict       # where the accuracy drops came from (the JSON's ``accuracy``)

    def to_dict(self) -> dict:
        """The JSON object of ``crosstrain estimate --json`` (docs/estimate.md: schema
        ``crosstrain.estimate/1``), as plain Python data."""
        return {**self.estimate.as_dict(), "accuracy": dict(self.accuracy)}

    def to_pandas(self, table: str = "systems"):
        """A pandas DataFrame of ``systems.csv`` (one row per system) or, with
        ``table="layers"``, of ``layers.csv`` (one row per system, layer and phase)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas, the `pandas` extra: "
                              "pip install 'crosstrain[pandas]'") from None
        data = self.to_dict()
        if table == "systems":
            header, rows = system_rows(data)
            return pd.DataFrame(rows, columns=header)
        if table == "layers":
            return pd.DataFrame(layer_rows(data), columns=list(LAYER_COLUMNS))
        raise ValueError(f"table = {shown(table)}: use 'systems' or 'layers'")


def estimate(network: str | Network | Gan = DEFAULT_NETWORK, systems=DEFAULT_SYSTEMS, *,
             preset: str = "panther", baseline_preset: str = "pipelayer", batch: int = 64,
             set: dict | None = None, accuracy: str = "paper") -> EstimateResult:
    """Estimate one training iteration of ``network`` (a built-in name, a .csv / .toml / .onnx
    network file or a :class:`~crosstrain.rollup.networks.Network`) on ``systems`` (names as for
    ``--systems``: a list, a comma-separated string, or ``"all"``), with the crossbars of
    ``preset`` and ``baseline_preset`` (PipeLayer-like), mini-batch ``batch`` and ``set``: any
    ``--set`` name with a typed value (configuration fields of both presets, ``cost.*``,
    ``gpu.*``, ``reg3d.*``, ``link.NAME.*``, ``mapper.*``); ``accuracy``: where the accuracy
    drops come from, as ``--accuracy`` (``"paper"``, a ``crosstrain train --json`` file or
    ``"measure"`` with the default training settings)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= options.MAX_INT:
        raise ConfigError(f"batch = {batch!r} is not allowed: a positive integer")
    if isinstance(systems, str):
        systems = ALL_SYSTEMS if systems.strip() == "all" else [s.strip() for s in systems.split(",") if s.strip()]
    net = network if isinstance(network, (Network, Gan)) else network_files.load_workload(network)
    vals = _dotted(set)
    exp = experiment.merge(experiment.DEFAULTS, {"hardware": {"base": preset, "baseline": baseline_preset,
                                                              "set": vals}, "estimate": {"accuracy": accuracy}})
    try:
        drops, sources, info = accuracy_source.drops(exp, list(systems), progress=False)
    except UserError as e:
        raise ConfigError(str(e)) from None
    info.pop("measured_now", None)
    measured = {"accuracy_drop": tuple(sorted({**ACCURACY_DROP_DEFAULT, **drops}.items())),
                "accuracy_source": tuple(sorted(sources.items()))} if drops else {}
    settings = options.estimate_settings(vals, batch=batch, preset=preset,
                                         baseline_preset=baseline_preset, **measured)
    return EstimateResult(_estimate(net, settings, list(systems)), info)


def import_torch(module, example_input, *, name: str | None = None) -> Network:
    """The network of a PyTorch module (``torch.fx``-traced, run once on ``example_input``, one
    tensor ``[N, C, H, W]`` or ``[N, features]``), for ``estimate(network=...)``; ``name``
    defaults to the module's class name. Needs PyTorch, the ``torch`` extra: without it the call
    raises an ImportError naming ``pip install 'crosstrain[torch]'``."""
    from crosstrain.rollup import torch_import
    return torch_import.from_module(module, example_input, name)
