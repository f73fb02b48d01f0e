"""Thumbnails for the HTML report: read only from allowed places, decoded and inlined once.

A store names its images by id under the collection's recorded root. The report opens a
collection image only when its path, symlinks resolved, lies under that root, so an id
such as ``../../etc/passwd``, an absolute path or a symlink leading out of the root is
never read. Requirement images are the user's own files and may be anywhere. Every decode
goes through :func:`dhr_sdk.data.images.load_rgb` (its pixel limit is checked from the
header before decoding).

Each distinct file becomes one PNG of at most ``THUMB`` pixels a side (small images keep
their size; the page scales them up pixel-exact), written once into the page's stylesheet
as a ``data:`` URI and shown by CSS class wherever it appears, so a report that shows the
same image in several places holds its bytes once.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dhr_sdk.data.images import UnreadableImage, load_rgb

#: Longest side of a thumbnail on the page, in CSS pixels.
THUMB = 72
OUTSIDE_ROOT = "(outside the collection root, not shown)"
NO_ROOT = "(no collection root recorded, not shown)"


def under_root(root: str, image_id: str) -> Path | None:
    """The file of ``image_id`` when it resolves (symlinks followed) inside ``root``, else
    ``None``; an empty root (stores of imported codes) allows nothing."""
    if not root:
        return None
    try:
        base = Path(root).resolve()
        path = (base / image_id).resolve()
    except (OSError, RuntimeError, ValueError):  # NUL byte, symlink loop
        return None
    return path if path.is_relative_to(base) else None


@dataclass(frozen=True)
class _Thumb:
    css_class: str | None
    reason: str


class Thumbnails:
    """The thumbnails of one page: ``figure`` places one, ``stylesheet`` holds their data."""

    def __init__(self, size: int = THUMB) -> None:
        self.size = size
        self._seen: dict[Path, _Thumb] = {}
        self._rules: list[str] = []

    def _thumb(self, path: Path) -> _Thumb:
        key = path.resolve()
        if key not in self._seen:
            try:
                img = load_rgb(key)
            except UnreadableImage as exc:
                self._seen[key] = _Thumb(None, f"(not readable: {exc})")
                return self._seen[key]
            scale = self.size / max(img.size)
            width, height = (max(1, round(side * scale)) for side in img.size)
            if scale < 1:
                from PIL import Image  # with the first thumbnail (start-up: docs/cli.md)

                img = img.resize((width, height), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            data = base64.b64encode(buf.getvalue()).decode("ascii")
            name = f"t{len(self._rules)}"
            self._rules.append(f".{name}{{width:{width}px;height:{height}px;"
                               f"background-image:url(data:image/png;base64,{data})}}\n")
            self._seen[key] = _Thumb(name, "")
        return self._seen[key]

    def figure(self, path: Path | None, caption: Sequence[str], label: str,
               refused: str = OUTSIDE_ROOT) -> str:
        """A figure showing ``path`` (``None``: the ``refused`` notice instead) above the
        caption lines; ``label`` names the image for screen readers and on hover."""
        thumb = self._thumb(path) if path is not None else _Thumb(None, refused)
        name = html.escape(label)
        if thumb.css_class is not None:
            body = (f'<span class="th {thumb.css_class}" role="img" aria-label="{name}" '
                    f'title="{name}"></span>')
        else:
            body = f'<span class="miss" title="{name}">{html.escape(thumb.reason)}</span>'
        lines = "<br>".join(html.escape(c) for c in caption)
        return f"<figure>{body}<figcaption>{lines}</figcaption></figure>"

    def stylesheet(self) -> str:
        """The CSS rules carrying every thumbnail placed so far."""
        return "".join(self._rules)
