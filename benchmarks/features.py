"""Feature extraction pipeline vs raw forward speed of the same backbone, same run.

    python benchmarks/features.py [--n 2000] [--workers 2] [--threads 2] [--repeat 3]

For each backbone: a folder of real 28×28 PNGs (animal-mnist) is written once; then
- *raw forward*: the network on in-memory, already preprocessed tensors (batches of
  ``--batch-size``), i.e. the speed ceiling;
- *in-memory*: ``features_from_arrays`` (the backbone's transform on in-memory images +
  forward, no files);
- *pipeline*: ``extract_collection`` on the folder (listing, PNG decoding in DataLoader
  workers, transform, forward, writing the store), with ``recompute=True``.
Best of ``--repeat`` runs, interleaved. Overhead = raw images/s ÷ pipeline images/s − 1,
on wall-clock time and on CPU time (main process, all threads, plus the DataLoader worker
processes): on a machine shared with other jobs the wall-clock ratio is noisy, while the
CPU-time ratio measures the pipeline's extra work.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dhr_sdk.core.interfaces import Backbone
from dhr_sdk.core.registry import get_registry
from dhr_sdk.data.collection import Collection
from dhr_sdk.data.features import extract_collection, features_from_arrays
from dhr_sdk.datasets.demo import load_demo_arrays

#: (backbone, params, share of --n images used): the 224² default runs on fewer images.
CONFIGS: list[tuple[str, dict[str, object], float]] = [
    ("pixels", {"size": 28}, 1.0),
    ("resnet18", {"weights": "none", "image_size": 32}, 1.0),
    ("resnet18", {"weights": "none", "image_size": 64}, 1.0),
    ("resnet18", {"weights": "none", "image_size": 224}, 0.125),
]


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    w, c = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - w, cpu_seconds() - c


def raw_forward(bb: Backbone, images: np.ndarray, batch: int) -> Callable[[], None]:
    """The network alone on preprocessed in-memory tensors (transform applied beforehand)."""
    transform = bb.transform()
    x = torch.stack([transform(Image.fromarray(im).convert("RGB")) for im in images])
    net = bb.build("cpu")

    def run() -> None:
        with torch.inference_mode():
            for s in range(0, len(x), batch):
                net(x[s:s + batch])
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="images per backbone")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the forward")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="run only configs whose label contains this")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    images = load_demo_arrays("animal-mnist").images
    images = images[np.random.default_rng(0).permutation(len(images))[:args.n]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "imgs"
        root.mkdir()
        for i, im in enumerate(images):
            Image.fromarray(im).save(root / f"{i:05d}.png")
        col = Collection.from_folder(root)
        for name, params, share in CONFIGS:
            n = max(1, int(args.n * share))
            label = f"{name} " + " ".join(f"{k}={v}" for k, v in params.items()) + f" (n={n})"
            if args.only not in label:
                continue
            bb = get_registry().create("backbone", name, params)
            sub = Collection.from_paths(col.paths[:n], root=root)
            raw = raw_forward(bb, images[:n], args.batch_size)

            def in_memory(bb: Backbone = bb, n: int = n) -> None:
                features_from_arrays(images[:n], bb, batch_size=args.batch_size)

            def pipeline(bb: Backbone = bb, n: int = n, sub: Collection = sub) -> None:
                extract_collection(Path(tmp) / f"s{n}.h5", sub, bb,
                                   batch_size=args.batch_size, workers=args.workers,
                                   recompute=True)

            runs: dict[str, list[tuple[float, float]]] = {"raw": [], "mem": [], "pipe": []}
            for _ in range(args.repeat):  # interleaved, so load changes hit all three
                runs["raw"].append(timed(raw))
                runs["mem"].append(timed(in_memory))
                runs["pipe"].append(timed(pipeline))
            wall = {k: n / min(w for w, _ in v) for k, v in runs.items()}
            cpu = {k: min(c for _, c in v) / n * 1e3 for k, v in runs.items()}
            rows.append((label, wall["raw"], wall["mem"], wall["pipe"],
                         wall["raw"] / wall["pipe"] - 1, cpu["raw"], cpu["pipe"],
                         cpu["pipe"] / cpu["raw"] - 1))
    head = ("backbone", "raw forward img/s", "in-memory img/s", "pipeline img/s",
            "wall overhead", "raw CPU ms/img", "pipeline CPU ms/img", "CPU overhead")
    print(f"n={args.n} workers={args.workers} threads={args.threads} "
          f"batch={args.batch_size} repeat={args.repeat}")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, r, m, p, o, cr, cp, co in rows:
        print(f"| {label} | {r:,.0f} | {m:,.0f} | {p:,.0f} | {o:+.0%} | {cr:.3f} | {cp:.3f} "
              f"| {co:+.0%} |")


if __name__ == "__main__":
    main()
