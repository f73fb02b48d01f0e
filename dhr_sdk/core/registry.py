"""Plugin discovery and the registry of implementations.

Plugins are modules exposed through the ``dhr`` entry-point group (built-ins included) and
implement the hooks of :mod:`dhr_sdk.core.hookspecs`. Loading is isolated: a plugin that fails to
import, uses an unknown (misspelled) hook, or registers a clashing name is reported as
broken (warning + ``dhr plugins``) and the rest keeps working.

Built-ins cannot be replaced by accident: the entry points of the ``dhr-sdk`` distribution
load first, and a third-party implementation that claims a built-in's kind and name loses
(a :class:`NameConflict`: one warning naming both distributions, listed by ``dhr plugins``).
Two third-party plugins claiming one name make that name an error naming both. Every
stored element records the distribution of the plugin that wrote it
(:func:`provenance_of`), and :func:`check_provenance` refuses to run another
distribution's implementation on it.

Environment variables, read when plugins are loaded:

``DHR_PLUGINS``
    Comma-separated allow-list of entry-point or distribution names; when set, only these
    load (set it to an empty string to load none).
``DHR_DISABLE_PLUGINS``
    Comma-separated deny-list; an item is an entry-point name, a distribution name, or an
    implementation as ``kind:name`` / ``name`` (e.g. ``hasher:lsh`` or ``lsh``).
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, overload

import pluggy

from dhr_sdk.core import hookspecs
from dhr_sdk.core.errors import PluginError
from dhr_sdk.core.interfaces import BASES, KINDS, Plugin
from dhr_sdk.core.params import build_params

if TYPE_CHECKING:
    from dhr_sdk.core.interfaces import Assessor, Backbone, GraphBuilder, Hasher, Ranker

ENTRY_POINT_GROUP = "dhr"
ALLOW_ENV = "DHR_PLUGINS"
DENY_ENV = "DHR_DISABLE_PLUGINS"
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


def _split_env(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {item.strip() for item in raw.split(",") if item.strip()}


class Registry:
    """Implementations by kind and name, plus the plugins that failed."""

    def __init__(self, deny: set[str] | None = None) -> None:
        self._items: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        self._conflicts: dict[tuple[str, str], str] = {}
        self.broken: list[BrokenPlugin] = []
        self.conflicts: list[NameConflict] = []
        self._deny = deny or set()

    def add(self, kind: str, cls: type[Plugin], plugin: str, distribution: str,
            version: str) -> None:
        base = BASES[kind]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(f"plugin {plugin!r} registered {cls!r}, not a {base.__name__}")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r}: {cls.__name__} has no 'name'")
        if {name, f"{kind}:{name}"} & self._deny:
            return
        new = Registration(kind, name, cls, plugin, distribution,
                           str(getattr(cls, "version", version)), version)
        existing = self._items[kind].get(name)
        if existing is not None and existing.builtin != new.builtin:
            builtin, ignored = (existing, new) if existing.builtin else (new, existing)
            self._items[kind][name] = builtin
            self._conflicts.pop((kind, name), None)
            self.conflicts.append(NameConflict(ignored, builtin))
            warnings.warn(f"dhr plugin {ignored.plugin!r}: {self.conflicts[-1].message}",
                          PluginWarning, stacklevel=2)
            return
        if existing is not None:
            msg = (f"{kind} {name!r} is registered twice: by plugin {existing.plugin!r} "
                   f"({existing.distribution}) and by plugin {plugin!r} ({distribution})")
            self._conflicts[(kind, name)] = msg
            raise PluginError(msg)
        self._items[kind][name] = new

    def get(self, kind: str, name: str) -> Registration:
        """The registration of ``name``; unknown names list the available choices."""
        if kind not in self._items:
            raise PluginError(f"unknown plugin kind {kind!r}; kinds: {', '.join(KINDS)}")
        if (kind, name) in self._conflicts:
            raise PluginError(self._conflicts[(kind, name)])
        try:
            return self._items[kind][name]
        except KeyError:
            choices = ", ".join(sorted(self._items[kind])) or "none installed"
            label = kind.replace("_", " ")
            raise PluginError(f"unknown {label} {name!r}; available: {choices}") from None

    @overload
    def create(self, kind: Literal["backbone"], name: str,
               params: Mapping[str, Any] | None = None) -> Backbone: ...
    @overload
    def create(self, kind: Literal["hasher"], name: str,
               params: Mapping[str, Any] | None = None) -> Hasher: ...
    @overload
    def create(self, kind: Literal["graph_builder"], name: str,
               params: Mapping[str, Any] | None = None) -> GraphBuilder: ...
    @overload
    def create(self, kind: Literal["ranker"], name: str,
               params: Mapping[str, Any] | None = None) -> Ranker: ...
    @overload
    def create(self, kind: Literal["assessor"], name: str,
               params: Mapping[str, Any] | None = None) -> Assessor: ...
    @overload
    def create(self, kind: str, name: str,
               params: Mapping[str, Any] | None = None) -> Plugin: ...
    def create(self, kind: str, name: str, params: Mapping[str, Any] | None = None) -> Plugin:
        """A new ``kind`` implementation ``name`` with validated ``params``, typed as its
        interface (registration already checked the class derives from it)."""
        instance: Plugin = self.get(kind, name).create(params)
        return instance

    def names(self, kind: str) -> list[str]:
        return sorted(self._items[kind])

    def all(self) -> list[Registration]:
        return [r for k in KINDS for r in sorted(self._items[k].values(), key=lambda r: r.name)]


class PluginManager:
    """Loads plugin modules through pluggy and fills a :class:`Registry`."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry(deny=_split_env(DENY_ENV))

    def load_entry_points(self, strict: bool = False) -> None:
        """Import and register every module of the ``dhr`` entry-point group, the
        built-in distribution's first."""
        allow = _split_env(ALLOW_ENV)
        deny = _split_env(DENY_ENV) or set()
        dists: dict[int, tuple[str, str]] = {}

        def origin(ep: md.EntryPoint) -> tuple[str, str]:
            """Distribution name and version, reading each METADATA file once."""
            if ep.dist is None:
                return "unknown", "0"
            if id(ep.dist) not in dists:
                meta = ep.dist.metadata
                dists[id(ep.dist)] = (meta["Name"], meta["Version"])
            return dists[id(ep.dist)]

        def order(ep: md.EntryPoint) -> tuple[bool, str]:
            return (ep.dist is None or not is_builtin(origin(ep)[0]), ep.name)

        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=order):
            dist, version = origin(ep)
            if allow is not None and not ({ep.name, dist} & allow):
                continue
            if {ep.name, dist} & deny:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # isolation: any import failure is reported
                self._broken(ep.name, dist, f"import failed: {type(exc).__name__}: {exc}", strict)
                continue
            self.register_module(module, ep.name, dist, version, strict=strict)

    def register_module(self, module: ModuleType | object, name: str,
                        distribution: str = "local", version: str = "0",
                        strict: bool = True) -> None:
        """Register one plugin module (or object with hookimpls) and collect its classes.

        The pluggy name is qualified by the distribution, so a third-party entry point
        named like a built-in one (``itq``) cannot take the built-in's place."""
        try:
            self.pm.register(module, name=f"{distribution}/{name}")
        except (ValueError, pluggy.PluginValidationError) as exc:
            self._broken(name, distribution, f"invalid plugin: {exc}", strict)
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(module)
            self._broken(name, distribution, f"unknown hook (misspelled?): {exc}", strict)
            return
        try:
            self._collect(module, name, distribution, version)
        except Exception as exc:
            self._broken(name, distribution, f"registration failed: {exc}", strict)

    def _collect(self, module: object, plugin: str, dist: str, version: str) -> None:
        for hook_name, kind in hookspecs.HOOK_KINDS.items():
            impl = getattr(module, hook_name, None)
            if impl is None:
                continue

            def register(cls: type[Plugin], _kind: str = kind) -> None:
                self.registry.add(_kind, cls, plugin, dist, version)

            impl(register=register)

    def _broken(self, plugin: str, dist: str, error: str, strict: bool) -> None:
        if strict:
            raise PluginError(f"plugin {plugin!r} ({dist}): {error}")
        self.registry.broken.append(BrokenPlugin(plugin, dist, error))
        warnings.warn(f"dhr plugin {plugin!r} ({dist}) is broken: {error}", PluginWarning,
                      stacklevel=2)


_manager: PluginManager | None = None


def get_manager() -> PluginManager:
    """The process-wide manager, loading entry points on first use."""
    global _manager
    if _manager is None:
        manager = PluginManager()
        manager.load_entry_points()
        _manager = manager
    return _manager


def get_registry() -> Registry:
    return get_manager().registry


def reset() -> None:
    """Forget loaded plugins (tests; after changing the environment variables)."""
    global _manager
    if _manager is not None:
        for mod_name in [n for n, _ in _manager.pm.list_name_plugin()]:
            _manager.pm.unregister(name=mod_name)
    _manager = None
