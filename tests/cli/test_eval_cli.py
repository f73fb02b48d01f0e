"""``dhr eval`` through click's CliRunner: a labeled folder end to end, options and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.cli.common import shared_params
from dhr_sdk.cli.eval_cmd import parse_ints
from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 8x8 images of two classes (bright top vs bright bottom half) with a labels CSV."""
    root = tmp_path_factory.mktemp("labeled")
    rng = np.random.default_rng(0)
    rows = ["image,labels"]
    for i in range(80):
        cls = i % 2
        img = rng.integers(0, 60, (8, 8), dtype=np.uint8)
        img[:4] += 150 if cls == 0 else 0
        img[4:] += 150 if cls == 1 else 0
        Image.fromarray(img).save(root / f"img{i:02d}.png")
        rows.append(f"img{i:02d}.png,{'top' if cls == 0 else 'bottom'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def run(*args: str) -> tuple[int, str]:
    """Exit code and stdout + stderr."""
    res = CliRunner().invoke(cli, ["eval", *args])
    return res.exit_code, res.output


def run_json(*args: str) -> dict[str, Any]:
    res = CliRunner().invoke(cli, ["eval", *args, "--json"])
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def test_eval_labeled_folder_json_contract(folder: Path, tmp_path: Path) -> None:
    report = run_json(str(folder), "--labels", str(folder / "labels.csv"), "--hasher", "itq",
                      "--hasher", "lsh", "--bits", "16", "-B", "size=8", "-p", "seed=1",
                      "-p", "itq.n_iter=5", "--queries", "20", "--train", "40",
                      "-o", str(tmp_path / "out"), "-q")
    assert report["format"] == "dhr-retrieval-eval" and report["version"] == 1
    assert report["dataset"]["n_images"] == 80 and report["dataset"]["class_names"] == [
        "bottom", "top"]
    assert report["protocol"]["actual_n_queries"] == 20
    assert report["protocol"]["actual_n_database"] == 60
    assert report["protocol"]["actual_n_train"] == 40
    rows = {r["hasher"]: r for r in report["results"]}
    assert rows["itq"]["params"] == {"n_bits": 16, "seed": 1, "n_iter": 5}
    assert rows["lsh"]["params"]["seed"] == 1
    assert rows["itq"]["metrics"]["map_at"]["1000"] > 0.9  # two clean classes
    assert "tie_rule" in report["metrics"] and report["metrics"]["no_relevant"] == "zero"
    assert report["command"].startswith("dhr eval ") and "--seed 0" in report["command"]
    files = {Path(f).name for f in report["files"]}
    assert {"results.json", "results.md", "pr_16bits.png", "map_vs_bits.png"} <= files
    assert (tmp_path / "out" / "features.h5").exists()  # feature cache of the collection


def test_eval_development_part_keeps_the_test_queries_out(folder: Path, tmp_path: Path) -> None:
    args = [str(folder), "--labels", str(folder / "labels.csv"), "--hasher", "lsh", "--bits",
            "16", "-B", "size=8", "--queries", "20", "--train", "40", "-q"]
    report = run_json(*args, "--part", "dev", "-o", str(tmp_path / "dev"))
    assert report["protocol"]["part"] == "dev"
    # 20 dev queries from the 20 database images outside the training set: same 40 to train
    assert report["protocol"]["actual_n_queries"] == 20
    assert report["protocol"]["actual_n_database"] == 40
    assert report["protocol"]["actual_n_train"] == 40
    assert "development split" in (tmp_path / "dev" / "results.md").read_text()
    assert run_json(*args, "-o", str(tmp_path / "test"))["protocol"]["part"] == "test"


def test_eval_human_table(folder: Path, tmp_path: Path) -> None:
    code, out = run(str(folder), "--labels", str(folder / "labels.csv"), "--hasher", "pcah",
                    "--bits", "8,16", "-B", "size=8", "--queries", "20", "--topk", "10,all",
                    "--plot-format", "svg", "-o", str(tmp_path), "-q")
    assert code == 0, out
    assert "mAP@10" in out and "mAP@all" in out and "pcah" in out
    assert (tmp_path / "pr_8bits.svg").exists() and not (tmp_path / "pr_8bits.png").exists()


@pytest.mark.parametrize("args,message", [
    (["--hasher", "lsh"], "either --dataset"),
    (["--dataset", "mnist", "--hasher", "lsh", "-p", "n_iter=3"], "not a parameter of lsh"),
    (["--dataset", "mnist", "--hasher", "lsh", "-p", "itq.n_iter=3"], "not in use"),
    (["--dataset", "mnist", "--hasher", "lsh", "--bits", "16,x"], "comma-separated"),
    (["--dataset", "mnist", "--hasher", "lsh", "--plot-format", "gif"], "plot-format"),
    (["--dataset", "mnist", "--hasher", "nope"], "unknown hasher"),
])
def test_eval_user_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    code, out = run(*args, "-o", str(tmp_path))
    assert code == 1 and message in out and "Traceback" not in out
    assert len([ln for ln in out.splitlines() if ln.startswith("Error")]) == 1


def test_collection_without_labels_is_refused(folder: Path, tmp_path: Path) -> None:
    code, out = run(str(folder), "--hasher", "lsh", "-o", str(tmp_path))
    assert code == 1 and "--labels" in out


def test_option_parsers(tmp_path: Path) -> None:
    assert parse_ints("16, 32,64", "--bits") == (16, 32, 64)
    assert parse_ints("1000,all", "--topk", allow_all=True) == (1000, None)
    with pytest.raises(DhrError):
        parse_ints("all", "--bits")
    cfg = tmp_path / "c.toml"
    cfg.write_text("[hasher]\nseed = 2\n[hasher.itq]\nn_iter = 7\n")
    got = shared_params("hasher", ["itq", "pcah", "lsh"], ["lsh.center=false"], cfg)
    assert got == {"itq": {"seed": 2, "n_iter": 7}, "pcah": {},
                   "lsh": {"seed": 2, "center": False}}
