"""End to end: dhr pretrain on real images, dhr fit and encode through the ssl backbone,
the model refusing a rewritten backbone file, and a torchvision encoder pretrained too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.ssl_file import read_ssl_file
from dhr_sdk.store import Store
from tests.clitools import fail, run, write_images

pytestmark = pytest.mark.slow

SMALL = ["-p", "width=8", "-p", "batch_size=64", "--device", "cpu", "-q"]


def test_pretrain_fit_encode_and_refuse_other_weights(tmp_path: Path) -> None:
    images = load_demo_arrays("mnist").images
    dark = write_images(tmp_path / "dark", images[:600])
    new = write_images(tmp_path / "new", images[600:700])
    bb = tmp_path / "backbone.h5"
    out = json.loads(run("pretrain", dark, "-o", bb, *SMALL, "-p", "epochs=3", "--json"))
    assert out["epochs_done"] == 3 and out["loss"][-1] < out["loss"][0]
    run("fit", dark, "-o", tmp_path / "m.h5", "--hasher", "itq", "--backbone", "ssl",
        "-p", "n_bits=32", "-p", f"backbone.weights={bb}", "-q", "--workers", "0")
    run("encode", new, "--model", tmp_path / "m.h5", "-o", tmp_path / "new.h5", "-q",
        "--workers", "0")
    assert Store(tmp_path / "new.h5").read_codes().codes.shape == (100, 4)
    shutil.copy(bb, tmp_path / "first.h5")
    run("pretrain", dark, "-o", bb, *SMALL, "-p", "epochs=4", "--resume")  # rewrites the file
    assert read_ssl_file(bb).epochs_done == 4
    line = fail("encode", new, "--model", tmp_path / "m.h5", "-o", tmp_path / "again.h5",
                "-q", "--workers", "0")
    assert "was fitted on backbone 'ssl' features" in line and "refit" in line


def test_a_torchvision_encoder_pretrains_and_extracts(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "imgs", load_demo_arrays("mnist").images[:16])
    bb = tmp_path / "shuffle.h5"
    run("pretrain", folder, "-o", bb, "-p", "arch=shufflenet_v2_x0_5", "-p", "channels=3",
        "-p", "image_size=32", "-p", "epochs=1", "-p", "batch_size=8", "--device", "cpu", "-q")
    assert read_ssl_file(bb).feature_dim == 1024
    text = run("features", folder, "-o", tmp_path / "s.h5", "--backbone", "ssl",
               "-p", f"weights={bb}", "-q", "--workers", "0")
    assert "16 images x 1024" in text


def test_object_scale_views_and_max_pooling_through_the_cli(tmp_path: Path) -> None:
    images = load_demo_arrays("animal-multilabel").images[:64]
    canvases = write_images(tmp_path / "canvases", images)
    bb = tmp_path / "multi.h5"
    run("pretrain", canvases, "-o", bb, *SMALL, "-p", "image_size=56", "-p", "view_size=28",
        "-p", "crop_scale=0.15", "-p", "crop_max=0.35", "-p", "pair_shift=0.1",
        "-p", "epochs=1", "-p", "batch_size=32")
    rec = read_ssl_file(bb)
    assert rec.image_size == 56 and rec.params["view_size"] == 28
    run("fit", canvases, "-o", tmp_path / "m.h5", "--hasher", "itq", "--backbone", "ssl",
        "-p", "n_bits=16", "-p", f"backbone.weights={bb}", "-p", "backbone.pooling=max", "-q",
        "--workers", "0")
    run("encode", canvases, "--model", tmp_path / "m.h5", "-o", tmp_path / "c.h5", "-q",
        "--workers", "0")
    store = Store(tmp_path / "c.h5")
    assert store.read_codes().codes.shape == (64, 2)
    (key,) = store.feature_keys()
    assert store.read_features(key).backbone_params["pooling"] == "max"
