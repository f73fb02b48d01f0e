"""The calibration benchmark's data: the Table-3 single-label sets (``dhr demo``'s
materialised folders) and the Table-6 multi-label canvases, their requirement specs and the
ground truth of every image (how much it is wanted)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dhr_sdk.data.sidefiles import write_side_file
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.datasets.materialise import MANIFEST, materialise_demo
from dhr_sdk.datasets.multilabel import compose_multilabel
from dhr_sdk.evaluation.allocation import RequirementSpec
from dhr_sdk.evaluation.demo import DemoConfig, requirement_specs

SETS = ("animal-mnist", "mnist", "multilabel")
#: Table-3-like sets (materialise_demo). ``public_per_class`` images per class go into no
#: folder, so GAH's labeled public set has enough of every class (without it, the classes
#: most collections hold leave 10-25 free images).
SINGLE_SETS: dict[str, dict[str, Any]] = {
    "animal-mnist": {"source": "animal-mnist", "per_collection": 1000, "n_requirement": 20,
                     "public_per_class": 150},
    "mnist": {"source": "mnist", "per_collection": 500, "n_requirement": 20,
              "public_per_class": 80},
}
#: Table 6 (VOC2007) mapped onto animal-mnist tiles: car -> cow, person -> horse,
#: aeroplane -> bird, dog and sheep kept; giraffe and zebra tiles are background in all.
TABLE6_POOLS = {"VDS1": ("cow", "horse"), "VDS2": ("dog",), "VDS3": ("cow",),
                "VDS4": ("dog", "horse"), "VDS5": ("cow", "bird"), "VDS6": ("dog", "sheep"),
                "VDS7": ("cow", "dog")}
BACKGROUND = ("giraffe", "zebra")
PAIRS = (("horse", "cow"), ("horse", "dog"))
ML_SINGLES = ("cow", "dog", "horse", "bird", "sheep")
MULTILABEL = {"per_collection": 800, "n_requirement": 20, "held_per_class": 60,
              "public_per_class": 100, "public_canvases": 1500}


def _save(folder: Path, images: np.ndarray) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:06d}.png" for i in range(len(images))]
    for name, img in zip(names, images, strict=True):
        Image.fromarray(img).save(folder / name, compress_level=1)
    return names


def _counts(labels: np.ndarray, classes: list[str]) -> dict[str, int]:
    counts = {c: int(labels[:, k].sum()) for k, c in enumerate(classes)}
    for a, b in PAIRS:
        both = (labels[:, classes.index(a)] == 1) & (labels[:, classes.index(b)] == 1)
        counts[f"{a}+{b}"] = int(both.sum())
    return counts


def _canvases(images: np.ndarray, y: np.ndarray, classes: list[str], rows: np.ndarray,
              use: Sequence[str], n: int, seed: int, cooccur: tuple[str, str] | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Canvases of 1-3 tiles drawn only from the classes ``use`` (labels in all classes)."""
    ks = sorted(classes.index(c) for c in use)
    sel = rows[np.isin(y[rows], ks)]
    sub_y = np.searchsorted(np.array(ks), y[sel])
    imgs, sub = compose_multilabel(images[sel], sub_y, [classes[k] for k in ks], n=n,
                                   seed=seed, grid=2, min_objects=1, max_objects=3,
                                   cooccur=cooccur)
    labels = np.zeros((n, len(classes)), dtype=np.uint8)
    labels[:, ks] = sub
    return imgs, labels


