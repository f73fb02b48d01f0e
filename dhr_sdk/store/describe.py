"""What ``dhr info`` shows of each element (from its attributes and shapes)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import scipy.sparse as sp

from dhr_sdk.core.components import graph_structure
from dhr_sdk.store import format as fmt
from dhr_sdk.store.format import Provenance
from dhr_sdk.store.graph_parts import insert_edges


def checksum_state(name: str, checksums: dict[str, str]) -> str:
    """``verified`` when every part of ``name`` was read with a checksum, else ``none``."""
    states = {v for k, v in checksums.items() if k.split("/")[0] == name}
    return "verified" if states == {"verified"} else "none"


def describe(name: str, obj: Any) -> dict[str, Any]:
    """The ``dhr info --json`` fields of element ``name`` (see docs/cli.md)."""
    a = obj.attrs
    d: dict[str, Any] = {"encoding_version": str(a.get(fmt.ENCODING_VERSION, ""))}
    if "plugin" in a:
        d["provenance"] = Provenance.read(obj).to_dict()
    if name == "collection":
        d.update(n_images=int(a["n_images"]), root=str(a["root"]),
                 skipped=len(obj["skipped"]) if "skipped" in obj else 0,
                 labels="labels" in obj, tags="tags" in obj)
    elif name == "features":
        d["sets"] = {k: {"shape": list(obj[k].shape), "backbone": str(obj[k].attrs["backbone"])}
                     for k in obj}
    elif name == "model":
        d.update(hasher=str(a["hasher"]), n_bits=int(a["n_bits"]), backbone=str(a["backbone"]))
    elif name == "codes":
        d.update(n_codes=int(obj.shape[0]), n_bits=int(a["n_bits"]))
    elif name == "graph":
        n_nodes = int(obj["node_codes"].shape[0])
        indptr = obj["adjacency"]["indptr"][()]
        base = indptr.shape[0] - 1
        adjacency = sp.csr_matrix((np.ones(len(obj["adjacency"]["indices"])),
                                   obj["adjacency"]["indices"][()], indptr),
                                  shape=(base, base))
        if "added_edges" in obj:  # format 2.0: edges appended by 'dhr add'
            i, j = obj["added_edges"]["i"][()], obj["added_edges"]["j"][()]
            adjacency = insert_edges(adjacency, n_nodes, i, j, np.ones(i.shape[0]))
        structure = graph_structure(adjacency)
        d.update(nodes=n_nodes, edges=structure["edges"],
                 images=int(obj["image_nodes"].shape[0]), radius=int(a["radius"]),
                 merged=bool(a["merged"]), n_bits=int(a["n_bits"]),
                 isolated_nodes=structure["isolated_nodes"])
        d["components"] = structure["components"]
    elif name == "rank":
        d.update(method=str(a["method"]), iterations=int(a["iterations"]),
                 converged=bool(a["converged"]), residual=float(a["residual"]),
                 info=json.loads(a["info"]))
    elif name == "importance":
        d.update(rows=int(obj["H"].shape[0]), tie_rule=str(a["tie_rule"]))
    return d
