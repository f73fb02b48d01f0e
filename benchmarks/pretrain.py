"""Pretrained (``dhr pretrain``, SimCLR) features against raw pixels, for every hasher.

One command::

    python benchmarks/pretrain.py

1. pretrains one backbone per built-in set on that set's images (labels never enter),
   into ``.dhr-cache/pretrain/<set>.h5`` (the default schedule: ``convnet-s2``, 20
   epochs, 1 thread; 28², flips for the animal sets; the multi-label canvases: object-scale
   views, ``SCHEDULE``, and max-pooled features, ``SSL_PARAMS``; resumed if present;
   ``--max-minutes`` bounds each run and ``--no-pretrain`` uses the files as they are;
   each file records how many epochs it got);
2. runs ``benchmarks/retrieval.py`` for each set, seed and backbone (``ssl`` with that
   file, and ``pixels``) into ``docs/results/retrieval-pretrain-<backbone>-seed<S>.json``;
   each ``ssl`` row records the backbone file it measured (SHA-256 of the file and of its
   weights, epochs, loss), and rows of other weights (a retrained backbone that did not
   reproduce them) are dropped from the files this run writes and never shown on the page
   (they measured weights that no longer exist); a retraining that reproduces the weights
   keeps them (its file differs only by its creation time);
3. writes ``docs/results/pretrain.md``: mAP@1000 per hasher and code length, mean ± sd
   over the seeds that were run, pixels vs pretrained, and the issue's targets checked.

``--only-markdown`` regenerates the page from the JSON files.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dhr_sdk.model.ssl_file import SSLBackboneFile

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
CACHE = Path(".dhr-cache") / "pretrain"
PAGE = RESULTS / "pretrain.md"
#: Mirror images mean the same animal, not the same digit.
FLIP = {"animal-mnist": True, "animal-multilabel": True, "mnist": False}
#: The multi-label canvases (56², up to four 28² animals) are pretrained on object-scale
#: views — crops of 15-35 % of the canvas, resampled to 28², the second view of an image
#: within 10 % of the first one's centre, so both show the same animal — for 60 epochs,
#: and their features max-pooled at the canvas's own 56²: an animal anywhere in it counts
#: (docs/data.md, "Several objects per image").
SCHEDULE: dict[str, dict[str, Any]] = {
    "animal-multilabel": {"image_size": 56, "view_size": 28, "crop_scale": 0.15,
                          "crop_max": 0.35, "pair_shift": 0.1, "epochs": 60}}
SSL_PARAMS: dict[str, dict[str, Any]] = {"animal-multilabel": {"pooling": "max"}}
ORDER = ("lsh", "pcah", "itq", "nrdh", "dstgeh", "lagnh", "gah")
SEED_HASHERS = ("nrdh", "dstgeh", "lagnh", "gah")
PIXELS = {"grayscale": True, "normalise": "unit", "size": 28}
EARLIER: set[tuple[str, str, str, int]] = set()  # pixel rows taken from retrieval.json
LEGACY: set[str] = set()  # sets shown with ssl rows that predate recording the file


def retrieval() -> ModuleType:
    """benchmarks/retrieval.py, this script's sibling (its folder is on sys.path)."""
    import retrieval as module

    return module


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="animal-mnist,mnist,animal-multilabel")
    ap.add_argument("--hashers", default=",".join(ORDER))
    ap.add_argument("--bits", default="32,64")
    ap.add_argument("--seeds", default="0,1,2", help="Split seeds (comma list).")
    ap.add_argument("--backbones", default="ssl,pixels", help="ssl and/or pixels.")
    ap.add_argument("-P", "--pretrain-param", action="append", default=[],
                    metavar="KEY=VALUE", help="dhr pretrain param (repeatable).")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="Time budget of each pretraining run (resumable).")
    ap.add_argument("--no-pretrain", action="store_true",
                    help="Use the cached backbone files as they are (no further epochs).")
    ap.add_argument("--only-markdown", action="store_true")
    return ap.parse_args(argv)


