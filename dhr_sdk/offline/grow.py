"""Incremental growth of a store: ``dhr add`` (library side).

:func:`add_codes` appends codes (and image names) to a store that has a merged Hamming
graph and a rank: the collection, the codes and the feature caches it is given rows for
grow, the graph grows at the new codes only (:mod:`dhr_sdk.offline.grow_graph`), the rank
is redone on the touched components when the store's ranker is CPR's undamped closed form
(every other ranker setting re-ranks the whole grown graph, and the report says so), and
the importance list is rebuilt. Everything lands in one store replacement, with the
provenance a full ``dhr build`` would record; the result equals a rebuild from all images.
A format 2.0 store ranked by the closed form grows in place instead
(:mod:`dhr_sdk.offline.grow_inplace`), and is compacted when the dead space that leaves
exceeds half of the file (:mod:`dhr_sdk.store.compaction`).
:func:`add_images` encodes image files with the store's own model first.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.codes.packing import check_packed
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.registry import get_registry
from dhr_sdk.core.types import HashGraph, RankResult
from dhr_sdk.data import signature as file_signature
from dhr_sdk.data.collection import Collection
from dhr_sdk.data.features import features_key
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.offline.grow_graph import GraphGrowth, grow_graph, rerank_closed
from dhr_sdk.offline.grow_inplace import add_in_place
from dhr_sdk.offline.importance import TIE_RULE, build_importance_list
from dhr_sdk.store import CodesRecord, CollectionRecord, FeaturesRecord, Store, staged
from dhr_sdk.store.compaction import compact_if_wasteful
from dhr_sdk.store.growth import (
    CollectionHead,
    codes_bits,
    read_collection_head,
    read_growth_base,
)
from dhr_sdk.store.provenance import provenance_of


@dataclass
class GrowthReport:
    """What :func:`add_codes` / :func:`add_images` did (the ``dhr add --json`` fields)."""

    store: str
    images_added: int
    images: int
    new_distinct_codes: int
    nodes: int
    new_edges: int
    edges: int
    components_reranked: int
    components: int
    reranked: str
    """``touched`` (closed form on the touched components) or ``all`` (see ``reason``)."""
    reason: str
    """Why everything was re-ranked (empty for ``touched``)."""
    skipped: list[dict[str, str]] = field(default_factory=list)
    dropped_features: list[str] = field(default_factory=list)
    compacted: bool = False
    """Whether the store was then rewritten without its dead space (in-place growth leaves
    the old copies of rewritten datasets behind: :mod:`dhr_sdk.store.compaction`)."""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_store(store: Store) -> None:
    for element in ("graph", "rank"):
        if not store.has(element):
            raise DhrError(f"{store.path} has no {element}; 'dhr add' grows a built store "
                           "(run 'dhr build', or 'dhr graph' and 'dhr rank', first)")
    graph_by = store.provenance("graph")
    if graph_by.plugin != "hamming" or not graph_by.params.get("merged", True):
        raise DhrError(f"{store.path}: 'dhr add' updates merged 'hamming' graphs; this graph "
                       f"is {graph_by.plugin!r} with merged={graph_by.params.get('merged')} "
                       "(rebuild it with 'dhr graph' after adding codes)")


def _check_names(present: Sequence[str], side_files: bool, names: Sequence[str],
                 n_codes: int) -> None:
    """Refuse names that do not fit (``present``: those already in the store)."""
    if len(names) != n_codes:
        raise DhrError(f"{len(names)} image names for {n_codes} codes; give one per code")
    if len(set(names)) != len(names):
        raise DhrError("the new image names are not unique")
    if present:
        raise DhrError(f"{len(present)} of the new images are already in the store "
                       f"(e.g. {sorted(present)[0]}); add only new images")
    if side_files:
        raise DhrError("the store's collection has labels or tags, which new images would "
                       "lack; rebuild it with the side files instead")


def _old_collection(store: Store) -> CollectionRecord | CollectionHead:
    """The store's collection, without decoding its ids when the format allows (2.0)."""
    return read_collection_head(store) or store.read_collection()


