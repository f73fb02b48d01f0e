"""The assessment-calibration benchmark's metric code on tiny inputs (no stores built)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from dhr_sdk.evaluation.allocation import CountEstimate, RequirementSpec, evaluate
from tests.benchtools import load_benchmark

load_benchmark("resource_allocation")  # puts benchmarks/ on sys.path for its package
rows, sets, tables = (importlib.import_module(f"calibration.{m}")
                      for m in ("rows", "sets", "tables"))


def test_image_weights() -> None:
    classes = ["cat", "cow", "dog", "horse"]
    labels = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 1, 0, 0]])
    pair = RequirementSpec("dog 0.7 + cat 0.3", {"dog": 0.7, "cat": 0.3})
    assert sets.image_weights(labels, classes, pair) == pytest.approx([1, 3 / 7, 1, 0, 0])
    both = RequirementSpec("horse+cow", {"horse+cow": 1.0})
    assert sets.image_weights(labels, classes, both).tolist() == [0, 0, 0, 1, 0]


def _requirement(name: str, classes: dict[str, float], wanted: list[int], est: list[float],
                 values: dict[str, list[float]]) -> Any:
    counts = [{k: w for k in classes} for w in wanted]
    low = [e - 1 for e in est]
    high = [e + 1 for e in est]
    ests = {m: CountEstimate(list(est), low, high) for m in ("wanted-count",
                                                             "wanted-count[importance]")}
    return evaluate(RequirementSpec(name, classes), ["a", "b", "c"], [10, 10, 10], counts,
                    values, estimates=ests, random_seeds=20)


def _row(seed: int, est: list[float], hasher: str = "itq", bits: int = 32) -> dict[str, Any]:
    vals = {"wanted-count": est, "wanted-count[importance]": est,
            "importance-list": [0.5, 0.4, 0.3], "retrieval": [4.0, 9.0, 2.0]}
    reqs = []
    for name, classes in (("dog", {"dog": 1.0}), ("zoo", {"dog": 1.0, "cat": 1.0})):
        ev = _requirement(name, classes, [2, 8, 0], est, vals)
        entry = ev.to_json()
        entry["matched"], entry["true_matched"] = [4, 5, 1], [2.0, 4.0, 0.0]
        reqs.append(entry)
    return {"set": "mnist", "hasher": hasher, "bits": bits, "seed": seed,
            "hasher_params": {"n_bits": bits}, "build_seconds": 1.0, "assess_seconds": 0.5,
            "collections": 3, "requirements": reqs}


def test_row_metrics_and_diagnostics() -> None:
    m = rows.row_metrics(_row(0, [3.0, 6.0, 0.0]))
    single = m["single"]
    w = single["wanted-count"]
    assert w["top1_hit_rate"] == 1.0 and w["mean_spearman"] == pytest.approx(1.0)
    assert w["count_error"] == pytest.approx((1 + 2 + 0) / 10)  # mean |ĉ - c| / mean c
    assert w["coverage"] == pytest.approx(2 / 3)  # 2 in [2, 4], 8 not in [5, 7], 0 in [-1, 1]
    assert single["importance-list"]["top1_hit_rate"] == 0.0  # R picks "a" (2 wanted)
    assert single["importance-list"]["count_error"] is None
    # retrieval's Σ m_i read as a count: |4-2| + |9-8| + |2-0| over 10
    assert single["retrieval"]["count_error"] == pytest.approx(0.5)
    assert single["diagnostics"] == {"recall": pytest.approx(6 / 10),
                                     "precision": pytest.approx(6 / 10)}
    assert set(m) == {"single", "multi"}  # the zoo-like requirement is reported apart


def test_results_accumulate_and_page_keeps_its_head(tmp_path: Path) -> None:
    results = tmp_path / "r.json"
    rows.merge_row(results, _row(1, [3.0, 6.0, 0.0]))
    rows.merge_row(results, _row(0, [3.0, 6.0, 0.0]))
    rows.merge_row(results, _row(0, [9.0, 1.0, 0.0]))  # same key: replaced
    stored = rows.read_rows(results)
    assert list(stored) == ["mnist|itq|32|0", "mnist|itq|32|1"]  # sorted by seed
    assert json.loads(results.read_text())["format"] == rows.FORMAT
    groups = rows.aggregate(list(stored.values()))
    (g,) = groups.values()
    assert g["seeds"] == [0, 1]
    tops = rows.values_over_seeds(g, "single", "wanted-count", "top1_hit_rate")
    assert tops == [0.0, 1.0]
    assert tables.cell(tops, "pct") == "50% (0%–100%)" and tables.cell([0.91], "rho") == "0.91"
    assert tables.cell([], "pct") == "-"
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nhand-written\n\n" + tables.MARKER + "\nold\n")
    summary = tables.render(stored, page)
    text = page.read_text()
    assert text.startswith("# Title\n\nhand-written\n\n" + tables.MARKER) and "old" not in text
    assert any("**miss**" in line for line in summary)


def test_targets_pass_and_miss() -> None:
    good = {"seeds": [0], "metrics": [{"single": {"wanted-count": {
        "top1_hit_rate": 1.0, "mean_spearman": 0.95, "count_error": 0.1}}}]}
    bad = {"seeds": [0], "metrics": [{"single": {"wanted-count": {
        "top1_hit_rate": 0.9, "mean_spearman": 0.95, "count_error": 0.2}}}]}
    assert all(ok for _, ok in tables.passes(good).values())
    got = tables.passes(bad)
    assert not got["top1_hit_rate"][1] and got["mean_spearman"][1] \
        and not got["count_error"][1]


def test_grid_and_hasher_seed() -> None:
    b = load_benchmark("resource_allocation")
    assert b.grid(["itq", "gah"], [16, 64], [64]) == [("itq", 16), ("itq", 64), ("gah", 64)]
    assert b.hasher_params("itq", 32, 2, {})["seed"] == 2
    assert "seed" not in b.hasher_params("pcah", 32, 2, {})  # PCAH is deterministic


def test_match_truth_counts_wanted_matches() -> None:
    b = load_benchmark("resource_allocation")
    spec = RequirementSpec("dog", {"dog": 1.0})
    ev = evaluate(spec, ["A", "B"], [3, 2], [{"dog": 2}, {"dog": 0}], {"m": [1.0, 0.0]})

    def result(name: str, ids: list[str]) -> Any:
        return SimpleNamespace(target=SimpleNamespace(name=name),
                               matched_images=lambda limit: [{"image_id": i} for i in ids])

    report = SimpleNamespace(results=[result("B", ["000001.png"]),
                                      result("A", ["000000.png", "000002.png"])])
    truth = {"A": np.array([[1, 0], [1, 0], [0, 1]]), "B": np.array([[0, 1], [0, 1]])}
    matched, true = b.match_truth(report, ev, truth, {"class_names": ["dog", "cat"]})
    assert matched == [2, 1] and true == [1.0, 0.0]
