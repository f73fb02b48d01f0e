"""Feature extraction pipeline vs raw forward speed of the same backbone, same run.

    python benchmarks/features.py [--n 2000] [--workers 2] [--threads 2] [--repeat 3]

For each backbone: a folder of real 28×28 PNGs (animal-mnist) is written once; then
- *raw forward*: the network on in-memory, already preprocessed tensors (batches of
  ``--batch-size``), i.e. the speed ceiling;
- *in-memory*: ``features_from_arrays`` (the backbone's transform on in-memory images +
  forward, no files);
- *pipeline*: ``extract_collection`` on the folder (listing, PNG decoding in DataLoader
  workers, transform, forward, writing the store), with ``recompute=True``.
Best of ``--repeat`` runs, interleaved. Overhead = raw images/s ÷ pipeline images/s − 1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dhr_sdk.data.collection import Collection
from dhr_sdk.data.demo import load_demo_arrays
from dhr_sdk.data.features import extract_collection, features_from_arrays
from dhr_sdk.interfaces import Backbone
from dhr_sdk.plugins import get_registry

CONFIGS: list[tuple[str, dict[str, object]]] = [
    ("pixels", {"size": 28}),
    ("resnet18", {"weights": "none", "image_size": 32}),
    ("resnet18", {"weights": "none", "image_size": 64}),
]


def best(fn: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def raw_forward(bb: Backbone, images: np.ndarray, batch: int) -> Callable[[], None]:
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
        for name, params in CONFIGS:
            bb = get_registry().create("backbone", name, params)
            raw = raw_forward(bb, images, args.batch_size)
            t_raw, t_mem, t_pipe = [], [], []
            for _ in range(args.repeat):  # interleaved, so load changes hit all three
                t_raw.append(best(raw, 1))
                t_mem.append(best(lambda bb=bb: features_from_arrays(
                    images, bb, batch_size=args.batch_size), 1))
                t_pipe.append(best(lambda bb=bb: extract_collection(
                    Path(tmp) / "s.h5", col, bb, batch_size=args.batch_size,
                    workers=args.workers, recompute=True), 1))
            r, m, p = (args.n / min(t) for t in (t_raw, t_mem, t_pipe))
            label = f"{name} " + " ".join(f"{k}={v}" for k, v in params.items())
            rows.append((label, r, m, p, r / p - 1))
    head = ("backbone", "raw forward img/s", "in-memory img/s", "pipeline img/s", "overhead")
    print(f"n={args.n} workers={args.workers} threads={args.threads} "
          f"batch={args.batch_size} repeat={args.repeat}")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, r, m, p, o in rows:
        print(f"| {label} | {r:,.0f} | {m:,.0f} | {p:,.0f} | {o:+.0%} |")


if __name__ == "__main__":
    main()