def weights_file(name: str, pairs: list[str], max_minutes: float | None,
                 train: bool = True) -> Path:
    """The set's pretrained backbone file, trained (or resumed) here unless ``train`` is
    false and the file exists."""
    from dhr_sdk.core.params import build_params, parse_key_values
    from dhr_sdk.core.progress import Progress
    from dhr_sdk.datasets.demo import load_demo_arrays
    from dhr_sdk.offline.pretrain import PretrainParams, pretrain
    from dhr_sdk.offline.pretrain.images import prepare_images

    path = CACHE / f"{name}.h5"
    if not train and path.exists():
        return path
    values = {"image_size": 28, "flip": FLIP[name], **SCHEDULE.get(name, {}),
              **parse_key_values(pairs)}
    p = build_params(PretrainParams, values, "pretrain")
    x, digest = prepare_images(load_demo_arrays(name).images, p.image_size, p.channels)
    CACHE.mkdir(parents=True, exist_ok=True)
    res = pretrain(x, path, p, resume=True, data_digest=digest, max_minutes=max_minutes,
                   progress=Progress())
    print(f"{name}: {res.epochs_done} epoch(s), loss {res.loss}, {res.seconds:.0f} s here")
    return path


def results_file(backbone: str, seed: int) -> Path:
    return RESULTS / f"retrieval-pretrain-{backbone}-seed{seed}.json"


