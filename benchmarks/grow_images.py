"""The image-store scenario of ``benchmarks/grow.py``: ``dhr add`` against ``dhr build --model``.

A store built from a folder of image files, as ``dhr build`` leaves it: the collection
(ids and the files' signature), the backbone's cached features, the model, codes, graph,
rank and importance list. The folder holds ``n`` files; ``add`` more files join it.

* **add** = what ``dhr add STORE FOLDER`` does after the backbone forward of the new
  images: encode their feature rows with the store's model, then ``add_codes`` with those
  rows (the collection, its signature, the feature cache, the codes, graph, rank and
  importance list grow in place);
* **rebuild** = ``dhr build FOLDER -o STORE --model MODEL`` on a store that already caches
  the features of every file (as after the forward of the new images): it lists the
  folder, checks the files' signature, reads and checks the cached features, encodes all
  of them, builds graph, rank and importance list, and replaces the store.

The backbone forward of the new images, which both need, is left out of both. The files
are empty (a signature reads sizes and mtimes only, and the cache means no image is
decoded); the features are synthetic clustered rows under the key of ``resnet18`` with
``weights=none`` (512 dimensions), hashed by ITQ fitted on 10,000 of them.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np


def _file_ids(first: int, last: int) -> list[str]:
    return [f"{i // 1000:04d}/{i:07d}.png" for i in range(first, last)]


def _touch(root: Path, ids: list[str]) -> None:
    for iid in ids:
        path = root / iid
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True)
        path.touch()


def _store(path: Path, root: Path, x: np.ndarray, hm: Any, builder: Any, ranker: Any,
           ranked: bool) -> None:
    """A store of the folder ``root`` as ``dhr build`` writes it (``ranked``: with codes,
    graph, rank and importance list; else collection, features and model only)."""
    from dhr_sdk.data.collection import Collection
    from dhr_sdk.data.features import features_key
    from dhr_sdk.offline.relevance import graph_and_rank
    from dhr_sdk.store import CodesRecord, FeaturesRecord, Store
    from dhr_sdk.store.provenance import provenance_of

    bb = hm.make_backbone()
    store = Store.create(path, overwrite=True)
    with store.edit() as w:
        w.write_collection(Collection.from_folder(root).to_record())
        w.write_features(FeaturesRecord(features_key(bb), x, bb.name,
                                        bb.params.model_dump(mode="json")), provenance_of(bb))
        w.write_model(hm.to_record())
        if ranked:
            w.write_codes(CodesRecord(hm.encode(x), hm.n_bits, provenance_of(hm.hasher)))
    if ranked:
        graph_and_rank(path, builder, ranker)


def image_store(args: argparse.Namespace, x: np.ndarray, hasher: Any, builder: Any,
                ranker: Any, tmp: Path, best: Any, copy: Any) -> tuple[float, float, Any, bool]:
    """(add s, rebuild s, add report, results equal) of the image-store scenario; ``x``
    holds the features of all ``args.n + args.add`` files, ``best(fn, repeat, setup)``
    times the best of ``args.repeat``, ``copy(src, dst)`` copies a store to disk."""
    from dhr_sdk.data.features import features_key
    from dhr_sdk.model.hash_model import HashModel
    from dhr_sdk.offline.grow import add_codes
    from dhr_sdk.offline.pipeline import build
    from dhr_sdk.store import Store

    n, total = args.n, args.n + args.add
    hm = HashModel(hasher, "resnet18", {"weights": "none"})
    key = features_key(hm.make_backbone())
    root = tmp / "images"
    _touch(root, _file_ids(0, n))
    base, grown, full = tmp / "ibase.h5", tmp / "igrown.h5", tmp / "ifull.h5"
    _store(base, root, x[:n], hm, builder, ranker, ranked=True)
    names = _file_ids(n, total)
    _touch(root, names)
    _store(full, root, x, hm, builder, ranker, ranked=False)
    new = x[n:]

    def add() -> Any:
        return add_codes(grown, hm.encode(new), names, features={key: new})

    def rebuild() -> None:
        build(root, full, hm, builder=builder, ranker=ranker)

    start = time.perf_counter()
    t_add, rep = best(add, args.repeat, lambda: copy(base, grown))
    t_full, _ = best(rebuild, args.repeat)
    a, b = Store(grown), Store(full)
    same = a.read_collection().signature == b.read_collection().signature and \
        np.array_equal(a.read_codes().codes, b.read_codes().codes) and \
        np.array_equal(a.read_features(key).features, b.read_features(key).features)
    ia, ib = a.read_importance(), b.read_importance()
    same = same and all(np.array_equal(getattr(ia, c), getattr(ib, c))
                        for c in ("codes", "scores", "counts", "members_indptr", "members"))
    print(f"# image store: {total:,} files, timed in {time.perf_counter() - start:.0f} s")
    for path in (base, grown, full):
        path.unlink()
    shutil.rmtree(root)
    return t_add, t_full, rep, same
