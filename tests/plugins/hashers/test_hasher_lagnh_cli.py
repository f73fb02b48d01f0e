"""LAGNH through the CLI: `dhr fit --tags` feeds the tags file (not labels) to the hasher;
without it, the default uses pseudo-tags and visual words of the collection's images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.cli.main import cli
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.hash_model import load_model

FAST = ["-p", "n_bits=16", "-p", "epochs=2", "-p", "batch_size=32", "-p", "att_dim=16",
        "-p", "hidden=32", "-p", "n_anchors=32", "-p", "pseudo_clusters=8"]


def test_cli_fit_with_and_without_tags_file(tmp_path: Path) -> None:
    d = load_demo_arrays("mnist")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(48):
        Image.fromarray(d.images[i]).save(folder / f"{i:03d}.png")
    tags = tmp_path / "tags.csv"
    rows = ["image,tags"] + [f"{i:03d}.png,{'odd' if i % 2 else 'even'};t{i % 3}"
                             for i in range(48)]
    tags.write_text("\n".join(rows) + "\n")
    res = CliRunner().invoke(cli, ["fit", str(folder), "-o", str(tmp_path / "m.h5"),
                                   "--hasher", "lagnh", "--tags", str(tags), "--json", "-q",
                                   *FAST])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["params"]["tag_source"] == "auto"
    state = load_model(tmp_path / "m.h5").hasher.get_state()
    assert state["anchors/y"].shape[1] == 5               # even, odd, t0, t1, t2
    assert not bool(np.asarray(state["pseudo"]))
    res = CliRunner().invoke(cli, ["fit", str(folder), "-o", str(tmp_path / "p.h5"),
                                   "--hasher", "lagnh", "-q", *FAST])
    assert res.exit_code == 0, res.output
    without_tags = load_model(tmp_path / "p.h5").hasher  # auto: pseudo-tags + visual words
    assert without_tags.source_ == "pseudo+visual-words"  # type: ignore[attr-defined]
    state = without_tags.get_state()
    assert bool(np.asarray(state["visual_words"])) and "pseudo_centres" in state
    assert state["anchors/y"].shape[1] > state["pseudo_centres"].shape[0]
    res = CliRunner().invoke(cli, ["fit", str(folder), "-o", str(tmp_path / "t.h5"),
                                   "--hasher", "lagnh", "-q", "-p", "tag_source=tags", *FAST])
    assert res.exit_code == 1 and "needs tags" in res.output
