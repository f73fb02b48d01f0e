"""The provenance a store records for an element: which plugin (and distribution) made it.

It lives in the store layer because it joins the two: the registry says which distribution
provides a plugin, the store keeps it beside the element.
"""

from __future__ import annotations

from dhr_sdk.core.errors import PluginError
from dhr_sdk.core.interfaces import Plugin
from dhr_sdk.core.registration import Registration, canonical_name, dist_label
from dhr_sdk.core.registry import get_registry
from dhr_sdk.store.format import Provenance


def provenance_of(plugin: Plugin) -> Provenance:
    """Provenance of an element produced by ``plugin`` (registered or local class)."""
    try:
        reg = get_registry().get(plugin.kind, plugin.name)
        dist, version, dist_version = reg.distribution, reg.version, reg.distribution_version
    except PluginError:
        dist, version, dist_version = "local", str(getattr(plugin, "version", "0")), ""
    params = plugin.params.model_dump(mode="json")
    seed = params.get("seed")
    return Provenance(plugin=plugin.name, kind=plugin.kind, distribution=dist,
                      distribution_version=dist_version, plugin_version=version,
                      params=params, seed=int(seed) if seed is not None else None)


def check_provenance(reg: Registration, recorded: Provenance, what: str) -> None:
    """Refuse to run ``reg`` on ``what``, an element another distribution's implementation
    of the same name wrote (a different distribution version is fine). Elements that name
    no distribution (written before it was recorded) are accepted."""
    if not recorded.distribution or \
            canonical_name(recorded.distribution) == canonical_name(reg.distribution):
        return
    raise PluginError(
        f"{what} was written by {reg.kind} {reg.name!r} of "
        f"{dist_label(recorded.distribution, recorded.distribution_version)}, but "
        f"{reg.name!r} here is the one of {dist_label(reg.distribution, reg.distribution_version)}"
        "; refusing to run another implementation on it (refit it here, or use the "
        "installation that wrote it)")
