"""benchmarks/ablation.py's target diagnostics and benchmarks/pretrain_speed.py's target
line, on small synthetic inputs."""

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


def test_speed_target_is_judged_on_ten_thousand_images_only() -> None:
    bench = load_benchmark("pretrain_speed")
    res = {"epoch_seconds": [20.0, 22.0], "loss": [5.0, 4.5],
           "params": {"image_size": 28, "arch": "convnet", "width": 32, "epochs": 2,
                      "batch_size": 256}}
    fast = bench.command_lines(res, 300.0, 500.0, 10000, [])
    assert "| 10000 | 2 | 476 | 21.0 (20.0-22.0) | 42 | 300 | 500 | 600 | met |" in fast
    assert "| missed |" in bench.command_lines(res, 700.0, 900.0, 10000, [])[-3]
    assert "n/a" in bench.command_lines(res, 30.0, 50.0, 600, [])[-3]
