"""The provenance a store records for an element: which plugin (and distribution) made it.

It lives in the store layer because it joins the two: the registry says which distribution
provides a plugin, the store keeps it beside the element.
"""

from __future__ import annotations

from dhr_sdk.core.errors import PluginError
from dhr_sdk.core.interfaces import Plugin
from dhr_sdk.core.registry import get_registry
from dhr_sdk.store.format import Provenance


def provenance_of(plugin: Plugin) -> Provenance:
    """Provenance of an element produced by ``plugin`` (registered or local class)."""
    try:
        reg = get_registry().get(plugin.kind, plugin.name)
        dist, version = reg.distribution, reg.version
    except PluginError:
        dist, version = "local", str(getattr(plugin, "version", "0"))
    params = plugin.params.model_dump(mode="json")
    seed = params.get("seed")
    return Provenance(plugin=plugin.name, kind=plugin.kind, distribution=dist,
                      plugin_version=version, params=params,
                      seed=int(seed) if seed is not None else None)
