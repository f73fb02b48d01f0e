"""Built-ins cannot be replaced by accident: a third-party plugin claiming a built-in's name
loses (warning and ``dhr plugins`` name both distributions), and a store refuses to run an
implementation from another distribution than the one that wrote it."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dhr_sdk import __version__
from dhr_sdk.cli.main import cli
from dhr_sdk.core import registry as plugins
from dhr_sdk.core.errors import PluginError
from dhr_sdk.core.registration import PluginWarning
from dhr_sdk.core.registry import PluginManager
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.hash_model import HashModel, load_model, save_model
from dhr_sdk.store import Store
from dhr_sdk.store.format import Provenance
from dhr_sdk.store.provenance import check_provenance
from dhr_sdk.testing import synthetic_fit_data
from tests.fakedist import hasher_module, make_distribution

EVIL = "dhr-evil"


def install_evil(tmp_path: Path, mp: pytest.MonkeyPatch, entry_point: str = "itq") -> None:
    """A third-party distribution whose entry point registers a hasher named ``itq``."""
    site = make_distribution(tmp_path / "site", EVIL, {entry_point: "evil_itq"},
                             {"evil_itq": hasher_module("itq", "EvilITQ")}, version="6.6")
    mp.syspath_prepend(str(site))


def fit_and_save(path: Path) -> Path:
    hasher = plugins.get_registry().create("hasher", "itq", {"n_bits": 16})
    hasher.fit(synthetic_fit_data(n=200, d=24, seed=0))
    save_model(HashModel(hasher, "pixels", {"size": 8}), path)
    return path


# "itq" is the built-in's own entry-point name; "aaa" sorts before every built-in
@pytest.mark.parametrize("entry_point", ["itq", "aaa"])
def test_the_builtin_wins_and_the_warning_names_both(tmp_path: Path, fresh_plugins,
                                                     entry_point: str) -> None:
    install_evil(tmp_path, fresh_plugins, entry_point)
    sys.modules.pop("evil_itq", None)
    reg = plugins.get_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a built-in name loads only built-ins: no warning
        itq = reg.get("hasher", "itq")
    assert (itq.distribution, itq.plugin) == ("dhr-sdk", "itq")
    assert itq.cls.__module__ == "dhr_plugins.hashers.itq"
    assert "evil_itq" not in sys.modules  # the intruder was not even imported
    with pytest.warns(PluginWarning) as caught:  # listing everything loads it, and warns
        [conflict] = reg.conflicts
    assert reg.broken == []  # nobody is called broken, least of all the built-in
    assert (conflict.ignored.distribution, conflict.ignored.plugin) == (EVIL, entry_point)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "broken" not in messages[0]
    assert f"{EVIL} 6.6" in messages[0] and f"dhr-sdk {__version__}" in messages[0]
    assert "'itq'" in messages[0]
    assert "evil_itq" not in {r.cls.__module__ for r in reg.all()}


def test_dhr_plugins_shows_the_conflict(tmp_path: Path, fresh_plugins) -> None:
    install_evil(tmp_path, fresh_plugins)
    with pytest.warns(PluginWarning):
        res = CliRunner().invoke(cli, ["plugins"])
    assert res.exit_code == 0, res.output
    [line] = [ln for ln in res.stderr.splitlines() if ln.startswith("CONFLICT")]
    assert EVIL in line and "dhr-sdk" in line and "'itq'" in line
    res = CliRunner().invoke(cli, ["plugins", "--json"])
    data = json.loads(res.stdout)
    [itq] = [p for p in data["plugins"] if p["name"] == "itq"]
    assert itq["distribution"] == "dhr-sdk"
    [c] = data["conflicts"]
    assert (c["kind"], c["name"], c["distribution"], c["version"]) == ("hasher", "itq", EVIL,
                                                                        "6.6")
    assert (c["builtin_distribution"], c["builtin_version"]) == ("dhr-sdk", __version__)
    assert data["broken"] == []


def test_two_third_parties_claiming_one_name_stay_an_error(tmp_path: Path,
                                                           fresh_plugins) -> None:
    site = make_distribution(tmp_path / "site", "dhr-other", {"other": "other_mod"},
                             {"other_mod": hasher_module("fakehash")})
    make_distribution(site, "dhr-fake", {"fake": "fake_mod"},
                      {"fake_mod": hasher_module("fakehash")})
    fresh_plugins.syspath_prepend(str(site))
    fresh_plugins.setenv("DHR_PLUGINS", "dhr-other,dhr-fake")
    reg = plugins.get_registry()
    with pytest.warns(PluginWarning), \
            pytest.raises(PluginError, match=r"dhr-fake.*dhr-other|dhr-other.*dhr-fake"):
        reg.get("hasher", "fakehash")


def test_builtin_wins_whatever_the_order_of_registration() -> None:
    evil = types.ModuleType("evil_inline")
    exec(hasher_module("itq", "EvilITQ"), evil.__dict__)
    builtin = types.ModuleType("builtin_inline")
    exec(hasher_module("itq", "RealITQ"), builtin.__dict__)
    manager = PluginManager()
    manager.register_module(evil, "itq", EVIL, "6.6")
    with pytest.warns(PluginWarning, match=EVIL):
        manager.register_module(builtin, "itq", "dhr_SDK", "0.1.0")  # any spelling
    assert manager.registry.get("hasher", "itq").cls.__name__ == "RealITQ"


def test_a_store_by_the_builtin_still_assesses_with_the_intruder_installed(
        tmp_path: Path, fresh_plugins) -> None:
    """The reported failure: R fell from 0.966 to 0.0, exit 0, once a plugin took 'itq'."""
    d = load_demo_arrays("mnist")
    zeros, ones = np.flatnonzero(d.class_index == 0), np.flatnonzero(d.class_index == 1)
    for folder, rows in (("col", np.concatenate([zeros[:60], ones[:20]])),
                         ("req", zeros[300:305])):
        (tmp_path / folder).mkdir()
        for i, row in enumerate(rows):
            Image.fromarray(d.images[row]).save(tmp_path / folder / f"{i:03d}.png")
    store = tmp_path / "col.h5"

    def assess() -> float:
        res = CliRunner().invoke(cli, ["assess", "-r", str(tmp_path / "req"), str(store),
                                       "--json", "-q"])
        assert res.exit_code == 0, res.output
        return float(json.loads(res.stdout)["results"][0]["relevance"])

    res = CliRunner().invoke(cli, ["build", str(tmp_path / "col"), "-o", str(store),
                                   "--hasher", "itq", "-p", "n_bits=16",
                                   "-p", "ranker.solver=closed", "-q"])
    assert res.exit_code == 0, res.output
    before = assess()
    assert before > 0
    assert Store(store).provenance("model").distribution == "dhr-sdk"
    plugins.reset()
    install_evil(tmp_path, fresh_plugins)
    assert assess() == before  # the built-in's name: the intruder is not even loaded
    plugins.reset()
    with pytest.warns(PluginWarning, match=EVIL):  # once everything is loaded, it is named
        assert plugins.get_registry().all() and assess() == before


def test_a_model_written_by_another_distribution_is_refused(tmp_path: Path,
                                                           fresh_plugins) -> None:
    install_evil(tmp_path, fresh_plugins)
    fresh_plugins.setenv("DHR_PLUGINS", EVIL)  # the third party's 'itq' alone: it writes
    model = fit_and_save(tmp_path / "m.h5")
    prov = Store(model).provenance("model")
    assert (prov.plugin, prov.distribution, prov.distribution_version) == ("itq", EVIL, "6.6")
    plugins.reset()
    fresh_plugins.delenv("DHR_PLUGINS")
    with pytest.raises(PluginError) as err:
        load_model(model)
    msg = str(err.value)
    assert "\n" not in msg and str(model) in msg
    assert f"{EVIL} 6.6" in msg and f"dhr-sdk {__version__}" in msg
    res = CliRunner().invoke(cli, ["encode", str(tmp_path), "--model", str(model),
                                   "-o", str(tmp_path / "x.h5")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"was written by hasher 'itq' of {EVIL} 6.6" in res.output


def test_builtin_model_records_its_distribution_and_old_models_load(tmp_path: Path) -> None:
    model = fit_and_save(tmp_path / "m.h5")
    rec = Store(model).read_model()
    assert (rec.provenance.distribution, rec.provenance.distribution_version) == (
        "dhr-sdk", __version__)
    x = synthetic_fit_data(n=20, d=24, seed=1).features
    codes = HashModel.from_record(rec).hasher.encode(x)
    with h5py.File(tmp_path / "old.h5", "w") as h5:  # attributes written before this field
        g = h5.create_group("model")
        g.attrs.update(plugin="itq", kind="hasher", params="{}")
        old = Provenance.read(g)
    assert (old.distribution, old.distribution_version) == ("", "")
    before = dataclasses.replace(rec, provenance=old)
    np.testing.assert_array_equal(HashModel.from_record(before).hasher.encode(x), codes)


def test_check_provenance_compares_distribution_names_not_versions() -> None:
    reg = plugins.get_registry().get("hasher", "itq")
    for dist, version in (("dhr-sdk", "0.0.1"), ("dhr_SDK", ""), ("", "")):
        check_provenance(reg, Provenance("itq", "hasher", dist, version), "m")
    with pytest.raises(PluginError, match=r"^m was written by hasher 'itq' of dhr-evil 6.6, "):
        check_provenance(reg, Provenance("itq", "hasher", EVIL, "6.6"), "m")
