"""``dhr eval --model``: a fitted model measured on the user's own queries and database.

Real images (the demo's animal silhouettes, materialised small), an ITQ model fitted on one
folder; the metrics are checked against a hand computation from the model's codes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from dhr_sdk.assessment.targets import encode_images, model_fingerprint
from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError
from dhr_sdk.datasets.materialise import materialise_demo
from dhr_sdk.evaluation.metrics import evaluate_retrieval
from dhr_sdk.evaluation.protocol import EvalWarning, database_order, evaluate_model
from dhr_sdk.evaluation.report import EvalReport
from dhr_sdk.evaluation.spec import MetricSpec
from dhr_sdk.model.hash_model import HashModel, load_model
from dhr_sdk.offline.pipeline import encode, fit
from dhr_sdk.store import Store
from tests.plugintools import backbone, hasher

SCHEMES = {"A": {"cat": 0.3, "dog": 0.3, "bird": 0.4},
           "B": {"cat": 0.5, "dog": 0.2, "horse": 0.3}}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("user-data")
    materialise_demo(root / "demo", per_collection=120, n_requirement=6, n_multilabel=80,
                     schemes=SCHEMES)
    return root


@pytest.fixture(scope="module")
def model(demo: Path) -> Path:
    """ITQ, 32 bits, fitted on collection A (the model file also caches A's features)."""
    path = demo / "model.h5"
    fit([demo / "demo/collections/A"], path, hasher("itq", n_bits=32, n_iter=10), backbone())
    return path


@pytest.fixture(scope="module")
def a_store(demo: Path, model: Path) -> Path:
    """``dhr encode A --model MODEL --labels A.csv``: codes, features and labels of A."""
    path = demo / "A.h5"
    encode(demo / "demo/collections/A", model, path, labels_file=labels(demo, "A"))
    return path


def folder(demo: Path, name: str) -> Path:
    return next(p for p in (demo / "demo/collections" / name, demo / "demo/requirements" / name,
                            demo / "demo/multilabel" / name) if p.is_dir())


def labels(demo: Path, name: str) -> Path:
    return demo / "demo/labels" / f"{name}.csv"


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["eval", *args])
    return res.exit_code, res.output


def run_json(*args: str) -> dict[str, Any]:
    res = CliRunner().invoke(cli, ["eval", *args, "--json", "-q"])
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def by_hand(model: Path, queries: Path, q_labels: Path, database: Path, db_labels: Path,
            seed: int = 0) -> dict[str, Any]:
    """The metrics from the model's own codes of the images and the labels files."""
    hm = load_model(model)

    def side(root: Path, labels_file: Path) -> tuple[np.ndarray, list[set[str]]]:
        with labels_file.open() as fh:
            named = {r["image"]: {n for n in r["labels"].split(";") if n}
                     for r in csv.DictReader(fh)}
        ids = sorted(p.name for p in root.glob("*.png"))
        return encode_images(hm, [root / i for i in ids]), [named.get(i, set()) for i in ids]

    qc, ql = side(queries, q_labels)
    dbc, dbl = side(database, db_labels)
    names = sorted(set().union(*ql, *dbl))
    q_y = np.array([[n in s for n in names] for s in ql], dtype=np.uint8)
    db_y = np.array([[n in s for n in names] for s in dbl], dtype=np.uint8)
    order = np.random.default_rng(seed).permutation(len(dbl))
    return evaluate_retrieval(qc, dbc[order], q_y, db_y[order]).to_dict()


def same_metrics(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, dict):
            same_metrics(got[key], value)
        elif isinstance(value, (list, float)):
            np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-12)
        else:
            assert got[key] == value, key


@pytest.mark.parametrize("queries,database", [("B", "A"), ("horse+cow", "MDS1")],
                         ids=["single-label", "multi-label"])
def test_metrics_equal_a_hand_computation(demo: Path, model: Path, tmp_path: Path,
                                          queries: str, database: str) -> None:
    report = run_json("--model", str(model), "--queries", str(folder(demo, queries)),
                      "--query-labels", str(labels(demo, f"req-{queries}")
                                            if queries == "horse+cow" else labels(demo, queries)),
                      "--database", str(folder(demo, database)),
                      "--database-labels", str(labels(demo, database)), "-o", str(tmp_path))
    q_labels = labels(demo, f"req-{queries}") if queries == "horse+cow" else labels(demo, queries)
    want = by_hand(model, folder(demo, queries), q_labels, folder(demo, database),
                   labels(demo, database))
    [row] = report["results"]
    same_metrics(row["metrics"], want)
    assert report["dataset"]["multi_label"] is (database == "MDS1")
    assert row["fit_seconds"] == 0.0 and row["n_encoded"] == row["metrics"]["n_queries"] + \
        row["metrics"]["n_database"]
    assert want["map_at"]["1000"] > 0  # the labels do meet


