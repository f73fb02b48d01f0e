"""Conformance checks every plugin must pass, importable by third-party plugin authors.

In the spirit of scikit-learn's ``check_estimator``::

    from dhr_sdk.testing import check_plugin
    check_plugin(MyHasher, tmp_path)

A plugin class may set ``conformance_params`` (a dict) to make the checks fast, e.g. few
epochs for a deep hasher; the checks still use the real code paths.
"""

from dhr_sdk.testing.checks import (
    check_assessor,
    check_backbone,
    check_graph_builder,
    check_hasher,
    check_params,
    check_plugin,
    check_ranker,
)
from dhr_sdk.testing.reference import brute_force_graph, clustered_codes, synthetic_fit_data

__all__ = [
    "brute_force_graph", "check_assessor", "check_backbone", "check_graph_builder",
    "check_hasher", "check_params", "check_plugin", "check_ranker", "clustered_codes",
    "synthetic_fit_data",
]
