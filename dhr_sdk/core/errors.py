"""Exceptions of the SDK.

Every error a user can cause derives from :class:`DhrError`; the CLI prints its message as
one line (never a traceback) and exits with status 1.
"""

from __future__ import annotations


class DhrError(Exception):
    """A user-facing error: bad input, bad configuration, unknown plugin, unreadable file."""


class ParamsError(DhrError):
    """Plugin parameters that do not validate against the plugin's ``Params`` model."""


class PluginError(DhrError):
    """Unknown plugin name, duplicate registration, or a plugin that violates its contract."""


class StoreFormatError(DhrError):
    """A file that is not a dhr store, or one written by a newer, incompatible format version."""


class MissingElementError(DhrError):
    """A store lacks an element a step needs (for example ``rank`` before ``graph``)."""


class NotFittedError(DhrError):
    """A hasher (or other estimator) used before ``fit`` or ``set_state``."""
