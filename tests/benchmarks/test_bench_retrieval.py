"""Model size in the evaluation results and the retrieval benchmark's training-cost section."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from pydantic import Field

from dhr_sdk.codes.packing import pack_bits
from dhr_sdk.core.interfaces import Hasher
from dhr_sdk.core.params import Params
from dhr_sdk.evaluation.data import LabeledFeatures
from dhr_sdk.evaluation.protocol import evaluate_hasher, hasher_grid, run_evaluation
from dhr_sdk.evaluation.split import SplitSpec, split_indices
from dhr_sdk.model.size import model_size
from tests.benchtools import load_benchmark

bench = load_benchmark("retrieval")


def clusters(n: int = 300, d: int = 8, c: int = 3) -> LabeledFeatures:
    rng = np.random.default_rng(0)
    y = rng.integers(0, c, n)
    x = (rng.normal(0, 3, (c, d))[y] + rng.normal(size=(n, d))).astype(np.float32)
    return LabeledFeatures("toy", x, np.eye(c, dtype=np.uint8)[y],
                           tuple(f"c{i}" for i in range(c)), "none")


class TinyParams(Params):
    n_bits: int = Field(8, description="bits")


class TinyTorch(Hasher):
    """Keeps Linear(8, 8) + BatchNorm1d(8); trains and discards a Linear(8, 100) helper."""

    name: ClassVar[str] = "tiny"
    Params: ClassVar[type[Params]] = TinyParams

    def fit(self, data: Any, progress: Any = None) -> TinyTorch:
        helper = torch.nn.Linear(8, 100)  # used while fitting only: must not be counted
        self._scratch = helper  # private attribute: not part of the fitted model either
        self.net_ = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.BatchNorm1d(8))
        self.net_.eval()
        self.mean_ = np.zeros(8, np.float32)
        return self

    def encode(self, features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            z = self.net_(torch.from_numpy(np.asarray(features, np.float32) - self.mean_))
        return pack_bits(z.numpy() > 0)

    def get_state(self) -> dict[str, np.ndarray]:
        state = {f"net/{k}": v.numpy() for k, v in self.net_.state_dict().items()}
        return {**state, "scaler/mean": self.mean_}

    def set_state(self, state: dict[str, np.ndarray]) -> TinyTorch:
        raise NotImplementedError


class NumpyOnly(TinyTorch):
    name: ClassVar[str] = "numpy-only"

    def fit(self, data: Any, progress: Any = None) -> NumpyOnly:
        self.w_ = np.ones((8, 3))
        return self

    def get_state(self) -> dict[str, np.ndarray]:
        return {"projection": self.w_, "offset": np.zeros(3)}


def test_model_size_counts_kept_parameters_buffers_and_state() -> None:
    h = TinyTorch(n_bits=8).fit(None)
    size = model_size(h)
    # Linear 8*8 + 8, BatchNorm weight + bias 8 + 8; buffers: running mean, var, count.
    assert size["parameters"] == 64 + 8 + 16
    assert size["buffers"] == 8 + 8 + 1
    assert size["state_groups"] == {"net": 88 + 17, "scaler": 8}
    assert size["state_values"] == 113
    plain = model_size(NumpyOnly(n_bits=8).fit(None))
    assert plain["parameters"] is None and plain["buffers"] is None
    assert plain["state_values"] == 27 and plain["state_groups"] == {"projection": 24,
                                                                     "offset": 3}


def test_evaluation_records_model_size() -> None:
    data = clusters()
    res = evaluate_hasher(TinyTorch(n_bits=8), data, split_indices(len(data), SplitSpec(50)))
    assert res.info["model"]["parameters"] == 88
    assert res.to_dict()["info"]["model"]["state_values"] == 113


def deep_rows() -> dict[str, dict[str, Any]]:
    """Rows of a real (LSH/ITQ) toy run, copied under deep hashers' names with set times."""
    rep = run_evaluation(clusters(), hasher_grid([("lsh", {}), ("itq", {"n_iter": 5})], [16, 32]),
                         SplitSpec(50))
    rows = bench.rows_of(rep, "python benchmarks/retrieval.py --first")
    out = dict(rows)
    for (hasher, bits, secs, command, sized) in [
            ("nrdh", 16, 11.0, "--first", True), ("gah", 16, 33.0, "--first", True),
            ("nrdh", 32, 12.0, "--second", False), ("lagnh", 32, 44.0, "--second", True)]:
        row = copy.deepcopy(rows[f"toy/lsh/{bits}"])
        row["command"] = f"python benchmarks/retrieval.py {command}"
        row["result"].update(hasher=hasher, fit_seconds=secs)
        if sized:
            row["result"]["info"]["model"] = {"parameters": 1234567, "buffers": 8,
                                              "state_values": 1300000,
                                              "state_groups": {"net": 1234575,
                                                               "anchors": 65425}}
        else:
            row["result"]["info"].pop("model")
        out[f"toy/{hasher}/{bits}"] = row
    return out


def test_cost_section_lists_deep_hashers_side_by_side() -> None:
    md = bench.markdown({"format": "dhr-retrieval-benchmark", "version": 1,
                           "runs": deep_rows()})
    section = md.split("## Training cost of the deep hashers", 1)[1]
    # Columns in the paper order of DEEP, only hashers that have rows; run numbers of the table.
    assert "| bits | nrdh | lagnh | gah |" in section
    assert "| 16 | 11.0 (1) | — | 33.0 (1) |" in section
    assert "| 32 | 12.0 (2) | 44.0 (2) | — |" in section
    assert ("| gah | 16 | 1,234,567 | 8 | 1,300,000 | net 1,234,575, anchors 65,425 |"
            in section)
    assert "| nrdh | 32 | — | — | — | — |" in section  # measured before sizes were recorded
    assert "lsh" not in section and "itq" not in section


def test_no_cost_section_without_deep_hashers() -> None:
    rows = {k: v for k, v in deep_rows().items() if "/lsh/" in k or "/itq/" in k}
    md = bench.markdown({"format": "dhr-retrieval-benchmark", "version": 1, "runs": rows})
    assert "Training cost" not in md and "| itq | 32 |" in md


def test_development_rows_never_go_into_a_file_of_test_rows(tmp_path: Path) -> None:
    results = tmp_path / "retrieval.json"
    results.write_text(json.dumps({"format": bench.FORMAT, "version": 1,
                                   "runs": {"toy/lsh/8": {"protocol": {"seed": 0}}}}))
    with pytest.raises(SystemExit, match="holds test rows"):
        bench.main(["--part", "dev", "--dataset", "mnist", "--hashers", "lsh", "--bits", "8",
                      "--results", str(results)])
    assert bench.parse_args(["--part", "dev"]).results is None  # resolved to retrieval-dev


def test_rows_recorded_before_the_split_had_a_part_share_the_test_table() -> None:
    rows = deep_rows()
    del rows["toy/nrdh/16"]["protocol"]["part"]
    md = bench.markdown({"format": "dhr-retrieval-benchmark", "version": 1, "runs": rows})
    assert md.count("\n## toy — backbone") == 1
    rows["toy/gah/16"]["protocol"]["part"] = "dev"
    md = bench.markdown({"format": "dhr-retrieval-benchmark", "version": 1, "runs": rows})
    assert md.count("\n## toy — backbone") == 2
