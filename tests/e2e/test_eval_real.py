"""End to end on the built-in real data (slow): ``dhr eval`` with the four baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.evaluation.data import demo_features
from dhr_sdk.evaluation.protocol import hasher_grid, run_evaluation
from dhr_sdk.evaluation.split import SplitSpec


@pytest.mark.slow
def test_dhr_eval_animal_mnist_itq_beats_lsh(tmp_path: Path) -> None:
    args = ["eval", "--dataset", "animal-mnist", "--hasher", "lsh", "--hasher", "pcah",
            "--hasher", "itq", "--hasher", "sh", "--bits", "32,64", "--queries", "500",
            "--database", "4000", "--train", "2000", "-o", str(tmp_path), "--json", "-q"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    got = {(r["hasher"], r["n_bits"]): r["metrics"] for r in report["results"]}
    assert all(m is not None for m in got.values())
    for b in (32, 64):  # the sanity check every hashing paper shows
        assert got[("itq", b)]["map_at"]["1000"] > got[("lsh", b)]["map_at"]["1000"] + 0.03
    chance = got[("lsh", 32)]["pr_curve"]["precision"][-1]
    assert all(m["map_at"]["1000"] > chance + 0.1 for m in got.values())
    for name in ("results.json", "results.md", "pr_32bits.png", "precision_at_k_64bits.png",
                 "map_vs_bits.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.slow
def test_multilabel_demo_evaluates_with_shared_label_relevance() -> None:
    data = demo_features("animal-multilabel")
    assert data.multi_label
    rep = run_evaluation(data, hasher_grid([("itq", {})], [32]),
                         SplitSpec(n_queries=300, n_train=1000))
    m = rep.results[0].metrics
    assert m is not None and m.n_queries == 300
    chance = m.pr_precision[-1]
    assert 0.2 < chance < 0.6  # 1-3 of 10 classes per canvas: many shared-label pairs
    assert m.map_at["1000"] > chance
