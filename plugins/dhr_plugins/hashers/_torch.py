"""Torch helpers shared by the deep hashers: seeding, state as plain arrays, batching."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Seed Python, NumPy and torch, force deterministic kernels; yield a torch Generator."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.use_deterministic_algorithms(previous)


def module_state(module: torch.nn.Module, prefix: str) -> dict[str, np.ndarray]:
    """A module's parameters and buffers as numpy arrays under ``prefix/``."""
    return {f"{prefix}/{k}": v.detach().cpu().numpy().copy()
            for k, v in module.state_dict().items()}


def load_module_state(module: torch.nn.Module, state: dict[str, np.ndarray], prefix: str) -> None:
    """Inverse of :func:`module_state` (strict: every key must be present)."""
    head = f"{prefix}/"
    own = {k[len(head):]: torch.from_numpy(np.asarray(v)) for k, v in state.items()
           if k.startswith(head)}
    module.load_state_dict(own, strict=True)


def batches(n: int, batch_size: int, generator: torch.Generator | None = None,
            shuffle: bool = True) -> Iterator[torch.Tensor]:
    """Index batches over ``range(n)``, shuffled with ``generator``."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def sign_codes(z: torch.Tensor) -> np.ndarray:
    """Binary codes as {0,1} uint8 from continuous outputs (bit 1 where ``z > 0``)."""
    return (z.detach().cpu().numpy() > 0).astype(np.uint8)