def materialise_multilabel(out: Path, seed: int = 0) -> dict[str, Any]:
    """Multi-label collections like Table 6 (canvases of 1-3 real tiles from class pools,
    horse -> cow co-occurrence), held-out requirement canvases per single class and per
    pair, and a labeled public set (for GAH) from tiles in neither; returns the manifest."""
    cfg = MULTILABEL
    data = load_demo_arrays("animal-mnist")
    classes, y = list(data.class_names), data.class_index
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(np.flatnonzero(y == k)) for k in range(len(classes))]
    h, p = cfg["held_per_class"], cfg["public_per_class"]
    held = np.concatenate([q[:h] for q in perms])
    public = np.concatenate([q[h:h + p] for q in perms])
    pool = np.concatenate([q[h + p:] for q in perms])
    n = cfg["per_collection"]
    manifest: dict[str, Any] = {"source": "animal-multilabel", "seed": seed,
                                "class_names": classes, "collections": [], "requirements": []}
    for i, (name, wanted_) in enumerate(TABLE6_POOLS.items()):
        co = ("horse", "cow") if {"horse", "cow"} <= set(wanted_) else None
        imgs, labels = _canvases(data.images, y, classes, pool, (*wanted_, *BACKGROUND), n,
                                 seed + 10 + i, co)
        _save(out / "collections" / name, imgs)
        manifest["collections"].append({"name": name, "path": f"collections/{name}",
                                        "n_images": n, "class_counts": _counts(labels, classes),
                                        "labels": labels.tolist()})
    for j, target in enumerate([*((c,) for c in ML_SINGLES), *PAIRS]):
        imgs, labels = _canvases(data.images, y, classes, held, target,
                                 cfg["n_requirement"] * 10, seed + 50 + j, None)
        has = np.all(labels[:, [classes.index(c) for c in target]] == 1, axis=1)
        name = "+".join(target)
        _save(out / "requirements" / name, imgs[has][:cfg["n_requirement"]])
        manifest["requirements"].append({"path": f"requirements/{name}",
                                         "target": list(target)})
    used = sorted({c for w in TABLE6_POOLS.values() for c in w} | set(BACKGROUND))
    imgs, labels = _canvases(data.images, y, classes, public, used, cfg["public_canvases"],
                             seed + 90, None)
    ids = _save(out / "public-train", imgs)
    write_side_file(out / "labels" / "public-train.csv", ids, labels, classes, "labels")
    manifest["public_train"] = {"path": "public-train", "labels_file": "labels/public-train.csv"}
    return manifest


def multilabel_specs() -> list[RequirementSpec]:
    return [RequirementSpec(c, {c: 1.0}) for c in (*ML_SINGLES, *("+".join(p) for p in PAIRS))]


def data_for(set_name: str, seed: int, out: Path) -> tuple[Path, dict[str, Any],
                                                           list[RequirementSpec], DemoConfig]:
    """The set's materialised data (reused when its stamp matches), specs and base config."""
    data = out / set_name / f"seed{seed}" / "data"
    spec = SINGLE_SETS.get(set_name, MULTILABEL)
    stamp = {"set": set_name, "seed": seed, **spec}
    stamp_file = data / "bench-stamp.json"
    manifest_file = data / (MANIFEST if set_name in SINGLE_SETS else "bench-manifest.json")
    if stamp_file.is_file() and manifest_file.is_file() \
            and json.loads(stamp_file.read_text()) == stamp:
        manifest = json.loads(manifest_file.read_text())
    else:
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        if set_name in SINGLE_SETS:
            manifest = materialise_demo(data, seed, n_multilabel=0, overwrite=True, **spec)
        else:
            manifest = materialise_multilabel(data, seed)
            manifest_file.write_text(json.dumps(manifest, indent=1))
        stamp_file.write_text(json.dumps(stamp))
    if set_name in SINGLE_SETS:
        specs = requirement_specs(manifest["class_names"], spec["source"])
        cfg = DemoConfig(seed=seed, source=spec["source"], per_collection=spec["per_collection"],
                         n_requirement=spec["n_requirement"],
                         public_per_class=spec["public_per_class"])
    else:
        specs = multilabel_specs()
        cfg = DemoConfig(seed=seed, per_collection=spec["per_collection"],
                         n_requirement=spec["n_requirement"])
    return data, manifest, specs, cfg


def image_labels(manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per collection: the multi-hot labels of its files, in file-name order."""
    if "labels" in manifest["collections"][0]:
        return {c["name"]: np.asarray(c["labels"], dtype=np.uint8)
                for c in manifest["collections"]}
    arrays = load_demo_arrays(manifest["source"])
    return {c["name"]: arrays.labels[np.asarray(c["source_indices"])]
            for c in manifest["collections"]}


def image_weights(labels: np.ndarray, classes: Sequence[str], spec: RequirementSpec
                  ) -> np.ndarray:
    """How much each image is wanted (the ground truth ``wanted`` per image): the largest
    ``w_c / max w`` of its classes; a key ``a+b`` wants images holding both."""
    top = max(spec.classes.values())
    out = np.zeros(labels.shape[0])
    for key, w in spec.classes.items():
        cols = [list(classes).index(c) for c in key.split("+")]
        has = np.all(labels[:, cols] == 1, axis=1)
        out = np.maximum(out, has * (w / top))
    return out
