"""benchmarks/pretrain.py: the page's target lines read the measured means correctly."""

from __future__ import annotations

from pathlib import Path

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


def test_rows_follow_the_weights_not_the_file_bytes() -> None:
    same = load_benchmark("pretrain").same_backbone
    now = {"sha256": "b", "weights_sha256": "w"}
    assert same({"sha256": "b"}, now)  # the same file
    assert same({"sha256": "a", "weights_sha256": "w"}, now)  # retrained, same weights
    assert not same({"sha256": "a", "weights_sha256": "v"}, now)  # other weights
    assert not same({"sha256": "a"}, now)  # recorded before the weights digest: unknown
    assert same(None, None) and not same(None, now) and not same({"sha256": "b"}, None)


def test_the_weights_digest_ignores_the_files_creation_time(tmp_path: Path) -> None:
    import h5py

    from dhr_sdk.datasets.demo import load_demo_arrays
    from dhr_sdk.model.ssl_file import read_ssl_file
    from dhr_sdk.offline.pretrain import PretrainParams, pretrain
    from dhr_sdk.offline.pretrain.images import prepare_images

    bench = load_benchmark("pretrain")
    x, digest = prepare_images(load_demo_arrays("mnist").images[:32], 16, 1)
    tiny = {"image_size": 16, "width": 4, "batch_size": 16, "hidden_dim": 16,
            "projection_dim": 8, "epochs": 1}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        pretrain(x, tmp_path / f"{name}.h5", PretrainParams(**{**tiny, "seed": seed}),
                 data_digest=digest)
    with h5py.File(tmp_path / "b.h5", "r+") as h5:
        h5.attrs["created"] = "another time"
    a, b, c = (bench.weights_digest(read_ssl_file(tmp_path / f"{n}.h5")) for n in "abc")
    assert a == b != c
