"""Measured accuracy drops for the roll-up's gain-loss ratio (``crosstrain estimate --accuracy``).

``--accuracy FILE`` reads the drops of a ``crosstrain train --json`` result (its
``rollup_accuracy_drop_pct``: one entry per trained system, keyed by the estimate's names:
panther, digital, pipelayer and the 3D-ReG mappings conservative and aggressive); each is
labelled ``measured:FILE``.

``--accuracy measure`` trains the systems the estimate needs (crosstrain.experiments.train_study,
the trainer of ``crosstrain train``) on a built-in small network (the experiment's ``[measure]``
settings) with the estimate's hardware, and keeps the result, a ``crosstrain train --json``
object, in a cache: ``$XDG_CACHE_HOME/crosstrain`` (else ``~/.cache/crosstrain``) or, with
``measure.cache = "cwd"``, ``./.crosstrain-cache``. The file name is the SHA-256 of everything
that affects the result (the network, both hardware configurations after the overrides, the
training settings, the seeds, the systems and the source of the trainer and the golden models),
so a changed configuration misses the cache. Those drops are labelled ``cache:FILE``.

Drops that neither gives keep the paper's defaults or 0, labelled as such (crosstrain.rollup.reg3d).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from crosstrain.errors import UserError
from crosstrain.golden import config
from crosstrain.golden.config import ConfigError
from crosstrain.golden.userinput import read_text, shown_path
from crosstrain.options import group
from crosstrain.output import strict_json, strict_loads
from crosstrain.rollup.estimate import parse_system
from crosstrain.rollup.reg3d import MAPPINGS

TRAIN_SCHEMA = "crosstrain.train/1"


def read(path: str) -> dict:
    """The ``rollup_accuracy_drop_pct`` of a ``crosstrain train --json`` file, checked."""
    name = shown_path(path)
    text = read_text(Path(path), UserError, "train result")
    try:
        data = strict_loads(text)
    except ValueError as e:
        raise UserError(f"{name}: not JSON ({e}): give the output of crosstrain train --json") from None
    if not isinstance(data, dict) or data.get("schema") != TRAIN_SCHEMA:
        raise UserError(f"{name}: not a crosstrain train --json result (schema {TRAIN_SCHEMA}): "
                        "run crosstrain train --json > FILE")
    drops = data.get("rollup_accuracy_drop_pct")
    if not isinstance(drops, dict) or not drops:
        raise UserError(f"{name}: no rollup_accuracy_drop_pct: train the plain systems (crosstrain "
                        "train --systems panther,pipelayer,... --json), not only variants")
    for k, v in drops.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100:
            raise UserError(f"{name}: rollup_accuracy_drop_pct.{k} = {v!r}: 0 to 100 points")
    return {"drops": {k: float(v) for k, v in drops.items()}, "network": data.get("network")}


def needed(systems) -> list[str]:
    """The trainer's systems whose drops the estimate's ``systems`` use."""
    from crosstrain.experiments.trainer import SYSTEMS

    keys = set()
    for name in systems:
        base, _ = parse_system(name)
        keys.add(base)
        keys.update(m for m in MAPPINGS if base.startswith("3d-reg") and base.endswith(m))
    return [n for n, s in SYSTEMS.items() if s.rollup in keys]


def cache_dir(where: str) -> Path:
    if where == "cwd":
        return Path.cwd() / ".crosstrain-cache"
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(home) / "crosstrain"


def _code_digest() -> str:
    """SHA-256 of the source of the trainer and the golden models (a changed model misses)."""
    import crosstrain.experiments
    import crosstrain.golden

    h = hashlib.sha256()
    for pkg in (crosstrain.experiments, crosstrain.golden):
        for f in sorted(Path(pkg.__file__).parent.glob("*.py")):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def measure(exp: dict, systems, *, progress: bool = True) -> dict | None:
    """The drops of the systems ``systems`` needs, trained as ``exp["measure"]`` says, from the
    cache or measured now (and cached); None when no system needs one."""
    from crosstrain.experiments import train_networks, train_study
    from crosstrain.experiments.train_study import Variant
    from crosstrain.experiments.training import TrainingSettings, load_digits_split
    from crosstrain.output import progress_bar

    names = needed(systems)
    if not names:
        return None
    m, hw = exp["measure"], exp["hardware"]
    overrides = group(hw["set"], "hardware")
    configs = {"preset": config.load(hw["base"]).with_overrides(overrides),
               "baseline": config.load(hw["baseline"]).with_overrides(overrides)}
    net = train_networks.load(m["network"])
    settings = TrainingSettings(epochs=m["epochs"], batch=m["batch"], learning_rate=m["learning_rate"])
    seeds = list(range(m["seeds"]))
    key = hashlib.sha256(strict_json({
        "schema": TRAIN_SCHEMA, "code": _code_digest(), "network": m["network"],
        "layers": [[l.name, l.kind, list(l.in_shape), list(l.out_shape)] for l in net.layers],
        "configs": {k: config.as_dict(c) for k, c in configs.items()},
        "settings": asdict(settings), "seeds": seeds, "systems": names}, sort_keys=True).encode()).hexdigest()
    path = cache_dir(m["cache"]) / f"accuracy-{key[:32]}.json"
    if path.is_file():
        try:
            return {**read(str(path)), "file": str(path), "measured_now": False}
        except UserError:
            pass                                    # a damaged cache entry is measured again
    n_train = len(load_digits_split(settings)[0])
    if settings.batch > n_train:
        raise UserError(f"measure.batch {settings.batch}: at most the {n_train} training samples")
    total = (len(names) + 1) * len(seeds) * settings.epochs * (n_train // settings.batch)
    try:
        with progress_bar(total, "measuring accuracy", enabled=progress) as bar:
            report = train_study.run(net, [Variant(n, n) for n in names], configs, settings, seeds,
                                     progress=lambda label, seed: bar.update)
    except ConfigError as e:
        raise UserError(f"--accuracy measure: {e}") from None
    report["cache_key"] = key
    _write(path, strict_json(report, indent=1) + "\n")
    return {**read(str(path)), "file": str(path), "measured_now": True}


def _write(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise UserError(f"cannot write the accuracy cache {shown_path(path)}: {e.strerror or e}; "
                        "set measure.cache = \"cwd\" or XDG_CACHE_HOME to a writable folder") from None


def drops(exp: dict, systems, *, progress: bool = True) -> tuple[dict, dict, dict]:
    """(drops, sources, info) of the experiment's accuracy source: ``paper`` gives none (the
    defaults stay), a file or ``measure`` the measured drops, labelled."""
    source = exp["estimate"]["accuracy"]
    if source == "paper":
        return {}, {}, {"source": "paper", "file": None, "network": None}
    if source == "measure":
        got = measure(exp, systems, progress=progress)
        if got is None:
            return {}, {}, {"source": "measure", "file": None, "network": None}
        label = f"cache:{got['file']}"
    else:
        got = {**read(source), "file": source}
        label = f"measured:{source}"
    info = {"source": source, "file": got["file"], "network": got["network"]}
    if "measured_now" in got:
        info["measured_now"] = got["measured_now"]
    return got["drops"], {k: label for k in got["drops"]}, info
