"""Conformance checks every plugin must pass, importable by third-party plugin authors.

In the spirit of scikit-learn's ``check_estimator`` and ``parametrize_with_checks``::

    from dhr_sdk.testing import check_plugin, parametrize_with_checks

    def test_all_at_once(tmp_path):
        check_plugin(MyHasher, tmp_path)          # one error naming every failed check

    @parametrize_with_checks([MyHasher])
    def test_each(check, tmp_path):               # one test per named check
        check(tmp_path)

Each check is a small function of :mod:`dhr_sdk.testing.checks` (``fit_deterministic``,
``state_store_round_trip``, ...); a plugin known to fail one lists it with the reason in
``expected_failures``. A plugin class may set ``conformance_params`` (a dict) to make the
checks fast, e.g. few epochs for a deep hasher; the checks still use the real code paths.
"""

from dhr_sdk.testing.checks import CHECKS
from dhr_sdk.testing.reference import brute_force_graph, clustered_codes, synthetic_fit_data
from dhr_sdk.testing.suite import Check, check_plugin, parametrize_with_checks, plugin_checks

__all__ = [
    "CHECKS", "Check", "brute_force_graph", "check_plugin", "clustered_codes",
    "parametrize_with_checks", "plugin_checks", "synthetic_fit_data",
]
