"""Networks from files: a layer-table CSV (ours or NeuroSim's NetWork.csv) and a TOML layer list.

Every mistake is reported as one :class:`~crosstrain.rollup.networks.NetworkError` line that starts with
``FILE:LINE:COLUMN:`` (1-based) and names the value and what is allowed. The formats are
documented in docs/estimate.md; in short:

CSV with a header row (``#`` starts a comment line)::

    name,type,in_ch,in_h,in_w,out_ch,kernel,stride,padding,output_padding,from
    conv1,conv,3,32,32,64,3,1,1,,
    pool1,pool,,,,,2,2,,,

``type`` and (for conv / tconv / fc) ``out_ch`` are required; empty ``in_*`` cells take the
previous layer's output (the first row must give them: they are the network input); ``from``
names an earlier layer (or ``input``) whose output this layer reads, and for ``add`` the layer
whose output is added to the previous one.

NeuroSim's NetWork.csv (no header; eight integers per row): ``IFM rows, IFM cols, IFM
channels, kernel rows, kernel cols, OFM channels, pool after (0/1), stride``. A 1x1 input with a
1x1 kernel is a fully connected layer; other rows are convolutions with "same" padding
((kernel - 1) / 2, NeuroSim's convention); ``pool = 1`` adds a 2x2 stride-2 max pool.

TOML::

    name = "tiny"
    input = [1, 28, 28]          # channels, height, width
    [[layer]]
    type = "conv"
    out_ch = 8
    kernel = 3
    padding = 1
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from crosstrain.golden.userinput import TomlLocator, load_toml, read_text, shown
from crosstrain.rollup import onnx_import
from crosstrain.rollup.networks import GANS, KINDS, MAX_SIZE, Gan, NetBuilder, Network, NetworkError, builtin

CSV_COLUMNS = ("name", "type", "in_ch", "in_h", "in_w", "out_ch", "kernel", "stride", "padding",
               "output_padding", "from")
_INT_KEYS = ("in_ch", "in_h", "in_w", "out_ch", "kernel", "stride", "padding", "output_padding")
TOML_LAYER_KEYS = ("name", "type", "out_ch", "kernel", "stride", "padding", "output_padding", "from")
TOML_TOP_KEYS = ("name", "dataset", "description", "input", "layer")
_INTEGER = re.compile(r"[-+]?[0-9]+")      # ASCII digits only: int() also reads other scripts'


def load(source: str | Path) -> Network:
    """A built-in network by name, or a ``.csv`` / ``.toml`` / ``.onnx`` network file."""
    s = str(source)
    path = Path(s)
    if path.suffix.lower() == ".onnx":
        return onnx_import.load(path)
    if path.suffix.lower() not in (".csv", ".toml"):
        return builtin(s)
    text = read_text(path, NetworkError, "network file")
    return parse_csv(text, s) if path.suffix.lower() == ".csv" else parse_toml(text, s)


def load_workload(source: str | Path) -> Network | Gan:
    """What ``crosstrain estimate --network`` takes: a built-in GAN by name (one GAN training
    iteration), else what :func:`load` reads."""
    return GANS[source]() if source in GANS else load(source)


def _located(where: str, e: NetworkError | str, field=None) -> NetworkError:
    msg = str(e)
    return NetworkError(f"{where}: {msg}", field if field is not None else getattr(e, "field", None))


# ---- CSV -----------------------------------------------------------------------------------------

def _csv_rows(text: str, path: str):
    """(line number, fields, column start of each field) of every non-blank, non-comment line."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            fields = next(csv.reader([line]))
        except csv.Error as e:                # e.g. a field past csv.field_size_limit()
            raise NetworkError(f"{path}:{lineno}:1: not a CSV row: {e}") from None
        starts, pos = [], 0
        for f in fields:                      # column of each field (exact unless quoted)
            starts.append(pos + 1)
            pos += len(f) + 1
        yield lineno, [f.strip() for f in fields], starts


def parse_csv(text: str, path: str = "<csv>") -> Network:
    rows = list(_csv_rows(text, path))
    if not rows:
        raise NetworkError(f"{path}:1:1: no layers (expected a header row or NeuroSim rows)")
    first = rows[0][1]
    if all(_INTEGER.fullmatch(f) for f in first):
        return _parse_neurosim(rows, path)
    return _parse_table(rows, path)


