"""benchmarks/pretrain_speed.py: the command's row, its target line and the step profile's
ratio, on small synthetic inputs."""

from __future__ import annotations

from tests.benchtools import load_benchmark

RES = {"epoch_seconds": [20.0, 22.0], "epoch_cpu_seconds": [18.0, 19.0], "loss": [5.0, 4.5],
       "params": {"image_size": 28, "arch": "convnet-s2", "width": 32, "epochs": 2,
                  "batch_size": 256, "threads": 1}}


def test_speed_target_is_judged_on_ten_thousand_images_only() -> None:
    bench = load_benchmark("pretrain_speed")
    fast = bench.command_lines(RES, 300.0, 500.0, 10000, [], [1.0, 3.0])
    assert "| 10000 | 2 | 476 | 21.0 (20.0-22.0) | 18.5 | 42 | 300 | 500 | 600 | met |" in fast
    assert "- 1-minute load average while it ran: 1.00-3.00 (mean 2.00, 2 samples)." in fast
    assert "| missed |" in bench.command_lines(RES, 700.0, 900.0, 10000, [], [])[-4]
    assert "n/a" in bench.command_lines(RES, 30.0, 50.0, 600, [], [])[-4]


def test_profile_ratio_is_peer_over_default() -> None:
    bench = load_benchmark("pretrain_speed")
    step = {"augment": 0.1, "forward": 0.2, "backward": 0.6, "step": 0.1, "cpu": 1.0}
    peer = {k: 3 * v for k, v in step.items()}
    rows = [step, step, step, step, peer]
    lines = bench.profile_lines(rows, 5)
    assert lines[-1] == ("- Earlier default / default: 3.00× the wall clock, 3.00× the CPU "
                         "seconds of a step; augmentation is 10 % of a default step.")
    assert sum(line.startswith("| convnet") for line in lines) == 5
