"""The ``labkit`` command."""

from __future__ import annotations

import subprocess
import sys

from labkit.cli import main


def test_check_loads_and_verifies_mnist(mnist_dir, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("LABKIT_QUICK", "1")
    assert main(["check"]) == 0
    printed = capsys.readouterr().out
    assert "MNIST (checksums verified)" in printed
    assert "(6000, 784) float32, pixels 0..1" in printed
    assert "mode" in printed and "quick" in printed


def test_check_reports_a_bad_data_folder_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "missing"))
    assert main(["check"]) == 2
    error = capsys.readouterr().err
    assert "labkit check: error: MNIST folder not found" in error
    assert str(tmp_path / "missing") in error


def test_bad_quick_flag_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_QUICK", "maybe")
    assert main(["check"]) == 2
    assert "LABKIT_QUICK must be 1 or 0" in capsys.readouterr().err


def test_python_dash_m_shows_usage():
    result = subprocess.run(
        [sys.executable, "-m", "labkit", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: labkit" in result.stdout and "run" in result.stdout and "check" in result.stdout
