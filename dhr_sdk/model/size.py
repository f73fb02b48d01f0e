"""Size of a fitted hasher: learned parameters and stored state, counted in values.

Used by the evaluation to put the cost of a model next to its timings (the efficiency
claims of the hashing papers compare training time *and* model size). Two measures, both
read from the fitted object, never declared by the plugin:

- ``parameters``: elements of the ``torch.nn.Parameter`` tensors of the torch modules the
  fitted hasher keeps (its public ``*_`` attributes), i.e. the learned weights a saved
  model stores. Buffers (BatchNorm running statistics, fixed word vectors or adjacency
  matrices) are counted apart as ``buffers``. Networks used only during ``fit`` and then
  dropped (a stage-1 network, a discriminator) are not kept and so not counted; a kept
  module may include parts only training uses (a decoder), which are. ``None`` for a
  hasher without torch modules (LSH, ITQ, ...: their whole model is state).
- ``state_values``: elements of every array :meth:`~dhr_sdk.core.interfaces.Hasher.get_state`
  returns — everything a saved model stores (weights, buffers, scalers, anchors, loss
  history), with ``state_groups`` splitting it by the first component of the state keys.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from dhr_sdk.core.interfaces import Hasher


def model_size(hasher: Hasher) -> dict[str, Any]:
    """``{"parameters", "buffers", "state_values", "state_groups"}`` of a fitted hasher."""
    groups: dict[str, int] = {}
    for key, value in hasher.get_state().items():
        group = key.split("/", 1)[0]
        groups[group] = groups.get(group, 0) + int(np.asarray(value).size)
    params, buffers = _torch_counts(hasher)
    return {"parameters": params, "buffers": buffers,
            "state_values": sum(groups.values()), "state_groups": groups}


def _torch_counts(hasher: Hasher) -> tuple[int | None, int | None]:
    """Parameter and buffer elements of the torch modules among the fitted attributes.

    torch is only looked up if already imported (a hasher holding modules imported it), so
    measuring a NumPy-only hasher never pays torch's import time.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None, None
    modules = [v for k, v in vars(hasher).items()
               if k.endswith("_") and not k.startswith("_") and isinstance(v, torch.nn.Module)]
    if not modules:
        return None, None
    params = {id(p): p.numel() for m in modules for p in m.parameters()}
    buffers = {id(b): b.numel() for m in modules for b in m.buffers()}
    return int(sum(params.values())), int(sum(buffers.values()))
