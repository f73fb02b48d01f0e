"""Stage 2 shared by the two-stage hashers NRDH and DSTGeH, frozen or end to end.

Both papers learn targets in stage 1 (NRDH: node representations, DSTGeH: pseudo labels)
and in stage 2 "reset the fc layers and retrain the whole network" (a ResNet-18 with the fc
hash head). Here stage 2 first trains the head on the frozen backbone features (the
CPU-friendly default). With ``fine_tune`` the backbone CNN and the head are then trained
together on the images under the same loss, starting from that head; the fine-tuned
backbone weights become part of the hasher's state (``backbone/...`` arrays), so the hash
model encodes new images end to end through them (``HashModel.make_backbone``).

Deviations: the network fine-tuned is the backbone that computed the stage-1 features (NRDH
extracts them with ResNet-101 and retrains a ResNet-18: choose ``--backbone resnet18`` to
fine-tune the paper's stage-2 network); the feature scaler of the frozen features is kept
while the backbone moves; optimiser (Adam), learning rate, batch size and epoch cap of the
end-to-end stage are not given in the papers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from dhr_sdk import DhrError, FitImages, Hasher, HasherParams, Progress

if TYPE_CHECKING:  # torch loads when stage 2 trains or a head is restored
    import torch

    from dhr_plugins.hashers._common.torch_utils import FCHead

    LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class FineTuneParams(HasherParams):
    """The end-to-end options of stage 2 (fields shared by NRDH and DSTGeH); their papers'
    code lengths are 16 to 128 bits."""

    min_bits: ClassVar[int] = 16
    max_bits: ClassVar[int] = 128

    fine_tune: bool = Field(False, description="Stage 2 end to end (the papers' setting): after "
                            "the head is trained on frozen features, train the backbone CNN "
                            "and the head together on the images. Needs a CNN backbone; slow "
                            "on a CPU, meant for --device cuda.")
    fine_tune_epochs: int = Field(3, ge=1, description="Epoch cap of the end-to-end stage "
                                  "(also stops on the convergence rule; not given in the "
                                  "papers).")
    fine_tune_lr: float = Field(1e-4, gt=0.0, description="Adam learning rate of the "
                                "end-to-end stage, backbone and head (not given in the papers).")
    fine_tune_batch_size: int = Field(32, ge=2, description="Images per step of the "
                                      "end-to-end stage (not given in the papers).")


def fine_tune_end_to_end(images: FitImages, head: FCHead, targets: torch.Tensor,
                         loss_fn: LossFn, mean: np.ndarray, scale: np.ndarray, *,
                         epochs: int, lr: float, batch_size: int, tol: float,
                         generator: torch.Generator, progress: Progress, desc: str
                         ) -> tuple[dict[str, np.ndarray], list[float]]:
    """Train ``images.backbone``'s network and ``head`` together so that
    ``head((net(image) - mean) / scale)`` fits ``targets[row]`` under ``loss_fn``.

    Returns the fine-tuned network's state dict as arrays and the epoch losses; ``head`` is
    updated in place and left in eval mode on the CPU.
    """
    import torch
    from torch.utils.data import DataLoader

    from dhr_plugins.hashers._common.torch_utils import optimiser_step, train_epochs
    from dhr_sdk import resolve_device

    device = resolve_device(images.device)
    net = images.backbone.build(device)
    weights = list(net.parameters())
    if not weights:
        raise DhrError(f"{desc}: backbone {images.backbone.name!r} has no trainable weights; "
                       "fine_tune needs a CNN backbone (e.g. --backbone resnet18)")
    for w in weights:
        w.requires_grad_(True)
    head.to(device)
    shift = torch.from_numpy(mean).to(device)
    inv_scale = torch.from_numpy(1.0 / scale).to(device)
    opt = torch.optim.Adam([*weights, *head.parameters()], lr=lr)
    loader = DataLoader(images.dataset, batch_size=batch_size, shuffle=True,
                        generator=generator, num_workers=images.workers,
                        pin_memory=device.startswith("cuda"))
    n = len(images)

    def epoch(_: int) -> float:
        net.train()
        head.train()
        total, count = 0.0, 0
        with progress.bar(total=n, desc=desc, unit="img") as bar:
            for x, rows, reasons in loader:
                broken = [r for r in reasons if r]
                if broken:
                    raise DhrError(f"{desc}: an image became unreadable: {broken[0]}")
                bar.update(len(rows))
                if len(rows) < 2:  # BatchNorm needs two rows
                    continue
                feats = net(x.to(device, non_blocking=True)).reshape(len(rows), -1)
                loss = loss_fn(head((feats - shift) * inv_scale), targets[rows].to(device))
                total += optimiser_step(opt, loss) * len(rows)
                count += len(rows)
        return total / max(count, 1)

    history = train_epochs(epoch, epochs, tol, progress, desc)
    net.eval()
    head.to("cpu").eval()
    state = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
    return state, history


class TwoStageHasher(Hasher):
    """Base of NRDH and DSTGeH: stage-2 training (frozen, then optionally end to end) and
    the model state (feature scaler, losses, fc head, fine-tuned backbone)."""

    final_bn: ClassVar[bool]
    params: Any  # a Params model with FineTuneParams' fields and the head's fields
    mean_: np.ndarray
    scale_: np.ndarray
    head_: FCHead
    in_dim_: int
    history_: dict[str, np.ndarray]
    fine_tuned_backbone_: dict[str, np.ndarray] | None

    def required_inputs(self) -> frozenset[str]:
        return self.requires | {"images"} if self.params.fine_tune else self.requires

    def backbone_state(self) -> dict[str, np.ndarray] | None:
        return getattr(self, "fine_tuned_backbone_", None)

    def _train_stage2(self, xs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                      images: FitImages | None, mean: np.ndarray, scale: np.ndarray,
                      gen: torch.Generator, progress: Progress
                      ) -> tuple[FCHead, dict[str, list[float]]]:
        """The fc head on the standardised features ``xs``, then, with ``fine_tune``, the
        backbone and head end to end; sets ``fine_tuned_backbone_``. Returns the head and
        the stage-2 losses by phase."""
        from dhr_plugins.hashers._common.torch_utils import FCHead, train_head

        p = self.params
        head = FCHead(xs.shape[1], p.head_hidden, p.n_bits, p.leaky_slope,
                      final_bn=self.final_bn)
        losses = {"stage2": train_head(
            head, xs, targets, loss_fn, lr=p.head_lr, batch_size=p.head_batch_size,
            epochs=p.head_epochs, tol=p.tol, generator=gen, progress=progress,
            desc=f"{self.name} stage 2")}
        self.fine_tuned_backbone_ = None
        if p.fine_tune:
            if images is None:
                raise DhrError(f"{self.name}: fine_tune needs the images behind the features "
                               "(FitData.images); 'dhr fit' and pipeline.fit pass them")
            progress.log(f"{self.name}: stage 2 end to end, fine-tuning "
                         f"{images.backbone.name} with the head on {len(images)} images")
            self.fine_tuned_backbone_, losses["fine_tune"] = fine_tune_end_to_end(
                images, head, targets, loss_fn, mean, scale, epochs=p.fine_tune_epochs,
                lr=p.fine_tune_lr, batch_size=p.fine_tune_batch_size, tol=p.tol,
                generator=gen, progress=progress, desc=f"{self.name} fine-tune")
        return head, losses

    def get_state(self) -> dict[str, np.ndarray]:
        from dhr_plugins.hashers._common.torch_utils import head_state

        self.check_fitted()
        return head_state(self.mean_, self.scale_, self.head_, self.history_,
                          self.fine_tuned_backbone_)

    def set_state(self, state: dict[str, np.ndarray]) -> TwoStageHasher:
        from dhr_plugins.hashers._common.torch_utils import load_head_state

        p = self.params
        st = load_head_state(state, self.name, p.head_hidden, p.n_bits, p.leaky_slope,
                             final_bn=self.final_bn)
        if p.fine_tune != (st.backbone is not None):
            raise DhrError(f"{self.name}: model state {'lacks' if p.fine_tune else 'has'} "
                           "fine-tuned backbone weights but fine_tune is "
                           f"{str(p.fine_tune).lower()}")
        self.mean_, self.scale_, self.head_ = st.mean, st.scale, st.head
        self.in_dim_ = int(st.mean.shape[0])
        self.history_ = st.history
        self.fine_tuned_backbone_ = st.backbone
        return self
