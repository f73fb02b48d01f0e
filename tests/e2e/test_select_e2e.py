"""dhr select end to end on the built-in demo data: a budget spent is rich in what was asked."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.datasets.materialise import materialise_demo
from dhr_sdk.evaluation.demo import DemoConfig, build_demo_stores


@pytest.mark.slow
def test_select_on_the_demo_collections(tmp_path: Path) -> None:
    cfg = DemoConfig(per_collection=300, n_requirement=10)  # ITQ-32 on pixels, as dhr demo
    manifest = materialise_demo(tmp_path / "data", cfg.seed, per_collection=300,
                                n_requirement=10, n_multilabel=0)
    stores = build_demo_stores(tmp_path, manifest, cfg)
    before = {s: hashlib.sha256(s.read_bytes()).hexdigest() for s in stores}
    # ground truth: each collection file's class, from the manifest's source indices
    arrays = load_demo_arrays(manifest["source"])
    names = arrays.class_names
    truth = {(c["name"], f"{i:06d}.png"): names[arrays.class_index[k]]
             for c in manifest["collections"] for i, k in enumerate(c["source_indices"])}
    dog_req = tmp_path / "data" / "requirements" / "dog"
    export, lists = tmp_path / "dogs.csv", tmp_path / "lists"
    res = CliRunner().invoke(cli, ["select", *map(str, stores), "-r", str(dog_req),
                                   "--budget", "200", "--json", "--export", str(export),
                                   "--lists", str(lists)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["selected"] == 200 and len(data["images"]) == 200
    dogs = sum(truth[(r["collection"], r["image_id"])] == "dog" for r in data["images"])
    base = sum(c["class_counts"]["dog"] for c in manifest["collections"]) / len(truth)
    # dogs are the demo's most common class (32 %) and the one pixels hash worst; measured
    # 122 of 200 = 61 %, 1.9x the base rate (docs/assessment.md)
    assert base < 0.35
    assert dogs / 200 >= 1.6 * base, (dogs, base)
    # most of it comes from the dog-rich collections (CDS7 80 % dogs, CDS5 60 %)
    per = {c["collection"]: c["selected"] for c in data["collections"]}
    assert per["CDS7"] + per["CDS5"] + per["CDS4"] > per["CDS8"] + per["CDS6"] + per["CDS1"]
    with export.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 200 and all(Path(r["path"]).is_file() for r in rows)
    listed = [ln for f in sorted(lists.glob("*.txt")) for ln in f.read_text().splitlines()]
    assert len(listed) == 200 and sorted(listed) == sorted(r["path"] for r in rows)
    assert {s: hashlib.sha256(s.read_bytes()).hexdigest() for s in stores} == before
    # a weighted pair spends 70 % near the dogs and 30 % near the cats
    cat_req = tmp_path / "data" / "requirements" / "cat"
    pair = CliRunner().invoke(cli, ["select", *map(str, stores), "-r", str(dog_req), "-r",
                                    str(cat_req), "-w", "0.7", "-w", "0.3", "--budget", "100",
                                    "--json"])
    assert pair.exit_code == 0, pair.output
    got = json.loads(pair.output)
    assert [g["selected"] for g in got["groups"]] == [70, 30]
    classes = np.array([truth[(r["collection"], r["image_id"])] for r in got["images"]])
    group = np.array([r["group"] for r in got["images"]])
    dog_share = np.mean(classes[group == str(dog_req)] == "dog")
    cat_share = np.mean(classes[group == str(cat_req)] == "cat")
    cat_base = sum(c["class_counts"]["cat"] for c in manifest["collections"]) / len(truth)
    # measured: dogs 0.51 (base 0.32), cats 0.93 (base 0.19)
    assert dog_share > 1.3 * base and cat_share > 3 * cat_base
