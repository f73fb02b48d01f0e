"""Requirements from HTTP requests: hex codes or uploaded images, with their weights.

Weights follow ``dhr assess``: one weight per group (a group's weight is shared equally by
its images, as a folder's is on the command line) or one per image; none means equal.
Everything wrong with a request is a :class:`RequestError` whose message is one line and
whose ``status`` is the HTTP status to answer with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath

import numpy as np

from dhr_sdk.assessment.requirement import Requirement
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.validation import check_weights

#: How a requirement given as codes names its source (the ``source`` of every code).
CODES_SOURCE = "codes"


class RequestError(DhrError):
    """A request the server cannot answer, with the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(" ".join(message.split()))
        self.status = status


def parse_codes(codes: Sequence[str]) -> np.ndarray:
    """Packed codes ``(n, n_bytes)`` from hex strings (``code.tobytes().hex()``)."""
    if not codes:
        raise RequestError("give at least one requirement code ('codes': [hex, ...])")
    rows = []
    for i, text in enumerate(codes):
        try:
            rows.append(bytes.fromhex(text))
        except ValueError:
            raise RequestError(f"codes[{i}] is not a hexadecimal packed code: "
                               f"{text[:40]!r}") from None
        if not rows[-1]:
            raise RequestError(f"codes[{i}] is empty")
        if len(rows[-1]) != len(rows[0]):
            raise RequestError(f"codes[{i}] has {len(rows[-1]) * 8} bits but codes[0] has "
                               f"{len(rows[0]) * 8}; all codes must have the same length")
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), -1).copy()


def _weights(weights: Sequence[float] | None, n: int, what: str) -> np.ndarray:
    try:
        return check_weights(weights, n, what)
    except DhrError as exc:
        raise RequestError(str(exc)) from None


def codes_requirement(codes: Sequence[str], weights: Sequence[float] | None) -> Requirement:
    """The requirement of hex codes ``codes[i]``, one weight per code (or none)."""
    packed = parse_codes(codes)
    n = packed.shape[0]
    w = _weights(weights, n, "codes")
    return Requirement([Path(f"codes[{i}]") for i in range(n)], w / w.sum(),
                       [CODES_SOURCE] * n, packed)


def upload_label(filename: str | None, index: int) -> str:
    """How an uploaded image is named in answers: its file name without any folder."""
    name = PurePath((filename or "").replace("\\", "/")).name
    return name or f"image-{index}"


def _unique_labels(labels: Sequence[str], groups: Sequence[str] | None) -> list[str]:
    """``labels``, prefixed by the group (else the position) where two would be equal."""
    out = list(labels)
    if len(set(out)) < len(out) and groups:
        out = [f"{g}/{label}" for g, label in zip(groups, labels, strict=True)]
    if len(set(out)) < len(out):
        out = [f"{i}:{label}" for i, label in enumerate(labels)]
    return out


def images_requirement(labels: Sequence[str], groups: Sequence[str] | None,
                       weights: Sequence[float] | None) -> Requirement:
    """The requirement of uploaded images named ``labels``, in groups.

    ``groups`` gives each image's group (default: every image its own group); ``weights``
    has one value per group (in order of first appearance), shared equally by the group's
    images, or one per image. Images are named by their file name, prefixed by their group
    (or position) when two share a name.
    """
    n = len(labels)
    if n == 0:
        raise RequestError("no requirement images: upload image files in the 'images' field")
    if groups and len(groups) != n:
        raise RequestError(f"got {len(groups)} 'group' values for {n} images; give one per "
                           "image or none")
    labels = _unique_labels(labels, groups)
    names = list(groups) if groups else labels
    order = list(dict.fromkeys(names))
    if weights and len(weights) == n and len(order) != n:
        per_image = _weights(weights, n, "images")
    else:
        if weights and len(weights) != len(order):
            raise RequestError(f"got {len(weights)} weights for {len(order)} groups of {n} "
                               "images; give one weight per group, one per image, or none")
        w = dict(zip(order, _weights(weights, len(order), "groups"), strict=True))
        size = {g: names.count(g) for g in order}
        per_image = np.asarray([w[g] / size[g] for g in names])
    return Requirement([Path(label) for label in labels], per_image / per_image.sum(),
                       names)
