"""A report folder is written all or nothing: the earlier folder stays whole on every failure,
links are never followed, two runs' files never mix, and every write error is one line."""

import errno
import os
import stat
from pathlib import Path

import pytest

from crosstrain import report_folder
from crosstrain.errors import UserError
from crosstrain.report_folder import replace_folder

OWNED = ("a.txt", "b.txt", "c.bin")


def write(out, files: dict) -> None:
    with replace_folder(out, owned=OWNED) as folder:
        for name, text in files.items():
            folder.write_text(name, text)


def snapshot(parent: Path) -> dict:
    """Every entry under ``parent`` (names, link targets, file bytes), to compare before/after."""
    out = {}
    for root, dirs, files in os.walk(parent):
        for n in dirs + files:
            p = Path(root, n)
            out[str(p.relative_to(parent))] = (os.readlink(p) if p.is_symlink() else
                                               "dir" if p.is_dir() else p.read_bytes())
    return out


@pytest.fixture
def earlier(tmp_path):
    """An earlier report ``tmp_path/rep`` with a.txt and b.txt, and its snapshot."""
    write(tmp_path / "rep", {"a.txt": "old a\n", "b.txt": "old b\n"})
    return tmp_path / "rep", snapshot(tmp_path)


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg, msg
    return msg


def test_new_folder_has_the_files_and_the_usual_mode(tmp_path):
    write(tmp_path / "x" / "rep", {"a.txt": "1\n", "c.bin": "2"})
    assert snapshot(tmp_path) == {"x": "dir", "x/rep": "dir", "x/rep/a.txt": b"1\n", "x/rep/c.bin": b"2"}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "x" / "rep").stat().st_mode) == 0o777 & ~umask


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_replacing_keeps_no_file_of_the_earlier_run(earlier, monkeypatch, exchange):
    rep, _ = earlier
    if not exchange:
        monkeypatch.setattr(report_folder, "_exchange", lambda a, b: False)
    write(rep, {"a.txt": "new a\n"})
    assert snapshot(rep.parent) == {"rep": "dir", "rep/a.txt": b"new a\n"}


def test_one_step_exchange_is_used_on_linux(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "q").mkdir()
    (tmp_path / "p" / "in_p").touch()
    if not report_folder._exchange(tmp_path / "p", tmp_path / "q"):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here; the two-rename path is tested above")
    assert (tmp_path / "q" / "in_p").exists() and not (tmp_path / "p" / "in_p").exists()


@pytest.mark.parametrize("at", ["a.txt", "b.txt"])
def test_disk_full_midway_leaves_the_earlier_folder(earlier, failing_write, at):
    rep, before = earlier
    made = failing_write(at, budget=3)
    with pytest.raises(UserError) as e:
        write(rep, {"a.txt": "new a, longer than three bytes\n", "b.txt": "new b, longer too\n"})
    assert made[0].fired
    msg = one_line(e)
    assert "No space left on device" in msg and "unchanged" in msg and str(rep) in msg
    assert snapshot(rep.parent) == before          # no staging folder left either


def test_ctrl_c_midway_leaves_the_earlier_folder(earlier, failing_write):
    rep, before = earlier
    made = failing_write("b.txt", KeyboardInterrupt(), budget=2)
    with pytest.raises(KeyboardInterrupt):
        write(rep, {"a.txt": "new a\n", "b.txt": "new b\n"})
    assert made[0].fired and snapshot(rep.parent) == before


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO])
def test_failed_fsync_leaves_the_earlier_folder(earlier, monkeypatch, err):
    rep, before = earlier
    def fsync(fd):
        raise OSError(err, os.strerror(err))
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(UserError) as e:
        write(rep, {"a.txt": "new\n"})
    assert os.strerror(err) in one_line(e) and snapshot(rep.parent) == before


@pytest.mark.parametrize("exc", [OSError(errno.EACCES, "Permission denied"), KeyboardInterrupt()],
                         ids=["EACCES", "ctrl-c"])
