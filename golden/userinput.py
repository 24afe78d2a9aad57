"""Reading what users write: text files, TOML with ``FILE:LINE:COLUMN`` errors, values in messages.

Configuration files (:mod:`crosstrain.golden.config`) and network files
(:mod:`crosstrain.rollup.network_files`) both go through :func:`read_text` and :func:`load_toml`,
and locate the offending key with :class:`TomlLocator`, so every mistake in either kind of file
is one line starting with ``FILE:LINE:COLUMN:`` (1-based). Each caller passes its own error
class (``error(message)`` must build the exception). :func:`shown` shortens a bad value before
a message echoes it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

# A configuration is a few kB and the largest network file (one line per layer) a few hundred;
# anything past 16 MiB is not a hand-written input, so it is refused before it is read whole.
MAX_FILE_BYTES = 16 << 20
# tomllib recurses once per nested array / inline table; Python's stack ends near 1000 levels.
MAX_TOML_DEPTH = 100
# Python refuses to convert integers of more than 4,300 digits from text (sys.int_info).
MAX_INT_DIGITS = 4300
SHOWN_CHARS = 60


def shown(value, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters with an ellipsis, for one-line messages
    (a string is cut inside its quotes, so the message still shows where it ends)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"<an integer of about {round(value.bit_length() * 0.30103)} digits>"
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit - 3] + "...")
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def shown_path(path, limit: int = 2 * SHOWN_CHARS) -> str:
    """A file name for messages: whole up to ``limit`` characters, else its tail after an ellipsis."""
    s = str(path)
    return s if len(s) <= limit else "…" + s[-(limit - 1):]


def read_text(path: Path, error, what: str = "file") -> str:
    """The UTF-8 text of ``path``; ``error("FILE[:LINE:COLUMN]: ...")`` when it cannot be read."""
    name = shown_path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise error(f"cannot read {what} {name}: {e.strerror or e}") from None
    except ValueError as e:                          # an embedded NUL byte in the path
        raise error(f"cannot read {what} {name}: {e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise error(f"{name}: larger than {MAX_FILE_BYTES >> 20} MiB: not a {what} written by hand")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise error(f"{name}:{line}:{col}: byte 0x{data[e.start]:02x} is not UTF-8 text; save the "
                    "file as UTF-8") from None


def position(text: str, offset: int) -> str:
    """``LINE:COLUMN`` (1-based) of character ``offset`` of ``text``."""
    line = text.count("\n", 0, offset) + 1
    return f"{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def load_toml(text: str, path, error) -> dict:
    """Parse TOML; every failure is ``error("PATH:LINE:COLUMN: ...")`` on one line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)$", msg)
        if m:
            where = f"{m.group(1)}:{m.group(2)}"
        else:                                        # "(at end of document)"
            where = position(text, len(text.rstrip()))
        msg = re.sub(r" \(at (line \d+, column \d+|end of document)\)$", "", msg)
        # tomllib names keys as Python tuples: "Cannot declare ('a', 'b') twice" -> [a.b]
        msg = re.sub(r"\((('[^']*'(, )?)+),?\)",
                     lambda t: ".".join(re.findall(r"'([^']*)'", t.group(1))), msg)
        raise error(f"{path}:{where}: TOML syntax error: {msg}") from None
    except RecursionError:
        raise error(f"{path}:{_deepest(text)}: TOML nested more than {MAX_TOML_DEPTH} levels deep"
                    ) from None
    except ValueError:                               # an integer past Python's digit limit
        m = re.search(r"[0-9_]{%d,}" % (MAX_INT_DIGITS + 1), text)
        where = position(text, m.start()) if m else "1:1"
        raise error(f"{path}:{where}: an integer of more than {MAX_INT_DIGITS:,} digits") from None


def _deepest(text: str) -> str:
    """Where bracket nesting (strings ignored, roughly) first passes :data:`MAX_TOML_DEPTH`."""
    depth = 0
    for i, ch in enumerate(text):
        depth += ch in "[{"
        depth -= ch in "]}"
        if depth > MAX_TOML_DEPTH:
            return position(text, i)
    return "1:1"


class TomlLocator:
    """``LINE:COLUMN`` of keys in TOML source text, for messages about parsed values.

    Keys are looked up under a ``[table]`` header, under the ``index``-th ``[[table]]`` header,
    as a dotted key ``table.key = ...`` or inside an inline table ``table = {key = ...}``.
    """

    _HEADER = re.compile(r"\s*\[\[?\s*([A-Za-z0-9_.\- ]+?)\s*\]")

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.headers = []                    # (line index, table name) of [table] and [[table]]
        for i, line in enumerate(self.lines):
            m = self._HEADER.match(line)
            if m:
                self.headers.append((i, m.group(1).replace(" ", "")))

    def _span(self, table: str | None, index: int) -> tuple[int, int] | None:
        """Line range of a table's own keys (the top level when ``table`` is None)."""
        if table is None:
            return 0, self.headers[0][0] if self.headers else len(self.lines)
        found = [k for k, (_, name) in enumerate(self.headers) if name == table]
        if index >= len(found):
            return None
        k = found[index]
        end = self.headers[k + 1][0] if k + 1 < len(self.headers) else len(self.lines)
        return self.headers[k][0] + 1, end

    def find(self, key: str, table: str | None = None, index: int = 0) -> tuple[int, int, int] | None:
        """(line, key column, value column), 1-based, of ``key`` in ``table``; None if absent."""
        k = re.escape(key)
        searches = []
        span = self._span(table, index)
        if span:
            searches.append((span, rf"(\s*)\"?{k}\"?\s*=\s*"))
        if table is not None:
            t, top = re.escape(table), self._span(None, 0)
            searches += [(top, rf"(\s*){t}\s*\.\s*{k}\s*=\s*"),           # table.key = v
                         (top, rf"(\s*{t}\s*=\s*\{{.*?)\b{k}\s*=\s*")]     # table = {key = v}
        for (lo, hi), pattern in searches:
            for i in range(lo, hi):
                m = re.match(pattern, self.lines[i])
                if m:
                    return i + 1, m.end(1) + 1, m.end() + 1
        return None

    def key(self, key: str, table: str | None = None, index: int = 0, *, value: bool = True) -> str:
        """``LINE:COLUMN`` of ``key``'s value (its name unless ``value``); when the key is absent,
        the table's header, else ``1:1``."""
        hit = self.find(key, table, index)
        if hit:
            return f"{hit[0]}:{hit[2] if value else hit[1]}"
        return (self.table(table, index) if table is not None else None) or "1:1"

    def table(self, name: str, index: int = 0) -> str | None:
        """``LINE:1`` of the ``index``-th ``[name]`` / ``[[name]]`` header; None if absent."""
        heads = [line for line, table in self.headers if table == name]
        return f"{heads[index] + 1}:1" if index < len(heads) else None
