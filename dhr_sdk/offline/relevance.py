"""Offline relevance mining on a store: import codes, build the graph, rank it.

These are the library functions behind ``dhr import-codes``, ``dhr graph`` and ``dhr rank``
(same names, same behaviour). Plugins are found through the registry by name.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dhr_sdk.codes.hamming_index import group_identical
from dhr_sdk.codes.packing import check_n_bits, check_packed, pack_bits
from dhr_sdk.core.components import graph_structure
from dhr_sdk.core.errors import DhrError, StoreFormatError
from dhr_sdk.core.interfaces import GraphBuilder, Ranker
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.types import HashGraph, ImportanceList, RankResult
from dhr_sdk.offline.importance import TIE_RULE, build_importance_list
from dhr_sdk.store import Store, staged
from dhr_sdk.store.elements import CodesRecord, CollectionRecord
from dhr_sdk.store.format import Provenance
from dhr_sdk.store.provenance import provenance_of

CodeFormat = Literal["auto", "packed", "bits"]


def _load_array(path: Path) -> tuple[np.ndarray, list[str] | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DhrError(f"codes file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise DhrError(f"cannot read {path} as a NumPy .npy/.npz file: {exc}") from None
    if isinstance(loaded, np.ndarray):
        return loaded, None
    with loaded:
        if "codes" not in loaded.files:
            raise DhrError(f"{path} holds {loaded.files}; expected an array named 'codes'")
        names = [str(s) for s in loaded["names"]] if "names" in loaded.files else None
        return loaded["codes"], names


def codes_from_array(arr: np.ndarray, fmt: CodeFormat = "auto",
                     n_bits: int | None = None) -> tuple[np.ndarray, int, str]:
    """Packed codes from packed ``uint8`` or unpacked 0/1 / ±1 / bool values.

    ``auto``: bool arrays and arrays whose values are all in {0, 1} or {-1, 1} are unpacked
    bits (one column per bit); other ``uint8`` arrays are packed. ``n_bits`` settles an
    ambiguous shape. Returns ``(packed, n_bits, format_used)``.
    """
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise DhrError(f"codes must be a non-empty 2-D array (n, bits), got shape {arr.shape}")
    if fmt == "auto":
        if n_bits is not None and arr.shape[1] != n_bits and arr.shape[1] * 8 == n_bits:
            fmt = "packed"
        elif arr.dtype == bool:
            fmt = "bits"
        elif np.issubdtype(arr.dtype, np.number):
            values = np.unique(arr)
            fmt = "bits" if (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {-1, 1}) \
                else "packed"
        else:
            raise DhrError(f"codes have dtype {arr.dtype}; expected uint8, bool or numbers")
    if fmt == "packed":
        if arr.dtype != np.uint8:
            raise DhrError(f"packed codes must be uint8, got {arr.dtype}")
        packed = check_packed(arr)
    elif fmt == "bits":
        if arr.dtype != bool and not set(np.unique(arr).tolist()) <= {-1, 0, 1}:
            raise DhrError("unpacked codes must hold only 0/1 or -1/+1 values")
        check_n_bits(arr.shape[1])
        packed = pack_bits(arr)
    else:
        raise DhrError(f"unknown code format {fmt!r}; use auto, packed or bits")
    found = packed.shape[1] * 8
    if n_bits is not None and n_bits != found:
        raise DhrError(f"codes have {found} bits ({fmt}), but n_bits={n_bits} was given")
    return packed, found, fmt


def load_codes_file(path: str | Path, fmt: CodeFormat = "auto", n_bits: int | None = None
                    ) -> tuple[np.ndarray, int, list[str] | None]:
    """Packed codes (and names, from an ``.npz``) of a codes file; see :func:`codes_from_array`."""
    arr, names = _load_array(Path(path))
    packed, found, _ = codes_from_array(arr, fmt, n_bits)
    return packed, found, names


def _read_names(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DhrError(f"names file {path} does not exist") from None
    return [line.strip() for line in lines if line.strip()]


def import_codes(store_path: str | Path, codes_file: str | Path,
                 names_file: str | Path | None = None, fmt: CodeFormat = "auto",
                 n_bits: int | None = None, overwrite: bool = False,
                 progress: Progress = QUIET) -> dict[str, Any]:
    """Create a store from existing hash codes (no hasher needed for graph, rank, assess).

    ``codes_file``: ``.npy`` array, or ``.npz`` with ``codes`` (and optional ``names``).
    ``names_file``: text file with one image name per line (default: row numbers).
    """
    codes_path = Path(codes_file)
    arr, names = _load_array(codes_path)
    packed, bits, used = codes_from_array(arr, fmt, n_bits)
    n = packed.shape[0]
    if names_file is not None:
        names = _read_names(Path(names_file))
    if names is None:
        names = [f"{i:0{len(str(n - 1))}d}" for i in range(n)]
    if len(names) != n:
        raise DhrError(f"{len(names)} image names for {n} codes; give one name per code")
    if len(set(names)) != n:
        raise DhrError("image names must be unique")
    if Path(store_path).exists() and not overwrite:
        raise StoreFormatError(f"{store_path} already exists (use --overwrite to replace it)")
    prov = Provenance(plugin="import-codes", kind="codes",
                      params={"source": str(codes_path), "format": used, "n_bits": bits})
    with staged(store_path, new=True) as work:  # one write, also when replacing a store
        created = Store.create(work, overwrite=True)
        with created.edit() as w:
            w.write_collection(CollectionRecord(image_ids=names, root=""))
            w.write_codes(CodesRecord(packed, bits, prov))
    store = Store(store_path)
    distinct = int(group_identical(packed)[0].shape[0])
    progress.log(f"imported {n} codes of {bits} bits ({used}), {distinct} distinct")
    return {"store": str(store.path), "images": n, "n_bits": bits, "format": used,
            "distinct_codes": distinct}


ISOLATED_WARNING_FRACTION = 0.5
"""``dhr graph`` / ``dhr build`` warn when more than this share of the nodes is isolated."""
ISOLATED_WARNING_MIN_NODES = 20
"""... on graphs of at least this many nodes (a handful of codes says nothing)."""


class SparseGraphWarning(UserWarning):
    """Most codes have no neighbour within the radius: ranking and assessment see little."""


def isolated_codes_warning(summary: Mapping[str, Any], command: str = "graph") -> str | None:
    """The advice of :class:`SparseGraphWarning` for a :func:`graph_summary`, or None.

    ``command`` (``graph`` or ``build``) decides how the ``-p`` options are spelt.
    """
    nodes, isolated = int(summary["nodes"]), int(summary["isolated_nodes"])
    if nodes < ISOLATED_WARNING_MIN_NODES or isolated <= ISOLATED_WARNING_FRACTION * nodes:
        return None
    what = "distinct codes" if summary["merged"] else "images"
    radius, n_bits = int(summary["radius"]), int(summary["n_bits"])
    wider = f"-p {'graph.' if command == 'build' else ''}radius={radius + 1}"
    shorter = (f"-p n_bits={n_bits // 2}" if command == "build"
               else f"n_bits={n_bits // 2} when fitting")
    fixes = f"a larger radius ({wider})"
    if n_bits >= 16:
        fixes = f"fewer bits ({shorter}) or " + fixes
    return (f"{isolated} of the {nodes} {what} ({100 * isolated / nodes:.0f} %) have no "
            f"neighbour within Hamming radius {radius} at {n_bits} bits: the ranking sees "
            f"little structure and requirements will often match nothing; use {fixes}")


def graph_summary(graph: HashGraph, command: str = "graph") -> dict[str, Any]:
    """Size and structure of a graph (the ``dhr graph --json`` fields), with ``warnings``
    (:func:`isolated_codes_warning`)."""
    structure = graph_structure(graph.adjacency)
    out: dict[str, Any] = {
        "nodes": graph.n_nodes, "edges": structure["edges"], "images": graph.n_images,
        "merged": graph.merged, "radius": graph.radius, "n_bits": graph.n_bits,
        "components": structure["components"], "isolated_nodes": structure["isolated_nodes"]}
    out["isolated_fraction"] = round(out["isolated_nodes"] / max(1, graph.n_nodes), 4)
    advice = isolated_codes_warning(out, command)
    out["warnings"] = [advice] if advice else []
    return out


def _built_graph(store: Store, plugin: GraphBuilder, command: str,
                 progress: Progress) -> tuple[HashGraph, dict[str, Any]]:
    codes = store.read_codes()
    start = time.perf_counter()
    graph = plugin.build(codes.codes, codes.n_bits, progress)
    summary = {"store": str(store.path), "builder": plugin.name,
               **graph_summary(graph, command), "seconds": round(time.perf_counter() - start, 4)}
    for advice in summary["warnings"]:
        warnings.warn(advice, SparseGraphWarning, stacklevel=3)
    return graph, summary


def build_graph(store_path: str | Path, builder: GraphBuilder,
                progress: Progress = QUIET) -> dict[str, Any]:
    """Build the graph of the store's codes, write it, and return :func:`graph_summary`
    (warns with :class:`SparseGraphWarning` when most codes are isolated)."""
    store = Store(store_path)
    graph, summary = _built_graph(store, builder, "graph", progress)
    with store.edit() as w:
        w.write_graph(graph, provenance_of(builder))
    return summary


def rank(store_path: str | Path, ranker: Ranker,
         progress: Progress = QUIET) -> tuple[RankResult, ImportanceList]:
    """Rank the store's graph, write the rank and the importance list, return both."""
    store = Store(store_path)
    graph = store.read_graph()
    result = ranker.rank(graph, progress)
    importance = build_importance_list(graph, result)
    with store.edit() as w:
        w.write_rank(result, provenance_of(ranker))
        w.write_importance(importance, TIE_RULE)
    return result, importance


def graph_and_rank(store_path: str | Path, builder: GraphBuilder, ranker: Ranker,
                   progress: Progress = QUIET) -> dict[str, Any]:
    """Graph, rank and importance list of the store's codes with ``builder`` and ``ranker``
    (plugin instances; the commands resolve names), written in one edit; returns
    :func:`build_graph`'s summary."""
    store = Store(store_path)
    graph, summary = _built_graph(store, builder, "build", progress)
    result = ranker.rank(graph, progress)
    importance = build_importance_list(graph, result)
    with store.edit() as w:
        w.write_graph(graph, provenance_of(builder))
        w.write_rank(result, provenance_of(ranker))
        w.write_importance(importance, TIE_RULE)
    return summary