def test_failure_between_the_two_renames_puts_the_earlier_folder_back(earlier, monkeypatch, exc):
    rep, before = earlier
    monkeypatch.setattr(report_folder, "_exchange", lambda a, b: False)
    real, calls = os.rename, []

    def rename(a, b):
        calls.append((a, b))
        if len(calls) == 2:                       # earlier folder moved aside, new one not yet in
            raise exc
        real(a, b)
    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises((UserError, KeyboardInterrupt)):
        write(rep, {"a.txt": "new\n"})
    assert len(calls) == 3 and snapshot(rep.parent) == before


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_staging_folder_not_creatable_is_one_line(tmp_path, monkeypatch, err):
    def refuse(**kwargs):
        raise OSError(err, os.strerror(err), str(kwargs["dir"]))
    monkeypatch.setattr(report_folder.tempfile, "mkdtemp", refuse)
    with pytest.raises(UserError) as e:
        write(tmp_path / "rep", {"a.txt": "x"})
    assert os.strerror(err) in one_line(e) and not (tmp_path / "rep").exists()


def test_read_only_parent_is_one_line(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        if os.access(tmp_path / "ro", os.W_OK):
            pytest.skip("this user writes into read-only folders (root with CAP_DAC_OVERRIDE)")
        with pytest.raises(UserError) as e:
            write(tmp_path / "ro" / "rep", {"a.txt": "x"})
        assert "Permission denied" in one_line(e)
        assert os.listdir(tmp_path / "ro") == []
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_read_only_report_folder_is_left_alone(earlier):
    rep, before = earlier
    rep.chmod(0o555)
    try:
        if os.access(rep, os.W_OK):
            pytest.skip("this user writes into read-only folders (root with CAP_DAC_OVERRIDE)")
        with pytest.raises(UserError) as e:
            write(rep, {"a.txt": "new\n"})
        assert "read-only" in one_line(e) and snapshot(rep.parent) == before
    finally:
        rep.chmod(0o755)


def test_a_link_in_the_earlier_folder_is_not_followed(earlier):
    rep, _ = earlier
    victim = rep.parent / "victim.txt"
    victim.write_text("precious\n")
    (rep / "b.txt").unlink()
    (rep / "b.txt").symlink_to("../victim.txt")
    write(rep, {"a.txt": "new a\n", "b.txt": "new b\n"})
    assert victim.read_text() == "precious\n"
    assert not (rep / "b.txt").is_symlink() and (rep / "b.txt").read_text() == "new b\n"


def test_a_linked_folder_is_refused(earlier):
    rep, _ = earlier
    (rep.parent / "link").symlink_to("rep")
    with pytest.raises(UserError) as e:
        write(rep.parent / "link", {"a.txt": "x"})
    assert "symbolic link" in one_line(e)
    assert (rep / "a.txt").read_text() == "old a\n"


def test_proc_self_is_one_line():
    for out in ("/proc/self", "/proc/self/", "/proc/self/rep"):
        with pytest.raises(UserError) as e:
            write(out, {"a.txt": "x"})
        one_line(e)


@pytest.mark.parametrize("case, needle", [
    ("file", "is a file, not a folder"),
    ("under_file", "is a file, not a folder"),
    ("foreign", "'notes.txt', which is not part of a report"),
    ("subfolder", "'a.txt', which is not part of a report"),
    ("empty_name", "give a folder name"),
])
def test_refused_targets_are_left_alone(tmp_path, case, needle):
    (tmp_path / "f.txt").write_text("mine\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine\n")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.txt").mkdir()                 # a report name, but a folder
    out = {"file": tmp_path / "f.txt", "under_file": tmp_path / "f.txt" / "rep", "foreign": tmp_path / "d",
           "subfolder": tmp_path / "s", "empty_name": ""}[case]
    before = snapshot(tmp_path)
    with pytest.raises(UserError) as e:
        write(out, {"a.txt": "x"})
    assert needle in one_line(e) and snapshot(tmp_path) == before


def test_the_current_folder_is_refused(tmp_path, monkeypatch):
    (tmp_path / "rep").mkdir()
    monkeypatch.chdir(tmp_path / "rep")
    for out in (".", "..", str(tmp_path)):
        with pytest.raises(UserError) as e:
            write(out, {"a.txt": "x"})
        assert "current folder" in one_line(e)


def test_staged_files_are_new_files_only(tmp_path):
    with pytest.raises(UserError):
        with replace_folder(tmp_path / "rep", owned=OWNED) as folder:
            with pytest.raises(ValueError):
                folder.open("a.txt", "w")
            with pytest.raises(ValueError):
                folder.open("../a.txt", "x")
            folder.write_text("a.txt", "1")
            folder.write_text("a.txt", "2")            # second create: FileExistsError -> one line
    assert os.listdir(tmp_path) == []
