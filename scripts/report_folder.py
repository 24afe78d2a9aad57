"""Writing a report folder all or nothing.

:func:`replace_folder` stages every file in a hidden sibling of the folder
(``.NAME.tmp-XXXXXXXX``), each created fresh (exclusive create: never through an existing link)
and flushed to disk, then swaps the staged folder in: on Linux with one
``renameat2(RENAME_EXCHANGE)``, elsewhere with two renames. A reader sees the earlier complete
folder or the new complete one (with two renames, for an instant, none), never files of two
runs. On any failure (disk full, no permission, read-only file system, Ctrl-C) the staged folder
is removed and the earlier one is left as it was; an ``OSError`` becomes one
:class:`~crosstrain.errors.UserError` line.

Only a folder that holds nothing but the report's own file names is replaced, so a mistaken
``--out ~`` is refused rather than emptied. The folder itself must not be a symbolic link; links
inside the earlier folder are removed with it, never followed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path

from crosstrain.errors import UserError


class Staging:
    """The folder being written: files are opened by name inside it, each created new."""

    def __init__(self, path: Path):
        self.path = path
        self.names: list[str] = []

    def open(self, name: str, mode: str = "x", **kwargs):
        """``open()`` of a new file ``name`` in the staged folder (mode ``"x"`` or ``"xb"``)."""
        if not mode.startswith("x") or os.path.basename(name) != name:
            raise ValueError(f"open({name!r}, {mode!r}): a new file directly in the folder")
        self.names.append(name)
        return open(self.path / name, mode, **kwargs)

    def write_text(self, name: str, text: str) -> None:
        with self.open(name, "x", encoding="utf-8", newline="") as f:
            f.write(text)


@contextlib.contextmanager
def replace_folder(out: str | os.PathLike, *, owned: Collection[str]) -> Iterator[Staging]:
    """Stage a new folder for ``out`` and swap it in when the ``with`` body returns.

    ``owned`` names every file a folder of this kind may hold: an existing ``out`` with any
    other entry (or any subfolder) is refused, not replaced.
    """
    target = _target(out, owned)
    stage = staging = None
    step = "creating it"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        staging, step = Staging(stage), "writing"
        yield staging
        step = "flushing it to disk"
        for name in staging.names:
            _fsync(stage / name)
        os.chmod(stage, _folder_mode(target))
        _fsync(stage)
        step = "putting it in place"
        stage, step = _swap(stage, target), None        # stage: now the earlier folder, or None
        _fsync(target.parent)
    except OSError as e:
        if step == "writing" and staging.names:
            step = f"writing {staging.names[-1]}"
        outcome = "the new report is in place" if step is None else "the folder is unchanged"
        raise UserError(f"cannot write {target} ({step or 'flushing it to disk'}): {_reason(e, stage)}; "
                        f"{outcome}") from None
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)


def _target(out, owned: Collection[str]) -> Path:
    text = os.fspath(out)
    if not text.strip() or "\0" in text:
        raise UserError(f"report folder {text!r}: give a folder name")
    target = Path(os.path.abspath(text))
    try:
        if target.is_symlink():
            raise UserError(f"{target} is a symbolic link: give the folder itself (reports are "
                            "never written through links)")
        if not target.exists():
            above = next(p for p in target.parents if p.exists())
            if not above.is_dir():
                raise UserError(f"{above} is a file, not a folder: give a report folder outside it")
            return target
        if not target.is_dir():
            raise UserError(f"{target} is a file, not a folder: give a new or report folder")
        real, cwd = Path(os.path.realpath(target)), Path.cwd()
        if real == cwd or real in cwd.parents:
            raise UserError(f"{target} is the current folder or holds it: give a folder inside it")
        if not os.access(target, os.W_OK | os.X_OK):
            raise UserError(f"{target} is read-only: make it writable or give another folder")
        strange = sorted(e.name for e in os.scandir(target)
                         if e.name not in owned or e.is_dir(follow_symlinks=False))
    except OSError as e:
        raise UserError(f"cannot use {target}: {_reason(e, None)}") from None
    if strange:
        raise UserError(f"{target} holds {strange[0]!r}, which is not part of a report: give a new "
                        "or empty folder (a report folder is replaced whole)")
    return target


def _folder_mode(target: Path) -> int:
    if target.exists():
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(stage: Path, target: Path) -> Path | None:
    """Put ``stage`` at ``target``; return where the earlier folder went (None: there was none)."""
    if not os.path.lexists(target):
        os.rename(stage, target)
        return None
    if _exchange(stage, target):
        return stage
    old = stage.with_name(stage.name + ".old")
    os.rename(target, old)
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(old, target)
        raise
    return old


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where
    the C library or the file system lacks it."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def _reason(e: OSError, stage: Path | None) -> str:
    """The error and the path it concerns (a staged file by its name alone)."""
    where = e.filename
    if where and stage and Path(os.fsdecode(where)).parent == stage:
        where = Path(os.fsdecode(where)).name
    return f"{e.strerror or e}{f' ({where})' if where else ''}"
