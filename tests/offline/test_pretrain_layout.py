"""dhr pretrain trains in channels_last memory format: the same computation as the plain
layout, saved as ordinary C-ordered arrays, with each epoch's seconds reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.ssl_file import read_ssl_file
from dhr_sdk.model.ssl_net import build_encoder
from dhr_sdk.offline.pretrain import PretrainParams, pretrain
from dhr_sdk.offline.pretrain.images import prepare_images


@pytest.mark.parametrize("arch", ["convnet-s2", "convnet"])
def test_channels_last_encoder_computes_the_same_features(arch: str) -> None:
    torch.manual_seed(0)
    net = build_encoder(arch, 1, 8).eval()
    x = torch.rand(6, 1, 20, 20)
    with torch.no_grad():
        plain = net(x)
        fast = net.to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(plain, fast, atol=1e-5)


def test_saved_weights_are_c_ordered_and_epochs_are_timed(tmp_path: Path) -> None:
    x, digest = prepare_images(load_demo_arrays("mnist").images[:32], 16, 1)
    p = PretrainParams(image_size=16, width=4, batch_size=16, hidden_dim=16,
                       projection_dim=8, epochs=2)
    res = pretrain(x, tmp_path / "b.h5", p, data_digest=digest)
    assert len(res.epoch_seconds) == 2 and all(t > 0 for t in res.epoch_seconds)
    assert len(res.epoch_cpu_seconds) == 2 and all(t > 0 for t in res.epoch_cpu_seconds)
    rec = read_ssl_file(tmp_path / "b.h5")
    assert all(np.asarray(v).flags["C_CONTIGUOUS"] for v in rec.encoder.values())
    net = build_encoder(rec.arch, 1, 4)
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in rec.encoder.items()})
    w = rec.encoder["0.weight"]
    assert np.array_equal(net[0].weight.detach().numpy(), w)