def _check_new(old: CollectionRecord | CollectionHead, names: list[str], n_codes: int) -> None:
    """:func:`_check_names` against the ids ``old`` holds (by hash for a head)."""
    if isinstance(old, CollectionHead):
        _check_names(old.present(names), old.side_files, names, n_codes)
    else:
        _check_names(sorted(set(old.image_ids).intersection(names)), _side_files(old),
                     names, n_codes)


def _closed_form(ranker: Any) -> bool:
    """Whether the store's rank is CPR's undamped closed form (then it updates locally)."""
    p = ranker.params
    return bool(ranker.name == "cpr" and p.solver == "closed" and p.damping == 1.0)


def _rerank(graph: HashGraph, grown: GraphGrowth, ranker: Any, old: RankResult
            ) -> tuple[HashGraph, RankResult, str, int, int]:
    """The grown graph and its rank: closed form on the touched components when the store's
    ranker allows it, else the ranker on the whole graph (nodes in code-byte order, as a
    rebuild numbers them). Returns graph, rank, reason, components re-ranked and total."""
    if _closed_form(ranker):
        r = rerank_closed(grown, old.node_scores)
        g = grown.graph
        info = {**old.info, "nodes": g.n_nodes, "edges": g.n_edges, "images": g.n_images,
                "components": r.components, "isolated_nodes": r.isolated_nodes}
        result = RankResult(node_scores=r.scores, method=old.method, iterations=0,
                            converged=True, residual=0.0, info=info)
        return g, result, "", r.touched_components, r.components
    p = ranker.params
    why = (f"{ranker.name} with solver={p.solver}, damping={p.damping} has no local update; "
           "the whole graph was re-ranked")
    g = _canonical(grown.graph)
    result = ranker.rank(g)
    n = int(result.info.get("components", 0))
    return g, result, why, n, n


def _canonical(graph: HashGraph) -> HashGraph:
    """``graph`` with its nodes in code-byte order (as a rebuild numbers them)."""
    rank_of = np.argsort(np.lexsort(graph.node_codes.T[::-1]))
    order = np.argsort(rank_of)
    adjacency = graph.adjacency[order][:, order].tocsr()
    adjacency.sort_indices()
    return HashGraph(n_bits=graph.n_bits, radius=graph.radius, node_codes=graph.node_codes[order],
                     node_counts=graph.node_counts[order], image_nodes=rank_of[graph.image_nodes],
                     adjacency=adjacency, merged=True)


def _side_files(col: CollectionRecord) -> bool:
    return col.labels is not None or col.tags is not None


def _grown_collection(old: CollectionRecord | CollectionHead, names: list[str],
                      gone: dict[str, str]) -> CollectionRecord:
    """The collection with ``names`` appended and ``gone`` joining its skipped files (the
    old ids are not decoded for a :class:`CollectionHead`: its ``image_ids`` stay empty)."""
    listed = set(names) | set(gone)
    kept = [(s, r) for s, r in zip(old.skipped, old.skipped_reasons, strict=True)
            if s not in listed]
    col = CollectionRecord(
        image_ids=[], root=old.root, skipped=[s for s, _ in kept] + sorted(gone),
        skipped_reasons=[r for _, r in kept] + [gone[s] for s in sorted(gone)], signature="")
    if isinstance(old, CollectionRecord):
        col.image_ids = [*old.image_ids, *names]
    if old.signature:
        col.signature = _grown_signature(old, names, gone)
    return col


def _grown_signature(old: CollectionRecord | CollectionHead, names: list[str],
                     gone: dict[str, str]) -> str:
    """The stored signature extended by the files that join the collection (the old files
    keep the state it recorded: :mod:`dhr_sdk.data.signature`), or computed whole when it
    cannot be extended (an older kind of signature, or a skipped file that is now added:
    its recorded state is not known)."""
    before = set(old.skipped)
    failed = sorted(set(gone) - before)  # the names are new ids (checked before)
    known = (sorted(set(old.image_ids).intersection(failed))
             if isinstance(old, CollectionRecord) else old.present(failed))
    grown = None if before.intersection(names) else file_signature.extended(
        old.signature, old.root, {*names, *failed} - set(known))
    if grown is not None:
        return grown
    ids = old.image_ids if isinstance(old, CollectionRecord) else old.ids()
    return file_signature.signature(old.root, [*ids, *names, *old.skipped, *gone])


