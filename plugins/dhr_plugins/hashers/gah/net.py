"""GAH's network (paper Fig. 5b): image representation, MFB, fch and the decoder.

The label co-occurrence embedding (the GCN) is :class:`._gah_graph.LabelGCN`; its output
E(r) enters :class:`MFB` as a tensor so it can be trained in TP-A and frozen afterwards.
Tensor names follow the paper: x̃ (image-level feature), M1 = Ũᵀx̃, M2 = Ṽᵀ E(r),
M3 = M1 ∘ M2, M4 = Z (sum-pooled over k), Z̃ (continuous code), h = tanh(Z̃).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


class ImageRepresentation(nn.Module):
    """x̃ = F_gmp(F_cnn(x; θ)) (section 4.2) on top of a frozen backbone.

    The backbone plugin already returns pooled (GMP/GAP) feature vectors, so this module is
    the trainable part θ that the paper fine-tunes in TP-A/TP-B: one fc layer + ReLU of
    width ``image_dim`` (the CPU stand-in for fine-tuning conv5_x). ``image_dim=0`` uses the
    backbone features as x̃ directly.
    """

    def __init__(self, in_dim: int, image_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, image_dim) if image_dim > 0 else None
        self.out_dim = image_dim if image_dim > 0 else in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x)) if self.fc is not None else x


class MFB(nn.Module):
    """Multi-modal factorized bilinear fusion with sum pooling over k (Eq. 2, section 4.4).

    ``fc_u`` (Ũ, red fc) gives M1 = Ũᵀx̃ ∈ R^{kR} from the image; ``fc_v`` (Ṽ, blue fc) is
    applied to each object's embedding and object g keeps its own k-block, so
    M2[g] = V_gᵀ E(r_g). z_g = 1ᵀ(U_gᵀx̃ ∘ V_gᵀE(r_g)) (Eq. 2); Z = F_sum-pooling(M3, k).
    """

    def __init__(self, image_dim: int, embed_dim: int, n_labels: int, k: int) -> None:
        super().__init__()
        self.k, self.n_labels = k, n_labels
        self.fc_u = nn.Linear(image_dim, k * n_labels)
        self.fc_v = nn.Linear(embed_dim, k * n_labels)

    def label_side(self, embeddings: torch.Tensor) -> torch.Tensor:
        """M2 (k·R,): block g of Ṽᵀ E(r_g)."""
        full = self.fc_v(embeddings).view(self.n_labels, self.n_labels, self.k)  # (R, R, k)
        idx = torch.arange(self.n_labels)
        return full[idx, idx].reshape(-1)

    def forward(self, x_tilde: torch.Tensor, embeddings: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(M1, M3, M4) for a batch: M1, M3 (n, k·R) and M4 = Z (n, R)."""
        m1 = self.fc_u(x_tilde)
        m3 = m1 * self.label_side(embeddings)[None, :]  # M3 = M1 ∘ M2
        m4 = m3.view(-1, self.n_labels, self.k).sum(dim=2)  # F_sum-pooling(*, k)
        return m1, m3, m4


@dataclass
class Forward:
    """Everything one encoder pass produces (the decoder's targets included)."""

    m3: torch.Tensor
    m4: torch.Tensor
    z_tilde: torch.Tensor

    @property
    def h(self) -> torch.Tensor:
        """Continuous code tanh(Z̃) ∈ (-1, 1)^K; the hash code is sgn(Z̃) (section 4.4)."""
        return torch.tanh(self.z_tilde)


class Encoder(nn.Module):
    """Image representation → MFB (with the fixed-per-pass E(r)) → fch (R → K)."""

    def __init__(self, in_dim: int, image_dim: int, embed_dim: int, n_labels: int, k: int,
                 n_bits: int) -> None:
        super().__init__()
        self.image = ImageRepresentation(in_dim, image_dim)
        self.mfb = MFB(self.image.out_dim, embed_dim, n_labels, k)
        self.fch = nn.Linear(n_labels, n_bits)

    def forward(self, x: torch.Tensor, embeddings: torch.Tensor) -> Forward:
        _, m3, m4 = self.mfb(self.image(x), embeddings)
        return Forward(m3=m3, m4=m4, z_tilde=self.fch(m4))


class PixelDecoder(nn.Module):
    """Deconvolution stack x̄_gmp → x̄ of shape (C, H, W) (section 4.6, the paper's 448²×3).

    A transposed convolution "un-pools" the 1×1 GMP vector to (H/4, W/4), two stride-2
    deconvolutions upsample ×4, the result is cropped to (H, W).
    """

    def __init__(self, in_dim: int, shape: Sequence[int], width: int = 32) -> None:
        super().__init__()
        c, h, w = (int(s) for s in shape)
        self.shape = (c, h, w)
        h0, w0 = -(-h // 4), -(-w // 4)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(in_dim, width, kernel_size=(h0, w0)), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, c, 4, stride=2, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h, w = self.shape
        return self.net(x[:, :, None, None])[:, :, :h, :w].reshape(x.shape[0], -1)


class Decoder(nn.Module):
    """Four fc layers h → M̄4 (R) → M̄3 (k·R) → M̄1 (k·R) → x̄_gmp (D(x̃)), then x̄ (Fig. 5b).

    x̄ is the input features (CPU default: one more fc layer from x̄_gmp to the input width,
    or x̄_gmp itself when x̃ is the input) or pixels through :class:`PixelDecoder`.
    LeakyReLU(0.2) sits between the layers; M̄4, M̄3 and x̄_gmp are read before it.
    """

    def __init__(self, n_bits: int, n_labels: int, k: int, image_dim: int, in_dim: int,
                 pixel_shape: Sequence[int] = ()) -> None:
        super().__init__()
        self.fc = nn.ModuleList([nn.Linear(n_bits, n_labels), nn.Linear(n_labels, k * n_labels),
                                 nn.Linear(k * n_labels, k * n_labels),
                                 nn.Linear(k * n_labels, image_dim)])
        self.act = nn.LeakyReLU(0.2)
        self.pixels = PixelDecoder(image_dim, pixel_shape) if pixel_shape else None
        self.to_input = (nn.Linear(image_dim, in_dim)
                         if not pixel_shape and image_dim != in_dim else None)

    def fc_weights(self) -> list[torch.Tensor]:
        """W_f of Eq. (8): the weights of the decoder's fc layers."""
        layers = [*self.fc, *([self.to_input] if self.to_input is not None else [])]
        return [layer.weight for layer in layers if isinstance(layer, nn.Linear)]

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(M̄3, M̄4, x̄)."""
        m4_bar = self.fc[0](h)
        m3_bar = self.fc[1](self.act(m4_bar))
        x_gmp = self.fc[3](self.act(self.fc[2](self.act(m3_bar))))
        if self.pixels is not None:
            x_bar = self.pixels(self.act(x_gmp))
        elif self.to_input is not None:
            x_bar = self.to_input(self.act(x_gmp))
        else:
            x_bar = x_gmp
        return m3_bar, m4_bar, x_bar
