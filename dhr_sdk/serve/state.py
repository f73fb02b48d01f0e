"""What a ``dhr serve`` process keeps resident: the stores, their models, the assessors.

Stores are opened once (``open_target``) and only read. Each distinct model is built once;
the assessors keep one Hamming index per importance list, built when the store is loaded.
Everything a request reads is one immutable :class:`Snapshot`: a request takes the current
snapshot once and uses nothing else, so requests run concurrently without a lock and an
answer never mixes two versions of a store. :meth:`ServerState.reload` re-opens the stores
whose file changed (mtime, size or inode) and opens new ``*.h5`` files of the folders given
into a new snapshot (indexes built) and then swaps it in; requests keep being answered from
the previous one meanwhile. A store that fails to open is reported and its previous version
stays served. Reloads run one at a time, asked for (``POST /v1/reload``) or every few
seconds (:meth:`ServerState.watch`).

A server process (``freeze_heap=True``) hides what is resident from the garbage collector
(:func:`freeze_resident`): a full collection walked the stores' id lists and everything
loaded, ~35 ms on 8 x 100,000 codes, and it ran every few hundred requests (docs/serve.md,
"Latency").
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

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
from dhr_sdk.core.interfaces import Assessor
from dhr_sdk.core.types import ImportanceList
from dhr_sdk.data.images import UnreadableImage, load_rgb
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.serve.inputs import RequestError, images_requirement

_log = logging.getLogger(__name__)

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
        return {"name": self.name, "path": str(t.path), "n_images": t.n_images,
                "n_codes": t.importance.n_codes, "n_bits": t.importance.n_bits,
                "model_id": t.model_id, "has_model": rec is not None,
                "hasher": rec.hasher if rec else None, "backbone": rec.backbone if rec else None,
                "root": t.root}


def _open(path: Path) -> Collection:
    sig = Signature.of(path)
    return Collection(open_target(path, need_model=False), path, sig)


def _put(collections: dict[str, Collection], c: Collection) -> None:
    """Serve ``c`` in ``collections``, replacing its previous version (same file)."""
    old = collections.get(c.name)
    if old is not None and old.file != c.file:
        raise DhrError(f"two stores are named {c.name!r}: {old.file} and {c.file}; "
                       "collections are named by file name")
    collections[c.name] = c


def store_files(sources: Sequence[Path]) -> list[Path]:
    """The store files of ``sources``: files as given, folders' ``*.h5`` (sorted)."""
    out: list[Path] = []
    for s in sources:
        out += sorted(s.glob(STORE_GLOB)) if s.is_dir() else [s]
    return [p.resolve() for p in out]


def open_collections(sources: Sequence[Path]) -> dict[str, Collection]:
    """The stores of ``sources`` opened (no index built yet), by collection name; a store
    that cannot be served, or none at all, is a one-line error."""
    if not sources:
        raise DhrError("give at least one store or folder of stores to serve")
    for s in sources:
        if not s.exists():
            raise DhrError(f"{s} does not exist")
    collections: dict[str, Collection] = {}
    for path in store_files(sources):
        _put(collections, _open(path))
    if not collections:
        raise DhrError("no stores to serve in " + ", ".join(map(str, sources)) +
                       f" (a folder is searched for {STORE_GLOB})")
    return collections


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


@dataclass(frozen=True)
class Snapshot:
    """What requests read, never changed once served: the collections by name, one image
    encoder per model id, and the assessors holding the collections' Hamming indexes."""

    collections: dict[str, Collection]
    models: dict[str, ImageEncoder]
    ranking: Assessor
    paper: Assessor

    def targets(self, names: Sequence[str] | None) -> list[StoreTarget]:
        """The targets of the named collections (default all), in the order named."""
        if not names:
            return [c.target for c in self.collections.values()]
        unknown = [n for n in names if n not in self.collections]
        if unknown:
            raise RequestError(f"unknown collection {unknown[0]!r}; served: "
                               + ", ".join(self.collections))
        return [self.collections[n].target for n in dict.fromkeys(names)]


def _warm(assessor: Assessor, collections: Sequence[Collection]) -> None:
    """Let ``assessor`` build what it keeps per importance list (its Hamming indexes: one per
    list, one joint index per model over all its lists) now, so that no request pays for it
    and requests only read it."""
    by_model: dict[str, list[ImportanceList]] = {}
    for c in collections:
        if c.target.importance.n_codes:
            by_model.setdefault(c.target.model_id, []).append(c.target.importance)
    for lists in by_model.values():
        assessor.assess_many(lists, lists[0].codes[:1])
        if len(lists) > 1:
            for il in lists:  # a request naming one collection searches its own index
                assessor.assess(il, il.codes[:1])


