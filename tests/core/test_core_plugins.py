"""Plugin manager: entry points, env allow/deny lists, isolation, duplicates, unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhr_sdk.core import registry as plugins
from dhr_sdk.core.errors import PluginError
from dhr_sdk.core.registration import PluginWarning
from dhr_sdk.core.registry import PluginManager
from tests.fakedist import hasher_module, make_distribution


@pytest.fixture
def third_party(tmp_path: Path, fresh_plugins: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    path = make_distribution(
        tmp_path / "site", "dhr-fake", {"fake": "fake_hasher_mod"},
        {"fake_hasher_mod": hasher_module("fakehash")})
    fresh_plugins.syspath_prepend(str(path))
    return fresh_plugins


def test_third_party_entry_point_is_registered_with_its_distribution(third_party) -> None:
    reg = plugins.get_registry().get("hasher", "fakehash")
    assert (reg.distribution, reg.version, reg.plugin) == ("dhr-fake", "1.0", "fake")


def test_deny_list_by_entry_point_or_implementation_name(third_party) -> None:
    third_party.setenv("DHR_DISABLE_PLUGINS", "fake")
    assert "fakehash" not in plugins.get_registry().names("hasher")
    plugins.reset()
    third_party.setenv("DHR_DISABLE_PLUGINS", "hasher:fakehash")
    assert "fakehash" not in plugins.get_registry().names("hasher")


def test_allow_list_loads_only_named_plugins(third_party) -> None:
    third_party.setenv("DHR_PLUGINS", "dhr-fake")
    reg = plugins.get_registry()
    assert [r.name for r in reg.all()] == ["fakehash"]


def test_broken_import_is_reported_and_isolated(tmp_path: Path, fresh_plugins) -> None:
    path = make_distribution(
        tmp_path / "site", "dhr-broken", {"broken": "broken_mod", "fine": "fine_mod"},
        {"broken_mod": "raise RuntimeError('boom')\n", "fine_mod": hasher_module("fine")})
    fresh_plugins.syspath_prepend(str(path))
    fresh_plugins.setenv("DHR_PLUGINS", "dhr-broken")
    reg = plugins.get_registry()  # loads nothing yet
    with pytest.warns(PluginWarning, match="boom"):
        assert reg.names("hasher") == ["fine"]
    assert [(b.plugin, b.distribution) for b in reg.broken] == [("broken", "dhr-broken")]
    assert "RuntimeError: boom" in reg.broken[0].error


def test_misspelled_hook_fails_loudly(tmp_path: Path, fresh_plugins) -> None:
    source = "from dhr_sdk import hookimpl\n@hookimpl\ndef register_hasher(register):\n    pass\n"
    path = make_distribution(tmp_path / "site", "dhr-typo", {"typo": "typo_mod"},
                             {"typo_mod": source})
    fresh_plugins.syspath_prepend(str(path))
    fresh_plugins.setenv("DHR_PLUGINS", "typo")
    reg = plugins.get_registry()
    with pytest.warns(PluginWarning, match="register_hasher"):
        assert "unknown hook" in reg.broken[0].error
    manager = PluginManager()
    import typo_mod  # type: ignore[import-not-found]

    with pytest.raises(PluginError, match="unknown hook"):
        manager.register_module(typo_mod, "typo", strict=True)


def test_two_plugins_claiming_one_name_are_both_named(tmp_path: Path, fresh_plugins) -> None:
    path = make_distribution(
        tmp_path / "site", "dhr-dup", {"first": "dup_a", "second": "dup_b"},
        {"dup_a": hasher_module("same", "A"), "dup_b": hasher_module("same", "B")})
    fresh_plugins.syspath_prepend(str(path))
    fresh_plugins.setenv("DHR_PLUGINS", "dhr-dup")
    reg = plugins.get_registry()
    with pytest.warns(PluginWarning), pytest.raises(PluginError) as err:
        reg.get("hasher", "same")
    assert "'first'" in str(err.value) and "'second'" in str(err.value)


def test_unknown_name_lists_choices(third_party) -> None:
    third_party.setenv("DHR_PLUGINS", "fake")
    with pytest.raises(PluginError, match=r"unknown hasher 'nope'; available: fakehash"):
        plugins.get_registry().get("hasher", "nope")


def test_registering_a_non_hasher_is_an_error() -> None:
    class NotAHasher:
        name = "x"

    class Module:
        @staticmethod
        def register_hashers(register):  # type: ignore[no-untyped-def]
            register(NotAHasher)

    from dhr_sdk import hookimpl

    Module.register_hashers = hookimpl(Module.register_hashers)  # type: ignore[method-assign]
    with pytest.raises(PluginError, match="not a Hasher"):
        PluginManager().register_module(Module, "bad", strict=True)


def test_create_validates_params(third_party) -> None:
    from dhr_sdk.core.errors import ParamsError

    reg = plugins.get_registry()
    assert reg.create("hasher", "fakehash", {"n_bits": "32"}).n_bits == 32
    with pytest.raises(ParamsError, match="n_bitz: unknown parameter"):
        reg.create("hasher", "fakehash", {"n_bitz": 32})
