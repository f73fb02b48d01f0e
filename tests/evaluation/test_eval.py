"""The evaluation protocol: split, what each hasher is given, results, report and plots."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import Field

from dhr_sdk.codes.packing import pack_bits
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import FitData, Hasher
from dhr_sdk.core.params import Params
from dhr_sdk.evaluation.data import LabeledFeatures
from dhr_sdk.evaluation.protocol import (
    evaluate_hasher,
    fit_data_for,
    hasher_grid,
    make_hasher,
    run_evaluation,
)
from dhr_sdk.evaluation.report import EvalReport
from dhr_sdk.evaluation.spec import MetricSpec
from dhr_sdk.evaluation.split import SplitSpec, split_indices


def clusters(n: int = 600, d: int = 24, c: int = 4, seed: int = 0,
             tags: bool = False) -> LabeledFeatures:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    x = (rng.normal(0, 3, (c, d))[y] + rng.normal(size=(n, d))).astype(np.float32)
    t = (rng.random((n, 3)) < 0.5).astype(np.uint8) if tags else None
    return LabeledFeatures("toy", x, np.eye(c, dtype=np.uint8)[y],
                           tuple(f"c{i}" for i in range(c)), "none", tags=t,
                           tag_names=("a", "b", "c") if tags else ())


class SpyParams(Params):
    n_bits: int = Field(16, description="bits")


class Spy(Hasher):
    """Records the FitData it was given; codes = sign of the first n_bits features."""

    name: ClassVar[str] = "spy"
    Params: ClassVar[type[Params]] = SpyParams
    seen: FitData

    def fit(self, data: FitData, progress: Any = None) -> Spy:
        self.seen = data
        self.mean_ = data.features.mean(axis=0)
        return self

    def encode(self, features: np.ndarray) -> np.ndarray:
        return pack_bits(features[:, :self.n_bits] - self.mean_[:self.n_bits] > 0)

    def get_state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_}

    def set_state(self, state: dict[str, np.ndarray]) -> Spy:
        self.mean_ = state["mean"]
        return self


def test_split_sizes_disjointness_and_seed() -> None:
    s = split_indices(1000, SplitSpec(n_queries=100, n_train=300, seed=4))
    assert s.sizes() == {"n_queries": 100, "n_database": 900, "n_train": 300}
    assert not set(s.query) & set(s.database)
    assert set(s.train) <= set(s.database)
    assert not np.array_equal(s.database, np.sort(s.database))  # random database order
    again = split_indices(1000, SplitSpec(n_queries=100, n_train=300, seed=4))
    assert all(np.array_equal(a, b) for a, b in zip(
        (s.query, s.database, s.train), (again.query, again.database, again.train), strict=True))
    other = split_indices(1000, SplitSpec(n_queries=100, n_train=300, seed=5))
    assert not np.array_equal(s.query, other.query)
    rest = split_indices(1000, SplitSpec(n_queries=100, n_database=500, n_train=200,
                                         train_from="rest"))
    assert not set(rest.train) & (set(rest.query) | set(rest.database))
    assert rest.sizes() == {"n_queries": 100, "n_database": 500, "n_train": 200}
    assert split_indices(3000, SplitSpec()).sizes()["n_train"] == 2000  # min(5000, database)


def test_development_split_never_uses_the_test_queries() -> None:
    spec = SplitSpec(n_queries=100, n_train=300, seed=4)
    test = split_indices(1000, spec)
    dev = split_indices(1000, SplitSpec(n_queries=100, n_train=300, seed=4, part="dev"))
    assert not set(dev.query) & set(test.query)
    assert not set(dev.database) & set(test.query) and not set(dev.train) & set(test.query)
    assert not set(dev.query) & set(dev.database) and not set(dev.query) & set(dev.train)
    # enough database rows outside the training set: same training set, same model
    assert np.array_equal(dev.train, test.train) and dev.sizes()["n_queries"] == 100
    assert np.array_equal(dev.database, test.database[~np.isin(test.database, dev.query)])
    again = split_indices(1000, SplitSpec(n_queries=100, n_train=300, seed=4, part="dev"))
    assert np.array_equal(dev.query, again.query)
    # training set = whole database: dev queries leave it, at most a fifth of the database
    whole = split_indices(1000, SplitSpec(n_queries=400, seed=1))
    dev_whole = split_indices(1000, SplitSpec(n_queries=400, seed=1, part="dev"))
    assert dev_whole.sizes() == {"n_queries": 120, "n_database": 480, "n_train": 480}
    assert set(dev_whole.train) == set(whole.train) - set(dev_whole.query)
    assert not set(dev_whole.query) & set(whole.query)


@pytest.mark.parametrize("spec", [SplitSpec(n_queries=1000), SplitSpec(n_queries=10, n_train=991),
                                  SplitSpec(n_queries=10, n_database=0)])
def test_split_errors(spec: SplitSpec) -> None:
    with pytest.raises(DhrError):
        split_indices(1000, spec)


def test_labels_reach_only_hashers_that_require_them() -> None:
    data = clusters(tags=True)
    train = np.arange(50)
    plain = fit_data_for(Spy(), data, train)
    assert plain.labels is None and plain.train_features is None and plain.label_names == ()
    assert plain.tags is not None and np.array_equal(plain.tags, data.tags[train])  # type: ignore[index]

    class Supervised(Spy):
        requires: ClassVar[frozenset[str]] = frozenset({"labels"})

    class SemiSupervised(Spy):
        requires: ClassVar[frozenset[str]] = frozenset({"train"})

    class Tagged(Spy):
        requires: ClassVar[frozenset[str]] = frozenset({"tags"})

    sup = fit_data_for(Supervised(), data, train)
    assert np.array_equal(sup.labels, data.labels[train]) and sup.label_names == data.class_names
    semi = fit_data_for(SemiSupervised(), data, train)
    assert np.array_equal(semi.train_labels, data.labels[train]) and semi.labels is None
    assert np.array_equal(semi.train_features, data.features[train])
    assert np.array_equal(semi.features, data.features[train])
    dark = np.arange(50, 120)
    semi_dark = fit_data_for(SemiSupervised(), data, train, dark=dark)
    assert np.array_equal(semi_dark.features, data.features[dark])
    assert np.array_equal(semi_dark.train_features, data.features[train])
    assert np.array_equal(fit_data_for(Spy(), data, train, dark=dark).features,
                          data.features[train])
    with pytest.raises(DhrError, match="needs tags"):
        fit_data_for(Tagged(), clusters(), train)


def test_images_reach_hashers_that_ask_when_the_dataset_has_them() -> None:
    """Images go to a hasher that asks for them (its training rows); a features-only
    dataset gives None and leaves the decision (fall back or raise) to the hasher."""

    class WantsImages(Spy):
        def required_inputs(self) -> frozenset[str]:
            return frozenset({"images"})

    train = np.array([5, 2, 9])
    assert fit_data_for(WantsImages(), clusters(), train).images is None
    with_images = clusters()
    with_images.backbone = "pixels"
    with_images.image_dataset = [(np.full(1, float(i)), i, "") for i in range(len(with_images))]
    images = fit_data_for(WantsImages(), with_images, train).images
    assert images is not None and len(images) == 3
    assert [float(images.dataset[i][0][0]) for i in range(3)] == [5.0, 2.0, 9.0]
    assert fit_data_for(Spy(), with_images, train).images is None


def test_hasher_is_fitted_on_training_rows_only() -> None:
    data = clusters()
    split = split_indices(len(data), SplitSpec(n_queries=50, n_train=100))
    spy = Spy()
    res = evaluate_hasher(spy, data, split)
    assert np.array_equal(spy.seen.features, data.features[split.train])
    assert res.metrics is not None and res.n_encoded == len(data)
    assert res.metrics.n_queries == 50 and res.metrics.n_database == 550
    assert 1 <= res.distinct_codes <= 550 and res.fit_seconds >= 0


def test_run_evaluation_report_round_trip_and_skipped_rows(tmp_path: Path) -> None:
    data = clusters()
    rep = run_evaluation(data, hasher_grid([("itq", {"n_iter": 10}), ("lsh", {}), ("pcah", {})],
                                           [16, 32]),
                         SplitSpec(n_queries=60, n_train=200),
                         MetricSpec(topk=(100, None)))
    assert [(r.hasher, r.n_bits) for r in rep.results] == [
        ("itq", 16), ("itq", 32), ("lsh", 16), ("lsh", 32), ("pcah", 16), ("pcah", 32)]
    skipped = [r for r in rep.results if r.error]
    assert [(r.hasher, r.n_bits) for r in skipped] == [("itq", 32), ("pcah", 32)]  # 24-d data
    itq = rep.results[0].metrics
    assert itq is not None and itq.map_at["100"] > 0.8  # well separated clusters
    d = rep.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert EvalReport.from_dict(d).to_dict() == d
    md = rep.to_markdown()
    assert "| itq | 16 |" in md and "skipped: itq: 32 bits need" in md and "mAP@100" in md
    files = rep.write(tmp_path, ("png", "svg"))
    names = {f.name for f in files}
    assert {"results.json", "results.md", "pr_16bits.png", "pr_16bits.svg",
            "precision_at_k_32bits.png", "map_vs_bits.svg"} <= names
    assert all(f.stat().st_size > 0 for f in files)


def test_make_hasher_validates_params() -> None:
    assert make_hasher("itq", 32, {"n_iter": 3}).n_bits == 32
    with pytest.raises(DhrError, match="bits option"):
        make_hasher("itq", 32, {"n_bits": 8})
    with pytest.raises(DhrError, match="unknown parameter"):
        make_hasher("pcah", 32, {"seed": 1})
    with pytest.raises(DhrError, match="unknown hasher"):
        make_hasher("no-such-hasher", 32)
    with pytest.raises(DhrError, match="at least one"):
        run_evaluation(clusters(), [])
    with pytest.raises(DhrError, match="at least one"):
        hasher_grid([("lsh", {})], [])


def test_reports_record_the_processor_and_torch_without_importing_it() -> None:
    import importlib.metadata
    import subprocess
    import sys

    from dhr_sdk.evaluation.report import environment

    env = environment()
    assert env["torch"] == importlib.metadata.version("torch")
    assert env["cpu"].endswith(f" x{os.cpu_count()}") and len(env["cpu"]) > 3
    code = ("import sys; from dhr_sdk.evaluation.report import environment; environment(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