def weights_digest(r: SSLBackboneFile) -> str:
    """SHA-256 of what a backbone file's features depend on: architecture, image size,
    channels and the encoder's arrays — not the file's bytes, which also hold its creation
    time, so that a retraining that reproduces the weights (same images, params, seed and
    threads) keeps the rows measured with them."""
    import hashlib

    h = hashlib.sha256(json.dumps([r.arch, r.image_size, r.channels]).encode())
    for name in sorted(r.encoder):
        a = r.encoder[name]
        h.update(json.dumps([name, str(a.dtype), list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def same_backbone(recorded: dict[str, Any] | None, current: dict[str, Any] | None) -> bool:
    """Whether a row's recorded backbone file is ``current``: the same file, or the same
    weights (rows recorded before the weights digest existed need the same file)."""
    if recorded is None or current is None:
        return recorded is current
    if recorded.get("sha256") == current.get("sha256"):
        return True
    w = recorded.get("weights_sha256")
    return w is not None and w == current.get("weights_sha256")


def backbone_summary(path: Path) -> dict[str, Any]:
    """What an ``ssl`` row records of the backbone file it measured."""
    from dhr_sdk.core.digest import file_digest
    from dhr_sdk.model.ssl_file import read_ssl_file

    r = read_ssl_file(path)
    return {"sha256": file_digest(path), "weights_sha256": weights_digest(r),
            "arch": r.arch, "width": r.params.get("width"),
            "feature_dim": r.feature_dim, "epochs_done": r.epochs_done,
            "epochs": r.params["epochs"], "final_loss": r.loss[-1], "n_images": r.n_images,
            "data_digest": r.data_digest, "params": r.params}


def run(args: argparse.Namespace, argv: list[str]) -> None:
    """Features once per set and backbone, then every seed's split; rows already in a
    seed's results file are not run again."""
    from dhr_sdk.cli.common import shared_params
    from dhr_sdk.core.progress import Progress
    from dhr_sdk.evaluation.data import demo_features
    from dhr_sdk.evaluation.protocol import hasher_grid, run_evaluation
    from dhr_sdk.evaluation.spec import MetricSpec
    from dhr_sdk.evaluation.split import SplitSpec

    bench, prog = retrieval(), Progress()
    command = shlex.join(["python", "benchmarks/pretrain.py", *argv])
    hashers = list(shared_params("hasher", args.hashers.split(","), [], None).items())
    bits = [int(b) for b in args.bits.split(",")]
    for name in args.dataset.split(","):
        path = weights_file(name, args.pretrain_param, args.max_minutes,
                            not args.no_pretrain) if "ssl" in args.backbones else None
        for backbone in args.backbones.split(","):
            params = ({"weights": str(path), **SSL_PARAMS.get(name, {})}
                      if backbone == "ssl" else {})
            current = backbone_summary(path) if backbone == "ssl" and path else None

            def stale(row: dict[str, Any], name: str = name,
                      current: dict[str, Any] | None = current) -> bool:
                return (current is not None and row["dataset"]["name"] == name
                        and not same_backbone(row["backbone"].get("file"), current))

            feats = None
            for seed in [int(s) for s in args.seeds.split(",")]:
                out = results_file(backbone, seed)
                have = {k for k, row in bench.load(out)["runs"].items() if not stale(row)}
                todo = [(h, p) for h, p in hashers
                        if any(f"{name}/{h}/{b}" not in have for b in bits)]
                if not todo:
                    continue
                start = time.perf_counter()
                feats = feats or demo_features(name, backbone, params, progress=prog)
                report = run_evaluation(feats, hasher_grid(todo, bits),
                                        SplitSpec(1000, None, None, seed, part="test"),
                                        MetricSpec(), prog, catch=(Exception,))
                rows = bench.rows_of(report, command)
                for row in rows.values():
                    if current is not None:
                        row["backbone"] = {**row["backbone"], "file": current}
                data = bench.merge_rows(out, rows, drop=stale)
                out.with_suffix(".md").write_text(bench.markdown(data, out.name))
                print(f"{name} {backbone} seed {seed}: {time.perf_counter() - start:.0f} s",
                      flush=True)


def _rows(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["runs"].values()) if path.exists() else []


def collect() -> dict[tuple[str, str, str, int], dict[int, float]]:
    """mAP@1000 by (dataset, backbone, hasher, bits) and split seed. Pixel rows missing from
    this benchmark's files come from ``retrieval.json`` (same protocol and seed, an earlier
    run of benchmarks/retrieval.py; marked † on the page)."""
    out: dict[tuple[str, str, str, int], dict[int, float]] = {}
    files = sorted(RESULTS.glob("retrieval-pretrain-*-seed*.json"))
    protocols = set()
    files_now = current_backbones()
    for f in files:
        for row in _rows(f):
            res = row["result"]
            if row["backbone"]["name"] == "ssl":
                now = files_now.get(row["dataset"]["name"])
                if not same_backbone(row["backbone"].get("file"), now):
                    continue
                if now is None:
                    LEGACY.add(row["dataset"]["name"])
            protocols.add(json.dumps(row["protocol"], sort_keys=True))
            if res["metrics"] is not None:
                key = (row["dataset"]["name"], row["backbone"]["name"], res["hasher"],
                       res["n_bits"])
                out.setdefault(key, {})[row["seed"]] = res["metrics"]["map_at"]["1000"]
    for row in _rows(RESULTS / "retrieval.json"):
        res = row["result"]
        key = (row["dataset"]["name"], "pixels", res["hasher"], res["n_bits"])
        if (row["backbone"]["name"] == "pixels" and row["backbone"]["params"] == PIXELS
                and json.dumps(row["protocol"], sort_keys=True) in protocols
                and res["metrics"] is not None and row["seed"] not in out.get(key, {})):
            out.setdefault(key, {})[row["seed"]] = res["metrics"]["map_at"]["1000"]
            EARLIER.add(key)
    return out


def current_backbones() -> dict[str, dict[str, Any]]:
    """Per set, the backbone file the page reports: the cached file when it is there,
    else the one of the newest ``ssl`` row (rows of other files are left out)."""
    newest: dict[str, tuple[str, dict[str, Any]]] = {}
    for f in sorted(RESULTS.glob("retrieval-pretrain-ssl-seed*.json")):
        for row in _rows(f):
            info = row["backbone"].get("file")
            name = row["dataset"]["name"]
            if info and (name not in newest or row["created"] > newest[name][0]):
                newest[name] = (row["created"], info)
    out = {name: info for name, (_, info) in newest.items()}
    for path in sorted(CACHE.glob("*.h5")):
        if path.stem in out:
            out[path.stem] = backbone_summary(path)
    return out


def chance(dataset: str) -> float | None:
    for f in sorted(RESULTS.glob("retrieval-pretrain-*-seed*.json")):
        for row in json.loads(f.read_text())["runs"].values():
            if row["dataset"]["name"] == dataset and row["result"]["metrics"]:
                return float(row["result"]["metrics"]["pr_curve"]["precision"][-1])
    return None


def _cell(key: tuple[str, str, str, int], got: dict[Any, dict[int, float]]) -> str:
    values = list(got.get(key, {}).values())
    if not values:
        return "—"
    sd = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
    mark = "†" if key in EARLIER else ""
    return f"{statistics.mean(values):.3f}{sd} ({len(values)}){mark}"


def changed_params(params: dict[str, Any]) -> str:
    """The pretraining params of a file that differ from ``dhr pretrain``'s defaults."""
    from dhr_sdk.core.params import build_params
    from dhr_sdk.offline.pretrain import PretrainParams

    default = build_params(PretrainParams, {}, "dhr pretrain").model_dump(mode="json")
    diff = {k: v for k, v in sorted(params.items()) if k in default and default[k] != v}
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in diff.items()) or "defaults"


def backbone_lines() -> list[str]:
    lines = ["| set | arch | feature | epochs done / planned | final loss | images | "
             "params beyond the defaults | data digest | weights SHA-256 | file SHA-256 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in sorted(current_backbones().items()):
        lines.append(f"| {name} | {r['arch']} (width {r['width']}) | {r['feature_dim']}-d | "
                     f"{r['epochs_done']} / {r['epochs']} | {r['final_loss']:.3f} | "
                     f"{r['n_images']} | {changed_params(r['params'])} | "
                     f"`{r['data_digest'][:12]}` | {_short(r.get('weights_sha256'))} | "
                     f"`{r['sha256'][:12]}` |")
    for name in sorted(LEGACY):
        lines.append(f"| {name} | an earlier file, not kept: its rows predate recording the "
                     "file (its epochs and loss: this page's git history) | | | | | | | | |")
    return lines


def _short(digest: str | None) -> str:
    """A digest's first 12 hex digits, or a dash for rows recorded before it existed."""
    return f"`{digest[:12]}`" if digest else "—"


def markdown() -> str:
    got = collect()
    mean = {k: statistics.mean(v.values()) for k, v in got.items()}
    lines = ["# Pretrained (SimCLR) features vs pixels", "",
             "Generated by `benchmarks/pretrain.py` from "
             "`retrieval-pretrain-<backbone>-seed<S>.json` (rows of `benchmarks/retrieval.py`,"
             " same protocol: docs/evaluation.md); do not edit by hand. mAP@1000, mean ± sd "
             "over split seeds (number of seeds in brackets; † = seed 0 pixel row of an "
             "earlier `benchmarks/retrieval.py` run, retrieval.json, same protocol). `ssl` = "
             "the set's own backbone pretrained by `dhr pretrain` on its images without "
             "labels (below); `pixels` = 28×28 raw pixels. Shared 2-core CPU machine, "
             "heavily loaded by other jobs while these rows ran (times not comparable).", "",
             "## The backbones", "", *backbone_lines(), "",
             "The assessment benchmark on the files above "
             "(`benchmarks/resource_allocation.py --variant ssl --backbone ssl ...`, ITQ-32, "
             "seeds 0-2): [assessment-calibration-ssl.md](assessment-calibration-ssl.md); "
             "pixels against ssl: docs/data.md.", ""]
    for dataset in sorted({k[0] for k in got}):
        c = chance(dataset)
        lines += [f"## {dataset}", ""]
        if c is not None:
            lines += [f"Chance level (share of relevant database items): {c:.3f}.", ""]
        bits = [b for b in (32, 64) if any(k[0] == dataset and k[3] == b for k in got)]
        head = ["hasher"] + [f"{b} bits {bb}" for b in bits for bb in ("pixels", "ssl")]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for h in ORDER:
            cells = [_cell((dataset, bb, h, b), got) for b in bits
                     for bb in ("pixels", "ssl")]
            lines.append(f"| {h} | " + " | ".join(cells) + " |")
        lines += ["", *target_lines(dataset, mean, c), ""]
    return "\n".join(lines).rstrip() + "\n"


def target_lines(dataset: str, mean: dict[tuple[str, str, str, int], float],
                 c: float | None) -> list[str]:
    out = []
    itq_px = mean.get((dataset, "pixels", "itq", 64))
    itq_ssl = mean.get((dataset, "ssl", "itq", 64))
    if itq_px and itq_ssl:
        ratio = itq_ssl / itq_px
        out.append(f"- ITQ-64 pretrained / pixels: {ratio:.2f}× (target ≥ 1.2×: "
                   f"{'met' if ratio >= 1.2 else 'missed'}).")
    lsh = mean.get((dataset, "ssl", "lsh", 64))
    for h in SEED_HASHERS:
        v = mean.get((dataset, "ssl", h, 64))
        if v is None or itq_ssl is None or lsh is None:
            continue
        ok = v > itq_ssl and v > lsh
        out.append(f"- {h.upper()}-64 on ssl {v:.3f} vs ITQ {itq_ssl:.3f}, LSH {lsh:.3f}: "
                   f"{'above both' if ok else 'NOT above both'}.")
    if c is not None and itq_ssl is not None:
        out.append(f"- ITQ-64 on ssl is {itq_ssl / c:.2f}× chance.")
    return out


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if not args.only_markdown:
        print("command:", shlex.join(["python", "benchmarks/pretrain.py", *argv]))
        run(args, argv)
    PAGE.write_text(markdown())
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main(sys.argv[1:])
