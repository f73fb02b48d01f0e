"""Self-supervised pretraining of a backbone on unlabeled collections (``dhr pretrain``)."""

from dhr_sdk.offline.pretrain.params import PretrainParams
from dhr_sdk.offline.pretrain.simclr import PretrainResult, pretrain

__all__ = ["PretrainParams", "PretrainResult", "pretrain"]
