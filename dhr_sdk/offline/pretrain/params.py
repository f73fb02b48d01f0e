"""Parameters of ``dhr pretrain`` (validated like a plugin's, ``-p key=value``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dhr_sdk.core.params import Params


class PretrainParams(Params):
    """SimCLR (Chen et al., ICML 2020) at small image sizes; defaults fit two CPU cores."""

    method: Literal["simclr"] = Field("simclr", description="Self-supervised objective: "
                                      "SimCLR's NT-Xent between two augmented views.")
    arch: str = Field("convnet-s2", description="Encoder: 'convnet-s2' (small 4-stage CNN "
                      "whose first convolution has stride 2: about a third of convnet's "
                      "work), 'convnet' (the same stages, first one at full resolution) or "
                      "any torchvision model name (e.g. resnet18).")
    width: int = Field(32, ge=4, le=512, description="Channels of the convnet's first stage "
                       "(doubled at each of the 4 stages; feature = 8 x width).")
    image_size: int = Field(28, ge=8, le=512, description="Images are resized to "
                            "image_size x image_size (training and feature extraction).")
    channels: Literal[1, 3] = Field(1, description="1: grayscale, 3: RGB (torchvision "
                                    "models need 3).")
    epochs: int = Field(20, ge=1, le=10000, description="Passes over the images.")
    batch_size: int = Field(256, ge=4, le=65536, description="Images per step (2 views each).")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate (cosine decay per epoch).")
    weight_decay: float = Field(1e-6, ge=0, description="Adam weight decay.")
    temperature: float = Field(0.5, gt=0, description="NT-Xent temperature.")
    projection_dim: int = Field(128, ge=8, le=4096, description="Output of the projection "
                                "head (used only for the loss, then dropped).")
    hidden_dim: int = Field(512, ge=8, le=8192, description="Hidden layer of the projection "
                            "head.")
    crop_scale: float = Field(0.4, gt=0, le=1, description="Random resized crops cover "
                              "this share of the image area at least.")
    crop_max: float = Field(1.0, gt=0, le=1, description="... and at most this share "
                            "(below 1 with a small view_size: crops of one object of images "
                            "that hold several).")
    view_size: int | None = Field(None, ge=8, le=512, description="Side of the training "
                                  "views the crops are resampled to (default image_size). "
                                  "Smaller than image_size: the encoder learns objects at "
                                  "the scale they have in the full image_size image, which "
                                  "the ssl backbone's pooling=max then finds anywhere in it.")
    pair_shift: float | None = Field(None, gt=0, le=1, description="The second view of "
                                     "an image is a crop centred at most this share of the "
                                     "side from the first one's (default: anywhere), so that "
                                     "with small crops both views show the same object.")
    rotation: float = Field(15.0, ge=0, le=180, description="Random rotation, degrees (±).")
    flip: bool = Field(False, description="Random horizontal flips (off: digits and text "
                       "change meaning when mirrored).")
    jitter: float = Field(0.4, ge=0, le=1, description="Random brightness and contrast "
                          "factors in [1 - jitter, 1 + jitter].")
    seed: int = Field(0, description="Seeds the initialisation, batch order and every "
                      "augmentation.")
    threads: int = Field(1, ge=1, le=1024, description="CPU threads of torch while training "
                         "(1: on cores shared with other jobs, 2 threads spent 2-4x the "
                         "wall clock waiting for each other; raise it on idle cores). The "
                         "same seed gives the same weights for the same thread count.")

    @model_validator(mode="after")
    def _crops_fit(self) -> PretrainParams:
        if self.crop_max < self.crop_scale:
            raise ValueError(f"crop_max ({self.crop_max}) is below crop_scale "
                             f"({self.crop_scale})")
        if self.view_size is not None and self.view_size > self.image_size:
            raise ValueError(f"view_size ({self.view_size}) exceeds image_size "
                             f"({self.image_size}): views are crops of the image")
        return self

    @property
    def views(self) -> int:
        """Side of the training views (``view_size``, default ``image_size``)."""
        return self.view_size or self.image_size
