"""``dhr demo``: the whole product on the built-in real data, offline.

Materialises the demo collections (Table 3 structure on animal-mnist, or on the MNIST
digits with ``source="mnist"``; held-out requirement images), fits one hash model on all
candidates (the paper's setting: one model, many datasets), builds every store, assesses
several requirements (each single class, a weighted pair, the paper's broad *zoo*) with the
default ``wanted-count`` assessor (the ranking, an estimated wanted count with an interval)
and the paper's R(AD) beside it, and checks every method — the wanted estimate, R(AD),
retrieval-only and random selection — against the manifest's ground truth.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dhr_sdk.assessment.assess import (
    DEFAULT_ASSESSOR,
    PAPER_ASSESSOR,
    AssessmentReport,
    CollectionResult,
    assess,
    make_assessor,
)
from dhr_sdk.assessment.report import write_html
from dhr_sdk.assessment.requirement import load_requirement
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Assessor
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.registry import get_registry
from dhr_sdk.core.types import Assessment
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.datasets.materialise import MANIFEST, map_classes, materialise_demo
from dhr_sdk.evaluation.allocation import (
    CountEstimate,
    RequirementResult,
    RequirementSpec,
    evaluate,
    mean_metrics,
)
from dhr_sdk.offline.pipeline import (
    FeatureOptions,
    collection_features,
    encode,
    fit,
    graph_and_rank,
)

#: The paper's *zoo* requirement ("animals" of CIFAR-10) through the demo's class mapping
#: (bird -> bear, cat, deer -> horse, dog, frog -> sheep, horse -> zebra; see
#: ``dhr_sdk.datasets.materialise.TABLE3_SCHEMES``); other sources map these names on through
#: ``SOURCE_CLASS_MAPS`` (mnist: 2, 3, 5, 4, 6, 7).
ZOO = ("bear", "cat", "dog", "horse", "sheep", "zebra")
PAIR = {"dog": 0.7, "cat": 0.3}
#: The methods every requirement is checked with: the ranking assessor's wanted estimate,
#: the paper's R(AD), retrieval-only (Σ_i m_i, matches summed over requirement images,
#: no importance list) and random selection (added by ``evaluate``).
METHODS = (DEFAULT_ASSESSOR, PAPER_ASSESSOR, "retrieval")
METHOD_LABELS = {DEFAULT_ASSESSOR: "wanted", PAPER_ASSESSOR: "R(AD)",
                 "retrieval": "retrieval", "random": "random"}

#: Demo defaults: chosen by benchmarks/resource_allocation.py
#: (docs/results/assessment-calibration.md: ITQ-32 ranks best at τ = 2).
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
    #: plain keys go to both assessors that declare them (radius), ``wanted-count.KEY`` /
    #: ``importance-list.KEY`` to one (as ``dhr assess -p``)
    assessor_params: dict[str, Any] = field(default_factory=dict)
    per_collection: int = 1000
    n_requirement: int = 20
    seed: int = 0
    public_train: int = 300
    source: str = "animal-mnist"
    #: images per class kept out of every folder for a labeled public set (0: none)
    public_per_class: int = 0


@dataclass
class DemoResult:
    """Per requirement: the assessment report and its evaluation against the truth."""

    out_dir: Path
    reports: list[tuple[str, AssessmentReport]]
    evaluations: list[RequirementResult]
    report_path: Path | None

    def singles(self) -> list[RequirementResult]:
        return [e for e in self.evaluations if e.kind == "single"]

    def accuracy(self, method: str = DEFAULT_ASSESSOR) -> dict[str, float | None]:
        """Over the single-class requirements: top-1 hit rate, mean Spearman(value, true
        share) and, for a count estimator, mean count error and interval coverage."""
        return mean_metrics(self.singles(), method)


def requirement_specs(classes: Sequence[str], source: str = "animal-mnist"
                      ) -> list[RequirementSpec]:
    """Every single class, the weighted pair and the zoo (in ``source``'s class names)."""
    specs = [RequirementSpec(c, {c: 1.0}) for c in classes]
    (a, b), (wa, wb) = map_classes(source, list(PAIR)), PAIR.values()
    specs.append(RequirementSpec(f"{a} {wa:g} + {b} {wb:g}", {a: wa, b: wb}))
    specs.append(RequirementSpec("zoo", {c: 1.0 for c in map_classes(source, ZOO)}))
    return specs


def _manifest(data_dir: Path, cfg: DemoConfig, progress: Progress) -> dict[str, Any]:
    path = data_dir / MANIFEST
    if path.is_file():
        m: dict[str, Any] = json.loads(path.read_text())
        sizes = {c["n_images"] for c in m.get("collections", [])}
        reqs = {r["n_images"] for r in m.get("requirements", [])}
        if m.get("seed") == cfg.seed and sizes == {cfg.per_collection} \
                and reqs == {cfg.n_requirement} and m.get("source") == cfg.source \
                and m.get("public_per_class", 0) == cfg.public_per_class:
            progress.log(f"reusing demo data in {data_dir}")
            return m
    progress.log(f"materialising demo data in {data_dir}")
    return materialise_demo(data_dir, cfg.seed, per_collection=cfg.per_collection,
                            n_requirement=cfg.n_requirement, n_multilabel=0, overwrite=True,
                            source=cfg.source, public_per_class=cfg.public_per_class,
                            progress=progress)


def public_training_set(data_dir: Path, manifest: dict[str, Any], per_class: int,
                        seed: int) -> tuple[Path, Path]:
    """A labeled "public" set for hashers that need one (GAH's TP-A): images of the
    manifest's source in no candidate collection and no requirement, at most ``per_class``
    per class (``public_per_class`` of materialise_demo reserves some of each class)."""
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
                      progress: Progress = QUIET, data_dir: Path | None = None) -> list[Path]:
    """Features, one model fitted on all candidates, then codes, graph and rank per store
    (under ``out``; the images under ``data_dir``, default ``out/data``). A manifest with a
    ``public_train`` entry (``path``, ``labels_file``) gives its own labeled public set."""
    data = data_dir if data_dir is not None else out / "data"
    folders = [data / c["path"] for c in manifest["collections"]]
    stores = [out / "stores" / f"{c['name']}.h5" for c in manifest["collections"]]
    bb = get_registry().create("backbone", cfg.backbone, cfg.backbone_params)
    for folder, store in zip(folders, stores, strict=True):
        collection_features(folder, bb, store=store, options=options, progress=progress)
    model = out / "model.h5"
    train = train_labels = None
    if "train" in getattr(get_registry().get("hasher", cfg.hasher).cls, "requires", ()):
        given = manifest.get("public_train")
        if given:
            train, train_labels = data / given["path"], data / given["labels_file"]
        else:
            train, train_labels = public_training_set(data, manifest, cfg.public_train,
                                                      cfg.seed)
        progress.log(f"labeled public training set for {cfg.hasher}: {train}")
    gb = get_registry().create("graph_builder", "hamming", cfg.builder_params)
    rk = get_registry().create("ranker", cfg.ranker, cfg.ranker_params)
    fit([str(s) for s in stores], model,
        get_registry().create("hasher", cfg.hasher, cfg.hasher_params), bb, cache=False,
        train=train, train_labels=train_labels, options=options, progress=progress)
    for folder, store in progress.iterate(list(zip(folders, stores, strict=True)),
                                          desc="build stores", unit="store"):
        encode(folder, model, store, options=options, progress=QUIET)
        graph_and_rank(store, gb, rk, QUIET)
    return stores


