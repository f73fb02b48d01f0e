"""Where LAGNH's auxiliary semantics Y come from (paper section 3, "Preparation").

Sources, chosen by the ``tag_source`` parameter (the visual words, computed from the
images, live in :mod:`._lagnh_words`; ``pseudo+visual-words`` puts both label-free sets
side by side):

``tags``
    The collection's own multi-hot tags (``FitData.tags``): user tags shipped as a side file
    (the paper's NUS-WIDE setting) or the output of any third-party tagger, such as the
    paper's Faster R-CNN detections on MS COCO, written to the same side-file format.
``pseudo``
    A label-free fallback: k-means on the features (``pseudo_clusters`` centres, seeded),
    and each image is tagged with its ``pseudo_per_image`` nearest centres (multi-hot).
    Overlapping tags make ``S^a`` graded (0..``pseudo_per_image`` shared tags) rather than
    a hard cluster partition. The centres are kept, so new images get tags the same way.

Evaluation labels are never a source: they are a separate input that LAGNH does not read.
"""

from __future__ import annotations

import numpy as np

from dhr_sdk import DhrError


def fit_pseudo_centres(features: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """K-means centres (float32) of ``features``; fewer when there are fewer distinct rows."""
    from sklearn.cluster import KMeans

    n_distinct = len(np.unique(features, axis=0))
    k = max(1, min(n_clusters, n_distinct))
    km = KMeans(n_clusters=k, n_init=3, random_state=seed % (2**31))
    km.fit(features.astype(np.float64))
    return np.asarray(km.cluster_centers_, dtype=np.float32)


def pseudo_tags(features: np.ndarray, centres: np.ndarray, per_image: int) -> np.ndarray:
    """Multi-hot float32 (n, c): 1 for each row's ``per_image`` nearest centres.

    Ties go to the lower centre index (stable sort), so the result is deterministic.
    """
    x = features.astype(np.float64)
    c = centres.astype(np.float64)
    d2 = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
    m = min(per_image, c.shape[0])
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :m]
    out = np.zeros((x.shape[0], c.shape[0]), dtype=np.float32)
    np.put_along_axis(out, nearest, 1.0, axis=1)
    return out


def resolve_source(requested: str, tags: np.ndarray | None, has_images: bool) -> str:
    """``auto`` -> ``tags`` when the collection has tags, else ``pseudo+visual-words`` when
    the training images are given, else ``pseudo``; an explicit source is checked."""
    if requested == "auto":
        if tags is not None:
            return "tags"
        return "pseudo+visual-words" if has_images else "pseudo"
    if requested == "tags" and tags is None:
        raise DhrError("LAGNH tag_source='tags' needs tags: give the collection a tags file "
                       "(e.g. `dhr fit --tags FILE`) or use tag_source='pseudo'")
    if requested.endswith("visual-words") and not has_images:
        raise DhrError(f"LAGNH tag_source={requested!r} needs the training images "
                       "(FitData.images)")
    return requested


def check_tags(tags: np.ndarray) -> np.ndarray:
    """Validate user tags: finite, in [0, 1], at least one tag column; returns float32."""
    y = np.asarray(tags, dtype=np.float32)
    if y.shape[1] == 0:
        raise DhrError("LAGNH needs at least one tag column")
    if not np.isfinite(y).all() or y.min() < 0 or y.max() > 1:
        raise DhrError("LAGNH tags must be multi-hot (values in [0, 1])")
    if not y.any():
        raise DhrError("LAGNH tags are all zero: no image has a tag")
    return y
