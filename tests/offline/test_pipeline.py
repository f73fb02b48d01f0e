"""fit / encode / build as library functions and CLI: one model, many collections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.cli.pipeline_options import split_params
from dhr_sdk.core.errors import DhrError, ParamsError
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.hash_model import load_model
from dhr_sdk.offline.pipeline import build, encode, fit
from dhr_sdk.store import Store
from tests.clitools import write_images
from tests.plugintools import backbone, graph_and_ranker, hasher


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("pipeline")
    d = load_demo_arrays("mnist")
    pick = np.random.default_rng(0).permutation(len(d))[:140]
    a = write_images(tmp / "a", d.images[pick[:80]])
    b = write_images(tmp / "b", d.images[pick[80:]])
    labels = tmp / "labels.csv"
    rows = ["image,labels"]
    rows += [f"{i:04d}.png,{d.class_names[d.class_index[j]]}" for i, j in enumerate(pick[:80])]
    labels.write_text("\n".join(rows) + "\n")
    return {"tmp": tmp, "a": a, "b": b, "labels": labels}


def test_one_model_encodes_many_collections(folders: dict[str, Path]) -> None:
    tmp = folders["tmp"]
    model = fit([folders["a"], folders["b"]], tmp / "m.h5", hasher("itq", n_bits=16),
                backbone())
    assert model.n_bits == 16 and load_model(tmp / "m.h5").hasher.name == "itq"
    # the model's codes on each collection equal encoding that collection's features
    rec_a = encode(folders["a"], tmp / "m.h5", tmp / "a.h5")
    rec_b = encode(folders["b"], model, tmp / "b.h5")
    assert rec_a.codes.shape == (80, 2) and rec_b.codes.shape == (60, 2)
    feats = Store(tmp / "a.h5").read_features(Store(tmp / "a.h5").feature_keys()[0]).features
    assert np.array_equal(model.hasher.encode(feats), rec_a.codes)
    for s in ("a.h5", "b.h5"):
        assert Store(tmp / s).elements() == ["collection", "features", "model", "codes"]
    # encoding a store in place reuses its features
    again = encode(tmp / "a.h5", tmp / "m.h5", tmp / "a.h5")
    assert np.array_equal(again.codes, rec_a.codes)


def test_fit_is_seeded_and_validates(folders: dict[str, Path]) -> None:
    tmp = folders["tmp"]
    m1 = fit([folders["a"]], tmp / "s1.h5", hasher("lsh", n_bits=16, seed=3), backbone())
    m2 = fit([folders["a"]], tmp / "s2.h5", hasher("lsh", n_bits=16, seed=3), backbone())
    m3 = fit([folders["a"]], tmp / "s3.h5", hasher("lsh", n_bits=16, seed=4), backbone())
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    assert np.array_equal(m1.hasher.encode(x), m2.hasher.encode(x))
    assert not np.array_equal(m1.hasher.encode(x), m3.hasher.encode(x))
    with pytest.raises(DhrError, match="together"):
        fit([folders["a"]], tmp / "x.h5", hasher("itq"), backbone(), train=folders["b"])
    with pytest.raises(DhrError, match="does not exist"):
        fit([tmp / "missing"], tmp / "x.h5", hasher("itq"), backbone())
    with pytest.raises(DhrError, match="single collection"):
        fit([folders["a"], folders["b"]], tmp / "x.h5", hasher("itq"), backbone(),
            tags_file=folders["labels"])


def test_fit_with_labeled_training_set(folders: dict[str, Path]) -> None:
    """--train DIR --labels FILE reaches the hasher as FitData.train_features/labels."""
    from dhr_sdk.offline.pipeline import collection_features

    feats, rec = collection_features(folders["a"], backbone(), store=None,
                                     labels_file=folders["labels"])
    assert feats.shape == (80, 784) and rec.labels is not None
    assert rec.labels.shape == (80, 10) and rec.label_names == [str(k) for k in range(10)]
    assert rec.labels.sum() == 80


def test_build_one_liner_and_cli(folders: dict[str, Path]) -> None:
    tmp = folders["tmp"]
    store = build(folders["a"], tmp / "built.h5", hasher("itq", n_bits=16), backbone=backbone(),
                  **graph_and_ranker())
    assert store.elements()[-3:] == ["graph", "rank", "importance"]
    res = CliRunner().invoke(cli, ["build", str(folders["b"]), "-o", str(tmp / "cli.h5"),
                                   "--hasher", "pcah", "-p", "n_bits=16", "-p",
                                   "ranker.solver=closed", "-p", "graph.radius=1", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["elements"]["graph"]["radius"] == 1
    assert data["elements"]["rank"]["info"]["solver"] == "closed"
    assert data["elements"]["model"]["hasher"] == "pcah"
    res = CliRunner().invoke(cli, ["build", str(folders["b"]), "-o", str(tmp / "cli2.h5"),
                                   "--model", str(tmp / "built.h5"), "-q"])
    assert res.exit_code == 0, res.output
    assert Store(tmp / "cli2.h5").read_model().hasher == "itq"


def test_cli_fit_encode_json(folders: dict[str, Path]) -> None:
    tmp = folders["tmp"]
    res = CliRunner().invoke(cli, ["fit", str(folders["a"]), "-o", str(tmp / "f.h5"),
                                   "--hasher", "lsh", "-p", "n_bits=16", "--seed", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["params"]["seed"] == 1
    res = CliRunner().invoke(cli, ["fit", str(folders["a"]), "-o", str(tmp / "f2.h5"),
                                   "--hasher", "sh", "-p", "n_bits=16", "--seed", "1"])
    assert res.exit_code == 1 and "no seed" in res.output
    res = CliRunner().invoke(cli, ["encode", str(folders["b"]), "--model", str(tmp / "f.h5"),
                                   "-o", str(tmp / "fb.h5"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["n_images"] == 60
    res = CliRunner().invoke(cli, ["fit", str(folders["a"]), "-o", str(tmp / "g.h5"),
                                   "--hasher", "nope"])
    assert res.exit_code == 1 and "unknown hasher" in res.output


def test_split_params_prefixes() -> None:
    kinds = split_params(["n_bits=32", "graph.radius=3", "ranker.damping=0.85",
                          "assessor.no_match=drop"], None, "hasher")
    assert kinds["hasher"] == {"n_bits": 32} and kinds["graph_builder"] == {"radius": 3}
    assert kinds["ranker"] == {"damping": 0.85} and kinds["assessor"] == {"no_match": "drop"}
    with pytest.raises(ParamsError, match="prefix"):
        split_params(["rankr.damping=1"], None, "hasher")