def demo_assessors(params: Mapping[str, Any]) -> tuple[Assessor, Assessor]:
    """The ranking assessor (``wanted-count``) and the paper's (``importance-list``) from
    one dict: a plain key goes to each of them that declares it, ``NAME.KEY`` to one."""
    names = (DEFAULT_ASSESSOR, PAPER_ASSESSOR)
    fields = {n: set(get_registry().get("assessor", n).cls.Params.model_fields) for n in names}
    own: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in params.items():
        name, dot, sub = key.partition(".")
        if dot:
            if name not in own:
                raise DhrError(f"assessor parameter {key!r} names {name!r}, not one of "
                               f"{', '.join(names)}")
            own[name][sub] = value
            continue
        takers = [n for n in names if key in fields[n]]
        if not takers:
            raise DhrError(f"{key!r} is not a parameter of {' or '.join(names)}; see "
                           "'dhr plugins -v'")
        for n in takers:
            own[n].setdefault(key, value)
    return (make_assessor(DEFAULT_ASSESSOR, own[DEFAULT_ASSESSOR]),
            make_assessor(PAPER_ASSESSOR, own[PAPER_ASSESSOR]))


def retrieval_value(r: CollectionResult) -> float:
    """The retrieval-only baseline: Σ_i m_i, each requirement image's matched images
    within τ summed (an image matched by two requirement images counts twice)."""
    return float(sum(m.matched_images for m in r.paper.per_image))


