"""On-line assessment: one requirement against many stores, ranked by R(AD).

A requirement is a few example images (files or folders), optionally weighted. Every store
must hold a model, codes and an importance list (``dhr rank``). Each store's *own* model
encodes the requirement (stores sharing a model share the encoding); the assessor plugin
turns the codes into R(AD) per store, and the stores are sorted by R. Stores are only read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.codes import hamming_matrix
from dhr_sdk.data.images import UnreadableImage, is_image_name, load_rgb
from dhr_sdk.errors import DhrError, MissingElementError
from dhr_sdk.interfaces import Assessor
from dhr_sdk.model import HashModel
from dhr_sdk.plugins import get_registry
from dhr_sdk.progress import QUIET, Progress
from dhr_sdk.store import ModelRecord, Store
from dhr_sdk.types import Assessment, ImportanceList


@dataclass
class Requirement:
    """The agent data: image files, the normalised weight of each, and the argument it came
    from (a folder's weight is shared equally by its images). ``codes`` holds ready-made
    packed codes instead (``--requirement-codes``); ``paths`` then only name them."""

    paths: list[Path]
    weights: np.ndarray
    sources: list[str]
    codes: np.ndarray | None = None

    def groups(self) -> list[tuple[str, float, list[int]]]:
        """``(source, total weight, image indices)`` per requirement argument, in order: a
        folder weighted 0.7 is one group of weight 0.7, however many images it holds."""
        out: dict[str, list[int]] = {}
        for i, s in enumerate(self.sources):
            out.setdefault(s, []).append(i)
        return [(s, float(self.weights[idx].sum()), idx) for s, idx in out.items()]


def _folder_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p.name))


def _argument_weights(weights: Sequence[float] | None, n: int, what: str,
                      each: str) -> np.ndarray:
    """One non-negative weight per requirement item (equal when none are given)."""
    if weights and len(weights) != n:
        raise DhrError(f"got {len(weights)} --weight values for {n} {what}; give one weight "
                       f"per {each} or none")
    w = np.asarray(weights if weights else [1.0] * n, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise DhrError("requirement weights must be non-negative numbers, not all zero")
    return w


def load_requirement(paths: Sequence[str | Path],
                     weights: Sequence[float] | None = None) -> Requirement:
    """Resolve requirement arguments (image files or folders) with one weight per argument.

    Without weights every argument weighs the same. Unreadable images inside a folder are
    skipped; a missing path, an unreadable file or a folder with no readable image is an
    error.
    """
    if not paths:
        raise DhrError("give at least one requirement image or folder (--requirement PATH)")
    arg_w = _argument_weights(weights, len(paths), "--requirement paths",
                              "requirement path")
    files: list[Path] = []
    per_file: list[float] = []
    sources: list[str] = []
    for raw, w in zip(paths, arg_w, strict=True):
        p = Path(raw)
        if not p.exists():
            raise DhrError(f"requirement path {p} does not exist")
        candidates = _folder_images(p) if p.is_dir() else [p]
        readable = [c for c in candidates if _readable(c, strict=not p.is_dir())]
        if not readable:
            raise DhrError(f"requirement path {p} holds no readable image")
        files += readable
        per_file += [w / len(readable)] * len(readable)
        sources += [str(p)] * len(readable)
    w_all = np.asarray(per_file)
    return Requirement(files, w_all / w_all.sum(), sources)


def load_requirement_codes(path: str | Path, weights: Sequence[float] | None = None
                           ) -> Requirement:
    """A requirement given as hash codes (a file ``dhr import-codes`` reads), one weight per code.

    For stores made from imported codes, which have no model to encode images with.
    """
    from dhr_sdk.relevance import load_codes_file

    codes, _, names = load_codes_file(path)
    n = codes.shape[0]
    w = _argument_weights(weights, n, "requirement codes", "code")
    labels = names or [f"{Path(path).stem}[{i}]" for i in range(n)]
    return Requirement([Path(x) for x in labels], w / w.sum(), [str(path)] * n, codes)


def _readable(path: Path, strict: bool) -> bool:
    try:
        load_rgb(path)
    except UnreadableImage as exc:
        if strict:
            raise DhrError(f"requirement image {path} is unreadable: {exc}") from None
        return False
    return True


def model_fingerprint(rec: ModelRecord) -> str:
    """A short digest identifying a model (hasher, params, state, backbone)."""
    h = hashlib.sha256()
    h.update(json.dumps([rec.hasher, rec.params, rec.n_bits, rec.backbone,
                         rec.backbone_params], sort_keys=True, default=str).encode())
    for key in sorted(rec.state):
        arr = np.ascontiguousarray(rec.state[key])
        h.update(key.encode() + str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:12]


def encode_images(model: HashModel, paths: Sequence[Path], batch_size: int = 64) -> np.ndarray:
    """Codes of image files under ``model``: its backbone through the same batched forward
    as a collection's features (RGB decode + the backbone's transform), then its hasher."""
    from dhr_sdk.data._loader import FileImages, run_batches

    backbone = model.make_backbone()
    feats, failed = run_batches(FileImages([str(p) for p in paths], backbone.transform()),
                                len(paths), backbone, batch_size=batch_size, workers=0,
                                device="cpu", progress=QUIET)
    if failed:
        row, why = min(failed.items())
        raise DhrError(f"requirement image {paths[row]} is unreadable: {why}")
    return model.hasher.encode(feats)


@dataclass
class StoreTarget:
    """A store ready for assessment: its importance list, image ids and model."""

    path: Path
    importance: ImportanceList
    image_ids: list[str]
    root: str
    model_record: ModelRecord | None
    model_id: str

    @property
    def name(self) -> str:
        return self.path.stem


def open_target(path: str | Path, need_model: bool = True) -> StoreTarget:
    """Read what assessment needs from a store, with one-line errors when it cannot serve.

    ``need_model=False`` (requirement given as codes) accepts stores without a model.
    """
    store = Store(path)
    p = store.path
    rec: ModelRecord | None = None
    if need_model or store.has("model"):
        try:
            rec = store.read_model()
        except MissingElementError:
            raise DhrError(f"{p} has no model; run 'dhr build' or 'dhr encode' first, or give "
                           "the requirement as codes (--requirement-codes)") from None
    try:
        il = store.read_importance()
    except MissingElementError:
        raise DhrError(f"{p} has no rank (importance list); run 'dhr rank {p}' first") from None
    col = store.read_collection()
    if rec is None:
        return StoreTarget(p, il, col.image_ids, col.root, None, "none")
    if il.n_bits != rec.n_bits:
        raise DhrError(f"{p}: its importance list has {il.n_bits}-bit codes but its model makes "
                       f"{rec.n_bits}-bit codes; re-run 'dhr encode' and 'dhr rank'")
    return StoreTarget(p, il, col.image_ids, col.root, rec, model_fingerprint(rec))


def encode_requirement(requirement: Requirement, targets: Sequence[StoreTarget],
                       progress: Progress = QUIET) -> dict[str, np.ndarray]:
    """The requirement's packed codes under each distinct model of ``targets`` (by model id).

    Given codes (``--requirement-codes``) are checked against every store's code length;
    images are encoded once per distinct model (stores sharing a model share the encoding).
    """
    given = requirement.codes
    codes_by_model: dict[str, np.ndarray] = {}
    for t in targets:
        if given is not None:
            if given.shape[1] * 8 != t.importance.n_bits:
                raise DhrError(f"the requirement codes have {given.shape[1] * 8} bits but "
                               f"{t.path} holds {t.importance.n_bits}-bit codes")
            codes_by_model[t.model_id] = given
        elif t.model_id not in codes_by_model:
            assert t.model_record is not None
            model = HashModel.from_record(t.model_record)
            progress.log(f"encoding {len(requirement.paths)} requirement image(s) with model "
                         f"{t.model_id} ({model.hasher.name}, {model.n_bits} bits, "
                         f"{model.backbone})")
            codes_by_model[t.model_id] = encode_images(model, requirement.paths)
    return codes_by_model


@dataclass
class CollectionResult:
    """R(AD) of the requirement for one store, with the best matches behind it."""

    target: StoreTarget
    assessment: Assessment
    requirement_codes: np.ndarray
    top_images: list[dict[str, Any]] = field(default_factory=list)

    @property
    def matches(self) -> int:
        """Matched images summed over requirement images (sum of m_i, Eq. 1)."""
        return int(sum(m.matched_images for m in self.assessment.per_image))


def _top_images(target: StoreTarget, a: Assessment, codes: np.ndarray,
                limit: int) -> list[dict[str, Any]]:
    """Distinct matched rows of all requirement images, nearest first, then highest score."""
    il = target.importance
    seen: dict[int, tuple[int, float, int]] = {}
    for m in a.per_image:
        if not m.top_rows:
            continue
        d = hamming_matrix(codes[m.index:m.index + 1], il.codes[m.top_rows])[0]
        for row, dist in zip(m.top_rows, d, strict=True):
            key = (int(dist), -float(il.scores[row]), m.index)
            if row not in seen or key < (seen[row][0], -seen[row][1], seen[row][2]):
                seen[row] = (int(dist), float(il.scores[row]), m.index)
    rows = sorted(seen, key=lambda r: (seen[r][0], -seen[r][1], r))[:limit]
    out = []
    for row in rows:
        images = il.images_of(row)
        image_id = target.image_ids[int(images[0])]
        out.append({"image_id": image_id, "path": str(Path(target.root) / image_id),
                    "row": int(row), "score": seen[row][1], "distance": seen[row][0],
                    "requirement_image": seen[row][2], "images_with_code": int(images.size)})
    return out


@dataclass
class AssessmentReport:
    """A requirement assessed against several stores, ``results`` sorted by R descending."""

    requirement: Requirement
    results: list[CollectionResult]
    assessor: Assessor

    @property
    def models(self) -> dict[str, list[CollectionResult]]:
        groups: dict[str, list[CollectionResult]] = {}
        for r in self.results:
            groups.setdefault(r.target.model_id, []).append(r)
        return groups

    @property
    def multiple_models(self) -> bool:
        return len(self.models) > 1

    def to_json(self) -> dict[str, Any]:
        """The ``dhr assess --json`` contract (docs/assessment.md)."""
        req = self.requirement
        return {
            "requirement": [{"path": str(p), "weight": float(w), "source": s}
                            for p, w, s in zip(req.paths, req.weights, req.sources, strict=True)],
            "assessor": {"name": self.assessor.name,
                         "params": self.assessor.params.model_dump(mode="json")},
            "models": [_model_json(mid, rs) for mid, rs in self.models.items()],
            "multiple_models": self.multiple_models,
            "results": [_result_json(i + 1, r, req) for i, r in enumerate(self.results)],
        }


def _model_json(model_id: str, results: list[CollectionResult]) -> dict[str, Any]:
    rec = results[0].target.model_record
    return {"id": model_id, "hasher": rec.hasher if rec else None,
            "n_bits": rec.n_bits if rec else results[0].target.importance.n_bits,
            "backbone": rec.backbone if rec else None,
            "stores": [str(r.target.path) for r in results]}


def _result_json(position: int, r: CollectionResult, req: Requirement) -> dict[str, Any]:
    a = r.assessment
    return {
        "position": position, "collection": r.target.name, "store": str(r.target.path),
        "relevance": a.relevance, "score": a.score, "k": a.rank, "n": a.total,
        "matches": r.matches, "model_id": r.target.model_id, "warnings": list(a.warnings),
        "per_image": [{"path": str(req.paths[m.index]), "weight": m.weight,
                       "matched_codes": m.matched_codes, "matched_images": m.matched_images,
                       "mean_score": m.mean_score, "contribution": m.contribution,
                       "radius_used": m.radius_used} for m in a.per_image],
        "top_images": r.top_images,
    }


def make_assessor(name: str = "importance-list",
                  params: dict[str, Any] | None = None) -> Assessor:
    assessor = get_registry().create("assessor", name, params or {})
    if not isinstance(assessor, Assessor):
        raise DhrError(f"plugin {name!r} is not an assessor")
    return assessor


def assess(requirement: Requirement, stores: Sequence[str | Path],
           assessor: Assessor | None = None, *, top_images: int = 6,
           progress: Progress = QUIET) -> AssessmentReport:
    """Assess ``requirement`` against every store and rank the stores by R(AD).

    All stores are validated first (so a bad store fails before any work); then each
    distinct model encodes the requirement once. Nothing is written to the stores.
    """
    if not stores:
        raise DhrError("give at least one store to assess")
    assessor = assessor or make_assessor()
    targets = [open_target(s, need_model=requirement.codes is None) for s in stores]
    codes_by_model = encode_requirement(requirement, targets, progress)
    results = []
    for t in progress.iterate(targets, desc="assess", unit="store"):
        codes = codes_by_model[t.model_id]
        a = assessor.assess(t.importance, codes, requirement.weights)
        results.append(CollectionResult(t, a, codes, _top_images(t, a, codes, top_images)))
    results.sort(key=lambda r: (-r.assessment.relevance, -r.assessment.score, r.target.name))
    return AssessmentReport(requirement, results, assessor)
