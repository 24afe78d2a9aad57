"""Readable tables, ``--json`` output and progress of long work, shared by every command.

Results go to stdout (a table, or with ``--json`` one JSON object); progress goes to stderr and
only when stderr is a terminal, so stdout stays clean and logs stay free of bar redraws.
"""

from __future__ import annotations

import json
import math
import sys

from crosstrain.errors import UserError


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout instead of the table")


def fmt(value) -> str:
    """Compact human formatting of a table cell."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return str(value)
        a = abs(value)
        if a >= 1e6 or a < 1e-3:
            return f"{value:.3e}"
        return f"{value:.4g}" if a < 1000 else f"{value:,.1f}"
    return str(value)


def table(headers, rows, title=None) -> str:
    """Render rows (sequences) under headers as an aligned plain-text table."""
    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = [title] if title else []
    out.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    out.append(line)
    for r in cells:
        out.append("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


def _numeric(s: str) -> bool:
    try:
        float(s.replace(",", "").rstrip("x%"))
    except ValueError:
        return False
    return True


def emit(args, obj: dict, text: str) -> None:
    """Print ``obj`` as strict JSON when ``--json`` was given, else the readable ``text``."""
    if getattr(args, "json", False):
        sys.stdout.write(strict_json(obj, indent=2) + "\n")
    else:
        print(text)


def strict_json(obj, **kwargs) -> str:
    """``obj`` as strict JSON (no NaN or Infinity, which JSON does not have). A non-finite number
    is a bug upstream; it raises :class:`~crosstrain.errors.UserError` naming its key."""
    try:
        return json.dumps(obj, allow_nan=False, default=_plain, **kwargs)
    except ValueError as e:
        found = _non_finite(obj, "") if "Out of range float" in str(e) else None
        if found is None:
            raise
        raise UserError(f"internal error: {found[0] or 'the value'} = {found[1]} is not a finite "
                        "number (a bug: please report it with the command line)") from None


def _refuse_constant(name: str):
    raise ValueError(f"not strict JSON: {name}")


def strict_loads(text: str):
    """``text`` parsed as strict JSON: NaN, Infinity and -Infinity raise ValueError (what the
    ``--json`` outputs promise; the tests read them with this)."""
    return json.loads(text, parse_constant=_refuse_constant)


def _non_finite(obj, key: str) -> tuple[str, float] | None:
    """(key path, value) of the first non-finite number in ``obj``, or None."""
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (key, obj)
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for k, v in items:
        found = _non_finite(v, f"{key}[{k}]" if isinstance(k, int) else f"{key}.{k}" if key else str(k))
        if found:
            return found
    return None


def _plain(v):
    if hasattr(v, "tolist"):
        return v.tolist()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def track(iterable, *, desc: str, total: int | None = None):
    """``iterable``, with a progress bar on stderr while it runs (tqdm; none when stderr is not a
    terminal). Pass it as ``progress=`` to long work in the lower layers."""
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, leave=False, disable=None,
                dynamic_ncols=True)


def progress_bar(total: int, desc: str, *, enabled: bool = True):
    """A progress bar on stderr advanced by hand (``bar.update()``, a context manager; none when
    stderr is not a terminal or ``enabled`` is false)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                disable=None if enabled else True, dynamic_ncols=True)
