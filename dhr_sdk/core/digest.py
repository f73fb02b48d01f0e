"""Content digests of the weight files a plugin's params name.

A backbone param naming a file (``weights=/path/backbone.h5``) says *which file*, not
*which weights*: the feature cache key and a hash model's record of the backbone it was
fitted on both use the file's content digest, so a file replaced under the same name is
noticed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

WEIGHT_ENDINGS = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".npz", ".h5")


def file_digest(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def looks_like_file(value: object) -> bool:
    """A param naming an existing file: a path with a separator or a weights-file ending."""
    if not isinstance(value, str):
        return False
    pathlike = "/" in value or "\\" in value or value.lower().endswith(WEIGHT_ENDINGS)
    return pathlike and Path(value).expanduser().is_file()


def param_file_digests(params: Mapping[str, object]) -> dict[str, str]:
    """``{param: sha256}`` of every param that names an existing file."""
    return {k: file_digest(Path(str(v)).expanduser()) for k, v in sorted(params.items())
            if looks_like_file(v)}
