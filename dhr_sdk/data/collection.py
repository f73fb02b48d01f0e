"""Image collections: a folder of images (recursive) or an explicit list of paths.

An image's identity is its path relative to the collection root (POSIX separators),
stored with the codes. Ids are sorted (plain string order), so every run sees the same
rows. Files that cannot be used are never dropped silently: they are kept in ``skipped``
with a reason (listing time: not an image extension, missing file; decoding time, see
:mod:`dhr_sdk.data.features`: empty, truncated, corrupt, not an image).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from dhr_sdk.core.errors import DhrError
from dhr_sdk.data import signature as file_signature
from dhr_sdk.data.images import IMAGE_EXTENSIONS, is_image_name
from dhr_sdk.data.sidefiles import normalise_id, read_side_file
from dhr_sdk.store import CollectionRecord


@dataclass
class Collection:
    """Image ids (relative to ``root``), optional labels/tags, and the files skipped so far."""

    root: Path
    image_ids: list[str]
    labels: sp.csr_matrix | None = None
    label_names: list[str] = field(default_factory=list)
    tags: sp.csr_matrix | None = None
    tag_names: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    skipped_reasons: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def paths(self) -> list[Path]:
        """Absolute paths, one per image id."""
        return [self.root / iid for iid in self.image_ids]

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_folder(cls, root: str | os.PathLike[str], labels_file: str | Path | None = None,
                    tags_file: str | Path | None = None) -> Collection:
        """Every image file under ``root`` (recursive, case-insensitive extensions).

        Hidden files and folders (name starting with ``.``) are ignored; any other file
        without an image extension is listed in ``skipped``.
        """
        base = Path(root).expanduser()
        if not base.is_dir():
            raise DhrError(f"collection folder {base} does not exist or is not a folder")
        base = base.resolve()
        ids: list[str] = []
        others: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(base).as_posix()
            prefix = "" if rel == "." else rel + "/"  # string joins: a million files in seconds
            for name in filenames:
                if name.startswith("."):
                    continue
                (ids if is_image_name(name) else others).append(prefix + name)
        if not ids:
            raise DhrError(f"collection folder {base} holds no image files "
                           f"({', '.join(e[1:] for e in IMAGE_EXTENSIONS)})")
        others.sort()
        col = cls(base, sorted(ids), skipped=others,
                  skipped_reasons=["not an image file (extension)"] * len(others))
        return col.with_side_files(labels_file, tags_file)

    @classmethod
    def from_paths(cls, paths: Iterable[str | os.PathLike[str]],
                   root: str | os.PathLike[str] | None = None,
                   labels_file: str | Path | None = None,
                   tags_file: str | Path | None = None) -> Collection:
        """An explicit list of image files; ``root`` defaults to their common folder.

        Every listed file is tried (whatever its extension); missing ones are skipped.
        """
        absolute = sorted({Path(p).expanduser().resolve() for p in paths})
        if not absolute:
            raise DhrError("the collection is empty: no image paths given")
        base = (Path(root).expanduser().resolve() if root is not None
                else Path(os.path.commonpath([p.parent for p in absolute])))
        ids: list[str] = []
        missing: list[str] = []
        for p in absolute:
            try:
                iid = p.relative_to(base).as_posix()
            except ValueError:
                raise DhrError(f"{p} is not inside the collection root {base}") from None
            (ids if p.is_file() else missing).append(iid)
        if not ids:
            raise DhrError(f"none of the {len(absolute)} listed image files exists")
        col = cls(base, sorted(ids), skipped=missing,
                  skipped_reasons=["file not found"] * len(missing))
        return col.with_side_files(labels_file, tags_file)

    @classmethod
    def from_record(cls, rec: CollectionRecord) -> Collection:
        """The collection a store describes (root as recorded)."""
        return cls(Path(rec.root), list(rec.image_ids), rec.labels, list(rec.label_names),
                   rec.tags, list(rec.tag_names), list(rec.skipped), list(rec.skipped_reasons))

    def with_side_files(self, labels_file: str | Path | None,
                        tags_file: str | Path | None) -> Collection:
        """A copy with labels/tags read from side files (see :mod:`dhr_sdk.data.sidefiles`)."""
        out = replace(self)
        if labels_file is not None:
            table = read_side_file(labels_file, self.image_ids, "labels")
            out.labels, out.label_names = table.matrix, table.names
        if tags_file is not None:
            table = read_side_file(tags_file, self.image_ids, "tags")
            out.tags, out.tag_names = table.matrix, table.names
        return out

    # -- derived collections ------------------------------------------------------------

    def without(self, reasons: Mapping[str, str]) -> Collection:
        """A copy without the ids in ``reasons`` (id -> why), which join ``skipped``."""
        if not reasons:
            return replace(self)
        keep = np.array([iid not in reasons for iid in self.image_ids], dtype=bool)
        if not keep.any():
            first = next(iter(reasons.items()))
            raise DhrError(f"no readable image in {self.root}: all {len(self.image_ids)} files "
                           f"failed (e.g. {first[0]}: {first[1]})")
        gone = sorted(reasons)
        rows = np.flatnonzero(keep)
        return replace(
            self, image_ids=[self.image_ids[i] for i in rows],
            labels=None if self.labels is None else self.labels[rows],
            tags=None if self.tags is None else self.tags[rows],
            skipped=[*self.skipped, *gone],
            skipped_reasons=[*self.skipped_reasons, *(reasons[g] for g in gone)])

    def index_of(self, image_ids: Iterable[str]) -> np.ndarray:
        """Row numbers of ``image_ids`` (raises for ids not in the collection)."""
        pos = {iid: i for i, iid in enumerate(self.image_ids)}
        try:
            return np.array([pos[normalise_id(i)] for i in image_ids], dtype=np.int64)
        except KeyError as exc:
            raise DhrError(f"image {exc.args[0]!r} is not in the collection") from None

    # -- persistence --------------------------------------------------------------------

    def signature(self) -> str:
        """Digest of (id, size, mtime) of every file, listed or skipped
        (:mod:`dhr_sdk.data.signature`).

        It does not depend on which files were found unreadable, so a collection rebuilt
        from a store's record has the signature of the listing it came from.
        """
        return file_signature.signature(self.root, [*self.image_ids, *self.skipped])

    def signature_like(self, stored: str) -> str:
        """:meth:`signature` of the kind ``stored`` is (a store may predate the current one)."""
        return file_signature.like(stored, self.root, [*self.image_ids, *self.skipped])

    def to_record(self, signature: str | None = None) -> CollectionRecord:
        """The store's ``collection`` element for this collection."""
        return CollectionRecord(
            image_ids=list(self.image_ids), root=str(self.root), skipped=list(self.skipped),
            skipped_reasons=list(self.skipped_reasons), labels=self.labels,
            label_names=list(self.label_names), tags=self.tags, tag_names=list(self.tag_names),
            signature=self.signature() if signature is None else signature)


#: Suffixes of a plain text list of image paths (one per line, ``#`` comments).
LIST_SUFFIXES = (".txt", ".lst")


def open_collection(source: str | Path, labels: str | Path | None = None,
                    tags: str | Path | None = None) -> Collection:
    """A collection from a folder of images or a text list of image paths (relative to the
    list's folder), with optional label and tag side files. The one resolution every
    command that takes a COLLECTION uses."""
    p = Path(source)
    if not p.exists():
        raise DhrError(f"collection {p} does not exist")
    if p.is_dir():
        return Collection.from_folder(p, labels, tags)
    if p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
        paths = [p.parent / ln for ln in lines if ln and not ln.startswith("#")]
        return Collection.from_paths(paths, labels_file=labels, tags_file=tags)
    raise DhrError(f"{p} is neither a folder nor a .txt list of image paths")
