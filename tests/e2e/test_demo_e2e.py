"""dhr demo end to end on a reduced size of the built-in real data (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError
from dhr_sdk.evaluation.allocation import (
    CountEstimate,
    RequirementResult,
    RequirementSpec,
    collected,
    evaluate,
    mean_metrics,
    order_by,
    wanted,
)
from dhr_sdk.evaluation.demo import demo_assessors, requirement_specs


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


def test_count_metrics_and_random_expectations() -> None:
    est = CountEstimate(count=[2.0, 6.0, 3.0], low=[0.0, 5.0, 3.5], high=[3.0, 9.0, 4.0])
    res = evaluate(RequirementSpec("dog", {"dog": 1}), ["a", "b", "c"], [10, 10, 10],
                   [{"dog": 1}, {"dog": 8}, {"dog": 3}], {"m": [2.0, 6.0, 3.0]},
                   estimates={"m": est}, random_seeds=200)
    # mean |ĉ - c| / mean c = (1 + 2 + 0) / (1 + 8 + 3)
    assert res.count_error("m") == pytest.approx(3 / 12)
    assert res.coverage("m") == pytest.approx(2 / 3)  # c: 1 in [0, 3], 8 in [5, 9], 3 not
    assert res.hit_rate("m") == 1.0 and res.count_error("random") is None
    # random: one of three collections holds the most; Spearman averages to about 0
    assert res.hit_rate("random") == pytest.approx(1 / 3, abs=0.08)
    assert abs(res.spearman("random")) < 0.15
    with pytest.raises(ValueError):
        res.top1_hit("random")
    # a first place shared by equal values counts the share of it holding the most
    tie = evaluate(RequirementSpec("dog", {"dog": 1}), ["a", "b", "c", "d"], [10] * 4,
                   [{"dog": 1}, {"dog": 8}, {"dog": 3}, {"dog": 8}], {"m": [0.0, 0.0, 0.0, 0.0],
                                                                      "n": [5.0, 5.0, 5.0, 1.0]})
    assert tie.top1_hit("m") is False and tie.hit_rate("m") == pytest.approx(0.5)
    assert tie.hit_rate("n") == pytest.approx(1 / 3)
    again = RequirementResult.from_json(json.loads(json.dumps(res.to_json())))
    assert again == res and again.kind == "single"
    m = mean_metrics([res, res], "m")
    assert m["count_error"] == pytest.approx(0.25) and m["requirements"] == 2
    assert mean_metrics([res], "random")["count_error"] is None


def test_requirement_specs_per_source() -> None:
    specs = {s.name: s for s in requirement_specs(list("0123456789"), "mnist")}
    assert specs["5 0.7 + 3 0.3"].classes == {"5": 0.7, "3": 0.3}
    assert sorted(specs["zoo"].classes) == ["2", "3", "4", "5", "6", "7"]
    animal = [s.name for s in requirement_specs(["cat", "dog"])]
    assert animal == ["cat", "dog", "dog 0.7 + cat 0.3", "zoo"]


def test_demo_assessor_params() -> None:
    ranking, paper = demo_assessors({"radius": 3, "importance-list.no_match": "widen",
                                     "wanted-count.level": 0.8})
    assert ranking.name == "wanted-count" and paper.name == "importance-list"
    assert ranking.params.radius == paper.params.radius == 3
    assert paper.params.no_match == "widen" and ranking.params.level == 0.8
    with pytest.raises(DhrError, match="not a parameter"):
        demo_assessors({"colour": 1})
    with pytest.raises(DhrError, match="names"):
        demo_assessors({"other.radius": 1})


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
    assert data["ranked_by"] == "wanted-count" and data["config"]["source"] == "animal-mnist"
    for req in data["requirements"]:
        # ranked by the wanted estimate (ties: higher R(AD)), the interval around it
        est = [r["estimate"]["count"] for r in req["ranking"]]
        assert est == sorted(est, reverse=True) and len(est) == 8
        for r in req["ranking"]:
            e = r["estimate"]
            assert e["low"] <= e["count"] <= e["high"] and 0 <= r["relevance"] < 1
            assert r["retrieval"] >= r["matches"]  # Σ_i m_i counts shared matches again
        if req["kind"] == "single":
            (cls,) = req["classes"]
            for r in req["ranking"]:
                assert r["wanted"] == counts[r["collection"]][cls]
        top = req["ranking"][0]["wanted"]
        assert req["collected"]["wanted-count"][0] == top
        assert req["collected"]["random"][2] <= sum(sorted(
            (r["wanted"] for r in req["ranking"]), reverse=True)[:3])
        assert set(req["methods"]) == {"wanted-count", "importance-list", "retrieval", "random"}
        assert req["methods"]["wanted-count"]["count_error"] == req["count_error"] >= 0
        assert req["methods"]["importance-list"]["count_error"] is None
    acc = data["accuracy"]["wanted-count"]
    assert acc["requirements"] == 10 and 0 <= acc["top1_hit_rate"] <= 1
    assert 0 <= acc["coverage"] <= 1 and acc["count_error"] >= 0
    assert 0 <= data["accuracy"]["random"]["top1_hit_rate"] < 0.5
    # the product must beat random selection on the built-in data, even at this size
    got3 = sum(r["collected"]["wanted-count"][2] for r in data["requirements"])
    rnd3 = sum(r["collected"]["random"][2] for r in data["requirements"])
    assert got3 > rnd3
    # a second run reuses the materialised data and stays consistent
    res2 = CliRunner().invoke(cli, ["demo", "-o", str(out), "--per-collection", "200",
                                    "--requirement-images", "5", "--no-report", "-q"])
    assert res2.exit_code == 0, res2.output
    assert "top-1 collection is the best" in res2.output and "R(AD): top-1" in res2.output


@pytest.mark.slow
def test_demo_mnist_source(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["demo", "-o", str(out), "--source", "mnist",
                                   "--per-collection", "150", "--requirement-images", "5",
                                   "--no-report", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert manifest["source"] == "mnist" and data["config"]["source"] == "mnist"
    names = [r["name"] for r in data["requirements"]]
    assert names[:10] == list("0123456789") and names[10:] == ["5 0.7 + 3 0.3", "zoo"]
    # a second run with the other source does not reuse the digits
    res2 = CliRunner().invoke(cli, ["demo", "-o", str(out), "--per-collection", "150",
                                    "--requirement-images", "5", "--no-report", "-q"])
    assert res2.exit_code == 0, res2.output
    assert json.loads((out / "data" / "manifest.json").read_text())["source"] == "animal-mnist"
