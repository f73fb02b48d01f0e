"""``dhr demo``: the whole product on the built-in real data, offline.

Materialises the demo collections (Table 3 structure on animal-mnist, held-out requirement
images), fits one hash model on all candidates (the paper's setting: one model, many
datasets), builds every store, assesses several requirements (each single class, a weighted
pair, the paper's broad *zoo*) and checks the ranking against the manifest's ground truth.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dhr_sdk.assessment.assess import AssessmentReport, assess, make_assessor
from dhr_sdk.assessment.report import write_html
from dhr_sdk.assessment.requirement import load_requirement
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.registry import get_registry
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.datasets.materialise import MANIFEST, materialise_demo
from dhr_sdk.evaluation.allocation import RequirementResult, RequirementSpec, evaluate
from dhr_sdk.offline.pipeline import (
    FeatureOptions,
    collection_features,
    encode,
    fit,
    graph_and_rank,
    make_plugin,
)

#: The paper's *zoo* requirement ("animals" of CIFAR-10) through the demo's class mapping
#: (bird -> bear, cat, deer -> horse, dog, frog -> sheep, horse -> zebra; see
#: ``dhr_sdk.datasets.materialise.TABLE3_SCHEMES``).
ZOO = ("bear", "cat", "dog", "horse", "sheep", "zebra")
PAIR = {"dog": 0.7, "cat": 0.3}

#: Demo defaults: chosen by benchmarks/resource_allocation.py (docs/results/).
DEFAULT_HASHER = "itq"
DEFAULT_HASHER_PARAMS: dict[str, Any] = {"n_bits": 32}
#: The exact limit of the paper's iteration (the undamped power iteration oscillates on
#: bipartite components, which the sparse demo graphs have).
DEFAULT_RANKER_PARAMS: dict[str, Any] = {"solver": "closed"}


@dataclass
class DemoConfig:
    """Everything the demo can vary (the CLI exposes these)."""

    hasher: str = DEFAULT_HASHER
    hasher_params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_HASHER_PARAMS))
    backbone: str = "pixels"
    backbone_params: dict[str, Any] = field(default_factory=dict)
    builder_params: dict[str, Any] = field(default_factory=dict)
    ranker: str = "cpr"
    ranker_params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RANKER_PARAMS))
    assessor_params: dict[str, Any] = field(default_factory=dict)
    per_collection: int = 1000
    n_requirement: int = 20
    seed: int = 0
    public_train: int = 300


@dataclass
class DemoResult:
    """Per requirement: the assessment report and its evaluation against the truth."""

    out_dir: Path
    reports: list[tuple[str, AssessmentReport]]
    evaluations: list[RequirementResult]
    report_path: Path | None

    def singles(self) -> list[RequirementResult]:
        return [e for e in self.evaluations if len(e.spec.classes) == 1]

    def accuracy(self, method: str = "dhr") -> dict[str, float]:
        """Top-1 hit rate and mean Spearman over single-class requirements."""
        singles = self.singles()
        return {"top1_hit_rate": float(np.mean([e.top1_hit(method) for e in singles])),
                "mean_spearman": float(np.mean([e.spearman(method) for e in singles])),
                "requirements": len(singles)}


def requirement_specs(classes: Sequence[str]) -> list[RequirementSpec]:
    """Every single class, the weighted pair and the zoo."""
    specs = [RequirementSpec(c, {c: 1.0}) for c in classes]
    specs.append(RequirementSpec("dog 0.7 + cat 0.3", dict(PAIR)))
    specs.append(RequirementSpec("zoo", {c: 1.0 for c in ZOO}))
    return specs


def _manifest(data_dir: Path, cfg: DemoConfig, progress: Progress) -> dict[str, Any]:
    path = data_dir / MANIFEST
    if path.is_file():
        m: dict[str, Any] = json.loads(path.read_text())
        sizes = {c["n_images"] for c in m.get("collections", [])}
        reqs = {r["n_images"] for r in m.get("requirements", [])}
        if m.get("seed") == cfg.seed and sizes == {cfg.per_collection} \
                and reqs == {cfg.n_requirement}:
            progress.log(f"reusing demo data in {data_dir}")
            return m
    progress.log(f"materialising demo data in {data_dir}")
    return materialise_demo(data_dir, cfg.seed, per_collection=cfg.per_collection,
                            n_requirement=cfg.n_requirement, n_multilabel=0, overwrite=True,
                            progress=progress)


def public_training_set(data_dir: Path, manifest: dict[str, Any], per_class: int,
                        seed: int) -> tuple[Path, Path]:
    """A labeled "public" set for hashers that need one (GAH's TP-A): animal-mnist images
    in no candidate collection and no requirement, at most ``per_class`` per class."""
    used: set[int] = set()
    for entry in manifest["collections"] + manifest["requirements"]:
        used.update(int(i) for i in entry["source_indices"])
    arrays = load_demo_arrays(manifest["source"])
    y = arrays.class_index
    rng = np.random.default_rng(seed)
    free = np.setdiff1d(np.arange(y.size), np.fromiter(used, dtype=np.int64))
    picked = np.concatenate([rng.permutation(free[y[free] == k])[:per_class]
                             for k in range(len(arrays.class_names))])
    folder = data_dir / "public-train"
    labels = data_dir / "labels" / "public-train.csv"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rows = ["image,labels"]
    for j, i in enumerate(picked):
        Image.fromarray(arrays.images[i]).save(folder / f"{j:06d}.png")
        rows.append(f"{j:06d}.png,{arrays.class_names[y[i]]}")
    labels.write_text("\n".join(rows) + "\n")
    return folder, labels


def build_demo_stores(out: Path, manifest: dict[str, Any], cfg: DemoConfig,
                      options: FeatureOptions | None = None,
                      progress: Progress = QUIET) -> list[Path]:
    """Features, one model fitted on all candidates, then codes, graph and rank per store."""
    data = out / "data"
    folders = [data / c["path"] for c in manifest["collections"]]
    stores = [out / "stores" / f"{c['name']}.h5" for c in manifest["collections"]]
    bb = make_plugin("backbone", cfg.backbone, cfg.backbone_params)
    for folder, store in zip(folders, stores, strict=True):
        collection_features(folder, bb, store=store, options=options, progress=progress)
    model = out / "model.h5"
    train = train_labels = None
    if "train" in getattr(get_registry().get("hasher", cfg.hasher).cls, "requires", ()):
        train, train_labels = public_training_set(data, manifest, cfg.public_train, cfg.seed)
        progress.log(f"labeled public training set for {cfg.hasher}: {train}")
    fit([str(s) for s in stores], model, cfg.hasher, cfg.hasher_params,
        backbone=cfg.backbone, backbone_params=cfg.backbone_params, cache=False,
        train=train, train_labels=train_labels, options=options, progress=progress)
    for folder, store in progress.iterate(list(zip(folders, stores, strict=True)),
                                          desc="build stores", unit="store"):
        encode(folder, model, store, options=options, progress=QUIET)
        graph_and_rank(store, "hamming", cfg.builder_params, cfg.ranker, cfg.ranker_params,
                       QUIET)
    return stores


def assess_demo(out: Path, manifest: dict[str, Any], stores: Sequence[Path], cfg: DemoConfig,
                progress: Progress = QUIET, specs: Sequence[RequirementSpec] | None = None
                ) -> tuple[list[tuple[str, AssessmentReport]], list[RequirementResult]]:
    """Assess every requirement spec and evaluate DHR and retrieval-only against the truth.

    A spec's class keys name requirement folders by their manifest ``target`` (joined
    with ``+``) and the collections' ``class_counts`` entries.
    """
    folders = {"+".join(r["target"]): out / "data" / r["path"] for r in manifest["requirements"]}
    names = [c["name"] for c in manifest["collections"]]
    sizes = [int(c["n_images"]) for c in manifest["collections"]]
    counts = [c["class_counts"] for c in manifest["collections"]]
    assessor = make_assessor("importance-list", cfg.assessor_params)
    reports, evaluations = [], []
    specs = specs if specs is not None else requirement_specs(manifest["class_names"])
    for spec in progress.iterate(specs,
                                 desc="assess requirements", unit="req"):
        req = load_requirement([folders[c] for c in spec.classes], list(spec.classes.values()))
        report = assess(req, stores, assessor)
        by_name = {r.target.name: r for r in report.results}
        ordered = [by_name[Path(s).stem] for s in stores]
        evaluations.append(evaluate(
            spec, names, sizes, counts,
            {"dhr": [r.assessment.relevance for r in ordered],
             "retrieval": [float(r.matches) for r in ordered]},
            tiebreaks={"dhr": [r.assessment.score for r in ordered]}))
        reports.append((spec.name, report))
    return reports, evaluations


def demo(out_dir: str | Path, cfg: DemoConfig | None = None, *, report: bool = True,
         options: FeatureOptions | None = None, progress: Progress = QUIET) -> DemoResult:
    """Run the whole demo under ``out_dir`` (data, stores, model, ``report.html``)."""
    cfg = cfg or DemoConfig()
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise DhrError(f"{out} is not a folder")
    manifest = _manifest(out / "data", cfg, progress)
    stores = build_demo_stores(out, manifest, cfg, options, progress)
    reports, evaluations = assess_demo(out, manifest, stores, cfg, progress)
    path = None
    if report:
        path = write_html(out / "report.html", reports, title="dhr demo: which collection "
                          "to mine for each requirement")
    return DemoResult(out, reports, evaluations, path)
