"""The backbone file of ``dhr pretrain``: a self-supervised encoder as plain HDF5 arrays.

Layout (no pickle anywhere; ``docs/data.md``):

- root attributes: ``format = "dhr-backbone"``, ``format_version``, ``arch``, ``channels``,
  ``image_size``, ``feature_dim``, ``method``, ``params`` (JSON of the pretraining params),
  ``seed``, ``data_digest`` (SHA-256 of the training images as decoded), ``n_images``,
  ``epochs_done``, ``complete``, ``sdk_version``, ``created``;
- ``encoder/<name>``: the encoder's state dict, one dataset per tensor;
- ``loss``: mean training loss of each finished epoch;
- ``checkpoint/``: what ``--resume`` needs to continue exactly where it stopped: the
  projection head (``projector/<name>``), the optimiser (``optimizer/<i>/<name>``) and the
  random generator state (``rng``).

Every write goes to a sibling temporary file that then replaces the target, so a run killed
at any moment leaves the last finished epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk._version import __version__
from dhr_sdk.core.errors import DhrError

FORMAT = "dhr-backbone"
FORMAT_VERSION = "1.0"
Arrays = dict[str, np.ndarray]


@dataclass
class SSLCheckpoint:
    """Training state beyond the encoder: projection head, optimiser, generator."""

    projector: Arrays
    optimizer: dict[str, Arrays]
    rng: np.ndarray


@dataclass
class SSLBackboneFile:
    """Contents of a backbone file (module doc)."""

    arch: str
    channels: int
    image_size: int
    feature_dim: int
    params: dict[str, Any]
    seed: int
    data_digest: str
    n_images: int
    encoder: Arrays
    epochs_done: int = 0
    complete: bool = False
    method: str = "simclr"
    loss: list[float] = field(default_factory=list)
    checkpoint: SSLCheckpoint | None = None
    sdk_version: str = __version__
    created: str = ""


def images_digest(images: np.ndarray) -> str:
    """SHA-256 of uint8 images (shape and bytes): the training data's identity."""
    arr = np.ascontiguousarray(images)
    h = hashlib.sha256(f"{arr.dtype}|{arr.shape}|".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _write_group(group: Any, arrays: Arrays) -> None:
    for name, value in arrays.items():
        group.create_dataset(name.replace("/", "|"), data=np.asarray(value))


def _read_group(group: Any) -> Arrays:
    return {name.replace("|", "/"): np.asarray(group[name][()]) for name in group}


def write_ssl_file(path: str | Path, rec: SSLBackboneFile) -> None:
    """Write ``rec`` to ``path`` atomically (a temporary sibling, then a rename)."""
    import datetime

    import h5py

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    created = rec.created or datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    try:
        with h5py.File(tmp, "w") as h5:
            h5.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, arch=rec.arch,
                            channels=rec.channels, image_size=rec.image_size,
                            feature_dim=rec.feature_dim, method=rec.method,
                            params=json.dumps(rec.params, sort_keys=True), seed=rec.seed,
                            data_digest=rec.data_digest, n_images=rec.n_images,
                            epochs_done=rec.epochs_done, complete=rec.complete,
                            sdk_version=rec.sdk_version, created=created)
            _write_group(h5.create_group("encoder"), rec.encoder)
            h5.create_dataset("loss", data=np.asarray(rec.loss, dtype=np.float64))
            if rec.checkpoint is not None:
                ck = h5.create_group("checkpoint")
                _write_group(ck.create_group("projector"), rec.checkpoint.projector)
                opt = ck.create_group("optimizer")
                for key, arrays in rec.checkpoint.optimizer.items():
                    _write_group(opt.create_group(key), arrays)
                ck.create_dataset("rng", data=rec.checkpoint.rng)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_ssl_file(path: str | Path, checkpoint: bool = False) -> SSLBackboneFile:
    """Read a backbone file (one-line :class:`DhrError` for anything else);
    ``checkpoint=True`` also reads the training state."""
    import h5py

    path = Path(path).expanduser()
    if not path.is_file():
        raise DhrError(f"backbone file {path} does not exist (make one with 'dhr pretrain')")
    try:
        with h5py.File(path, "r") as h5:
            a = h5.attrs
            if a.get("format") != FORMAT:
                raise DhrError(f"{path} is not a dhr backbone file (made by 'dhr pretrain')")
            major = str(a.get("format_version", "0")).split(".")[0]
            if major != FORMAT_VERSION.split(".")[0]:
                raise DhrError(f"{path} is backbone format {a.get('format_version')}; this "
                               f"dhr-sdk reads {FORMAT_VERSION}: upgrade dhr-sdk")
            ck = None
            if checkpoint and "checkpoint" in h5:
                g = h5["checkpoint"]
                ck = SSLCheckpoint(_read_group(g["projector"]),
                                   {k: _read_group(v) for k, v in g["optimizer"].items()},
                                   np.asarray(g["rng"][()]))
            return SSLBackboneFile(
                arch=str(a["arch"]), channels=int(a["channels"]),
                image_size=int(a["image_size"]), feature_dim=int(a["feature_dim"]),
                params=json.loads(str(a["params"])), seed=int(a["seed"]),
                data_digest=str(a["data_digest"]), n_images=int(a["n_images"]),
                encoder=_read_group(h5["encoder"]), epochs_done=int(a["epochs_done"]),
                complete=bool(a["complete"]), method=str(a["method"]),
                loss=[float(v) for v in h5["loss"][()]], checkpoint=ck,
                sdk_version=str(a["sdk_version"]), created=str(a["created"]))
    except OSError as exc:
        raise DhrError(f"cannot read backbone file {path}: {str(exc).splitlines()[0]}") from None
    except KeyError as exc:
        raise DhrError(f"backbone file {path} is incomplete: missing {exc}") from None
