"""What a ``dhr serve`` process keeps resident: the stores, their models, the assessors.

Stores are opened once (``open_target``) and only read. Each distinct model is built once;
the assessors keep one Hamming index per importance list (built once, on first use).
:meth:`ServerState.reload` re-opens the stores whose file changed (mtime, size or inode) and
opens new ``*.h5`` files of the folders given; a store that fails to open is reported and its
previous version stays served. Requests and reloads take one lock, so an answer never mixes
two versions of a store.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.assessment.assess import (
    DEFAULT_ASSESSOR,
    PAPER_ASSESSOR,
    AssessmentReport,
    assess_targets,
    make_assessor,
)
from dhr_sdk.assessment.requirement import Requirement
from dhr_sdk.assessment.targets import ImageEncoder, StoreTarget, encode_requirement, open_target
from dhr_sdk.core.errors import DhrError
from dhr_sdk.data.images import UnreadableImage, load_rgb
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.serve.inputs import RequestError, images_requirement

#: Store files picked up in a folder given to ``dhr serve``.
STORE_GLOB = "*.h5"


@dataclass(frozen=True)
class Signature:
    """What tells a rebuilt store file from the one loaded (atomic writes change the inode)."""

    mtime_ns: int
    size: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> Signature:
        st = os.stat(path)
        return cls(st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass
class Collection:
    """One served store: its target (importance list, ids, model record) and file signature."""

    target: StoreTarget
    file: Path
    signature: Signature

    @property
    def name(self) -> str:
        return self.target.name

    def describe(self) -> dict[str, Any]:
        """The ``GET /v1/collections`` entry."""
        t, rec = self.target, self.target.model_record
        return {"name": self.name, "path": str(t.path), "n_images": t.importance.n_images,
                "n_codes": t.importance.n_codes, "n_bits": t.importance.n_bits,
                "model_id": t.model_id, "has_model": rec is not None,
                "hasher": rec.hasher if rec else None, "backbone": rec.backbone if rec else None,
                "root": t.root}


def _open(path: Path) -> Collection:
    sig = Signature.of(path)
    return Collection(open_target(path, need_model=False), path, sig)


def store_files(sources: Sequence[Path]) -> list[Path]:
    """The store files of ``sources``: files as given, folders' ``*.h5`` (sorted)."""
    out: list[Path] = []
    for s in sources:
        out += sorted(s.glob(STORE_GLOB)) if s.is_dir() else [s]
    return [p.resolve() for p in out]


@dataclass
class ReloadResult:
    """What a reload changed, by collection name; ``failed`` keeps the served version."""

    added: list[str] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "reloaded": self.reloaded, "removed": self.removed,
                "unchanged": self.unchanged, "failed": self.failed}


