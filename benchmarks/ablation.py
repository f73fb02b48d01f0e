"""Ablation of a seed hasher's parts against its paper, on one dataset, backbone, length, seed.

One command per hasher (defaults: animal-mnist, 64 bits, split seed 0)::

    python benchmarks/ablation.py --hasher dstgeh --backbone ssl \
        -B weights=.dhr-cache/pretrain/animal-mnist.h5
    python benchmarks/ablation.py --hasher nrdh --backbone ssl \
        -B weights=.dhr-cache/pretrain/animal-mnist.h5

Every variant (``VARIANTS``: one loss term or stage off, or one of the paper's
hyper-parameters moved within the paper's range) is fitted on the same training split of
the same features and measured with the retrieval protocol of ``benchmarks/retrieval.py``
(docs/evaluation.md; mAP@1000 over 1,000 queries), next to LSH, PCAH and ITQ of the same
run. Two diagnostics separate the stages: the *stage-1 targets* (DSTGeH's pseudo labels,
the sign of NRDH's node representations) are scored as codes of the training images
themselves (1,000 of them query the other training images, mAP@1000; ITQ fitted on the
training set is scored the same way), and the ``teacher=itq`` variant trains the hasher's
stage 2 on ITQ's codes of the training set instead of its own stage 1, showing what stage
2 makes of good targets.

Rows are merged into ``docs/results/ablation-<hasher>.json`` (keyed by dataset, backbone,
bits, seed and variant; a rerun replaces a row) and ``docs/results/ablation-<hasher>.md``
is regenerated from it. ``--only-markdown`` regenerates the page.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from dhr_sdk.core.interfaces import FitData, Hasher
from dhr_sdk.core.params import parse_key_values
from dhr_sdk.core.progress import Progress
from dhr_sdk.evaluation.data import demo_features
from dhr_sdk.evaluation.metrics import evaluate_retrieval
from dhr_sdk.evaluation.protocol import evaluate_hasher, make_hasher
from dhr_sdk.evaluation.split import SplitSpec, split_indices

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
REFERENCES = ("lsh", "pcah", "itq")
TEACHER = "teacher=itq"


@dataclass(frozen=True)
class Variant:
    """One ablation row: params changed from the hasher's defaults and what that tests."""

    key: str
    params: dict[str, Any]
    what: str


