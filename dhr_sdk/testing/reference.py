"""Naive reference implementations for tests: brute-force Hamming graphs, synthetic data."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dhr_sdk.codes.packing import check_packed, hamming_matrix, pack_bits
from dhr_sdk.core.interfaces import FitData
from dhr_sdk.core.types import HashGraph


def brute_force_graph(
    codes: np.ndarray, n_bits: int, radius: int, merged: bool = True
) -> HashGraph:
    """All-pairs Hamming graph, O(n^2) memory: the definition, for small inputs only.

    Merged nodes are the distinct codes sorted by code bytes (``np.unique`` order).
    """
    codes = check_packed(codes, n_bits)
    if merged:
        node_codes, image_nodes, counts = np.unique(codes, axis=0, return_inverse=True,
                                                    return_counts=True)
        image_nodes = image_nodes.reshape(-1)
    else:
        node_codes, image_nodes = codes, np.arange(codes.shape[0])
        counts = np.ones(codes.shape[0], dtype=np.int64)
    dist = hamming_matrix(node_codes, node_codes)
    adj = (dist <= radius).astype(np.float64) * (n_bits - dist)
    np.fill_diagonal(adj, 0.0)
    return HashGraph(n_bits=n_bits, radius=radius, node_codes=node_codes,
                     node_counts=counts.astype(np.int64), image_nodes=image_nodes.astype(np.int64),
                     adjacency=sp.csr_matrix(adj), merged=merged)


def clustered_codes(n: int, n_bits: int, n_centres: int, flip: float, seed: int = 0) -> np.ndarray:
    """Packed codes around random centres with each bit flipped with probability ``flip``."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 2, size=(n_centres, n_bits), dtype=np.uint8)
    bits = centres[rng.integers(0, n_centres, size=n)]
    bits ^= (rng.random((n, n_bits)) < flip).astype(np.uint8)
    return pack_bits(bits)


def synthetic_fit_data(n: int = 240, d: int = 32, n_classes: int = 4, seed: int = 0) -> FitData:
    """Gaussian clusters with one-hot labels, noisy tags and a labeled training split."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(n_classes, d))
    y = np.arange(n) % n_classes
    x = (centres[y] + rng.normal(size=(n, d))).astype(np.float32)
    labels = np.eye(n_classes, dtype=np.uint8)[y]
    tags = np.concatenate([labels, (rng.random((n, 3)) < 0.3).astype(np.uint8)], axis=1)
    half = n // 2
    return FitData(
        features=x[half:], labels=labels[half:], tags=tags[half:],
        label_names=tuple(f"class{i}" for i in range(n_classes)),
        tag_names=tuple(f"tag{i}" for i in range(tags.shape[1])),
        train_features=x[:half], train_labels=labels[:half])