def test_folder_and_store_inputs_give_the_same_result(demo: Path, model: Path, a_store: Path,
                                                      tmp_path: Path) -> None:
    q = ["--model", str(model), "--queries", str(folder(demo, "B")),
         "--query-labels", str(labels(demo, "B"))]
    from_folder = run_json(*q, "--database", str(folder(demo, "A")), "--database-labels",
                           str(labels(demo, "A")), "-o", str(tmp_path / "folder"))
    from_store = run_json(*q, "--database", str(a_store), "-o", str(tmp_path / "store"))
    # the model file caches A's features but holds no codes: they are encoded from them
    from_features = run_json(*q, "--database", str(model), "--database-labels",
                             str(labels(demo, "A")), "-o", str(tmp_path / "features"))
    # the queries as a store as well (written by 'dhr encode', labels recorded)
    b_store = tmp_path / "B.h5"
    encode(folder(demo, "B"), model, b_store, labels_file=labels(demo, "B"))
    both_stores = run_json("--model", str(model), "--queries", str(b_store), "--database",
                           str(a_store), "-o", str(tmp_path / "stores"))
    got = [r["results"][0]["metrics"] for r in (from_store, from_features, both_stores)]
    for other in got:
        same_metrics(other, from_folder["results"][0]["metrics"])
    codes_from = [r["sources"]["database"]["codes_from"]
                  for r in (from_folder, from_store, from_features)]
    assert codes_from == ["images", "store codes", "store features"]
    assert both_stores["sources"]["queries"]["labels_from"] == "store"
    assert from_store["results"][0]["n_encoded"] == 120  # only the queries were encoded