def _integer(text: str, label: str, where: str, lo: int = 0) -> int:
    """A CSV cell as an integer from ``lo`` to :data:`MAX_SIZE`; digit strings longer than an
    int64 are rejected before conversion (no layer dimension comes near them)."""
    if not _INTEGER.fullmatch(text):
        raise NetworkError(f"{where}: {label} = {shown(text)} is not an integer")
    value = int(text) if len(text.lstrip("+-").lstrip("0")) <= 18 else None
    if value is None or not lo <= value <= MAX_SIZE:
        raise NetworkError(f"{where}: {label} = {shown(text) if value is None else value} is not "
                           f"allowed: from {lo} to {MAX_SIZE:,}")
    return value


def _parse_table(rows, path) -> Network:
    lineno, header, starts = rows[0]
    header = [h.lower() for h in header]
    for i, (h, col) in enumerate(zip(header, starts)):
        if h not in CSV_COLUMNS:
            raise NetworkError(f"{path}:{lineno}:{col}: unknown column {shown(h)}; columns are "
                               + ", ".join(CSV_COLUMNS))
        if h in header[:i]:
            raise NetworkError(f"{path}:{lineno}:{col}: column {h!r} appears twice")
    if "type" not in header:
        raise NetworkError(f"{path}:{lineno}:1: the header needs a 'type' column; columns are "
                           + ", ".join(CSV_COLUMNS))
    builder = None
    for lineno, fields, starts in rows[1:]:
        if len(fields) > len(header):
            raise NetworkError(f"{path}:{lineno}:{starts[len(header)]}: {len(fields)} fields but the "
                               f"header has {len(header)}")
        cells = dict(zip(header, fields))
        col = {h: starts[i] if i < len(starts) else starts[-1] + 1 for i, h in enumerate(header)}
        where = lambda key: f"{path}:{lineno}:{col.get(key, 1)}"      # noqa: E731
        values = {key: _integer(cells[key], key, where(key), 0 if "padding" in key else 1)
                  for key in _INT_KEYS if cells.get(key)}
        kind = _kind(cells.get("type", ""), where("type"))
        if builder is None:
            shape = [values.get(k) for k in ("in_ch", "in_h", "in_w")]
            if shape[0] is None:
                raise NetworkError(f"{where('in_ch')}: the first layer must give in_ch (and in_h, "
                                   "in_w for images): they are the network input")
            shape = [shape[0], shape[1] or 1, shape[2] or 1]
            try:
                builder = NetBuilder(Path(path).stem, shape)
            except NetworkError as e:
                raise _located(where("in_ch"), e) from None
        try:
            _add(builder, kind, values, cells.get("name") or None, cells.get("from") or None,
                 in_shape=(values.get("in_ch"), values.get("in_h"), values.get("in_w")))
        except NetworkError as e:
            raise _located(where(e.field or "type"), e) from None
    if builder is None:
        raise NetworkError(f"{path}:{rows[0][0]}:1: a header but no layers")
    return builder.build()


def _kind(value: str, where: str) -> str:
    v = value.lower()
    if v not in KINDS:
        raise NetworkError(f"{where}: type = {shown(value)} is not a layer type; use one of "
                           + ", ".join(KINDS))
    return v


def _add(builder: NetBuilder, kind, values, name, src, in_shape=None):
    common = dict(name=name, in_shape=in_shape)
    if kind == "add":
        if not src:
            raise NetworkError("an add layer needs 'from': the layer whose output is added", "from")
        return builder.add(src, **common)
    values.setdefault("kernel", 1)
    values.setdefault("stride", values["kernel"] if kind == "pool" else 1)
    return builder.add_layer(kind, out_ch=values.get("out_ch"), kernel=values["kernel"],
                             stride=values["stride"], padding=values.get("padding", 0),
                             output_padding=values.get("output_padding", 0), src=src, **common)


