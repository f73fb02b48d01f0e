"""A backbone plugin with weights fine-tuned by a hasher (NRDH/DSTGeH stage 2 end to end).

The fine-tuned weights travel inside the hash model (the hasher's state), so a model file
alone encodes new images. :class:`FineTunedBackbone` keeps the plugin's name, params and
preprocessing, loads those weights into the plugin's network, and adds their digest to the
feature cache key so that frozen and fine-tuned features never mix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Backbone

if TYPE_CHECKING:
    import torch
    from PIL import Image


def state_digest(state: Mapping[str, np.ndarray]) -> str:
    """A short digest of named arrays (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for key in sorted(state):
        arr = np.ascontiguousarray(state[key])
        h.update(f"{key}|{arr.dtype}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


class FineTunedBackbone(Backbone):
    """``base`` with ``state`` (its network's state dict as arrays) loaded on build."""

    def __init__(self, base: Backbone, state: Mapping[str, np.ndarray]) -> None:
        if not state:
            raise DhrError("a fine-tuned backbone needs weights")
        self.base = base
        self.state = dict(state)
        self.params = base.params
        # Same identity as the plugin (name, params class): the store and the registry
        # see the plugin; only the weights token tells the two apart.
        self.name = base.name  # type: ignore[misc]
        self.Params = base.Params  # type: ignore[misc]
        self.summary = f"{base.summary} (fine-tuned)"  # type: ignore[misc]
        self._token = state_digest(self.state)

    @property
    def output_dim(self) -> int:
        return self.base.output_dim

    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        return self.base.transform()

    def weights_token(self) -> str:
        return f"fine-tuned-{self._token}"

    def build(self, device: str = "cpu") -> torch.nn.Module:
        import torch

        net = self.base.build("cpu")
        tensors = {k: torch.from_numpy(np.array(v)) for k, v in self.state.items()}
        try:
            net.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:300]
            raise DhrError(f"the model's fine-tuned weights do not fit backbone "
                           f"{self.name!r} with its params: {detail}") from None
        return net.to(device).eval()

    def __repr__(self) -> str:
        return f"FineTunedBackbone({self.base!r}, {self.weights_token()})"