def test_report_records_the_model_and_the_sources(demo: Path, model: Path, a_store: Path,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = run_json("--model", str(model), "--queries", str(folder(demo, "B")),
                      "--query-labels", str(labels(demo, "B")), "--database", str(a_store),
                      "--topk", "50,all", "--seed", "3", "-o", str(out))
    assert report["kind"] == "model" and "protocol" not in report
    fp = model_fingerprint(Store(model).read_model())
    assert report["model"] == {
        "path": str(model), "fingerprint": fp, "hasher": "itq", "n_bits": 32,
        "params": {"n_bits": 32, "n_iter": 10, "seed": 0}, "backbone": "pixels",
        "backbone_params": load_model(model).backbone_params}
    assert report["results"][0]["info"]["fingerprint"] == fp
    src = report["sources"]
    assert src["queries"]["kind"] == "folder" and src["database"]["kind"] == "store"
    assert src["queries"]["labels_file"] == str(labels(demo, "B"))
    assert src["database"]["path"] == str(a_store) and src["database"]["n_images"] == 120
    assert report["dataset"]["shared_labels"] == ["cat", "dog"]
    assert report["dataset"]["class_names"] == ["bird", "cat", "dog", "horse"]
    assert report["database_order_seed"] == 3 and report["warnings"] == []
    assert "--seed 3" in report["command"] and "--bits" not in report["command"]
    assert (out / "features-queries.h5").exists()  # folder features cached in OUTPUT
    md = (out / "results.md").read_text()
    assert fp in md and "no split drawn, nothing fitted" in md and "store's codes" in md
    assert {Path(f).name for f in report["files"]} >= {"results.json", "pr_32bits.png",
                                                        "map_vs_bits.png"}
    saved = json.loads((out / "results.json").read_text())
    assert EvalReport.from_dict(saved).to_dict() == saved
    want = by_hand(model, folder(demo, "B"), labels(demo, "B"), folder(demo, "A"),
                   labels(demo, "A"), seed=3)
    assert report["results"][0]["metrics"]["map_at"]["all"] == pytest.approx(
        want["map_at"]["all"], abs=1e-12)


def test_the_model_and_the_stores_are_not_modified(demo: Path, model: Path, a_store: Path,
                                                   tmp_path: Path) -> None:
    def state(p: Path) -> tuple[str, int]:
        return hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns

    before = [state(model), state(a_store)]
    run_json("--model", str(model), "--queries", str(folder(demo, "B")), "--query-labels",
             str(labels(demo, "B")), "--database", str(a_store), "-o", str(tmp_path / "a"))
    with pytest.warns(EvalWarning, match="also in the database"):  # A against A
        run_json("--model", str(model), "--queries", str(a_store), "--database", str(model),
                 "--database-labels", str(labels(demo, "A")), "-o", str(tmp_path / "b"))
    assert [state(model), state(a_store)] == before


def test_python_api_with_the_same_names(demo: Path, model: Path, a_store: Path) -> None:
    hm = load_model(model)
    assert isinstance(hm, HashModel)
    rep = evaluate_model(hm, folder(demo, "B"), a_store, query_labels=labels(demo, "B"),
                         metrics=MetricSpec(topk=(None,)))
    assert rep.kind == "model" and rep.model["path"] is None
    assert rep.model_id == model_fingerprint(hm.to_record())
    want = by_hand(model, folder(demo, "B"), labels(demo, "B"), folder(demo, "A"),
                   labels(demo, "A"))
    assert rep.results[0].metrics.map_at["all"] == pytest.approx(want["map_at"]["all"],
                                                                 abs=1e-12)
    assert np.array_equal(database_order(5, 0), np.random.default_rng(0).permutation(5))


def test_no_label_in_common_is_warned(demo: Path, model: Path, a_store: Path,
                                      tmp_path: Path) -> None:
    with pytest.warns(EvalWarning, match="no label in common"):
        report = run_json("--model", str(model), "--queries", str(folder(demo, "zebra")),
                          "--query-labels", str(labels(demo, "req-zebra")),
                          "--database", str(a_store), "-o", str(tmp_path))
    assert any("no label in common" in w for w in report["warnings"])
    m = report["results"][0]["metrics"]
    assert m["n_no_relevant"] == m["n_queries"] == 6 and m["map_at"]["all"] == 0.0
    assert "**warning**" in (tmp_path / "results.md").read_text()


def test_images_on_both_sides_are_warned(demo: Path, model: Path, a_store: Path,
                                         tmp_path: Path) -> None:
    with pytest.warns(EvalWarning, match="120 of the 120 query images are also in the database"):
        evaluate_model(model, folder(demo, "A"), a_store, query_labels=labels(demo, "A"))


@pytest.fixture(scope="module")
def other_stores(demo: Path) -> dict[str, Path]:
    """Stores of A encoded by other models (another backbone: no usable cached features)."""
    out = {}
    for name, bits, seed in (("short", 16, 0), ("other", 32, 1)):
        m = demo / f"model-{name}.h5"
        fit([demo / "demo/collections/A"], m, hasher("itq", n_bits=bits, seed=seed),
            backbone(size=8), cache=False)
        out[name] = demo / f"A-{name}.h5"
        encode(demo / "demo/collections/A", m, out[name], labels_file=labels(demo, "A"))
    out["unlabeled"] = demo / "A-unlabeled.h5"
    encode(demo / "demo/collections/A", demo / "model-other.h5", out["unlabeled"])
    return out


@pytest.mark.parametrize("store,message", [
    ("short", "code length mismatch: .*16-bit codes, the model makes 32-bit codes"),
    ("other", "holds codes of another model"),
    ("unlabeled", "has no labels; give --database-labels FILE"),
])
def test_store_errors_are_one_line(demo: Path, model: Path, other_stores: dict[str, Path],
                                   tmp_path: Path, store: str, message: str) -> None:
    code, out = run("--model", str(model), "--queries", str(folder(demo, "B")),
                    "--query-labels", str(labels(demo, "B")), "--database",
                    str(other_stores[store]), "-o", str(tmp_path), "-q")
    assert code == 1 and "Traceback" not in out, out
    [line] = [ln for ln in out.splitlines() if ln.startswith("Error")]
    assert re.search(message, line), line
    with pytest.raises(DhrError):
        evaluate_model(model, folder(demo, "B"), other_stores[store],
                       query_labels=labels(demo, "B"))


def test_a_folder_needs_its_labels_file(demo: Path, model: Path, a_store: Path,
                                        tmp_path: Path) -> None:
    code, out = run("--model", str(model), "--queries", str(folder(demo, "B")),
                    "--database", str(a_store), "-o", str(tmp_path), "-q")
    assert code == 1 and "(queries) needs labels: give --query-labels FILE" in out
    code, out = run("--model", str(model), "--queries", str(tmp_path / "missing"),
                    "--database", str(a_store), "-o", str(tmp_path), "-q")
    assert code == 1 and "does not exist" in out


@pytest.mark.parametrize("extra,message", [
    (["--hasher", "itq"], "--hasher cannot be combined with --model"),
    (["--bits", "32"], "--bits cannot be combined with --model"),
    (["--dataset", "mnist"], "--dataset cannot be combined with --model"),
    (["--labels", "x.csv"], "--query-labels / --database-labels"),
    (["--backbone", "pixels", "--part", "dev"], "--backbone, --part cannot be combined"),
])
def test_model_with_split_options_is_a_usage_error(model: Path, tmp_path: Path,
                                                   extra: list[str], message: str) -> None:
    code, out = run("--model", str(model), "--queries", "q", "--database", "db", *extra,
                    "-o", str(tmp_path))
    assert code == 2 and message in out and "Traceback" not in out, out


@pytest.mark.parametrize("args,message", [
    (["--model", "m.h5", "--queries", "q"], "--model needs --queries Q and --database DB"),
    (["--dataset", "mnist", "--hasher", "lsh", "--query-labels", "q.csv"], "go with --model"),
    (["--dataset", "mnist"], "give --hasher NAME"),
    (["--dataset", "mnist", "--hasher", "lsh", "--queries", "photos/"], "not a number"),
])
def test_other_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    code, out = run(*args, "-o", str(tmp_path))
    assert code == 2 and message in out, out


def test_help_describes_both_ways() -> None:
    code, out = run("--help")
    assert code == 0
    assert "--model MODEL.h5 --queries Q --database DB" in out
    assert "--query-labels" in out and "--database-labels" in out
