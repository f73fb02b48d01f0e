"""benchmarks/ablation.py's target diagnostics, on small synthetic inputs."""

from __future__ import annotations

import numpy as np

from tests.benchtools import load_benchmark


def test_bit_stats_match_a_naive_count() -> None:
    rng = np.random.default_rng(0)
    bits = rng.random((50, 6)) < 0.3
    bits[:, 5] = False  # a constant bit is counted, not correlated
    stats = load_benchmark("ablation").bit_stats(bits)
    assert stats["distinct"] == len({tuple(r) for r in bits})
    assert stats["constant_bits"] == 1
    assert np.isclose(stats["imbalance"], np.mean([abs(bits[:, j].mean() - 0.5)
                                                   for j in range(6)]))
    pairs = [abs(np.corrcoef(bits[:, i], bits[:, j])[0, 1])
             for i in range(5) for j in range(5) if i != j]
    assert np.isclose(stats["abs_corr"], np.mean(pairs))


def test_train_code_map_is_one_for_class_codes_and_low_for_noise() -> None:
    labels = np.eye(4, dtype=np.uint8)[np.arange(400) % 4]
    class_bits = np.repeat(labels.astype(bool), 4, axis=1)  # 16 bits, one block per class
    bench = load_benchmark("ablation")
    assert bench.train_code_map(class_bits, labels) == 1.0
    noise = np.random.default_rng(0).random((400, 16)) < 0.5
    assert bench.train_code_map(noise, labels) < 0.4


def test_train_code_map_pads_codes_of_any_width() -> None:
    labels = np.eye(5, dtype=np.uint8)[np.arange(100) % 5]
    assert load_benchmark("ablation").train_code_map(labels.astype(bool), labels) == 1.0


def test_findings_compare_targets_in_the_direction_of_the_numbers() -> None:
    def row(corr: float, distinct: int, imbalance: float) -> dict[str, object]:
        return {"variant": "x", "map_1000": 0.5, "targets": {
            "train_map_1000": 0.5, "abs_corr": corr, "distinct": distinct,
            "imbalance": imbalance}}

    bench = load_benchmark("ablation")
    probe = bench.PROBES["nrdh"]
    worse = bench.findings({"ref itq": row(0.3, 2000, 0.02), "default": row(0.4, 1000, 0.1)},
                           probe)
    better = bench.findings({"ref itq": row(0.3, 2000, 0.1), "default": row(0.1, 3000, 0.02)},
                            probe)
    assert "more correlated" in worse[0] and "fewer codes" in worse[0]
    assert "less balanced" in worse[0]
    assert "less correlated" in better[0] and "more codes" in better[0]
    assert "more balanced" in better[0]


def test_lagnh_probe_records_training_codes_without_changing_the_fit() -> None:
    from dhr_sdk.core.interfaces import FitData
    from dhr_sdk.evaluation.protocol import make_hasher

    bench = load_benchmark("ablation")
    x = np.random.default_rng(0).normal(size=(120, 20)).astype(np.float32)
    params = {"epochs": 2, "batch_size": 50, "att_dim": 8, "hidden": 16, "n_anchors": 40,
              "pseudo_clusters": 6, "tag_source": "pseudo"}
    plain = make_hasher("lagnh", 16, params).fit(FitData(features=x))
    hasher, seen = bench.probed(make_hasher("lagnh", 16, params), False)
    hasher.fit(FitData(features=x))
    assert seen["bits"].shape == (120, 16) and seen["bits"].dtype == bool
    assert seen["tags"].shape == (120, 6) and seen["tags"].sum(axis=1).tolist() == [1] * 120
    assert np.array_equal(np.packbits(seen["encoded"], axis=1), plain.encode(x))
    assert np.array_equal(hasher.encode(x), plain.encode(x))  # the fit's random stream is kept
    teacher, taught = bench.probed(make_hasher("lagnh", 16, {**params, "tag_source": "auto"}),
                                   True)
    teacher.fit(FitData(features=x))
    assert teacher.source_ == "tags" and teacher.anchors_y_.shape[1] == 16  # ITQ's bits as Y
    assert taught["bits"].shape == (120, 16)
