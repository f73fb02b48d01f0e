"""dhr pretrain's library: SimCLR on tiny real data — loss goes down, a seed gives the same
weights, resume continues bit for bit, the file holds plain arrays with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from dhr_sdk.core.errors import DhrError
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.ssl_file import read_ssl_file
from dhr_sdk.offline.pretrain import PretrainParams, pretrain
from dhr_sdk.offline.pretrain.augment import augment
from dhr_sdk.offline.pretrain.images import prepare_images
from dhr_sdk.offline.pretrain.simclr import nt_xent

TINY = {"image_size": 16, "width": 4, "batch_size": 16, "hidden_dim": 32,
        "projection_dim": 16, "lr": 3e-3}


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, str]:
    return prepare_images(load_demo_arrays("mnist").images[:64], 16, 1)


def _run(images: tuple[torch.Tensor, str], path: Path, resume: bool = False,
         **params: object):  # type: ignore[no-untyped-def]
    x, digest = images
    return pretrain(x, path, PretrainParams(**{**TINY, **params}), resume=resume,
                    data_digest=digest)


def test_nt_xent_matches_a_naive_loop() -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    total = 0.0
    for i in range(10):
        j = (i + 5) % 10
        logits = [float(z[i] @ z[k]) / 0.5 for k in range(10) if k != i]
        pos = float(z[i] @ z[j]) / 0.5
        total += -pos + float(np.log(np.sum(np.exp(logits))))
    assert float(nt_xent(z1, z2, 0.5)) == pytest.approx(total / 10, rel=1e-5)


def test_augment_is_seeded_in_range_and_differs_per_image() -> None:
    x = torch.rand(4, 1, 16, 16)
    p = PretrainParams(**TINY)
    a, _ = augment(x, torch.Generator().manual_seed(3), p)
    b, _ = augment(x, torch.Generator().manual_seed(3), p)
    assert torch.equal(a, b) and a.shape == x.shape
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.equal(a, augment(x, torch.Generator().manual_seed(4), p)[0])


def _one_object(n: int) -> torch.Tensor:
    """``n`` 16² images, dark but for a bright 8² top-left quadrant (one object of four
    places)."""
    x = torch.zeros(n, 1, 16, 16)
    x[:, :, :8, :8] = 1.0
    return x


def test_object_scale_views_crop_one_place_of_the_image() -> None:
    x = _one_object(200)
    still = {"rotation": 0.0, "jitter": 0.0}
    small = PretrainParams(**{**TINY, **still, "crop_scale": 0.2, "crop_max": 0.25,
                              "view_size": 8})
    views, _ = augment(x, torch.Generator().manual_seed(0), small)
    assert views.shape == (200, 1, 8, 8)
    bright = views.amax(dim=(1, 2, 3)) > 0.5
    assert 0.1 < float(bright.float().mean()) < 0.9  # some crops miss the object
    whole, _ = augment(x, torch.Generator().manual_seed(0),
                       PretrainParams(**{**TINY, **still, "crop_scale": 1.0}))
    assert bool((whole.amax(dim=(1, 2, 3)) > 0.5).all())  # a whole-image crop never does


def test_paired_views_show_the_same_place() -> None:
    x = _one_object(200)
    p = PretrainParams(**{**TINY, "rotation": 0.0, "jitter": 0.0, "crop_scale": 0.2,
                          "crop_max": 0.25, "view_size": 8, "pair_shift": 0.02})
    gen = torch.Generator().manual_seed(0)
    first, centres = augment(x, gen, p)
    second, (cx, cy) = augment(x, gen, p, near=centres)
    near = ((cx - centres[0]).abs() <= 0.04 + 1e-9) & ((cy - centres[1]).abs() <= 0.04 + 1e-9)
    assert float(near.float().mean()) > 0.8  # the others were moved back inside the image
    hit1, hit2 = first.amax(dim=(1, 2, 3)) > 0.5, second.amax(dim=(1, 2, 3)) > 0.5
    assert float((hit1 == hit2).float().mean()) > 0.9  # both views see the object, or neither
    unpaired = augment(x, torch.Generator().manual_seed(1), p.model_copy(
        update={"pair_shift": None}), near=centres)[0].amax(dim=(1, 2, 3)) > 0.5
    assert float((hit1 == unpaired).float().mean()) < 0.8


def test_crop_and_view_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="crop_max"):
        PretrainParams(crop_scale=0.5, crop_max=0.3)
    with pytest.raises(ValueError, match="view_size"):
        PretrainParams(image_size=28, view_size=56)


def test_views_smaller_than_the_images_train_and_record_the_image_size(images, tmp_path: Path
                                                                      ) -> None:
    res = _run(images, tmp_path / "v.h5", epochs=2, view_size=8, crop_scale=0.2,
               crop_max=0.5, pair_shift=0.1)
    assert res.loss[-1] < res.loss[0]
    rec = read_ssl_file(tmp_path / "v.h5")
    assert rec.image_size == 16 and rec.params["view_size"] == 8


def test_a_file_older_than_a_param_resumes_with_its_default(images, tmp_path: Path) -> None:
    _run(images, tmp_path / "o.h5", epochs=1)
    with h5py.File(tmp_path / "o.h5", "r+") as h5:  # as written before crop_max existed
        params = json.loads(h5.attrs["params"])
        del params["crop_max"]
        h5.attrs["params"] = json.dumps(params)
    assert _run(images, tmp_path / "o.h5", resume=True, epochs=2).resumed_from == 1


def test_loss_decreases_and_file_records_provenance(images, tmp_path: Path) -> None:
    res = _run(images, tmp_path / "b.h5", epochs=3)
    assert len(res.loss) == 3 and res.loss[-1] < res.loss[0]
    rec = read_ssl_file(tmp_path / "b.h5")
    assert (rec.arch, rec.channels, rec.image_size, rec.feature_dim) == ("convnet-s2", 1, 16, 32)
    assert rec.seed == 0 and rec.data_digest == images[1] and rec.n_images == 64
    assert rec.complete and rec.epochs_done == 3 and rec.params["epochs"] == 3
    with h5py.File(tmp_path / "b.h5") as h5:  # plain numeric arrays, no pickled objects
        kinds: list[str] = []
        h5.visititems(lambda _, obj: kinds.append(obj.dtype.kind)
                      if isinstance(obj, h5py.Dataset) else None)
    assert kinds and set(kinds) <= {"f", "i", "u", "b"}


def test_same_seed_same_weights_other_seed_other(images, tmp_path: Path) -> None:
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        _run(images, tmp_path / f"{name}.h5", epochs=1, seed=seed)
    a, b, c = (read_ssl_file(tmp_path / f"{n}.h5").encoder for n in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_training_threads_are_set_for_the_run_and_restored(images, tmp_path: Path) -> None:
    from dhr_sdk.core.progress import Progress, SilentBar

    seen: list[int] = []

    class Spy(SilentBar):  # sees torch's thread count while the steps run
        def update(self, n: float = 1) -> None:
            seen.append(torch.get_num_threads())

    class SpyProgress(Progress):
        def bar(self, iterable=None, *, total=None, desc="", unit="it"):  # type: ignore[no-untyped-def]
            return Spy(iterable, total)

    before = torch.get_num_threads()
    want = 2 if before == 1 else 1
    x, digest = images
    pretrain(x, tmp_path / "t.h5", PretrainParams(**{**TINY, "epochs": 1, "threads": want}),
             data_digest=digest, progress=SpyProgress(quiet=True))
    assert seen and set(seen) == {want} and torch.get_num_threads() == before


def test_resume_continues_exactly(images, tmp_path: Path) -> None:
    straight = _run(images, tmp_path / "s.h5", epochs=2)
    _run(images, tmp_path / "r.h5", epochs=1)
    assert read_ssl_file(tmp_path / "r.h5").epochs_done == 1
    resumed = _run(images, tmp_path / "r.h5", resume=True, epochs=2)
    assert resumed.resumed_from == 1 and resumed.loss == straight.loss
    s, r = read_ssl_file(tmp_path / "s.h5"), read_ssl_file(tmp_path / "r.h5")
    assert all(np.array_equal(s.encoder[k], r.encoder[k]) for k in s.encoder)
    again = _run(images, tmp_path / "r.h5", resume=True, epochs=2)
    assert again.resumed_from == 2 and again.loss == straight.loss


def test_resume_refuses_other_images_or_params(images, tmp_path: Path) -> None:
    _run(images, tmp_path / "b.h5", epochs=1)
    other = prepare_images(load_demo_arrays("mnist").images[64:128], 16, 1)
    with pytest.raises(DhrError, match="trained on other images"):
        _run(other, tmp_path / "b.h5", resume=True, epochs=2)
    with pytest.raises(DhrError, match=r"other params \(temperature\)"):
        _run(images, tmp_path / "b.h5", resume=True, epochs=2, temperature=0.1)


def test_bad_architecture_or_shape_is_one_line(images, tmp_path: Path) -> None:
    rgb = (images[0].expand(-1, 3, -1, -1).contiguous(), images[1])
    with pytest.raises(DhrError, match="unknown architecture 'nonet'"):
        _run(rgb, tmp_path / "x.h5", arch="nonet", channels=3)
    with pytest.raises(DhrError, match="takes 3 channels"):
        _run(images, tmp_path / "x.h5", arch="resnet18")
    with pytest.raises(DhrError, match=r"images must be \(n, 1, 28, 28\)"):
        _run(images, tmp_path / "x.h5", image_size=28)
