"""Who registered a plugin implementation: the records the registry keeps per name, per
failure and per lost name clash, and the rule that the built-in distribution owns its names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dhr_sdk.core.interfaces import Plugin
from dhr_sdk.core.params import build_params

#: The distribution whose entry points are the built-in plugins.
BUILTIN_DISTRIBUTION = "dhr-sdk"


def canonical_name(distribution: str) -> str:
    """A distribution name normalised as pip compares them (``dhr_SDK`` == ``dhr-sdk``)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def is_builtin(distribution: str) -> bool:
    return canonical_name(distribution) == BUILTIN_DISTRIBUTION


def dist_label(distribution: str, version: str) -> str:
    return f"{distribution} {version}" if version else distribution


@dataclass(frozen=True)
class Registration:
    """One implementation and where it came from."""

    kind: str
    name: str
    cls: type[Plugin]
    plugin: str
    distribution: str
    version: str
    distribution_version: str = ""

    @property
    def builtin(self) -> bool:
        return is_builtin(self.distribution)

    def create(self, params: Mapping[str, Any] | None = None) -> Plugin:
        """Instantiate with validated params (one-line :class:`ParamsError` on bad input)."""
        p = build_params(self.cls.Params, params or {}, f"{self.kind} {self.name!r}")
        return self.cls(p)


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded or registered, with the reason."""

    plugin: str
    distribution: str
    error: str


@dataclass(frozen=True)
class NameConflict:
    """A third-party implementation that claimed a built-in's kind and name, and lost."""

    ignored: Registration
    builtin: Registration

    @property
    def message(self) -> str:
        i, b = self.ignored, self.builtin
        return (f"{i.kind} {i.name!r} of plugin {i.plugin!r} "
                f"({dist_label(i.distribution, i.distribution_version)}) is ignored: the "
                f"name belongs to the built-in {i.kind} of "
                f"{dist_label(b.distribution, b.distribution_version)}, which stays in use; "
                "a third-party plugin must use another name")


class PluginWarning(UserWarning):
    """Emitted when a plugin is broken or loses a name to a built-in; shown as one line."""
