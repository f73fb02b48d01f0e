"""The requirement (the paper's agent data, AD): example images or codes, with weights.

A requirement is a few example images — files or folders — optionally weighted per
argument; a folder's weight is shared equally by its images. Unreadable files inside a
folder are skipped and listed (``Requirement.skipped``); a named file that cannot be read
is an error. Stores of imported codes take the requirement as codes instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.validation import check_weights
from dhr_sdk.data.images import UnreadableImage, is_image_name, load_rgb


@dataclass
class Requirement:
    """The agent data: image files, the normalised weight of each, and the argument it came
    from. ``codes`` holds ready-made packed codes instead (``--requirement-codes``);
    ``paths`` then only name them. ``skipped`` lists unreadable files left out, with why."""

    paths: list[Path]
    weights: np.ndarray
    sources: list[str]
    codes: np.ndarray | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def groups(self) -> list[tuple[str, float, list[int]]]:
        """``(source, total weight, image indices)`` per requirement argument, in order: a
        folder weighted 0.7 is one group of weight 0.7, however many images it holds."""
        out: dict[str, list[int]] = {}
        for i, s in enumerate(self.sources):
            out.setdefault(s, []).append(i)
        return [(s, float(self.weights[idx].sum()), idx) for s, idx in out.items()]

    def describe(self) -> str:
        """One line for people: ``40 images: dogs/ 0.7 (20), cats/ 0.3 (20)``."""
        parts = [f"{src} {weight:.3g} ({len(idx)})" for src, weight, idx in self.groups()]
        noun = "code" if self.codes is not None else "image"
        n = len(self.paths)
        return f"{n} {noun}{'s' if n != 1 else ''}: " + ", ".join(parts)

    def label(self, index: int) -> str:
        """How a requirement image is named in messages: its path (or the code's name)."""
        return self.labels[index]

    @cached_property
    def labels(self) -> list[str]:
        """:meth:`label` of every image (a server names them once per collection)."""
        return [str(p) for p in self.paths]


def _folder_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p.name))


def load_requirement(paths: Sequence[str | Path],
                     weights: Sequence[float] | None = None) -> Requirement:
    """Resolve requirement arguments (image files or folders) with one weight per argument.

    Without weights every argument weighs the same. Unreadable images inside a folder are
    skipped and listed in ``skipped``; a missing path, an unreadable file or a folder with
    no readable image is an error.
    """
    if not paths:
        raise DhrError("give at least one requirement image or folder (--requirement PATH)")
    arg_w = check_weights(weights, len(paths), "--requirement paths (one --weight each)")
    files: list[Path] = []
    per_file: list[float] = []
    sources: list[str] = []
    skipped: list[tuple[Path, str]] = []
    for raw, w in zip(paths, arg_w, strict=True):
        p = Path(raw)
        if not p.exists():
            raise DhrError(f"requirement path {p} does not exist")
        candidates = _folder_images(p) if p.is_dir() else [p]
        readable = []
        for c in candidates:
            why = _unreadable(c)
            if why is None:
                readable.append(c)
            elif p.is_dir():
                skipped.append((c, why))
            else:
                raise DhrError(f"requirement image {c} is unreadable: {why}")
        if not readable:
            raise DhrError(f"requirement path {p} holds no readable image")
        files += readable
        per_file += [w / len(readable)] * len(readable)
        sources += [str(p)] * len(readable)
    w_all = np.asarray(per_file)
    return Requirement(files, w_all / w_all.sum(), sources, skipped=skipped)


def load_requirement_codes(path: str | Path, weights: Sequence[float] | None = None
                           ) -> Requirement:
    """A requirement given as hash codes (a file ``dhr import-codes`` reads), one weight per code.

    For stores made from imported codes, which have no model to encode images with.
    """
    from dhr_sdk.offline.relevance import load_codes_file

    codes, _, names = load_codes_file(path)
    n = codes.shape[0]
    w = check_weights(weights, n, "requirement codes (one --weight each)")
    labels = names or [f"{Path(path).stem}[{i}]" for i in range(n)]
    return Requirement([Path(x) for x in labels], w / w.sum(), [str(path)] * n, codes)


def _unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be decoded, or ``None`` when it can."""
    try:
        load_rgb(path)
    except UnreadableImage as exc:
        return str(exc)
    return None