def freeze_resident() -> None:
    """Collect what is garbage now, then freeze everything alive (``gc.freeze``): later
    collections skip it. Objects that die later are still freed by reference counting; the
    freeze is undone first, so a replaced snapshot's cycles are collected here too."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ServerState:
    """The resident stores, models and assessors of one server (see the module doc)."""

    def __init__(self, sources: Sequence[str | Path], assessor: str = DEFAULT_ASSESSOR,
                 params: dict[str, dict[str, Any]] | None = None, *,
                 freeze_heap: bool = False) -> None:
        """Open every store of ``sources`` (files, or folders of ``*.h5``); any store that
        cannot be served is a one-line error, before anything is served. ``freeze_heap``:
        :func:`freeze_resident` after loading and after each reload that changed something
        (a server process; it affects the whole process, so tests and libraries leave it off)."""
        self.sources = [Path(s).expanduser() for s in sources]
        self._assessor_config = (assessor, params or {})
        self._reload_lock = threading.Lock()
        self._freeze_heap = freeze_heap
        self._snapshot = self._new_snapshot(open_collections(self.sources), {})
        if freeze_heap:
            freeze_resident()

    @property
    def snapshot(self) -> Snapshot:
        """What is served now (a request reads this once)."""
        return self._snapshot

    @property
    def collections(self) -> dict[str, Collection]:
        return self._snapshot.collections

    @property
    def models(self) -> dict[str, ImageEncoder]:
        return self._snapshot.models

    @property
    def ranking(self) -> Assessor:
        return self._snapshot.ranking

    @property
    def paper(self) -> Assessor:
        return self._snapshot.paper

    def _new_snapshot(self, collections: dict[str, Collection],
                      models: dict[str, ImageEncoder]) -> Snapshot:
        """A snapshot of ``collections`` with fresh assessors whose indexes are built, each
        model built once per model id (``models``: encoders to keep, by model id)."""
        kept: dict[str, ImageEncoder] = {}
        for c in collections.values():
            rec, mid = c.target.model_record, c.target.model_id
            if rec is not None and mid not in kept:
                kept[mid] = models.get(mid) or ImageEncoder(HashModel.from_record(rec))
        name, params = self._assessor_config
        ranking = make_assessor(name, params.get(name))
        paper = ranking if name == PAPER_ASSESSOR else \
            make_assessor(PAPER_ASSESSOR, params.get(PAPER_ASSESSOR))
        for a in dict.fromkeys([ranking, paper]):
            _warm(a, list(collections.values()))
        return Snapshot(collections, kept, ranking, paper)

    def describe(self) -> list[dict[str, Any]]:
        return [c.describe() for c in self._snapshot.collections.values()]

    def collection(self, name: str) -> Collection:
        found = self._snapshot.collections.get(name)
        if found is None:
            raise RequestError(f"unknown collection {name!r}", 404)
        return found

    def reload(self) -> ReloadResult:
        """Pick up rebuilt, new and removed store files (see the module doc)."""
        with self._reload_lock:
            out = self._swap_changed()
            if self._freeze_heap and (out.added or out.reloaded or out.removed):
                freeze_resident()  # here, when the previous snapshot is no longer referenced
        return out

    def _swap_changed(self) -> ReloadResult:
        """Open what changed into a new snapshot and swap it in (the reload lock is held)."""
        out = ReloadResult()
        old = self._snapshot
        collections = dict(old.collections)
        seen: set[str] = set()
        by_path = {c.file: c for c in collections.values()}
        for path in store_files([s for s in self.sources if s.exists()]):
            prev = by_path.get(path)
            name = prev.name if prev else path.stem
            seen.add(name)
            try:
                if prev is not None and Signature.of(path) == prev.signature:
                    out.unchanged.append(name)
                    continue
                _put(collections, _open(path))
            except (DhrError, OSError) as exc:
                out.failed.append({"name": name, "path": str(path),
                                   "detail": " ".join(str(exc).split())})
                continue
            (out.reloaded if prev else out.added).append(name)
        for name in [n for n in collections if n not in seen]:
            del collections[name]
            out.removed.append(name)
        if out.added or out.reloaded or out.removed:
            # fresh assessors: the indexes of replaced lists go with the old snapshot
            self._snapshot = self._new_snapshot(collections, old.models)
        return out

    def watch(self, interval: float) -> threading.Event:
        """Reload every ``interval`` seconds in a daemon thread (a reload with nothing
        changed only lists the folders and stats the files). Returns the event that stops
        it. With several server processes this is how each picks up rebuilt stores."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.reload()
                except Exception as exc:  # keep watching; the served snapshot stays
                    _log.warning("dhr serve: reload failed: %s", exc)

        threading.Thread(target=loop, name="dhr-watch", daemon=True).start()
        return stop

    def _assess(self, snap: Snapshot, req: Requirement, targets: list[StoreTarget],
                codes_by_model: dict[str, np.ndarray], top: int) -> AssessmentReport:
        return assess_targets(req, targets, snap.ranking, paper=snap.paper, top_images=top,
                              codes_by_model=codes_by_model)

    def assess_codes(self, req: Requirement, names: Sequence[str] | None = None,
                     top: int = 6) -> AssessmentReport:
        """Assess a requirement of packed codes against the named collections (default all)."""
        snap = self._snapshot
        targets = snap.targets(names)
        return self._assess(snap, req, targets, encode_requirement(req, targets), top)

    def assess_images(self, files: Sequence[tuple[str, BinaryIO]],
                      groups: Sequence[str] | None = None,
                      weights: Sequence[float] | None = None,
                      names: Sequence[str] | None = None, top: int = 6) -> AssessmentReport:
        """Assess uploaded images: ``files`` are ``(label, open binary file)`` pairs. Each
        image is decoded once, in memory, by the data layer (an unreadable one is a 400
        naming it), then encoded once per distinct model of the collections."""
        req = images_requirement([label for label, _ in files], groups, weights)
        snap = self._snapshot
        targets = snap.targets(names)
        bare = [t.name for t in targets if t.model_record is None]
        if bare:
            raise RequestError(f"collection {bare[0]!r} has no model (a store of imported "
                               "codes): give the requirement as codes, or pick collections "
                               "with a model")
        images = []
        for label, data in files:
            data.seek(0)
            try:
                images.append(load_rgb(data, name=label))
            except UnreadableImage as exc:
                raise RequestError(f"uploaded image {label} is unreadable: {exc}") from None
        codes = {mid: snap.models[mid].encode_decoded(images)
                 for mid in dict.fromkeys(t.model_id for t in targets)}
        return self._assess(snap, req, targets, codes, top)
