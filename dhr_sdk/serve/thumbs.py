"""PNG thumbnails of a served collection's images, read only from under its recorded root.

An image is named by its index in the store; its id is resolved under the collection's root
with symlinks followed (:func:`dhr_sdk.assessment.report_thumbs.under_root`), so an id
with ``..``, an absolute id or a symlink leading out of the root is never read. Decoding
goes through the data layer's :func:`~dhr_sdk.data.images.load_rgb` (pixel limit, EXIF orientation).
"""

from __future__ import annotations

import io

from PIL import Image

from dhr_sdk.assessment.report_thumbs import under_root
from dhr_sdk.data.images import UnreadableImage, load_rgb
from dhr_sdk.serve.inputs import RequestError
from dhr_sdk.serve.state import Collection

#: Longest side of a thumbnail unless asked otherwise, and the largest that may be asked.
THUMB_SIZE = 96
MAX_THUMB_SIZE = 512


def thumbnail_png(collection: Collection, index: int, size: int = THUMB_SIZE) -> bytes:
    """Image ``index`` of ``collection`` as a PNG of at most ``size`` pixels a side (small
    images keep their size); a 404 :class:`RequestError` when it cannot be shown."""
    ids = collection.target.image_ids
    if not 0 <= index < len(ids):
        raise RequestError(f"collection {collection.name!r} has no image {index} "
                           f"(it holds {len(ids)})", 404)
    path = under_root(collection.target.root, ids[index])
    if path is None:
        raise RequestError(f"image {index} of {collection.name!r} is not under the "
                           "collection's root; not shown", 404)
    try:
        img = load_rgb(path)
    except UnreadableImage as exc:
        raise RequestError(f"image {index} of {collection.name!r} is not readable: {exc}",
                           404) from None
    if max(img.size) > size:
        img.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
