"""dhr demo end to end on a reduced size of the built-in real data (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.evaluation.allocation import RequirementSpec, collected, evaluate, order_by, wanted


def test_allocation_scoring() -> None:
    spec = RequirementSpec("pair", {"dog": 0.75, "cat": 0.25})
    assert wanted({"dog": 10, "cat": 4, "cow": 7}, spec) == pytest.approx(10 + 4 / 3)
    assert order_by([0.5, 0.9, 0.9], tiebreak=[0, 1, 2]) == [2, 1, 0]
    assert collected([2, 0, 1], np.array([5.0, 1.0, 7.0])) == [7.0, 12.0, 13.0]
    res = evaluate(RequirementSpec("dog", {"dog": 1}), ["a", "b", "c"], [10, 10, 10],
                   [{"dog": 1}, {"dog": 8}, {"dog": 3}], {"m": [0.1, 0.9, 0.5]}, random_seeds=50)
    assert res.top1_hit("m") and res.spearman("m") == pytest.approx(1.0)
    rnd = res.method("random").collected
    assert rnd[2] == pytest.approx(12.0) and 0 < rnd[0] < 8


@pytest.mark.slow
def test_demo_small(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["demo", "-o", str(out), "--per-collection", "200",
                                   "--requirement-images", "5", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert len(data["requirements"]) == len(manifest["class_names"]) + 2
    assert Path(data["report"]).is_file()
    html = Path(data["report"]).read_text()
    assert html.count("data:image/png;base64,") > 50 and "zoo" in html
    counts = {c["name"]: c["class_counts"] for c in manifest["collections"]}
    for req in data["requirements"]:
        rel = [r["relevance"] for r in req["ranking"]]
        assert rel == sorted(rel, reverse=True) and len(rel) == 8
        if len(req["classes"]) == 1:
            (cls,) = req["classes"]
            for r in req["ranking"]:
                assert r["wanted"] == counts[r["collection"]][cls]
        top = req["ranking"][0]["wanted"]
        assert req["collected"]["dhr"][0] == top
        assert req["collected"]["random"][2] <= sum(sorted(
            (r["wanted"] for r in req["ranking"]), reverse=True)[:3])
    acc = data["accuracy"]["dhr"]
    assert acc["requirements"] == 10 and 0 <= acc["top1_hit_rate"] <= 1
    # the product must beat random selection on the built-in data, even at this size
    dhr3 = sum(r["collected"]["dhr"][2] for r in data["requirements"])
    rnd3 = sum(r["collected"]["random"][2] for r in data["requirements"])
    assert dhr3 > rnd3
    # a second run reuses the materialised data and stays consistent
    res2 = CliRunner().invoke(cli, ["demo", "-o", str(out), "--per-collection", "200",
                                    "--requirement-images", "5", "--no-report", "-q"])
    assert res2.exit_code == 0, res2.output
    assert "top-1 collection is the best" in res2.output
