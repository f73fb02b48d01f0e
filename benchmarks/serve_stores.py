"""The stores ``benchmarks/serve.py`` serves, built with the ``dhr`` CLI and cached.

- ``codes/c0.h5`` .. ``c7.h5``: 8 collections of 100,000 clustered 64-bit codes (one
  clustered draw of 800,020 codes cut in 8; the last 20 codes, held out, are the
  requirement), through ``dhr import-codes``, ``dhr graph -p radius=2``, ``dhr rank``;
- ``codes/big.h5``: one collection of 1,000,000 clustered 64-bit codes, likewise (its own
  draw of 1,000,020 codes; the last 20 are its requirement);
- ``images/CDS1.h5`` .. ``CDS8.h5``: the built-in demo collections (``dhr demo-data``: 8 x
  1,000 real animal silhouettes), one ITQ 32-bit model fitted on all of them with the
  ``pixels`` backbone (``dhr fit``, ``dhr encode``, graph, rank); the requirement is the 20
  held-out images of the first requirement class.

Clustered codes (``dhr_sdk.testing.clustered_codes``: random centres, each bit flipped with
probability ``FLIP``) stand in for real hash codes, as in ``benchmarks/graph_rank.py``.
Everything lands under ``ROOT`` (default ``build/serve-bench``) with a manifest of the
parameters; a rerun with the same parameters reuses it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent
N_BITS = 64
CENTRES_PER_100K = 200
FLIP = 0.03
REQUIREMENT = 20
SMALL, N_SMALL, BIG = 100_000, 8, 1_000_000
IMAGE_BITS = 32


@dataclass
class BenchStores:
    """Paths of the served stores and the requirement of each scenario."""

    small: list[Path]
    big: Path
    images: list[Path]
    small_codes: list[str]
    big_codes: list[str]
    requirement_images: list[Path]


def _dhr(*args: str | Path) -> None:
    subprocess.run([str(BIN / "dhr"), *map(str, args), "-q"], check=True,
                   stdout=subprocess.DEVNULL)


def _graph_rank(store: Path) -> None:
    _dhr("graph", store, "-p", "radius=2")
    _dhr("rank", store, "--ranker", "cpr", "-p", "solver=closed")


def _code_stores(out: Path, name: str, n: int, parts: int, seed: int) -> list[str]:
    """``parts`` stores of ``n / parts`` clustered codes each; returns the requirement (hex)."""
    from dhr_sdk.testing import clustered_codes

    centres = max(1, n * CENTRES_PER_100K // SMALL)
    codes = clustered_codes(n + REQUIREMENT, N_BITS, centres, FLIP, seed=seed)
    step = n // parts
    for i in range(parts):
        stem = name if parts == 1 else f"{name}{i}"
        npy = out / f"{stem}.npy"
        np.save(npy, codes[i * step:(i + 1) * step])
        _dhr("import-codes", npy, out / f"{stem}.h5", "--overwrite")
        npy.unlink()
        _graph_rank(out / f"{stem}.h5")
        print(f"# built {stem}.h5 ({step:,} codes)", flush=True)
    return [c.tobytes().hex() for c in codes[n:]]


def _image_stores(root: Path) -> list[Path]:
    data, out = root / "data", root / "images"
    _dhr("demo-data", data, "--overwrite", "--multilabel-size", "0")
    folders = sorted((data / "collections").glob("CDS*"))
    _dhr("fit", *folders, "-o", root / "model.h5", "--hasher", "itq", "--backbone", "pixels",
         "-p", f"n_bits={IMAGE_BITS}", "--seed", "0")
    out.mkdir(exist_ok=True)
    _dhr("encode", *folders, "--model", root / "model.h5", "--out-dir", out)
    for store in sorted(out.glob("*.h5")):
        _graph_rank(store)
    print(f"# built {len(folders)} image stores", flush=True)
    return sorted(out.glob("*.h5"))


def build(root: Path) -> BenchStores:
    """The benchmark's stores under ``root``, built once (see the module doc)."""
    params = {"n_bits": N_BITS, "centres_per_100k": CENTRES_PER_100K, "flip": FLIP,
              "requirement": REQUIREMENT, "small": SMALL, "n_small": N_SMALL, "big": BIG,
              "image_bits": IMAGE_BITS, "version": 1}
    manifest = root / "manifest.json"
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved["params"] == params:
            return _stores(root, saved)
    codes = root / "codes"
    codes.mkdir(parents=True, exist_ok=True)
    saved = {"params": params,
             "small_codes": _code_stores(codes, "c", SMALL * N_SMALL, N_SMALL, seed=1),
             "big_codes": _code_stores(codes, "big", BIG, 1, seed=2)}
    _image_stores(root)
    manifest.write_text(json.dumps(saved))
    return _stores(root, saved)


def _stores(root: Path, saved: dict[str, list[str]]) -> BenchStores:
    req = sorted(p for p in (root / "data" / "requirements").iterdir() if p.is_dir())[0]
    return BenchStores([root / "codes" / f"c{i}.h5" for i in range(N_SMALL)],
                       root / "codes" / "big.h5", sorted((root / "images").glob("*.h5")),
                       saved["small_codes"], saved["big_codes"],
                       sorted(req.glob("*.png"))[:REQUIREMENT])
