"""Label-free, detector-like auxiliary semantics for LAGNH: sparse visual-word tags.

The paper's MS COCO tags are a detector's few object words per image. Without a
detector, ``tag_source="visual-words"`` tags each training image with a few *visual
words* of its own pixels:

1. each preprocessed image (``FitData.images``, the tensors the backbone saw) is
   average-pooled to ``SIDE`` × ``SIDE`` and cut into a ``GRID`` × ``GRID`` grid of
   non-overlapping patches, so the raster layout comes from the images, never from the
   feature dimension;
2. k-means over the training patches (``n_words`` centres, seeded) gives the words;
3. an image's word counts are weighted by tf-idf (``idf = log((1 + n) / (1 + df))``, so
   a word in every image — e.g. empty background — weighs 0) and the image keeps only its
   ``t`` heaviest words (ties: lower word index). Sparse tags keep ``S^a`` sparse like
   detections; a dense bag of all patch words makes the GCN average the batch and the
   codes collapse (``docs/hashers/lagnh.md``).

Only the training images are tagged; new images at encode time have features only and
get the mean tags of their most similar anchors (the user-tag path). Labels are never read.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

from dhr_sdk import DhrError, FitImages

SIDE = 28  # images are pooled to SIDE x SIDE before cutting patches
GRID = 4  # GRID x GRID patches of (SIDE // GRID)^2 pixels per channel
MAX_KMEANS_PATCHES = 100_000  # seeded subsample of patches for k-means on large sets


def image_patches(images: FitImages) -> np.ndarray:
    """Float32 (n, GRID², SIDE²/GRID² · channels) patches of every image, in row order."""
    out = []
    size = SIDE // GRID
    for i in range(len(images.dataset)):
        img = images.dataset[i][0]
        if not isinstance(img, torch.Tensor) or img.ndim != 3:
            raise DhrError("LAGNH visual words need image tensors (channels, height, width)")
        small = F.adaptive_avg_pool2d(img.float().unsqueeze(0), SIDE)
        cols = F.unfold(small, kernel_size=size, stride=size)  # (1, C*size², GRID²)
        out.append(cols[0].T.numpy())
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)


def fit_words(patches: np.ndarray, n_words: int, seed: int) -> np.ndarray:
    """K-means centres (float32) of all patches (a seeded subsample when there are many)."""
    flat = patches.reshape(-1, patches.shape[2]).astype(np.float64)
    if len(flat) > MAX_KMEANS_PATCHES:
        pick = np.random.default_rng(seed).choice(len(flat), MAX_KMEANS_PATCHES, replace=False)
        flat = flat[np.sort(pick)]
    k = max(1, min(n_words, len(np.unique(flat, axis=0))))
    km = KMeans(n_clusters=k, n_init=3, random_state=seed % (2**31))
    km.fit(flat)
    return np.asarray(km.cluster_centers_, dtype=np.float32)


def word_counts(patches: np.ndarray, words: np.ndarray) -> np.ndarray:
    """(n, n_words) counts of each image's patches nearest to each word."""
    p = patches.reshape(-1, patches.shape[2]).astype(np.float64)
    c = words.astype(np.float64)
    d2 = (p * p).sum(1)[:, None] - 2.0 * p @ c.T + (c * c).sum(1)[None, :]
    nearest = np.argmin(d2, axis=1).reshape(patches.shape[:2])
    counts = np.zeros((patches.shape[0], c.shape[0]), dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(patches.shape[0]), patches.shape[1]),
                       nearest.ravel()), 1.0)
    return counts


def sparse_word_tags(counts: np.ndarray, per_image: int) -> np.ndarray:
    """Multi-hot float32: each image's ``per_image`` words of highest positive tf-idf."""
    df = (counts > 0).sum(axis=0)
    weight = counts * np.log((1.0 + len(counts)) / (1.0 + df))[None, :]
    m = min(per_image, counts.shape[1])
    top = np.argsort(-weight, axis=1, kind="stable")[:, :m]
    out = np.zeros(counts.shape, dtype=np.float32)
    np.put_along_axis(out, top, 1.0, axis=1)
    out[weight <= 0] = 0.0
    return out


def visual_word_tags(images: FitImages, n_words: int, per_image: int, seed: int) -> np.ndarray:
    """The module docstring's tags of the training images (n, n_words)."""
    patches = image_patches(images)
    tags = sparse_word_tags(word_counts(patches, fit_words(patches, n_words, seed)), per_image)
    if not tags.any():
        raise DhrError("LAGNH visual words: every word occurs in every image (uniform "
                       "images?); use tag_source='pseudo'")
    return tags
