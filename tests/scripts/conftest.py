"""Fixtures for the command-line tests: writes that fail midway, as on a full disk."""

import errno
import os

import pytest

from crosstrain.report_folder import Staging


class FailingFile:
    """A staged file whose writes fail once ``budget`` bytes are written (the part that fits is
    written first, as a full disk does). No ``fileno``, so every writer goes through ``write``."""

    def __init__(self, f, exc: BaseException, budget: int):
        self._f, self._exc, self.budget, self.fired = f, exc, budget, False

    def write(self, data):
        if len(data) > self.budget:
            self._f.write(data[:self.budget])
            self._f.flush()
            self.fired = True
            raise self._exc
        self.budget -= len(data)
        return self._f.write(data)

    def fileno(self):
        raise OSError(errno.EBADF, "no descriptor in this test")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture
def failing_write(monkeypatch):
    """``failing_write(name, exc=ENOSPC, budget=100)``: the staged file ``name`` fails after
    ``budget`` bytes with ``exc``; returns the list that collects the FailingFile made."""
    def install(name: str, exc: BaseException | None = None, budget: int = 100) -> list:
        exc = exc or OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        made = []
        real = Staging.open

        def open_(self, fname, mode="x", **kwargs):
            f = real(self, fname, mode, **kwargs)
            if fname != name:
                return f
            made.append(FailingFile(f, exc, budget))
            return made[-1]
        monkeypatch.setattr(Staging, "open", open_)
        return made
    return install
