"""The Ray executor's images/s with 1 and 2 actors against the raw backbone forward, same run.

    python benchmarks/ray_executor.py [--n 240] [--collections 2] [--image-size 224]
                                      [--backbone resnet18] [--repeat 1]

The built-in animal-mnist silhouettes are written as PNG folders (``--collections`` of
``--n`` images each); a hash model (ITQ, 32 bits) is fitted on their features once. Then,
with the backbone ``resnet18`` (``weights=none``: no weights can be downloaded here; the
forward costs the same) at ``--image-size``:

- *raw forward*: the network on already preprocessed in-memory tensors, here, in batches
  of ``--batch-size``, with torch's threads (the ceiling of one process);
- *local*: ``dhr encode`` of every collection with the local executor (decode, transform,
  forward, encode, write), DataLoader workers as the CLI's default;
- *ray, k actors*: the same with the Ray executor on a Ray started here with 2 CPUs,
  ``--actors k`` (Ray gives each actor one CPU: torch runs one thread per actor). The
  time covers starting the actors, the stream, and the per-store writer tasks; starting
  Ray itself is reported on its own line.

Every run writes fresh stores; the codes of every Ray run are checked equal to the local
run's. images/s = images ÷ wall seconds (best of ``--repeat``); ratio = ÷ raw forward.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dhr_sdk.core.registry import get_registry
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.offline.executor import Job, LocalExecutor
from dhr_sdk.offline.pipeline import FeatureOptions


def write_folders(root: Path, n: int, k: int) -> list[Path]:
    d = load_demo_arrays("animal-mnist")
    pick = np.random.default_rng(0).permutation(len(d))[:n * k]
    folders = []
    for c in range(k):
        folder = root / f"C{c}"
        folder.mkdir(parents=True)
        for i, j in enumerate(pick[c * n:(c + 1) * n]):
            Image.fromarray(d.images[j]).save(folder / f"{i:05d}.png")
        folders.append(folder)
    return folders


def raw_forward(bb: object, folders: list[Path], batch: int) -> float:
    """Seconds of the network alone on every image, preprocessed beforehand."""
    paths = sorted(p for f in folders for p in f.iterdir())
    transform = bb.transform()  # type: ignore[attr-defined]
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    net = bb.build("cpu")  # type: ignore[attr-defined]
    with torch.inference_mode():
        net(x[:batch])  # warm-up
        start = time.perf_counter()
        for b in range(0, len(x), batch):
            net(x[b:b + batch])
    return time.perf_counter() - start


def encode_all(ex: object, folders: list[Path], out: Path, model: HashModel,
               options: FeatureOptions) -> tuple[float, list[np.ndarray]]:
    jobs = [Job(f, out / f"{f.name}.h5") for f in folders]
    start = time.perf_counter()
    recs = ex.encode(jobs, model, options=options)  # type: ignore[attr-defined]
    return time.perf_counter() - start, [r.codes for r in recs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=240, help="images per collection")
    ap.add_argument("--collections", type=int, default=2)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--shard-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    reg = get_registry()
    params = {} if args.backbone == "pixels" else {"weights": "none",
                                                    "image_size": args.image_size}
    bb = reg.create("backbone", args.backbone, params)
    options = FeatureOptions(batch_size=args.batch_size, workers=2)
    total = args.n * args.collections
    with tempfile.TemporaryDirectory(prefix="dhr-bench-ray-") as tmp:
        root = Path(tmp)
        folders = write_folders(root / "data", args.n, args.collections)
        model = LocalExecutor().fit(folders, root / "model.h5",
                                    reg.create("hasher", "itq", {"n_bits": 32}), bb,
                                    cache=False, options=options)
        rows: dict[str, float] = {"raw forward": min(
            raw_forward(bb, folders, args.batch_size) for _ in range(args.repeat))}
        local_codes: list[np.ndarray] = []
        best = float("inf")
        for r in range(args.repeat):
            sec, local_codes = encode_all(LocalExecutor(), folders, root / f"local{r}", model,
                                          options)
            best = min(best, sec)
        rows["local executor"] = best
        import ray

        from dhr_sdk.offline.ray_executor import RayExecutor

        start = time.perf_counter()
        ray.init(address="local", num_cpus=2, object_store_memory=300 * 2**20,
                 include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - start
        equal = True
        try:
            for actors in (1, 2):
                best = float("inf")
                for r in range(args.repeat):
                    ex = RayExecutor(actors=actors, shard_size=args.shard_size)
                    sec, codes = encode_all(ex, folders, root / f"ray{actors}-{r}", model,
                                            options)
                    equal &= all(np.array_equal(a, b)
                                 for a, b in zip(codes, local_codes, strict=True))
                    best = min(best, sec)
                rows[f"ray, {actors} actor{'s' if actors > 1 else ''}"] = best
        finally:
            ray.shutdown()
    load = os.getloadavg()[0]
    raw = total / rows["raw forward"]
    print(f"{args.backbone} {args.image_size}², {args.collections} collections × {args.n} "
          f"images, batch {args.batch_size}, shards of {args.shard_size}; "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"{'run':<18} {'seconds':>8} {'images/s':>9} {'× raw forward':>14}")
    for name, sec in rows.items():
        ips = total / sec
        print(f"{name:<18} {sec:>8.2f} {ips:>9.1f} {ips / raw:>14.2f}")
    print(f"starting Ray here: {ray_start:.1f} s (not in the rows)")
    print(f"codes of every Ray run equal to the local run's: {equal}")


if __name__ == "__main__":
    main()
