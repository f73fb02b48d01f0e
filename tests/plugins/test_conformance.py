"""Every registered plugin (built-in or installed third-party) passes every named
conformance check, one test per (plugin, check)."""

from __future__ import annotations

from pathlib import Path

from dhr_sdk.core.registry import get_registry
from dhr_sdk.testing import Check, parametrize_with_checks

# ssl needs a file made by dhr pretrain: tests/plugins/backbones/test_backbone_ssl.py runs
# the same checks on one.
CLASSES = [r.cls for r in get_registry().all() if (r.kind, r.name) != ("backbone", "ssl")]


def test_no_broken_plugins() -> None:
    assert get_registry().broken == []


@parametrize_with_checks(CLASSES)
def test_plugin_conforms(check: Check, tmp_path: Path) -> None:
    check(tmp_path)
