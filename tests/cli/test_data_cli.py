"""``dhr features``: CLI contract, skipped-file report, cache reuse on 10,000 images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.cli.main import cli
from dhr_sdk.data.features import load_features
from dhr_sdk.datasets.demo import load_demo_arrays


def _folder(root: Path, n: int) -> np.ndarray:
    images = load_demo_arrays("animal-mnist").images[:n]
    for i, img in enumerate(images):
        sub = root / f"part{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(sub / f"{i:05d}.png", compress_level=1)
    return images


def test_features_json_contract_and_skipped_report(tmp_path: Path) -> None:
    _folder(tmp_path / "c", 30)
    (tmp_path / "c" / "empty.png").write_bytes(b"")
    (tmp_path / "c" / "part1" / "text.jpg").write_text("hello")
    store = tmp_path / "s.h5"
    runner = CliRunner()
    res = runner.invoke(cli, ["features", str(tmp_path / "c"), "-o", str(store), "-p", "size=8",
                              "--workers", "0", "--json", "-q"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"store", "key", "backbone", "backbone_params", "n_images", "dim",
                        "cached", "seconds", "skipped", "labels", "tags"}
    assert out["n_images"] == 30 and out["dim"] == 64 and out["cached"] is False
    assert out["backbone_params"] == {"size": 8, "grayscale": True, "normalise": "unit"}
    assert {s["image"] for s in out["skipped"]} == {"empty.png", "part1/text.jpg"}
    res = runner.invoke(cli, ["features", str(tmp_path / "c"), "-o", str(store), "-p", "size=8"])
    assert res.exit_code == 0 and "reused from the cache" in res.stdout
    assert "empty.png" in res.stdout and "empty file" in res.stdout


def test_features_from_a_path_list_and_errors(tmp_path: Path) -> None:
    _folder(tmp_path / "c", 6)
    lst = tmp_path / "c" / "list.txt"
    lst.write_text("# two images\npart0/00000.png\npart1/00001.png\n")
    runner = CliRunner()
    res = runner.invoke(cli, ["features", str(lst), "-o", str(tmp_path / "s.h5"), "--json",
                              "-q", "--workers", "0"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n_images"] == 2
    assert load_features(tmp_path / "s.h5").image_ids == ["part0/00000.png", "part1/00001.png"]
    for args, msg in [
        (["features", str(tmp_path / "nope"), "-o", str(tmp_path / "x.h5")], "does not exist"),
        (["features", str(tmp_path / "c"), "-o", str(tmp_path / "x.h5"), "--backbone", "alexnet"],
         "unknown backbone"),
        (["features", str(tmp_path / "c"), "-o", str(tmp_path / "x.h5"), "-p", "bogus=1"],
         "unknown parameter"),
        (["features", str(tmp_path / "c"), "-o", str(tmp_path / "x.h5"), "--device", "cuda:7"],
         "CUDA"),
    ]:
        res = runner.invoke(cli, args)
        assert res.exit_code == 1 and msg in res.output and "Traceback" not in res.output


@pytest.mark.slow
def test_ten_thousand_images_two_workers_then_cache(tmp_path: Path) -> None:
    images = _folder(tmp_path / "c", 10_000)
    store = tmp_path / "s.h5"
    args = ["features", str(tmp_path / "c"), "-o", str(store), "--workers", "2",
            "--batch-size", "256"]
    runner = CliRunner()
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "features pixels" in first.stderr and "img/s" in first.stderr  # the progress bar
    feats = load_features(store)
    assert feats.features.shape == (10_000, 784)
    order = [int(Path(i).stem) for i in feats.image_ids]
    np.testing.assert_allclose(feats.features, images[order].reshape(10_000, -1) / 255.0,
                               atol=1e-7)
    second = runner.invoke(cli, [*args, "--json"])
    assert second.exit_code == 0 and json.loads(second.stdout)["cached"] is True