def add_codes(store_path: str | Path, codes: np.ndarray, names: Sequence[str], *,
              features: Mapping[str, np.ndarray] | None = None,
              skipped: Mapping[str, str] | None = None,
              progress: Progress = QUIET) -> GrowthReport:
    """Append packed ``codes`` of images ``names`` to a built store (see module doc).

    ``features`` maps a cached feature key to the new images' rows; caches without new
    rows are dropped (listed in the report). ``skipped`` (name -> reason) joins the
    collection's skipped files.
    """
    start = time.perf_counter()
    store = Store(store_path)
    _check_store(store)
    codes = check_packed(np.asarray(codes), codes_bits(store))
    names = [str(n) for n in names]
    old_col = _old_collection(store)
    _check_new(old_col, names, codes.shape[0])
    gone = dict(skipped or {})
    col = _grown_collection(old_col, names, gone)
    registry = get_registry()
    gb_prov, rk_prov = store.provenance("graph"), store.provenance("rank")
    builder = registry.create("graph_builder", gb_prov.plugin, gb_prov.params)
    ranker = registry.create("ranker", rk_prov.plugin, rk_prov.params)
    base = read_growth_base(store) if _closed_form(ranker) else None
    if base is not None:  # format 2.0: grow in place, touched components only
        fields = add_in_place(store, base, codes, col, names, gone, features or {}, builder,
                              ranker, start, progress)
        compacted = compact_if_wasteful(store_path)
        report = GrowthReport(**fields, compacted=compacted,
                              seconds=round(time.perf_counter() - start, 4))
        progress.log(f"added {report.images_added} images in place: "
                     f"{report.new_distinct_codes} new codes, {report.new_edges} new edges, "
                     f"re-ranked {report.components_reranked} of {report.components} "
                     "components" + (", then compacted the store" if compacted else ""))
        return report
    if not col.image_ids:
        col = _grown_collection(store.read_collection(), names, gone)
    codes_rec = store.read_codes()
    graph, old_rank = store.read_graph(), store.read_rank()
    progress.log(f"adding {codes.shape[0]} codes to {store.path} ({graph.n_nodes} nodes)")
    grown = grow_graph(graph, codes)
    new_graph, result, why, n_reranked, n_comp = _rerank(graph, grown, ranker, old_rank)
    reranked = "all" if why else "touched"
    result.info["seconds"] = round(time.perf_counter() - start, 6)
    importance = build_importance_list(new_graph, result)
    given = dict(features or {})
    kept, dropped = [], []
    for key in store.feature_keys():
        if key in given:
            old_f = store.read_features(key)
            rows = np.asarray(given[key], dtype=np.float32)
            if rows.shape != (codes.shape[0], old_f.features.shape[1]):
                raise DhrError(f"features {key}: {rows.shape} for {codes.shape[0]} new images "
                               f"of {old_f.features.shape[1]} dimensions")
            kept.append((FeaturesRecord(key, np.concatenate([old_f.features, rows]),
                                        old_f.backbone, old_f.backbone_params),
                         store.provenance(f"features/{key}")))
        else:
            dropped.append(key)
    model = store.read_model() if store.has("model") else None
    # a fresh file: every element is rewritten, so the old one would only keep dead space
    with staged(store_path, new=True) as work, Store.create(work, overwrite=True).edit() as w:
        w.write_collection(col)
        for rec, prov in kept:
            w.write_features(rec, prov)
        if model is not None:
            w.write_model(model)
        w.write_codes(CodesRecord(np.concatenate([codes_rec.codes, codes]), codes_rec.n_bits,
                                  codes_rec.provenance))
        w.write_graph(new_graph, provenance_of(builder))
        w.write_rank(result, provenance_of(ranker))
        w.write_importance(importance, TIE_RULE)
    report = GrowthReport(
        store=str(store.path), images_added=codes.shape[0], images=new_graph.n_images,
        new_distinct_codes=new_graph.n_nodes - graph.n_nodes, nodes=new_graph.n_nodes,
        new_edges=grown.new_edges, edges=new_graph.n_edges, components_reranked=n_reranked,
        components=n_comp, reranked=reranked, reason=why,
        skipped=[{"image": s, "reason": gone[s]} for s in sorted(gone)],
        dropped_features=dropped, seconds=round(time.perf_counter() - start, 4))
    progress.log(f"added {report.images_added} images: {report.new_distinct_codes} new codes, "
                 f"{report.new_edges} new edges, re-ranked {n_reranked} of {n_comp} components")
    return report


