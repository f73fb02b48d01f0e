"""benchmarks/grow.py on a tiny store: every scenario runs, results equal the rebuilds."""

from __future__ import annotations

import sys

import pytest

from tests.benchtools import load_benchmark


def test_grow_benchmark_runs_every_scenario_and_checks_equality(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    grow = load_benchmark("grow")
    monkeypatch.setattr(sys, "argv", ["grow.py", "--n", "3000", "--add", "60", "--repeat", "1",
                                      "--centres", "30", "--features-dim", "512",
                                      "--series", "4"])
    grow.main()
    out = capsys.readouterr().out
    assert "Result equal to the rebuild: yes" in out
    assert out.count("Target >= 20x faster") == 6  # two peers x two scenarios, images, memory
    assert "image store, 1 % of files, ITQ-64 on 512-d features" in out
    assert "4 successive adds of 60:" in out
