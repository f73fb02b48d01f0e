"""benchmarks/pretrain.py: the page's target lines read the measured means correctly."""

from __future__ import annotations

from tests.benchtools import load_benchmark


def test_targets_compare_against_pixels_itq_and_lsh() -> None:
    mean = {("d", "pixels", "itq", 64): 0.5, ("d", "ssl", "itq", 64): 0.65,
            ("d", "ssl", "lsh", 64): 0.6, ("d", "ssl", "nrdh", 64): 0.62,
            ("d", "ssl", "lagnh", 64): 0.7}
    lines = load_benchmark("pretrain").target_lines("d", mean, 0.1)
    assert lines[0] == "- ITQ-64 pretrained / pixels: 1.30× (target ≥ 1.2×: met)."
    assert "NRDH-64 on ssl 0.620 vs ITQ 0.650, LSH 0.600: NOT above both." in lines[1]
    assert lines[2].endswith("above both.") and "NOT" not in lines[2]
    assert lines[-1] == "- ITQ-64 on ssl is 6.50× chance."
    mean[("d", "ssl", "itq", 64)] = 0.55
    assert "missed" in load_benchmark("pretrain").target_lines("d", mean, None)[0]


def test_a_files_schedule_lists_only_what_differs_from_the_defaults() -> None:
    bench = load_benchmark("pretrain")
    assert bench.changed_params({"epochs": 20, "flip": True, "view_size": 28,
                                 "not_a_param": 1}) == "flip=true, view_size=28"
    assert bench.changed_params({"epochs": 20}) == "defaults"