class ServerState:
    """The resident stores, models and assessors of one server (see the module doc)."""

    def __init__(self, sources: Sequence[str | Path], assessor: str = DEFAULT_ASSESSOR,
                 params: dict[str, dict[str, Any]] | None = None) -> None:
        """Open every store of ``sources`` (files, or folders of ``*.h5``); any store that
        cannot be served is a one-line error, before anything is served."""
        if not sources:
            raise DhrError("give at least one store or folder of stores to serve")
        self.sources = [Path(s).expanduser() for s in sources]
        for s in self.sources:
            if not s.exists():
                raise DhrError(f"{s} does not exist")
        self._assessor_config = (assessor, params or {})
        self._new_assessors()
        self._lock = threading.Lock()
        self.collections: dict[str, Collection] = {}
        self.models: dict[str, ImageEncoder] = {}
        for path in store_files(self.sources):
            self._put(_open(path))
        if not self.collections:
            raise DhrError("no stores to serve in " + ", ".join(map(str, self.sources)) +
                           f" (a folder is searched for {STORE_GLOB})")

    def _put(self, c: Collection) -> None:
        """Serve ``c`` (replacing its previous version), its model built once per model id."""
        old = self.collections.get(c.name)
        if old is not None and old.file != c.file:
            raise DhrError(f"two stores are named {c.name!r}: {old.file} and {c.file}; "
                           "collections are named by file name")
        rec = c.target.model_record
        if rec is not None and c.target.model_id not in self.models:
            self.models[c.target.model_id] = ImageEncoder(HashModel.from_record(rec))
        self.collections[c.name] = c

    def _new_assessors(self) -> None:
        """Fresh assessor instances: each keeps one Hamming index per importance list it
        has searched, built on first use and resident from then on."""
        name, params = self._assessor_config
        self.ranking = make_assessor(name, params.get(name))
        self.paper = self.ranking if name == PAPER_ASSESSOR else \
            make_assessor(PAPER_ASSESSOR, params.get(PAPER_ASSESSOR))

    def _prune(self) -> None:
        """Drop the models nothing served uses any more, and the indexes of replaced lists
        (new assessor instances rebuild each served list's index once, on first use)."""
        used = {c.target.model_id for c in self.collections.values()}
        self.models = {mid: m for mid, m in self.models.items() if mid in used}
        self._new_assessors()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c.describe() for c in self.collections.values()]

    def collection(self, name: str) -> Collection:
        with self._lock:
            found = self.collections.get(name)
        if found is None:
            raise RequestError(f"unknown collection {name!r}", 404)
        return found

    def reload(self) -> ReloadResult:
        """Pick up rebuilt, new and removed store files (see the module doc)."""
        out = ReloadResult()
        with self._lock:
            seen: set[str] = set()
            by_path = {c.file: c for c in self.collections.values()}
            for path in store_files([s for s in self.sources if s.exists()]):
                old = by_path.get(path)
                name = old.name if old else path.stem
                seen.add(name)
                try:
                    if old is not None and Signature.of(path) == old.signature:
                        out.unchanged.append(name)
                        continue
                    self._put(_open(path))
                except (DhrError, OSError) as exc:
                    out.failed.append({"name": name, "path": str(path),
                                       "detail": " ".join(str(exc).split())})
                    continue
                (out.reloaded if old else out.added).append(name)
            for name in [n for n in self.collections if n not in seen]:
                del self.collections[name]
                out.removed.append(name)
            self._prune()
        return out

    def _targets(self, names: Sequence[str] | None) -> list[StoreTarget]:
        if not names:
            return [c.target for c in self.collections.values()]
        unknown = [n for n in names if n not in self.collections]
        if unknown:
            raise RequestError(f"unknown collection {unknown[0]!r}; served: "
                               + ", ".join(self.collections))
        return [self.collections[n].target for n in dict.fromkeys(names)]

    def _assess(self, req: Requirement, targets: list[StoreTarget],
                codes_by_model: dict[str, np.ndarray], top: int) -> AssessmentReport:
        return assess_targets(req, targets, self.ranking, paper=self.paper, top_images=top,
                              codes_by_model=codes_by_model)

    def assess_codes(self, req: Requirement, names: Sequence[str] | None = None,
                     top: int = 6) -> AssessmentReport:
        """Assess a requirement of packed codes against the named collections (default all)."""
        with self._lock:
            targets = self._targets(names)
            return self._assess(req, targets, encode_requirement(req, targets), top)

    def assess_images(self, files: Sequence[tuple[str, Callable[[Path], None]]],
                      groups: Sequence[str] | None = None,
                      weights: Sequence[float] | None = None,
                      names: Sequence[str] | None = None, top: int = 6) -> AssessmentReport:
        """Assess uploaded images: ``files`` are ``(label, write)`` pairs, ``write(path)``
        saving the upload to ``path`` in a private temporary folder deleted afterwards.
        Each image is decoded by the data layer first (an unreadable one is a 400 naming it),
        then encoded once per distinct model of the collections."""
        req = images_requirement([label for label, _ in files], groups, weights)
        with tempfile.TemporaryDirectory(prefix="dhr-serve-") as tmp:
            paths = []
            for i, (label, write) in enumerate(files):
                path = Path(tmp) / f"{i:04d}{Path(label).suffix.lower()[:8]}"
                write(path)
                try:
                    load_rgb(path)
                except UnreadableImage as exc:
                    raise RequestError(f"uploaded image {label} is unreadable: {exc}") from None
                paths.append(path)
            with self._lock:
                targets = self._targets(names)
                bare = [t.name for t in targets if t.model_record is None]
                if bare:
                    raise RequestError(f"collection {bare[0]!r} has no model (a store of "
                                       "imported codes): give the requirement as codes, or "
                                       "pick collections with a model")
                codes = {mid: self.models[mid](paths)
                         for mid in dict.fromkeys(t.model_id for t in targets)}
                return self._assess(req, targets, codes, top)
