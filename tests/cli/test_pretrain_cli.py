"""dhr pretrain from the command line: folders in, a backbone file out, --json, errors as
one line, and --help without torch."""

from __future__ import annotations

import json
from pathlib import Path

from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.ssl_file import read_ssl_file
from tests.cli.test_startup import _run
from tests.clitools import fail, run, write_images

TINY = ["-p", "image_size=16", "-p", "width=4", "-p", "batch_size=16", "-p", "hidden_dim=16",
        "-p", "projection_dim=8", "-p", "epochs=1", "--device", "cpu", "-q"]


def test_pretrain_two_folders_then_resume(tmp_path: Path) -> None:
    images = load_demo_arrays("mnist").images[:40]
    a, b = write_images(tmp_path / "a", images[:20]), write_images(tmp_path / "b", images[20:])
    out = json.loads(run("pretrain", a, b, "-o", tmp_path / "bb.h5", *TINY, "--json"))
    assert out["n_images"] == 40 and out["epochs_done"] == 1 and len(out["loss"]) == 1
    rec = read_ssl_file(tmp_path / "bb.h5")
    assert rec.data_digest == out["data_digest"] and rec.params["width"] == 4
    more = json.loads(run("pretrain", a, b, "-o", tmp_path / "bb.h5", *TINY, "-p", "epochs=2",
                          "--resume", "--json"))
    assert more["resumed_from"] == 1 and more["epochs_done"] == 2
    assert more["loss"][0] == out["loss"][0]
    text = run("features", a, "-o", tmp_path / "s.h5", "--backbone", "ssl",
               "-p", f"weights={tmp_path / 'bb.h5'}", "-q", "--workers", "0")
    assert "20 images x 32" in text


def test_bad_param_and_no_images_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "epochs" in fail("pretrain", tmp_path / "empty", "-o", tmp_path / "x.h5",
                            "-p", "epochs=0")
    assert "Error:" in fail("pretrain", tmp_path / "empty", "-o", tmp_path / "x.h5")


def test_help_is_torch_free() -> None:
    out, heavy = _run("pretrain", "--help")
    assert heavy == [] and "--resume" in out