VARIANTS: dict[str, tuple[Variant, ...]] = {
    "dstgeh": (
        Variant("default", {}, "the plugin's defaults (paper values where given)"),
        Variant(TEACHER, {}, "diagnostic: stage 2 taught ITQ's codes of the training set "
                "instead of the SAE's pseudo labels"),
        Variant("paper literal", {"reduction": "sum", "center": False},
                "both of the above: Eqs. (1)-(7) as written"),
        Variant("no L_fo", {"alpha": 0.999, "beta": 0.0},
                "Eq. (7) without the first-order term (beta 0, alpha takes its weight)"),
        Variant("varrho 1.0", {"varrho": 1.0}, "Eq. (2) Tanh(varrho x), varrho in (0, 1] "
                "(paper 0.2)"),
        Variant("AE (one layer)", {"sae_hidden": ()}, "one encoder layer row -> code (the "
                "paper's Table 2 'SDNE (AE)')"),
        Variant("AE + varrho 1.0", {"sae_hidden": (), "varrho": 1.0}, "the two best single "
                "changes together (both within the paper's choices)"),
        Variant("no pre-training", {"pretrain_epochs": 0}, "SAE fine-tuned from random "
                "weights (no greedy layer-wise pre-training)"),
        Variant("raw cosines", {"center": False}, "Eq. (1) on the features as they are "
                "(paper; the plugin centres them)"),
        Variant("literal sums", {"reduction": "sum"}, "Eq. (7) summed over N nodes / N^2 "
                "pairs (paper; the plugin averages)"),
        Variant("no L_soh", {"mu": 1.0}, "Eq. (3) without the hidden-layer reconstructions "
                "(mu 1: input reconstruction only)"),
        Variant("no L_r", {"alpha": 0.901, "gamma": 0.0}, "Eq. (7) without the weight "
                "regulariser"),
        Variant("mu 0.3", {"mu": 0.3}, "Eq. (3) mu in (0, 1] (paper 0.7)"),
        Variant("varrho 0.5", {"varrho": 0.5}, "as above"),
        Variant("60 SAE epochs", {"sae_epochs": 60}, "twice the stage-1 epoch cap"),
    ),
    "nrdh": (
        Variant("default", {}, "the plugin's defaults (paper values where given)"),
        Variant("no L_fch", {"mu": 1.0, "omega": 0.0}, "Eq. (18) without the hash term "
                "(omega 0)"),
        Variant("no L_fc", {"mu": 0.0, "omega": 1.0}, "Eq. (18) without the node "
                "representations (stage 1 unused)"),
        Variant("no L_w", {"alpha": 1.0, "beta": 0.0}, "Eq. (8) without the weight "
                "regulariser"),
        Variant("p 1.0", {"p": 1.0}, "Eq. (4) p = 1: no neighbour mixing (the GCN sees "
                "each node alone; outside the paper's range, an ablation of the graph)"),
        Variant("rho 0.2", {"rho": 0.2}, "Eq. (3) threshold (paper 0.4; its Table 4 range "
                "0.1-0.9)"),
        Variant("rho 0.6", {"rho": 0.6}, "as above"),
        Variant("p 0.5", {"p": 0.5}, "Eq. (4) self weight (paper 0.8; its Table 5 range "
                "0.1-0.9)"),
        Variant("mu 0.5", {"mu": 0.5, "omega": 0.5}, "Eq. (18) weights (paper 0.8 / 0.2; its "
                "Table 6 range)"),
        Variant("M 20", {"nodes_per_graph": 20}, "nodes per batch graph (paper 10; its "
                "Table 3 tries 5-40)"),
        Variant("no standardize", {"standardize": False}, "features as they are (paper; the "
                "plugin centres and scales them)"),
        Variant(TEACHER, {}, "diagnostic: stage 2 taught ITQ's codes (+-1) of the training "
                "set instead of the GCN node representations"),
    ),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hasher", required=True, choices=sorted(VARIANTS))
    ap.add_argument("--dataset", default="animal-mnist")
    ap.add_argument("--backbone", default="pixels")
    ap.add_argument("-B", "--backbone-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0, help="Split seed (hasher seed stays 0).")
    ap.add_argument("--variants", default=None, help="Comma list of variant keys [all].")
    ap.add_argument("--only-markdown", action="store_true")
    return ap.parse_args(argv)


def itq_bits(features: np.ndarray, n_bits: int) -> np.ndarray:
    """ITQ's 0/1 codes of ``features``, fitted on them (the teacher and the reference)."""
    from dhr_sdk.codes.packing import unpack_bits

    itq = make_hasher("itq", n_bits, {})
    itq.fit(FitData(features=features))
    return unpack_bits(itq.encode(features), n_bits)


def probed(hasher: Hasher, teacher: bool) -> tuple[Hasher, dict[str, np.ndarray]]:
    """The hasher with its stage 1 observed (its 0/1 targets kept in the returned dict)
    or, with ``teacher``, replaced by ITQ's codes of the training features."""
    seen: dict[str, np.ndarray] = {}
    stage1: Callable[..., Any] = hasher._stage1  # type: ignore[attr-defined]

    def observe(*args: Any) -> Any:
        feats = args[-3]  # DSTGeH: (x, gen, progress); NRDH: (raw, xs, gen, progress)
        if teacher:
            bits = itq_bits(feats.numpy(), hasher.n_bits)
            import torch

            target = torch.from_numpy(bits.astype(np.float32))
            out = (target if hasher.name == "dstgeh" else 2 * target - 1, [])
        else:
            out = stage1(*args)
        seen["bits"] = (out[0].numpy() > (0.5 if hasher.name == "dstgeh" else 0.0))
        return out

    hasher._stage1 = observe  # type: ignore[attr-defined]
    return hasher, seen


def train_code_map(bits: np.ndarray, labels: np.ndarray) -> float:
    """mAP@1000 of codes of the training images among themselves (1,000 queries)."""
    from dhr_sdk.codes.packing import pack_bits

    codes = pack_bits(bits.astype(np.uint8))
    q = min(1000, len(codes) // 5)
    m = evaluate_retrieval(codes[:q], codes[q:], labels[:q], labels[q:], topk=(1000,))
    return float(m.map_at["1000"])


def bit_stats(bits: np.ndarray) -> dict[str, float]:
    """Distinct codes, mean |share of ones - 0.5| and mean |correlation| between bits."""
    b = bits.astype(np.float64)
    sd = b.std(axis=0)
    live = sd > 0
    corr = np.corrcoef(b[:, live].T) if live.sum() > 1 else np.ones((1, 1))
    off = corr[~np.eye(len(corr), dtype=bool)] if len(corr) > 1 else np.zeros(1)
    return {"distinct": int(np.unique(bits, axis=0).shape[0]),
            "imbalance": float(np.abs(b.mean(axis=0) - 0.5).mean()),
            "abs_corr": float(np.abs(off).mean()), "constant_bits": int((~live).sum())}


def results_path(hasher: str) -> Path:
    return RESULTS / f"ablation-{hasher}.json"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"rows": {}}


def store_row(path: Path, key: str, row: dict[str, Any]) -> None:
    """Merge one row into the results file under an exclusive lock (several variant lists
    may run side by side)."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stored = load(path)
        stored["rows"][key] = row
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)


def run(args: argparse.Namespace, argv: list[str]) -> None:
    prog = Progress()
    command = shlex.join(["python", "benchmarks/ablation.py", *argv])
    params = parse_key_values(args.backbone_param)
    data = demo_features(args.dataset, args.backbone, params, progress=prog)
    split = split_indices(len(data), SplitSpec(1000, None, None, args.seed, part="test"))
    train_labels = data.labels[split.train]
    base = f"{args.dataset}/{data.backbone}/{args.bits}/seed{args.seed}"
    path = results_path(args.hasher)
    wanted = args.variants.split(",") if args.variants else None
    todo: list[tuple[str, Hasher, bool]] = []
    for ref in REFERENCES:
        todo.append((f"ref {ref}", make_hasher(ref, args.bits, {}), False))
    for v in VARIANTS[args.hasher]:
        if wanted is None or v.key in wanted:
            todo.append((v.key, make_hasher(args.hasher, args.bits, v.params), v.key == TEACHER))
    for key, hasher, teacher in todo:
        seen: dict[str, np.ndarray] = {}
        if not key.startswith("ref "):
            hasher, seen = probed(hasher, teacher)
        start = time.perf_counter()
        res = evaluate_hasher(hasher, data, split, progress=prog)
        assert res.metrics is not None
        row: dict[str, Any] = {
            "dataset": args.dataset, "backbone": data.backbone,
            "backbone_params": data.backbone_params, "bits": args.bits, "seed": args.seed,
            "variant": key, "hasher": hasher.name, "params": res.params,
            "map_1000": res.metrics.map_at["1000"], "distinct_codes": res.distinct_codes,
            "fit_seconds": res.fit_seconds, "seconds": time.perf_counter() - start,
            "command": command, "load_average": os.getloadavg()[0]}
        bits = seen.get("bits")
        if key == "ref itq":
            bits = itq_bits(data.features[split.train], args.bits).astype(bool)
        if bits is not None:
            row["targets"] = {"train_map_1000": train_code_map(bits, train_labels),
                              **bit_stats(bits)}
        store_row(path, f"{base}/{key}", row)
        print(f"{key}: mAP@1000 {row['map_1000']:.4f}, {res.fit_seconds:.0f} s fit", flush=True)


def markdown(hasher: str) -> str:
    rows = load(results_path(hasher))["rows"]
    order = [v.key for v in VARIANTS[hasher]]
    variants = {v.key: v for v in VARIANTS[hasher]}
    lines = [f"# Ablation of {hasher.upper()}", "",
             f"Generated by `benchmarks/ablation.py` from `ablation-{hasher}.json`; do not "
             "edit by hand. mAP@1000 with the retrieval protocol of docs/evaluation.md "
             "(1,000 queries, the rest as database, min(5,000, database) training images "
             "from it), hasher seed 0. *Targets*: the stage-1 targets as codes of the "
             "training images (1,000 of them query the other training images; for ITQ its "
             "codes of the training set), their distinct codes, mean abs(share of ones − "
             "0.5) (imbalance) and mean abs(correlation) between bits. Shared 2-core "
             "machine: fit seconds depend on the load (1-minute load average in the last "
             "column).", ""]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows.values():
        g = f"{row['dataset']}, {row['backbone']}, {row['bits']} bits, split seed {row['seed']}"
        groups.setdefault(g, []).append(row)
    for g, grp in sorted(groups.items()):
        by = {r["variant"]: r for r in grp}
        default = by.get("default", {}).get("map_1000")
        lines += [f"## {g}", "", "| variant | what it tests | mAP@1000 | Δ vs default | "
                  "codes | targets mAP@1000 | targets codes | imbalance | mean abs corr | fit s | "
                  "load |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        keys = [f"ref {r}" for r in REFERENCES] + order
        for key in keys:
            r = by.get(key)
            if r is None:
                continue
            what = variants[key].what if key in variants else "reference, same split"
            delta = (f"{r['map_1000'] - default:+.3f}" if default is not None
                     and not key.startswith("ref ") and key != "default" else "")
            t = r.get("targets")
            tcells = (f"{t['train_map_1000']:.3f} | {t['distinct']} | {t['imbalance']:.3f} | "
                      f"{t['abs_corr']:.3f}" if t else " | | | ")
            lines.append(f"| {key} | {what} | {r['map_1000']:.3f} | {delta} | "
                         f"{r['distinct_codes']} | {tcells} | {r['fit_seconds']:.0f} | "
                         f"{r['load_average']:.1f} |")
        lines += ["", *findings(by), ""]
    return "\n".join(lines).rstrip() + "\n"


def findings(by: dict[str, dict[str, Any]]) -> list[str]:
    """What the rows of one group say, read off the numbers."""
    out: list[str] = []
    itq, default, teacher = by.get("ref itq"), by.get("default"), by.get(TEACHER)
    if itq and teacher:
        out.append(f"- Stage 2 taught ITQ's codes scores {teacher['map_1000']:.3f} against "
                   f"ITQ's own {itq['map_1000']:.3f}: the hash head reproduces the targets it "
                   "is given.")
    if itq and default and default.get("targets") and itq.get("targets"):
        d, i = default["targets"], itq["targets"]
        corr = "more" if d["abs_corr"] > i["abs_corr"] else "less"
        codes = "fewer" if d["distinct"] < i["distinct"] else "more"
        balance = "less" if d["imbalance"] > i["imbalance"] else "more"
        out.append(f"- The default's stage-1 targets score {d['train_map_1000']:.3f} as codes "
                   f"of the training images against ITQ's {i['train_map_1000']:.3f}; their "
                   f"bits are {corr} correlated (mean |corr| {d['abs_corr']:.3f} vs "
                   f"{i['abs_corr']:.3f}), {balance} balanced (imbalance "
                   f"{d['imbalance']:.3f} vs {i['imbalance']:.3f}) and {codes} codes are "
                   f"distinct ({d['distinct']} vs {i['distinct']}).")
    variants = [r for k, r in by.items() if not k.startswith("ref ") and k != TEACHER]
    if itq and variants:
        best = max(variants, key=lambda r: r["map_1000"])
        above = "above" if best["map_1000"] > itq["map_1000"] else "below"
        out.append(f"- Best of the {len(variants)} variants run: {best['variant']} "
                   f"{best['map_1000']:.3f}, {above} ITQ ({itq['map_1000']:.3f}).")
    return out


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if not args.only_markdown:
        run(args, argv)
    page = RESULTS / f"ablation-{args.hasher}.md"
    page.write_text(markdown(args.hasher))
    print(f"wrote {page}")


if __name__ == "__main__":
    main(sys.argv[1:])