def _parse_neurosim(rows, path) -> Network:
    builder = None
    names = ("IFM rows", "IFM cols", "IFM channels", "kernel rows", "kernel cols", "OFM channels",
             "pool", "stride")
    for n, (lineno, fields, starts) in enumerate(rows, 1):
        if len(fields) != 8:
            col = starts[8] if len(fields) > 8 else starts[-1] + len(fields[-1])
            raise NetworkError(f"{path}:{lineno}:{col}: NeuroSim rows have 8 integers ("
                               + ", ".join(names) + f"), this one has {len(fields)}")
        lows = (1, 1, 1, 1, 1, 1, 0, 1)       # a stride of 0 is a typo, not a default
        h, w, c, kh, kw, out, pool, stride = (
            _integer(f, label, f"{path}:{lineno}:{col}", lo)
            for f, col, label, lo in zip(fields, starts, names, lows))
        where = f"{path}:{lineno}"
        if kh != kw:
            raise NetworkError(f"{where}:{starts[4]}: kernel {kh} x {kw}: only square kernels are "
                               "modelled")
        if pool not in (0, 1):
            raise NetworkError(f"{where}:{starts[6]}: pool = {pool} must be 0 or 1")
        try:
            if builder is None:
                builder = NetBuilder(Path(path).stem, (c, h, w), description="NeuroSim NetWork.csv")
            kind = "fc" if (h, w, kh) == (1, 1, 1) else "conv"
            builder.add_layer(kind, out_ch=out, kernel=kh, stride=stride,
                              padding=(kh - 1) // 2 if kind == "conv" else 0,
                              name=f"{kind}{n}", in_shape=(c, h, w))
            if pool:
                builder.pool(2, name=f"pool{n}")
        except NetworkError as e:
            col = {"out_ch": starts[5], "kernel": starts[3], "stride": starts[7]}.get(e.field, starts[0])
            raise _located(f"{where}:{col}", e) from None
    return builder.build()


# ---- TOML ----------------------------------------------------------------------------------------

def parse_toml(text: str, path: str = "<toml>") -> Network:
    data = load_toml(text, path, NetworkError)
    at = TomlLocator(text)
    for key in data:
        if key not in TOML_TOP_KEYS:
            raise NetworkError(f"{path}:{at.key(key, value=False)}: unknown key {shown(key)}; allowed "
                               "top-level keys are " + ", ".join(TOML_TOP_KEYS))
    strings = {}
    for key in ("name", "dataset", "description"):
        v = data.get(key, Path(path).stem if key == "name" else "")
        if not isinstance(v, str):
            raise NetworkError(f"{path}:{at.key(key)}: {key} = {shown(v)} must be a string")
        strings[key] = v
    if "input" not in data:
        raise NetworkError(f"{path}:1:1: missing input = [channels, height, width]")
    try:
        builder = NetBuilder(strings["name"], data["input"] if isinstance(data["input"], list) else
                             [data["input"]], dataset=strings["dataset"],
                             description=strings["description"])
    except NetworkError as e:
        raise _located(f"{path}:{at.key('input')}", e) from None
    layers = data.get("layer", [])
    if not isinstance(layers, list) or not all(isinstance(l, dict) for l in layers):
        raise NetworkError(f"{path}:{at.key('layer')}: layers must be [[layer]] tables")
    if not layers:
        raise NetworkError(f"{path}:1:1: no [[layer]] tables")
    for i, spec in enumerate(layers):
        where = lambda key, value=True: f"{path}:{at.key(key, 'layer', i, value=value)}"  # noqa: E731
        for key, v in spec.items():
            if key not in TOML_LAYER_KEYS:
                raise NetworkError(f"{where(key, False)}: unknown layer key {shown(key)}; allowed keys are "
                                   + ", ".join(TOML_LAYER_KEYS))
            if key in _INT_KEYS and (not isinstance(v, int) or isinstance(v, bool)):
                raise NetworkError(f"{where(key)}: {key} = {shown(v)} must be an integer")
            if key in ("name", "type", "from") and not isinstance(v, str):
                raise NetworkError(f"{where(key)}: {key} = {shown(v)} must be a string")
        if "type" not in spec:
            raise NetworkError(f"{where('type')}: layer {i + 1} has no type; use one of " + ", ".join(KINDS))
        kind = _kind(spec["type"], where("type"))
        values = {k: v for k, v in spec.items() if k in _INT_KEYS}
        try:
            _add(builder, kind, values, spec.get("name"), spec.get("from"))
        except NetworkError as e:
            raise _located(where(e.field or "type"), e) from None
    return builder.build()
