"""SimCLR pretraining of an encoder on unlabeled images, checkpointed every epoch.

The loop: per epoch a seeded permutation; per batch two augmented views of each image
(:mod:`.augment`), encoder + projection head (Linear-BN-ReLU-Linear, SimCLR's MLP head),
NT-Xent loss, one Adam step; the learning rate decays by a cosine per epoch. After every
epoch the backbone file is rewritten (encoder, loss history, and the checkpoint: head,
optimiser, generator state), so ``resume=True`` continues bit for bit where a run stopped.
Labels never enter: the function only receives images.

Training runs with ``threads`` torch threads (default 1, restored afterwards): on two CPU
cores shared with other jobs, two threads spent 2-4x the wall clock of one on the same
epochs, their OpenMP barriers waiting for a descheduled partner while spinning (measured
in ``benchmarks/pretrain_speed.py``); a seed gives the same weights for the same count.

The encoder and the views are kept in ``channels_last`` memory format: on CPU, oneDNN's
convolutions then skip a layout conversion per layer (``benchmarks/pretrain_speed.py``
times both layouts). The values are the same computation; only their order in memory
changes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.params import build_params
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.model.ssl_file import (
    SSLBackboneFile,
    SSLCheckpoint,
    images_digest,
    read_ssl_file,
    write_ssl_file,
)
from dhr_sdk.model.ssl_net import build_encoder, feature_dim
from dhr_sdk.offline.pretrain.augment import two_views
from dhr_sdk.offline.pretrain.params import PretrainParams

if TYPE_CHECKING:
    import torch

#: Params that may change between a run and its ``--resume`` (the rest must match).
RESUMABLE = frozenset({"epochs", "threads"})


@dataclass
class PretrainResult:
    """What :func:`pretrain` did."""

    path: Path
    epochs_done: int
    loss: list[float]
    seconds: float
    resumed_from: int
    feature_dim: int
    epoch_seconds: list[float]  # wall clock of each epoch run here (checkpoint write included)
    epoch_cpu_seconds: list[float]  # CPU time of this process (all threads) in each epoch


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross entropy over 2n views."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def _projector(dim: int, p: PretrainParams) -> torch.nn.Module:
    from torch import nn

    return nn.Sequential(nn.Linear(dim, p.hidden_dim), nn.BatchNorm1d(p.hidden_dim),
                         nn.ReLU(inplace=True), nn.Linear(p.hidden_dim, p.projection_dim))


def _arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def _load(module: torch.nn.Module, arrays: dict[str, np.ndarray]) -> None:
    import torch

    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})


def _optimizer_arrays(opt: torch.optim.Optimizer) -> dict[str, dict[str, np.ndarray]]:
    return {str(i): {k: v.detach().cpu().numpy().copy() for k, v in s.items()}
            for i, s in opt.state_dict()["state"].items()}


def _load_optimizer(opt: torch.optim.Optimizer, saved: dict[str, dict[str, np.ndarray]]) -> None:
    import torch

    state = opt.state_dict()
    state["state"] = {int(i): {k: torch.from_numpy(np.array(v)) for k, v in s.items()}
                      for i, s in saved.items()}
    opt.load_state_dict(state)


def _check_resumable(old: SSLBackboneFile, p: PretrainParams, digest: str, path: Path) -> None:
    if old.checkpoint is None:
        raise DhrError(f"{path} holds no checkpoint to resume from")
    if old.data_digest != digest:
        raise DhrError(f"{path} was trained on other images (data digest "
                       f"{old.data_digest[:12]} vs {digest[:12]}); drop --resume to start anew")
    new = p.model_dump(mode="json")
    # a param the file does not record is newer than the file, which trained with its default
    default = build_params(PretrainParams, {}, "dhr pretrain").model_dump(mode="json")
    diff = sorted(k for k in new if k not in RESUMABLE and old.params.get(k, default[k]) != new[k])
    if diff:
        raise DhrError(f"{path} was trained with other params ({', '.join(diff)}); resume "
                       "with the same ones (only epochs and threads may change)")


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """One epoch's batches of a seeded permutation; a last batch of one image is dropped
    (BatchNorm needs two)."""
    import torch

    perm = torch.randperm(n, generator=gen)
    out = list(perm.split(batch_size))
    return out if out[-1].numel() > 1 else out[:-1]


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` for the block, restored after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _epoch(encoder: torch.nn.Module, head: torch.nn.Module, opt: torch.optim.Optimizer,
           data: torch.Tensor, batches: list[torch.Tensor], gen: torch.Generator,
           p: PretrainParams, bar: Any) -> float:
    """One pass over ``batches`` (two views per image, NT-Xent, one Adam step per batch);
    the mean loss per image."""
    import torch

    total, count = 0.0, 0
    for idx in batches:
        x = data[idx.to(data.device)]
        views = two_views(x, gen, p)
        z = head(encoder(views.contiguous(memory_format=torch.channels_last)))
        loss = nt_xent(z[: len(idx)], z[len(idx):], p.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.item())
        total += value * len(idx)
        count += len(idx)
        bar.update(1)
        bar.set_postfix(loss=f"{value:.3f}")
    return total / count


def pretrain(images: torch.Tensor, output: str | Path, params: PretrainParams | None = None,
             *, resume: bool = False, device: str = "cpu", data_digest: str | None = None,
             max_minutes: float | None = None, progress: Progress = QUIET) -> PretrainResult:
    """Train an encoder on ``images`` (float tensor (n, channels, image_size, image_size)
    in [0, 1], see :func:`~dhr_sdk.offline.pretrain.images.prepare_images`) with SimCLR
    and write the backbone file ``output`` after every epoch (module doc).

    ``max_minutes``: stop after the first epoch that ends past this wall-clock budget; the
    file then holds ``epochs_done < epochs`` (not ``complete``) and ``resume`` goes on."""
    import torch

    p = params if params is not None else build_params(PretrainParams, {}, "dhr pretrain")
    start = time.perf_counter()
    path = Path(output)
    if images.ndim != 4 or images.shape[1] != p.channels or images.shape[2] != p.image_size:
        raise DhrError(f"images must be (n, {p.channels}, {p.image_size}, {p.image_size}), "
                       f"got {tuple(images.shape)}")
    n = int(images.shape[0])
    if n < 2:
        raise DhrError("pretraining needs at least 2 images")
    digest = data_digest or images_digest((images.numpy() * 255).round().astype(np.uint8))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(p.seed)
        encoder = build_encoder(p.arch, p.channels, p.width)
        dim = feature_dim(encoder, p.channels, p.image_size)
        head = _projector(dim, p)
    gen = torch.Generator().manual_seed(p.seed + 1)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=p.lr,
                           weight_decay=p.weight_decay)
    loss_history: list[float] = []
    if resume and path.exists():
        old = read_ssl_file(path, checkpoint=True)
        _check_resumable(old, p, digest, path)
        assert old.checkpoint is not None
        _load(encoder, old.encoder)
        _load(head, old.checkpoint.projector)
        _load_optimizer(opt, old.checkpoint.optimizer)
        gen.set_state(torch.from_numpy(old.checkpoint.rng))
        loss_history = list(old.loss)
        progress.log(f"resuming {path} after epoch {old.epochs_done}")
    done0 = len(loss_history)
    encoder.to(device).to(memory_format=torch.channels_last).train()
    head.to(device).train()
    data = images.to(device)
    epoch_seconds: list[float] = []
    epoch_cpu: list[float] = []
    with _torch_threads(p.threads):
        for epoch in range(done0, p.epochs):
            epoch_start, cpu_start = time.perf_counter(), time.process_time()
            for group in opt.param_groups:
                group["lr"] = p.lr * 0.5 * (1 + math.cos(math.pi * epoch / p.epochs))
            batches = _batches(n, p.batch_size, gen)
            bar = progress.bar(total=len(batches), desc=f"pretrain epoch {epoch + 1}/{p.epochs}")
            with bar:
                loss_history.append(_epoch(encoder, head, opt, data, batches, gen, p, bar))
            ck = SSLCheckpoint(_arrays(head), _optimizer_arrays(opt), gen.get_state().numpy())
            write_ssl_file(path, SSLBackboneFile(
                arch=p.arch, channels=p.channels, image_size=p.image_size, feature_dim=dim,
                params=p.model_dump(mode="json"), seed=p.seed, data_digest=digest, n_images=n,
                encoder=_arrays(encoder), epochs_done=epoch + 1,
                complete=epoch + 1 == p.epochs, method=p.method, loss=loss_history,
                checkpoint=ck))
            epoch_seconds.append(time.perf_counter() - epoch_start)
            epoch_cpu.append(time.process_time() - cpu_start)
            progress.log(f"epoch {epoch + 1}/{p.epochs}: loss {loss_history[-1]:.4f}")
            if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes \
                    and epoch + 1 < p.epochs:
                progress.log(f"time budget of {max_minutes:g} min spent after epoch "
                             f"{epoch + 1}; --resume continues")
                break
    if done0 >= p.epochs:
        progress.log(f"{path} already holds {done0} epoch(s); nothing to do")
    return PretrainResult(path, max(done0, len(loss_history)), loss_history,
                          time.perf_counter() - start, done0, dim, epoch_seconds, epoch_cpu)


def describe(result: PretrainResult) -> dict[str, Any]:
    """The ``--json`` object of ``dhr pretrain``."""
    return {"output": str(result.path), "epochs_done": result.epochs_done,
            "resumed_from": result.resumed_from, "loss": result.loss,
            "feature_dim": result.feature_dim, "seconds": round(result.seconds, 3),
            "epoch_seconds": [round(t, 3) for t in result.epoch_seconds],
            "epoch_cpu_seconds": [round(t, 3) for t in result.epoch_cpu_seconds]}
