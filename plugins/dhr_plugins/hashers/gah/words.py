"""Label word vectors V(r) for GAH's GCN input (paper section 4.3: GloVe).

Sources (``GAH.Params.word_vectors``):

``"minilm"``  real sentence embeddings of the class names from the packaged
              all-MiniLM-L6-v2 model (384-d, offline; :mod:`._gah_minilm`).
``"file"``    a vectors file: GloVe text format (``word v1 v2 ...`` per line; a multi-word
              class name is the mean of its words, as ML-GCN does for COCO), or ``.npz`` with
              arrays ``names`` (str) and ``vectors`` (n, d), or ``.npy`` (R, d) whose rows
              follow the label order.
``"learned"`` trainable embeddings, randomly initialised with ``word_dim`` dimensions and
              learned in TP-A together with the GCN (a parameter of the network).
``"onehot"``  the R×R identity: no dependency, no semantics (only the co-occurrence
              graph relates labels).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dhr_sdk import DhrError

SOURCES = ("minilm", "file", "learned", "onehot")


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[\s_\-/]+", name.lower()) if t]


def _from_glove_text(path: Path, names: Sequence[str]) -> np.ndarray:
    wanted = {t for n in names for t in _tokens(n)}
    found: dict[str, np.ndarray] = {}
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            word, _, rest = line.rstrip("\n").partition(" ")
            if word.lower() in wanted and word.lower() not in found:
                found[word.lower()] = np.array(rest.split(), dtype=np.float32)
    rows = []
    for n in names:
        toks = _tokens(n)
        missing = [t for t in toks if t not in found]
        if not toks or missing:
            raise DhrError(f"word vectors file {path} has no vector for {n!r} "
                           f"(missing: {', '.join(missing) or n!r})")
        rows.append(np.mean([found[t] for t in toks], axis=0))
    return np.stack(rows)


def _from_npz(path: Path, names: Sequence[str]) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        if "names" not in z or "vectors" not in z:
            raise DhrError(f"{path} must hold arrays 'names' and 'vectors'")
        index = {str(n).lower(): i for i, n in enumerate(z["names"])}
        vectors = np.asarray(z["vectors"], dtype=np.float32)
    missing = [n for n in names if n.lower() not in index]
    if missing:
        raise DhrError(f"word vectors file {path} has no vector for {', '.join(missing)}")
    return vectors[[index[n.lower()] for n in names]]


def _from_npy(path: Path, names: Sequence[str]) -> np.ndarray:
    vectors = np.load(path, allow_pickle=False)
    if vectors.ndim != 2 or vectors.shape[0] != len(names):
        raise DhrError(f"{path} must be a ({len(names)}, d) array (one row per label), "
                       f"got shape {vectors.shape}")
    return np.asarray(vectors, dtype=np.float32)


def from_file(path: str | Path, names: Sequence[str]) -> np.ndarray:
    """Vectors of ``names`` from a GloVe text file, a ``.npz`` (names, vectors) or a ``.npy``."""
    p = Path(path)
    if not p.is_file():
        raise DhrError(f"word vectors file {p} does not exist")
    if p.suffix == ".npz":
        return _from_npz(p, names)
    if p.suffix == ".npy":
        return _from_npy(p, names)
    return _from_glove_text(p, names)


def word_vectors(source: str, names: Sequence[str], *, path: str = "", word_dim: int = 300,
                 seed: int = 0) -> np.ndarray:
    """V(r) for the labels ``names``: an (R, D(V(r))) float32 array from ``source``.

    For ``"learned"`` this is the random initialisation (normal, std 1/sqrt(word_dim)) that
    training then updates.
    """
    if source == "minilm":
        from dhr_plugins.hashers.gah.minilm import embed_texts

        return embed_texts(list(names))
    if source == "file":
        if not path:
            raise DhrError("word_vectors='file' needs word_vectors_path")
        return from_file(path, names)
    if source == "learned":
        rng = np.random.default_rng(seed)
        return (rng.normal(size=(len(names), word_dim)) / np.sqrt(word_dim)).astype(np.float32)
    if source == "onehot":
        return np.eye(len(names), dtype=np.float32)
    raise DhrError(f"unknown word vector source {source!r}; choose one of {', '.join(SOURCES)}")
