"""Ablation of a seed hasher's parts against its paper, on one dataset, backbone, length, seed.

One command per hasher (defaults: animal-mnist, 64 bits, split seed 0)::

    python benchmarks/ablation.py --hasher dstgeh --backbone ssl \
        -B weights=.dhr-cache/pretrain/animal-mnist.h5
    python benchmarks/ablation.py --hasher nrdh --backbone ssl \
        -B weights=.dhr-cache/pretrain/animal-mnist.h5
    python benchmarks/ablation.py --hasher lagnh --backbone ssl \
        -B weights=.dhr-cache/pretrain/animal-mnist.h5

Every variant (``VARIANTS``: one loss term or part off, one of the paper's
hyper-parameters moved within the paper's range, or one of the plugin's deviations from
the paper switched back) is fitted on the same training split of the same features and
measured with the retrieval protocol of ``benchmarks/retrieval.py`` (docs/evaluation.md;
mAP@1000 over 1,000 queries), next to LSH, PCAH and ITQ of the same run. A part without a
parameter is switched off by patching its function for the variant's fit and encoding
(``Variant.patches``). Per-hasher probes (``PROBES``) give two diagnostics. The *targets*
are scored as codes of the training images themselves (1,000 of them query the other
training images, mAP@1000; ITQ fitted on the training set is scored the same way):
DSTGeH's pseudo labels and the sign of NRDH's node representations (their stage 1), and
LAGNH's in-batch codes sgn(Z) of the training images (Eq. 8's B; LAGNH has one stage).
The ``teacher=itq`` variant gives the hasher ITQ's codes of the training set in place of
what it learns from: DSTGeH's and NRDH's stage 2 is trained on them instead of their own
stage 1, LAGNH takes them as its auxiliary semantics Y. LAGNH's ``tags=labels`` variant
(an oracle, not label-free) takes the ground-truth classes as Y.

Rows are merged into ``docs/results/ablation-<hasher>.json`` (keyed by dataset, backbone,
bits, seed and variant; a rerun replaces a row) and ``docs/results/ablation-<hasher>.md``
is regenerated from it. ``--only-markdown`` regenerates the page.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from dhr_sdk.core.interfaces import FitData, Hasher
from dhr_sdk.core.params import parse_key_values
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.evaluation.data import LabeledFeatures, demo_features
from dhr_sdk.evaluation.metrics import evaluate_retrieval
from dhr_sdk.evaluation.protocol import evaluate_hasher, make_hasher
from dhr_sdk.evaluation.split import SplitSpec, split_indices

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
REFERENCES = ("lsh", "pcah", "itq")
TEACHER = "teacher=itq"
ORACLE = "tags=labels"
DIAGNOSTICS = (TEACHER, ORACLE)  # rows that test a part with outside help, not a setting
LAGNH = "dhr_plugins.hashers.lagnh"


def label_tags(data: LabeledFeatures) -> LabeledFeatures:
    """The dataset with its ground-truth classes as tags (an oracle for LAGNH's Y)."""
    return replace(data, tags=data.labels.astype(np.float32))


def no_attention(x_bar: Any, y_bar: Any) -> tuple[Any, Any]:
    """Eq. (2) without the attention term: ``x_att = x̄`` (the paper's LAGNH-no-att)."""
    return x_bar, x_bar.new_zeros((x_bar.shape[0], y_bar.shape[0]))


def no_adversarial_loss(d_fake: Any) -> Any:
    """Eq. (10)'s generator term switched off (zero, keeping the graph of the step)."""
    return d_fake.sum() * 0.0


def summed(name: str, entries: Callable[..., int]) -> Callable[..., Any]:
    """LAGNH's loss ``name`` (a mean over its entries) as the paper's Frobenius sum."""
    def loss(*args: Any) -> Any:
        from dhr_plugins.hashers.lagnh import loss as lagnh_loss

        return getattr(lagnh_loss, name)(*args) * entries(*args)
    return loss


@dataclass(frozen=True)
class Variant:
    """One ablation row: params changed from the hasher's defaults and what that tests.

    ``patches`` (dotted name -> replacement, applied while the variant fits and encodes)
    switch off a part that has no parameter; ``data`` gives the variant other inputs
    (an oracle diagnostic)."""

    key: str
    params: dict[str, Any]
    what: str
    patches: tuple[tuple[str, Callable[..., Any]], ...] = ()
    data: Callable[[LabeledFeatures], LabeledFeatures] | None = None


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
    "lagnh": (
        Variant("default", {}, "the plugin's defaults (paper values where given; label-free "
                "tags: 1 k-means pseudo-tag + 3 visual words per image)"),
        Variant(TEACHER, {}, "diagnostic: auxiliary semantics Y = ITQ's codes (0/1) of the "
                "training set instead of the label-free tags"),
        Variant(ORACLE, {}, "diagnostic, not label-free: Y = the ground-truth classes (the "
                "paper's detector tags at their best)", data=label_tags),
        Variant("no L_GAN", {}, "Eq. (12) without the adversarial term (generator loss 0)",
                patches=((f"{LAGNH}.train.generator_adversarial_loss", no_adversarial_loss),)),
        Variant("no L_recons", {"lambda1": 0.0}, "Eq. (12) without the graph reconstruction "
                "(lambda1 0)"),
        Variant("no L_quan", {"lambda2": 0.0}, "Eq. (12) without the quantisation term "
                "(lambda2 0; the paper's range reaches 1e-5)"),
        Variant("no L_cl", {"lambda3": 0.0}, "Eq. (12) without the tag classification "
                "(lambda3 0; the paper's range reaches 1e-5)"),
        Variant("no attention", {}, "Eq. (2) x_att = x̄ (the paper's LAGNH-no-att)",
                patches=((f"{LAGNH}.net.attend", no_attention),
                         (f"{LAGNH}.anchor.attend", no_attention))),
        Variant("only S^a", {"mu": 0.0}, "Eq. (5) mu 0: the GCN graph is S^a alone (the "
                "paper's LAGNH-only-S^a)"),
        Variant("only S^v", {"mu": 100.0}, "Eq. (5) mu 100: S^a is ~1 % of the GCN graph "
                "(the paper's LAGNH-only-S^v)"),
        Variant("lambda1 10", {"lambda1": 10.0}, "Eq. (12) (paper 100; its Fig. 4 range "
                "10-1000)"),
        Variant("lambda1 1000", {"lambda1": 1000.0}, "as above"),
        Variant("lambda3 0.1", {"lambda3": 0.1}, "Eq. (12) (paper 1 on MS COCO, 0.1 on "
                "NUS-WIDE; range 1e-5-100)"),
        Variant("lambda3 10", {"lambda3": 10.0}, "as above"),
        Variant("pseudo-tags only", {"tag_source": "pseudo"}, "Y = 1 k-means pseudo-tag of "
                "128 per image (no visual words)"),
        Variant("visual words only", {"tag_source": "visual-words"}, "Y = 3 visual words of "
                "128 per image (no pseudo-tags)"),
        Variant("dense S^v", {"graph_neighbours": None}, "Eq. (3) dense Gaussian graph "
                "(paper; the plugin keeps 10 neighbours)"),
        Variant("raw S^a", {"normalise_tags": False}, "Eq. (4) raw inner product of the tags "
                "(paper; the plugin unit-normalises them)"),
        Variant("literal sums", {}, "Eqs. (8), (9), (11) summed over their entries (paper; "
                "the plugin averages)", patches=(
                    (f"{LAGNH}.train.reconstruction_loss",
                     summed("reconstruction_loss", lambda z, *_: z.shape[0] ** 2)),
                    (f"{LAGNH}.train.quantisation_loss",
                     summed("quantisation_loss", lambda z: z.numel())),
                    (f"{LAGNH}.train.classification_loss",
                     summed("classification_loss", lambda logits, _: logits.numel())))),
        Variant("300 epochs", {"epochs": 300}, "the paper's schedule (the plugin stops at 60)"),
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


def stage1_probe(hasher: Hasher, teacher: bool, signed: bool
                 ) -> tuple[Hasher, dict[str, np.ndarray]]:
    """DSTGeH/NRDH: the hasher with its stage 1 observed (its 0/1 targets kept in the
    returned dict) or, with ``teacher``, replaced by ITQ's codes of the training features
    (as 0/1, or as +-1 when ``signed``: NRDH's node representations are signed)."""
    seen: dict[str, np.ndarray] = {}
    stage1: Callable[..., Any] = hasher._stage1  # type: ignore[attr-defined]

    def observe(*args: Any) -> Any:
        feats = args[-3]  # DSTGeH: (x, gen, progress); NRDH: (raw, xs, gen, progress)
        if teacher:
            bits = itq_bits(feats.numpy(), hasher.n_bits)
            import torch

            target = torch.from_numpy(bits.astype(np.float32))
            out: Any = (2 * target - 1 if signed else target, [])
        else:
            out = stage1(*args)
        seen["bits"] = out[0].numpy() > (0.0 if signed else 0.5)
        return out

    hasher._stage1 = observe  # type: ignore[attr-defined]
    return hasher, seen


def lagnh_batch_codes(net: Any, x: np.ndarray, y: np.ndarray, cfg: Any) -> np.ndarray:
    """0/1 ``sgn(Z)`` of every training image inside a mini-batch graph as in training
    (Eq. 8's B), over one partition into training-size batches (own seed, so the fit's
    random stream is untouched)."""
    import torch
    from dhr_plugins.hashers._common.torch_utils import batches

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    bits = np.zeros((x.shape[0], net.gcn.gc2.out_features), dtype=bool)
    with torch.no_grad():
        for idx in batches(x.shape[0], cfg.batch_size, torch.Generator().manual_seed(0)):
            z = net(xt[idx], yt[idx], cfg.mu, cfg.sigma, cfg.normalise_tags, cfg.neighbours)
            bits[idx.numpy()] = z.numpy() > 0
    return bits


def lagnh_probe(hasher: Hasher, teacher: bool) -> tuple[Hasher, dict[str, np.ndarray]]:
    """LAGNH (one stage): its in-batch training codes (``bits``), its tags Y as multi-hot
    codes (``tags``) and its out-of-sample codes of the training images (``encoded``, the
    anchor-graph encoding every image gets) kept in the returned dict; with ``teacher``,
    ITQ's 0/1 codes of the training features are its tags Y."""
    import dhr_plugins.hashers.lagnh.train as lagnh_train

    seen: dict[str, np.ndarray] = {}
    fit, train = hasher.fit, lagnh_train.train

    def observed_train(net: Any, disc: Any, x: np.ndarray, y: np.ndarray, cfg: Any,
                       *rest: Any) -> Any:
        history = train(net, disc, x, y, cfg, *rest)
        seen["bits"] = lagnh_batch_codes(net, x, y, cfg)
        seen["tags"] = y > 0
        return history

    def observed_fit(data: FitData, progress: Progress = QUIET) -> Hasher:
        from dhr_sdk.codes.packing import unpack_bits

        if teacher:
            bits = itq_bits(data.features, hasher.n_bits)
            data = replace(data, tags=bits.astype(np.float32))
        with mock.patch.object(lagnh_train, "train", observed_train):
            fit(data, progress)
        seen["encoded"] = unpack_bits(hasher.encode(data.features), hasher.n_bits) > 0
        return hasher

    hasher.fit = observed_fit  # type: ignore[method-assign]
    return hasher, seen


@dataclass(frozen=True)
class Probe:
    """How the ablation observes one hasher: ``attach(hasher, teacher)`` returns it with
    its targets (0/1 codes of the training images) recorded into the returned dict and,
    with ``teacher``, ITQ's codes put in place of what it learns from; the strings name
    the targets, the teacher variant, its learner and further recorded codes on the page."""

    attach: Callable[[Hasher, bool], tuple[Hasher, dict[str, np.ndarray]]]
    targets: str
    teacher: str
    learner: str
    diagnostics: tuple[tuple[str, str], ...] = ()  # further codes it records: key, name


def two_stage(signed: bool) -> Probe:
    """DSTGeH's and NRDH's probe: stage 1 observed, or replaced for the teacher."""
    return Probe(functools.partial(stage1_probe, signed=signed), "stage-1 targets",
                 "Stage 2 taught ITQ's codes", "the hash head")


PROBES: dict[str, Probe] = {
    "dstgeh": two_stage(signed=False),
    "nrdh": two_stage(signed=True),
    "lagnh": Probe(lagnh_probe, targets="in-batch training codes sgn(Z)",
                   teacher="LAGNH with ITQ's codes as its tags", learner="its GCN",
                   diagnostics=(("tags", "its tags Y (multi-hot, Hamming ~ shared tags)"),
                                ("encoded", "its out-of-sample codes (anchor graph)"))),
}


def probed(hasher: Hasher, teacher: bool) -> tuple[Hasher, dict[str, np.ndarray]]:
    """The hasher with its targets observed (or, with ``teacher``, replaced by ITQ's)."""
    return PROBES[hasher.name].attach(hasher, teacher)


def train_code_map(bits: np.ndarray, labels: np.ndarray) -> float:
    """mAP@1000 of codes (any width) of the training images among themselves (1,000
    queries)."""
    from dhr_sdk.codes.packing import pack_bits

    pad = -bits.shape[1] % 8  # zero columns leave Hamming distances as they are
    codes = pack_bits(np.pad(bits.astype(np.uint8), ((0, 0), (0, pad))))
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
    todo: list[tuple[str, Hasher, Variant | None]] = []
    for ref in REFERENCES:
        todo.append((f"ref {ref}", make_hasher(ref, args.bits, {}), None))
    for v in VARIANTS[args.hasher]:
        if wanted is None or v.key in wanted:
            todo.append((v.key, make_hasher(args.hasher, args.bits, v.params), v))
    for key, hasher, variant in todo:
        seen: dict[str, np.ndarray] = {}
        vdata = data
        start = time.perf_counter()
        with contextlib.ExitStack() as stack:
            if variant is not None:
                hasher, seen = probed(hasher, variant.key == TEACHER)
                vdata = variant.data(data) if variant.data is not None else data
                for target, new in variant.patches:
                    stack.enter_context(mock.patch(target, new))
            res = evaluate_hasher(hasher, vdata, split, progress=prog)
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
        extra = {k: train_code_map(v, train_labels) for k, v in seen.items() if k != "bits"}
        if extra:
            row["diagnostics"] = extra
        store_row(path, f"{base}/{key}", row)
        print(f"{key}: mAP@1000 {row['map_1000']:.4f}, {res.fit_seconds:.0f} s fit", flush=True)


def markdown(hasher: str) -> str:
    rows = load(results_path(hasher))["rows"]
    order = [v.key for v in VARIANTS[hasher]]
    variants = {v.key: v for v in VARIANTS[hasher]}
    probe = PROBES[hasher]
    lines = [f"# Ablation of {hasher.upper()}", "",
             f"Generated by `benchmarks/ablation.py` from `ablation-{hasher}.json`; do not "
             "edit by hand. mAP@1000 with the retrieval protocol of docs/evaluation.md "
             "(1,000 queries, the rest as database, min(5,000, database) training images "
             f"from it), hasher seed 0. *Targets*: the {probe.targets} as codes of the "
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
        rank = {k: i for i, k in enumerate(order)}
        by = {r["variant"]: r for r in sorted(grp, key=lambda r: rank.get(r["variant"], -1))}
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
        lines += ["", *findings(by, probe), ""]
    return "\n".join(lines).rstrip() + "\n"


def findings(by: dict[str, dict[str, Any]], probe: Probe) -> list[str]:
    """What the rows of one group say, read off the numbers."""
    out: list[str] = []
    itq, default, teacher = by.get("ref itq"), by.get("default"), by.get(TEACHER)
    if itq and teacher:
        gap = itq["map_1000"] - teacher["map_1000"]
        verdict = (f"{probe.learner} reproduces the targets it is given" if gap < 0.005 else
                   f"{probe.learner} loses {gap:.3f} of the targets it is given")
        out.append(f"- {probe.teacher} scores {teacher['map_1000']:.3f} against "
                   f"ITQ's own {itq['map_1000']:.3f}: {verdict}.")
    if itq and default and default.get("targets") and itq.get("targets"):
        d, i = default["targets"], itq["targets"]
        corr = "more" if d["abs_corr"] > i["abs_corr"] else "less"
        codes = "fewer" if d["distinct"] < i["distinct"] else "more"
        balance = "less" if d["imbalance"] > i["imbalance"] else "more"
        out.append(f"- The default's {probe.targets} score {d['train_map_1000']:.3f} as codes "
                   f"of the training images against ITQ's {i['train_map_1000']:.3f}; their "
                   f"bits are {corr} correlated (mean |corr| {d['abs_corr']:.3f} vs "
                   f"{i['abs_corr']:.3f}), {balance} balanced (imbalance "
                   f"{d['imbalance']:.3f} vs {i['imbalance']:.3f}) and {codes} codes are "
                   f"distinct ({d['distinct']} vs {i['distinct']}).")
    for key, name in probe.diagnostics:
        base = f"{default['diagnostics'][key]:.3f}" if default else None
        scored = [f"{k} {v}" for k, r in by.items() if key in r.get("diagnostics", {})
                  and ((v := f"{r['diagnostics'][key]:.3f}") != base or k == "default")]
        if base and itq and itq.get("targets"):
            out.append(f"- {name[0].upper()}{name[1:]} as codes of the training images "
                       f"(scored as the targets; ITQ's {itq['targets']['train_map_1000']:.3f}; "
                       f"variants not listed score as the default): {', '.join(scored)}.")
    variants = [r for k, r in by.items() if not k.startswith("ref ") and k not in DIAGNOSTICS]
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