def _new_files(root: Path, sources: Sequence[str | Path]) -> tuple[list[str], dict[str, str]]:
    """Image ids (relative to ``root``) of files and folders (recursive), and the files of
    the folders that are not images (id -> reason)."""
    ids: dict[str, None] = {}
    skipped: dict[str, str] = {}
    for src in sources:
        p = Path(src).expanduser()
        if p.is_dir():
            col = Collection.from_folder(p)
            files = col.paths
            skipped.update(zip([str(col.root / s) for s in col.skipped], col.skipped_reasons,
                               strict=True))
        elif p.is_file():
            files = [p]
        else:
            raise DhrError(f"{p} does not exist")
        for f in files:
            try:
                ids[f.resolve().relative_to(root).as_posix()] = None
            except ValueError:
                raise DhrError(f"{f} is not inside the store's collection folder {root}; "
                               "'dhr add' keeps image ids relative to it") from None
    rel = {}
    for path, why in skipped.items():
        try:
            rel[Path(path).resolve().relative_to(root).as_posix()] = why
        except ValueError:
            continue
    return sorted(ids), rel


def add_images(store_path: str | Path, sources: Sequence[str | Path], *,
               batch_size: int = 64, workers: int = 0, device: str = "cpu",
               progress: Progress = QUIET) -> GrowthReport:
    """Encode image files and folders with the store's model and :func:`add_codes` them.

    Only the new images are decoded; unreadable ones are skipped with their reason (in the
    report and the collection's skipped list); ids already in the store are refused. The
    features cache of the model's backbone grows with them; other caches are dropped.
    """
    store = Store(store_path)
    _check_store(store)
    if not store.has("model"):
        raise DhrError(f"{store.path} has no model to encode images with (a store of imported "
                       "codes grows with add_codes)")
    old = _old_collection(store)
    if not old.root:
        raise DhrError(f"{store.path} records no collection folder; add codes instead")
    root = Path(old.root)
    ids, skipped = _new_files(root, sources)
    _check_new(old, ids, len(ids))
    hm = HashModel.from_record(store.read_model(), f"the model in {store.path}")
    bb = hm.make_backbone()
    from dhr_sdk.data.loader import FileImages, run_batches

    files = FileImages([str(root / i) for i in ids], bb.transform())
    progress.log(f"encoding {len(ids)} new images with {hm.hasher.name} ({hm.n_bits} bits)")
    feats, failed = (run_batches(files, len(ids), bb, batch_size=batch_size, workers=workers,
                                 device=device, progress=progress) if ids
                     else (np.zeros((0, bb.output_dim), np.float32), {}))
    skipped.update({ids[r]: why for r, why in failed.items()})
    rows = np.array([r for r in range(len(ids)) if r not in failed], dtype=np.int64)
    if rows.size == 0:
        raise DhrError(f"no new readable image to add ({len(skipped)} skipped"
                       + (f", e.g. {next(iter(skipped))}: {next(iter(skipped.values()))})"
                          if skipped else ")"))
    codes = hm.encode(feats[rows])
    return add_codes(store_path, codes, [ids[r] for r in rows],
                     features={features_key(bb): feats[rows]}, skipped=skipped,
                     progress=progress)
