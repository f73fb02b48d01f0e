"""Torch helpers shared by the deep hashers: seeding, state as plain arrays, batching."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dhr_sdk import DhrError, Progress


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Seed Python, NumPy and torch, force deterministic kernels; yield a torch Generator.

    Deterministic kernels are switched on only when CUDA is present: the CPU kernels used
    here are deterministic already, and toggling the flag imports ``torch._inductor``
    (10-15 s on a loaded machine, for every process that fits a deep hasher).
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    toggle = torch.cuda.is_available()
    previous = torch.are_deterministic_algorithms_enabled()
    if toggle:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        if toggle:
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


def train_epochs(epoch_fn: Callable[[int], float], max_epochs: int, tol: float,
                 progress: Progress, desc: str) -> list[float]:
    """Run ``epoch_fn(epoch) -> mean loss`` until convergence or ``max_epochs``.

    Convergence (the papers' "until the loss converges") is a relative change of the epoch
    loss of at most ``tol``; ``tol = 0`` always runs ``max_epochs``. Logs every epoch's loss.
    """
    losses: list[float] = []
    bar = progress.bar(total=max_epochs, desc=desc, unit="epoch")
    try:
        for epoch in range(max_epochs):
            loss = float(epoch_fn(epoch))
            if not math.isfinite(loss):
                raise DhrError(f"{desc}: the loss diverged at epoch {epoch + 1} "
                               "(try a smaller learning rate)")
            losses.append(loss)
            bar.update(1)
            progress.log(f"{desc}: epoch {epoch + 1}/{max_epochs} loss {loss:.6g}")
            if len(losses) > 1 and abs(losses[-2] - loss) <= tol * max(abs(losses[-2]), 1e-12):
                progress.log(f"{desc}: converged after {epoch + 1} epochs")
                break
    finally:
        bar.close()
    return losses


def standardizer(x: np.ndarray, per_feature: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and a scale as float32 arrays of length d.

    The scale is the global RMS of the centred features (one number, keeping the features'
    relative variances, so low-variance dimensions such as image borders stay quiet), or
    with ``per_feature`` each feature's std (1 where a feature is constant).
    """
    mean = x.mean(axis=0, dtype=np.float64)
    if per_feature:
        std = x.std(axis=0, dtype=np.float64)
        std[std < 1e-8] = 1.0
    else:
        rms = float(np.sqrt(np.mean((x - mean) ** 2)))
        std = np.full(x.shape[1], rms if rms > 1e-8 else 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


class FCHead(torch.nn.Module):
    """Fully connected hash head on backbone features.

    Hidden layers are ``Linear -> LeakyReLU(slope) -> BatchNorm`` (NRDH Table 2 and Eq. (9),
    DSTGeH Eq. (9)-(10)); the last layer is ``Linear`` followed by BatchNorm when
    ``final_bn`` (NRDH's "BN + Tanh" layer). ``forward`` returns the last pre-activation.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, slope: float,
                 final_bn: bool) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = []
        prev = in_dim
        for width in hidden:
            layers += [torch.nn.Linear(prev, width), torch.nn.LeakyReLU(slope),
                       torch.nn.BatchNorm1d(width)]
            prev = width
        layers.append(torch.nn.Linear(prev, out_dim))
        if final_bn:
            layers.append(torch.nn.BatchNorm1d(out_dim))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def predict(module: torch.nn.Module, x: np.ndarray, batch_size: int = 4096) -> torch.Tensor:
    """``module(x)`` in eval mode without gradients, in row batches (float32 input)."""
    module.eval()
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            out.append(module(torch.from_numpy(np.ascontiguousarray(
                x[start:start + batch_size], dtype=np.float32))))
    return torch.cat(out)


def optimiser_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One step of ``opt`` down ``loss``; returns the loss value."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def train_head(head: FCHead, xs: torch.Tensor, targets: torch.Tensor,
               loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, lr: float,
               batch_size: int, epochs: int, tol: float, generator: torch.Generator,
               progress: Progress, desc: str) -> list[float]:
    """Stage 2 of the two-stage hashers: fit ``head(xs)`` to ``targets`` under ``loss_fn``.

    Adam over shuffled mini-batches (a batch of one row is skipped: BatchNorm needs two);
    the epoch loss is the row-weighted mean; stops per :func:`train_epochs`. The head is
    left in eval mode. Returns the epoch losses.
    """
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    n = xs.shape[0]

    def epoch(_: int) -> float:
        head.train()
        total, count = 0.0, 0
        for idx in batches(n, batch_size, generator):
            if len(idx) < 2:
                continue
            total += optimiser_step(opt, loss_fn(head(xs[idx]), targets[idx])) * len(idx)
            count += len(idx)
        return total / max(count, 1)

    history = train_epochs(epoch, epochs, tol, progress, desc)
    head.eval()
    return history


def head_state(mean: np.ndarray, scale: np.ndarray, head: FCHead,
               history: dict[str, np.ndarray],
               backbone: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """State of a two-stage hasher: feature scaler, losses per stage, the fc head and, when
    stage 2 ran end to end, the fine-tuned backbone's state dict."""
    return {"scaler/mean": mean, "scaler/scale": scale,
            **{f"history/{k}": np.asarray(v) for k, v in history.items()},
            **module_state(head, "head"),
            **{f"backbone/{k}": v for k, v in (backbone or {}).items()}}


@dataclass
class HeadState:
    """What :func:`load_head_state` restores."""

    mean: np.ndarray
    scale: np.ndarray
    head: FCHead
    history: dict[str, np.ndarray]
    backbone: dict[str, np.ndarray] | None


def load_head_state(state: dict[str, np.ndarray], name: str, hidden: Sequence[int],
                    n_bits: int, slope: float, final_bn: bool) -> HeadState:
    """Inverse of :func:`head_state`; a one-line error when state and params disagree."""
    try:
        mean = np.asarray(state["scaler/mean"], dtype=np.float32)
        scale = np.asarray(state["scaler/scale"], dtype=np.float32)
        head = FCHead(mean.shape[0], hidden, n_bits, slope, final_bn=final_bn)
        load_module_state(head, state, "head")
        history = {k.removeprefix("history/"): np.asarray(v) for k, v in state.items()
                   if k.startswith("history/")}
        missing = {"stage1", "stage2"} - history.keys()
        if missing:
            raise KeyError(f"history/{min(missing)}")
    except (KeyError, RuntimeError) as exc:
        raise DhrError(f"{name}: model state is incomplete or does not match the "
                       f"parameters ({exc})") from None
    backbone = {k.removeprefix("backbone/"): np.asarray(v) for k, v in state.items()
                if k.startswith("backbone/")}
    head.eval()
    return HeadState(mean, scale, head, history, backbone or None)
