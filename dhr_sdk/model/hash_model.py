"""A hash model: a fitted hasher plus the backbone whose features it consumes.

Saved as the ``model`` element of a store file, so one model file can encode many
collections (``dhr encode COLLECTION --model MODEL``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.core.digest import param_file_digests
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Backbone, Hasher
from dhr_sdk.core.params import build_params
from dhr_sdk.core.registry import get_registry
from dhr_sdk.model.finetuned import FineTunedBackbone
from dhr_sdk.store import ModelRecord, Store
from dhr_sdk.store.provenance import check_provenance, provenance_of

WEIGHTS_KEY = "_weights_sha256"
"""Key of :attr:`HashModel.backbone_weights` in the model record's ``backbone_params``."""
ENCODE_BLOCK = 65_536
"""Rows per :meth:`HashModel.encode` call of the hasher (ITQ: ~0.5 GB of float64 at 512-d)."""
STATE_ERRORS = (KeyError, ValueError, TypeError, IndexError, RuntimeError, DhrError)


class ModelVersionWarning(UserWarning):
    """A model's hasher state was written by another version of the hasher than the one
    installed (as scikit-learn's ``InconsistentVersionWarning``): it loaded, but may not
    encode as it did; refit to be sure."""


@dataclass
class HashModel:
    """``backbone`` names the backbone plugin (with ``backbone_params``) feeding ``hasher``;
    a hasher that fine-tuned that backbone carries the new weights in its state.

    ``backbone_weights``: ``{param: sha256}`` of the weight files the backbone params name
    (``weights=backbone.h5``), taken when the model is made (right after fitting) unless
    given; :meth:`make_backbone` refuses files whose content changed since.
    """

    hasher: Hasher
    backbone: str
    backbone_params: dict[str, Any] = field(default_factory=dict)
    backbone_weights: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.backbone_weights is None:
            self.backbone_weights = param_file_digests(self.backbone_params)

    @property
    def n_bits(self) -> int:
        return self.hasher.n_bits

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Packed codes of ``features`` rows, :data:`ENCODE_BLOCK` rows at a time: the same
        codes as one call (encoding is row by row; the conformance suite checks it) in
        bounded memory, where a hasher may hold float64 copies of all it encodes."""
        n = features.shape[0]
        if n <= ENCODE_BLOCK:
            return self.hasher.encode(features)
        return np.concatenate([self.hasher.encode(features[a:a + ENCODE_BLOCK])
                               for a in range(0, n, ENCODE_BLOCK)])

    def make_backbone(self) -> Backbone:
        """The backbone that computes this model's input features: the plugin, with the
        hasher's fine-tuned weights loaded when it has any."""
        self.check_backbone_weights()
        bb = get_registry().create("backbone", self.backbone, self.backbone_params)
        state = self.hasher.backbone_state()
        return FineTunedBackbone(bb, state) if state else bb

    def check_backbone_weights(self, what: str = "the model") -> None:
        """One-line error when a weight file named in the backbone params is not the one
        this model was fitted on (another file, or the same file rewritten)."""
        now = param_file_digests(self.backbone_params)
        for key, fitted in sorted((self.backbone_weights or {}).items()):
            if now.get(key) != fitted:
                found = f"sha256 {now[key][:12]}" if key in now else "no such file"
                raise DhrError(
                    f"{what} was fitted on backbone {self.backbone!r} features with "
                    f"{key}={self.backbone_params.get(key)} of sha256 {fitted[:12]}, but that "
                    f"file is now {found}; refit the model or restore its weights")

    def to_record(self) -> ModelRecord:
        self.hasher.check_fitted()
        prov = provenance_of(self.hasher)
        params = dict(self.backbone_params)
        if self.backbone_weights:
            params[WEIGHTS_KEY] = dict(self.backbone_weights)
        return ModelRecord(
            hasher=self.hasher.name, params=prov.params, state=self.hasher.get_state(),
            n_bits=self.hasher.n_bits, backbone=self.backbone,
            backbone_params=params, provenance=prov)

    @classmethod
    def from_record(cls, rec: ModelRecord, what: str = "the model") -> HashModel:
        """The model of ``rec``; a hasher of another distribution than the one that wrote it
        is refused (one line naming both, ``what`` naming the model)."""
        reg = get_registry().get("hasher", rec.hasher)
        check_provenance(reg, rec.provenance, what)
        params = build_params(reg.cls.Params, rec.params, f"hasher {rec.hasher!r}")
        hasher = reg.cls(params)
        if not isinstance(hasher, Hasher):
            raise DhrError(f"plugin {rec.hasher!r} is not a hasher")
        _set_state(hasher, rec, reg.version, what)
        if hasher.n_bits != rec.n_bits:
            raise DhrError(f"model declares {rec.n_bits} bits but hasher gives {hasher.n_bits}")
        bb_params = dict(rec.backbone_params)
        weights = bb_params.pop(WEIGHTS_KEY, {})
        recorded = {str(k): str(v) for k, v in dict(weights).items()}  # type: ignore[call-overload]
        return cls(hasher, rec.backbone, bb_params, recorded)


def _set_state(hasher: Hasher, rec: ModelRecord, installed: str, what: str) -> None:
    """Restore the state, checking the recorded hasher version against ``installed``.

    Same version (or none recorded, an old model): as is. Another version: a state that
    does not load is one line naming both versions; one that loads gives a
    :class:`ModelVersionWarning`.
    """
    recorded = rec.provenance.plugin_version
    if not recorded or recorded == installed:
        hasher.set_state(rec.state)
        return
    versions = (f"{what} holds the state of hasher {rec.hasher!r} version {recorded}, "
                f"but version {installed} is installed")
    try:
        hasher.set_state(rec.state)
    except STATE_ERRORS as exc:
        detail = " ".join(str(exc).split())[:200]
        raise DhrError(f"{versions}, which cannot load it ({type(exc).__name__}: {detail}); "
                       "refit the model here, or use the version that wrote it") from None
    warnings.warn(f"{versions}; it loaded but may not encode as before (refit to be sure)",
                  ModelVersionWarning, stacklevel=3)


def save_model(model: HashModel, path: str | Path) -> Store:
    """Write ``model`` into the store at ``path`` (created if missing), atomically."""
    store = Store.open_or_create(path)
    with store.edit() as w:
        w.write_model(model.to_record())
    return store


def load_model(path: str | Path) -> HashModel:
    """Load the model element of a store or model file."""
    return HashModel.from_record(Store(path).read_model(), f"the model in {path}")
