"""The stores an assessment reads, and the requirement encoded under each store's model.

:func:`open_target` reads what assessment needs from a store (importance list, image ids,
model) with one-line errors when it cannot serve; :func:`encode_requirement` encodes the
requirement once per distinct model (stores sharing a model share the encoding).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dhr_sdk.assessment.requirement import Requirement
from dhr_sdk.core.errors import DhrError, MissingElementError
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.types import ImportanceList
from dhr_sdk.model.finetuned import state_digest
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.store import ModelRecord, Store

if TYPE_CHECKING:
    from PIL import Image


def model_fingerprint(rec: ModelRecord) -> str:
    """A short digest identifying a model (hasher, params, state, backbone)."""
    h = hashlib.sha256()
    h.update(json.dumps([rec.hasher, rec.params, rec.n_bits, rec.backbone,
                         rec.backbone_params], sort_keys=True, default=str).encode())
    h.update(state_digest(rec.state).encode())
    return h.hexdigest()[:12]


class ImageEncoder:
    """Image files -> codes under ``model``: its backbone through the same batched forward
    as a collection's features (RGB decode + the backbone's transform), then its hasher.
    The network is built once, on first use, and kept (``dhr serve`` keeps one per model);
    concurrent calls share it (inference only)."""

    def __init__(self, model: HashModel, batch_size: int = 64) -> None:
        self.model = model
        self.batch_size = batch_size
        self._backbone: Any = None
        self._net: Any = None
        self._build_lock = threading.Lock()

    def __call__(self, paths: Sequence[Path]) -> np.ndarray:
        from dhr_sdk.data.loader import FileImages

        feats, failed = self._forward(lambda transform: FileImages([str(p) for p in paths],
                                                                   transform), len(paths))
        if failed:
            row, why = min(failed.items())
            raise DhrError(f"requirement image {paths[row]} is unreadable: {why}")
        return self.model.hasher.encode(feats)

    def encode_decoded(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Codes of images already decoded to RGB (a server's checked uploads: decoded once,
        never written to disk)."""
        from dhr_sdk.data.loader import DecodedImages

        feats, _ = self._forward(lambda transform: DecodedImages(images, transform),
                                 len(images))
        return self.model.hasher.encode(feats)

    def _forward(self, dataset: Callable[[Any], Any], n: int) -> tuple[np.ndarray, dict[int, str]]:
        from dhr_sdk.data.loader import run_batches

        with self._build_lock:
            if self._net is None:
                self._backbone = self.model.make_backbone()
                self._net = self._backbone.build("cpu")
        return run_batches(dataset(self._backbone.transform()), n, self._backbone,
                           batch_size=self.batch_size, workers=0, device="cpu",
                           progress=QUIET, net=self._net)


def encode_images(model: HashModel, paths: Sequence[Path], batch_size: int = 64) -> np.ndarray:
    """Codes of image files under ``model`` (one :class:`ImageEncoder` use)."""
    return ImageEncoder(model, batch_size)(paths)


@dataclass
class StoreTarget:
    """A store ready for assessment: its importance list, image ids and model."""

    path: Path
    importance: ImportanceList
    image_ids: list[str]
    root: str
    model_record: ModelRecord | None
    model_id: str

    @property
    def name(self) -> str:
        return self.path.stem

    @cached_property
    def n_images(self) -> int:
        """Images of the collection (summed once: a resident server asks on every answer)."""
        return self.importance.n_images


def open_target(path: str | Path, need_model: bool = True) -> StoreTarget:
    """Read what assessment needs from a store, with one-line errors when it cannot serve.

    ``need_model=False`` (requirement given as codes) accepts stores without a model.
    """
    store = Store(path)
    p = store.path
    rec: ModelRecord | None = None
    if need_model or store.has("model"):
        try:
            rec = store.read_model()
        except MissingElementError:
            raise DhrError(f"{p} has no model; run 'dhr build' or 'dhr encode' first, or give "
                           "the requirement as codes (--requirement-codes)") from None
    try:
        il = store.read_importance()
    except MissingElementError:
        raise DhrError(f"{p} has no rank (importance list); run 'dhr rank {p}' first") from None
    col = store.read_collection()
    if rec is None:
        return StoreTarget(p, il, col.image_ids, col.root, None, "none")
    if il.n_bits != rec.n_bits:
        raise DhrError(f"{p}: its importance list has {il.n_bits}-bit codes but its model makes "
                       f"{rec.n_bits}-bit codes; re-run 'dhr encode' and 'dhr rank'")
    return StoreTarget(p, il, col.image_ids, col.root, rec, model_fingerprint(rec))


def encode_requirement(requirement: Requirement, targets: Sequence[StoreTarget],
                       progress: Progress = QUIET) -> dict[str, np.ndarray]:
    """The requirement's packed codes under each distinct model of ``targets`` (by model id).

    Given codes (``--requirement-codes``) are checked against every store's code length;
    images are encoded once per distinct model (stores sharing a model share the encoding).
    """
    given = requirement.codes
    codes_by_model: dict[str, np.ndarray] = {}
    for t in targets:
        if given is not None:
            if given.shape[1] * 8 != t.importance.n_bits:
                raise DhrError(f"the requirement codes have {given.shape[1] * 8} bits but "
                               f"{t.path} holds {t.importance.n_bits}-bit codes")
            codes_by_model[t.model_id] = given
        elif t.model_id not in codes_by_model:
            assert t.model_record is not None
            model = HashModel.from_record(t.model_record)
            progress.log(f"encoding {len(requirement.paths)} requirement image(s) with model "
                         f"{t.model_id} ({model.hasher.name}, {model.n_bits} bits, "
                         f"{model.backbone})")
            codes_by_model[t.model_id] = encode_images(model, requirement.paths)
    return codes_by_model
