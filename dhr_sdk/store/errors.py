"""Errors of the store package (both are one-line user errors, see :mod:`dhr_sdk.core.errors`)."""

from __future__ import annotations

from dhr_sdk.core.errors import DhrError, StoreFormatError


class StoreDamagedError(StoreFormatError):
    """A store element that fails its checksum, misses a part, or holds impossible values."""


class StoreWriteError(DhrError):
    """A store that cannot be written (disk full, read-only, no permission); the file that
    was there before is left as it was."""
