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
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

import pluggy

from dhr_sdk.core import hookspecs
from dhr_sdk.core.errors import PluginError
from dhr_sdk.core.interfaces import BASES, KINDS, Plugin
from dhr_sdk.core.registration import (
    BrokenPlugin,
    NameConflict,
    PluginWarning,
    Registration,
    is_builtin,
)

if TYPE_CHECKING:
    from dhr_sdk.core.interfaces import Assessor, Backbone, GraphBuilder, Hasher, Ranker

ENTRY_POINT_GROUP = "dhr"
ALLOW_ENV = "DHR_PLUGINS"
DENY_ENV = "DHR_DISABLE_PLUGINS"


def _split_env(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {item.strip() for item in raw.split(",") if item.strip()}


class Loader(Protocol):
    """What fills a :class:`Registry` on demand (the :class:`PluginManager`)."""

    def load_for(self, kind: str, name: str) -> None: ...
    def load_entry_points(self, strict: bool = False) -> None: ...


class Registry:
    """Implementations by kind and name, plus the plugins that failed.

    With a ``loader``, plugins load on demand: :meth:`get` of a built-in name imports only
    the built-in entry points (the one named like it first), which is final because a
    built-in always wins its name; anything else — another name, :meth:`names`,
    :meth:`all`, :attr:`broken`, :attr:`conflicts` — loads every entry point first."""

    def __init__(self, deny: set[str] | None = None, loader: Loader | None = None) -> None:
        self._items: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        self._conflicts: dict[tuple[str, str], str] = {}
        self._broken: list[BrokenPlugin] = []
        self._name_conflicts: list[NameConflict] = []
        self._deny = deny or set()
        self._loader = loader

    def _load_all(self) -> None:
        if self._loader is not None:
            self._loader.load_entry_points()

    def registered(self, kind: str, name: str) -> bool:
        """Whether ``name`` of ``kind`` is registered already (loads nothing)."""
        return name in self._items.get(kind, {})

    @property
    def broken(self) -> list[BrokenPlugin]:
        """Plugins that could not be loaded or registered (after loading them all)."""
        self._load_all()
        return self._broken

    @property
    def conflicts(self) -> list[NameConflict]:
        """Third-party implementations that lost a built-in's name (after loading all)."""
        self._load_all()
        return self._name_conflicts

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
            self._name_conflicts.append(NameConflict(ignored, builtin))
            warnings.warn(f"dhr plugin {ignored.plugin!r}: {self._name_conflicts[-1].message}",
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
        if not self.registered(kind, name) and self._loader is not None:
            self._loader.load_for(kind, name)
            if not self.registered(kind, name):
                self._load_all()
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
        self._load_all()
        return sorted(self._items[kind])

    def all(self) -> list[Registration]:
        self._load_all()
        return [r for k in KINDS for r in sorted(self._items[k].values(), key=lambda r: r.name)]


class PluginManager:
    """Loads plugin modules through pluggy and fills a :class:`Registry`."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry(deny=_split_env(DENY_ENV), loader=self)
        self._entry_points: list[tuple[md.EntryPoint, str, str]] | None = None
        self._loaded: set[tuple[str, str]] = set()

    def load_entry_points(self, strict: bool = False) -> None:
        """Import and register every module of the ``dhr`` entry-point group not loaded
        yet, the built-in distribution's first."""
        for ep, dist, version in self._allowed():
            self._load(ep, dist, version, strict)

    def load_for(self, kind: str, name: str) -> None:
        """Load only the built-in entry points, the one named ``name`` first, stopping as
        soon as ``kind`` ``name`` is registered (a built-in always keeps its name)."""
        builtin = [e for e in self._allowed() if is_builtin(e[1])]
        for ep, dist, version in sorted(builtin, key=lambda e: e[0].name != name):
            self._load(ep, dist, version, strict=False)
            if self.registry.registered(kind, name):
                return

    def _load(self, ep: md.EntryPoint, dist: str, version: str, strict: bool) -> None:
        if (dist, ep.name) in self._loaded:
            return
        self._loaded.add((dist, ep.name))
        try:
            module = ep.load()
        except Exception as exc:  # isolation: any import failure is reported
            self._broken(ep.name, dist, f"import failed: {type(exc).__name__}: {exc}", strict)
            return
        self.register_module(module, ep.name, dist, version, strict=strict)

    def _allowed(self) -> list[tuple[md.EntryPoint, str, str]]:
        """The group's entry points the allow and deny lists let through, with their
        distribution and version, built-in first (computed once)."""
        if self._entry_points is None:
            self._entry_points = self._scan()
        return self._entry_points

    def _scan(self) -> list[tuple[md.EntryPoint, str, str]]:
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

        out = []
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=order):
            dist, version = origin(ep)
            if allow is not None and not ({ep.name, dist} & allow):
                continue
            if {ep.name, dist} & deny:
                continue
            out.append((ep, dist, version))
        return out

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
        self.registry._broken.append(BrokenPlugin(plugin, dist, error))
        warnings.warn(f"dhr plugin {plugin!r} ({dist}) is broken: {error}", PluginWarning,
                      stacklevel=2)


_manager: PluginManager | None = None


def get_manager() -> PluginManager:
    """The process-wide manager; its registry loads entry points when asked for them."""
    global _manager
    if _manager is None:
        _manager = PluginManager()
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
