"""``crosstrain networks list`` and ``crosstrain networks export NAME|FILE --format onnx|csv|neurosim
[-o FILE]``: the built-in networks, and any network written out for other tools."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from crosstrain.errors import UserError
from crosstrain.output import add_json_flag, emit, table
from crosstrain.rollup import network_export, network_files
from crosstrain.rollup.networks import BUILTIN, NetworkError

NAME = "networks"
HELP = "list the built-in networks, or export one (or a network file) as ONNX, CSV or NeuroSim rows"
DESCRIPTION = (
    "list: the built-in networks with their layer and weight counts. export: a built-in network "
    "or a .csv / .toml / .onnx network file written as an ONNX model (weights as graph inputs, "
    "no values), our CSV layer table or NeuroSim's NetWork.csv rows; reading the file back with "
    "--network gives the same layers (docs/networks.md).")
ORDER = 15


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_json_flag(sub.add_parser("list", help="the built-in networks"))
    exp = sub.add_parser("export", help="write a network as ONNX, CSV or NeuroSim rows")
    exp.add_argument("network", metavar="NAME|FILE", help="built-in network or a network file")
    exp.add_argument("--format", required=True, choices=network_export.FORMATS)
    exp.add_argument("-o", "--output", default="-", metavar="FILE",
                     help="file to write; '-' (the default; not for onnx) prints on stdout")


def run(args):
    return _list(args) if args.action == "list" else _export(args)


def _list(args):
    nets = [BUILTIN[name]() for name in BUILTIN]
    out = [{"name": n.name, "input_shape": list(n.input_shape), "layers": len(n.layers),
            "weight_layers": len(n.weight_layers), "weights": n.weights, "macs": n.macs,
            "dataset": n.dataset, "description": n.description} for n in nets]
    rows = [[d["name"], "x".join(map(str, d["input_shape"])), d["layers"], d["weight_layers"],
             d["weights"], d["macs"], d["dataset"] or "-"] for d in out]
    text = table(["network", "input", "layers", "weight layers", "weights", "MACs/sample", "dataset"],
                 rows)
    emit(args, {"networks": out}, text + "\n\nExport one with: crosstrain networks export NAME "
                                         "--format onnx|csv|neurosim -o FILE")
    return 0


def _export(args):
    fmt, target = args.format, args.output
    want = network_export.SUFFIX[fmt]
    suffix = Path(target).suffix.lower()
    if target != "-" and suffix in (".csv", ".toml", ".onnx") and suffix != want:
        raise UserError(f"-o {target}: a {suffix} file is read back as {suffix[1:].upper()}; name "
                        f"the {fmt} file *{want}")
    if target == "-" and fmt == "onnx":
        raise UserError("--format onnx is binary: give -o FILE.onnx")
    try:
        net = network_files.load(args.network)
        data = network_export.export(net, fmt)
    except NetworkError as e:
        raise UserError(str(e)) from None
    if target == "-":
        sys.stdout.write(data.decode())
        return 0
    _write(Path(target), data)
    print(f"wrote {target}: {net.name}, {len(net.layers)} layers as {fmt}")
    return 0


def _write(path: Path, data: bytes) -> None:
    """``data`` to ``path`` all or nothing: a new file beside it (mode 0666 less the umask), then
    a rename over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {e.strerror}") from None
