"""The extension points: Backbone, Hasher, GraphBuilder, Ranker, Assessor.

Conventions (after scikit-learn): the constructor only stores validated params; ``fit``
returns ``self``; learned state lives in attributes with a trailing ``_``; all randomness is
seeded from the params' ``seed``. Each implementation declares ``name`` (unique per kind)
and a pydantic ``Params`` model (``extra="forbid"``, paper defaults, a description per field).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dhr_sdk.core.errors import DhrError, NotFittedError
from dhr_sdk.core.params import Params as ParamsModel
from dhr_sdk.core.params import build_params
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.types import Assessment, HashGraph, ImportanceList, RankResult

if TYPE_CHECKING:
    import torch
    from PIL import Image

KINDS = ("backbone", "hasher", "graph_builder", "ranker", "assessor")


class Plugin(ABC):
    """Common base: a named, parameterised implementation of one extension point."""

    kind: ClassVar[str]
    name: ClassVar[str]
    Params: ClassVar[type[ParamsModel]]
    summary: ClassVar[str] = ""

    def __init__(self, params: ParamsModel | None = None, **overrides: Any) -> None:
        if params is not None and overrides:
            raise TypeError("pass either a Params instance or keyword overrides, not both")
        if params is None:
            params = build_params(self.Params, overrides, f"{self.kind} {self.name!r}")
        elif not isinstance(params, self.Params):
            raise TypeError(f"{self.name}: expected {self.Params.__name__}, got {type(params)}")
        self.params = params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"{type(self).__name__}({args})"


class Backbone(Plugin):
    """Images -> feature vectors. Owns its preprocessing (resize, normalisation)."""

    kind: ClassVar[str] = "backbone"

    @property
    @abstractmethod
    def output_dim(self) -> int:
        """Length of the feature vector."""

    @abstractmethod
    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """Preprocessing of one PIL image (RGB) to a tensor; picklable for DataLoader workers."""

    @abstractmethod
    def build(self, device: str = "cpu") -> torch.nn.Module:
        """The feature network in eval mode on ``device``: batch tensor -> (batch, output_dim)."""

    def weights_token(self) -> str:
        """Identifies weights the params do not name (a hash model's fine-tuned weights);
        it enters the feature cache key. Empty for a plugin: its params say everything."""
        return ""


@dataclass(frozen=True)
class FitImages:
    """The images behind :attr:`FitData.features`, for hashers that fine-tune the backbone.

    ``dataset`` is a torch ``Dataset`` whose item ``i`` is ``(tensor, i, reason)``: row ``i``
    of the features preprocessed by ``backbone.transform()`` (``reason`` is empty; the
    collection already dropped unreadable files). ``backbone`` is the plugin that computed
    the features; ``device``, ``workers`` are where and with how many loader processes to
    train.
    """

    dataset: Any
    backbone: Backbone
    device: str = "cpu"
    workers: int = 0

    def __len__(self) -> int:
        return len(self.dataset)


@dataclass(frozen=True)
class FitData:
    """What a hasher learns from.

    ``features`` are backbone features of the collection to hash (the "dark" data), one row
    per image. ``labels``/``tags`` are optional multi-hot matrices aligned with those rows
    (labels: ground-truth classes, tags: auxiliary semantics such as LAGNH's). A separate
    labeled training set (GAH's public set of stage TP-A) comes as ``train_features`` and
    ``train_labels``. ``images`` (:class:`FitImages`) are given to hashers that fine-tune
    the backbone end to end. Hashers declare what they need in
    ``Hasher.required_inputs()``.
    """

    features: np.ndarray
    labels: np.ndarray | None = None
    tags: np.ndarray | None = None
    label_names: tuple[str, ...] = ()
    tag_names: tuple[str, ...] = ()
    train_features: np.ndarray | None = None
    train_labels: np.ndarray | None = None
    images: FitImages | None = None

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or self.features.shape[0] == 0:
            raise DhrError(f"features must be a non-empty (n, d) array, got {self.features.shape}")
        n = self.features.shape[0]
        for name in ("labels", "tags"):
            arr = getattr(self, name)
            if arr is not None and (arr.ndim != 2 or arr.shape[0] != n):
                raise DhrError(f"{name} must have one row per image ({n}), got {arr.shape}")
        if (self.train_features is None) != (self.train_labels is None):
            raise DhrError("train_features and train_labels must be given together")
        if self.images is not None and len(self.images) != n:
            raise DhrError(f"images must have one item per feature row ({n}), "
                           f"got {len(self.images)}")


class Hasher(Plugin):
    """Learns a K-bit hash function on features and encodes features to packed codes.

    ``requires`` names the optional parts of :class:`FitData` the hasher always needs
    (``"labels"``, ``"tags"``, ``"train"``); :meth:`required_inputs` adds what its params
    ask for (``"images"`` when it fine-tunes the backbone).
    """

    kind: ClassVar[str] = "hasher"
    requires: ClassVar[frozenset[str]] = frozenset()

    @property
    def n_bits(self) -> int:
        return int(self.params.n_bits)  # type: ignore[attr-defined]

    @property
    def seed(self) -> int:
        return int(getattr(self.params, "seed", 0))

    def required_inputs(self) -> frozenset[str]:
        """Parts of :class:`FitData` this instance needs: ``requires`` plus, when the
        params ask for end-to-end fine-tuning, ``"images"``."""
        return self.requires

    def backbone_state(self) -> dict[str, np.ndarray] | None:
        """The backbone weights this hasher fine-tuned (a state dict as arrays), or ``None``
        when it uses the backbone as given. A hash model then encodes through them."""
        return None

    @abstractmethod
    def fit(self, data: FitData, progress: Progress = QUIET) -> Hasher:
        """Learn the hash function; returns ``self``."""

    @abstractmethod
    def encode(self, features: np.ndarray) -> np.ndarray:
        """Codes of ``features`` (n, d): packed uint8 (n, n_bits // 8); see
        ``dhr_sdk.codes.packing``."""

    @abstractmethod
    def get_state(self) -> dict[str, np.ndarray]:
        """Learned state as named plain arrays (no pickle); keys may contain ``/``."""

    @abstractmethod
    def set_state(self, state: dict[str, np.ndarray]) -> Hasher:
        """Restore what :meth:`get_state` returned; returns ``self``."""

    def is_fitted(self) -> bool:
        """True once fitted or restored: any public attribute ending in ``_`` is set."""
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(f"hasher {self.name!r} is not fitted: call fit() or load a model")


class GraphBuilder(Plugin):
    """Packed codes -> :class:`HashGraph`."""

    kind: ClassVar[str] = "graph_builder"

    @abstractmethod
    def build(self, codes: np.ndarray, n_bits: int, progress: Progress = QUIET) -> HashGraph:
        """Build the graph of ``codes`` (packed uint8, one row per image)."""


class Ranker(Plugin):
    """:class:`HashGraph` -> importance score per node."""

    kind: ClassVar[str] = "ranker"

    @abstractmethod
    def rank(self, graph: HashGraph, progress: Progress = QUIET) -> RankResult:
        """Score every node of ``graph``."""


class Assessor(Plugin):
    """Importance list + requirement codes -> relevance R(AD)."""

    kind: ClassVar[str] = "assessor"

    @abstractmethod
    def assess(self, importance: ImportanceList, requirement_codes: np.ndarray,
               weights: np.ndarray | None = None) -> Assessment:
        """Relevance of the requirement (packed codes, optional per-image weights)."""

    def assess_many(self, importances: Sequence[ImportanceList], requirement_codes: np.ndarray,
                    weights: np.ndarray | None = None) -> list[Assessment]:
        """The same requirement against several lists, in their order: equal to
        :meth:`assess` on each (which this default does). Override it to share work across
        collections (the built-ins search all lists with one Hamming index)."""
        return [self.assess(il, requirement_codes, weights) for il in importances]


BASES: dict[str, type[Plugin]] = {
    "backbone": Backbone,
    "hasher": Hasher,
    "graph_builder": GraphBuilder,
    "ranker": Ranker,
    "assessor": Assessor,
}