def _estimates(assessments: Sequence[Assessment]) -> CountEstimate | None:
    """The wanted counts and intervals of one assessor over the collections (None when it
    estimates no count)."""
    es = [a.estimate for a in assessments]
    if any(e is None for e in es):
        return None
    return CountEstimate([e.count for e in es if e], [e.low for e in es if e],
                         [e.high for e in es if e])


def assess_demo(out: Path, manifest: dict[str, Any], stores: Sequence[Path], cfg: DemoConfig,
                progress: Progress = QUIET, specs: Sequence[RequirementSpec] | None = None,
                extra: Mapping[str, Assessor] | None = None, data_dir: Path | None = None
                ) -> tuple[list[tuple[str, AssessmentReport]], list[RequirementResult]]:
    """Assess every requirement spec (ranked by ``wanted-count``, R(AD) beside it) and
    evaluate every method against the truth: ``wanted-count`` (value and estimate: the
    count), ``importance-list`` (R, ties by S), ``retrieval`` (Σ_i m_i) and random, plus
    each ``extra`` assessor on the same codes (value: its ranking value; estimate when it
    makes one).

    A spec's class keys name requirement folders by their manifest ``target`` (joined
    with ``+``) and the collections' ``class_counts`` entries.
    """
    data = data_dir if data_dir is not None else out / "data"
    folders = {"+".join(r["target"]): data / r["path"] for r in manifest["requirements"]}
    names = [c["name"] for c in manifest["collections"]]
    sizes = [int(c["n_images"]) for c in manifest["collections"]]
    counts = [c["class_counts"] for c in manifest["collections"]]
    ranking, paper = demo_assessors(cfg.assessor_params)
    reports, evaluations = [], []
    source = str(manifest.get("source", "animal-mnist"))
    specs = specs if specs is not None else requirement_specs(manifest["class_names"], source)
    for spec in progress.iterate(specs, desc="assess requirements", unit="req"):
        req = load_requirement([folders[c] for c in spec.classes], list(spec.classes.values()))
        report = assess(req, stores, ranking, paper=paper)
        by_name = {r.target.name: r for r in report.results}
        ordered = [by_name[Path(s).stem] for s in stores]
        values: dict[str, list[float]] = {
            DEFAULT_ASSESSOR: [r.assessment.ranking_value() for r in ordered],
            PAPER_ASSESSOR: [r.paper.relevance for r in ordered],
            "retrieval": [retrieval_value(r) for r in ordered]}
        tiebreaks = {DEFAULT_ASSESSOR: [r.paper.relevance for r in ordered],
                     PAPER_ASSESSOR: [r.paper.score for r in ordered]}
        estimates = {DEFAULT_ASSESSOR: _estimates([r.assessment for r in ordered])}
        for name, assessor in (extra or {}).items():
            got = [assessor.assess(r.target.importance, r.requirement_codes, req.weights)
                   for r in ordered]
            values[name] = [a.ranking_value() for a in got]
            tiebreaks[name] = [r.paper.relevance for r in ordered]
            estimates[name] = _estimates(got)
        evaluations.append(evaluate(spec, names, sizes, counts, values, tiebreaks=tiebreaks,
                                    estimates=estimates))
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
