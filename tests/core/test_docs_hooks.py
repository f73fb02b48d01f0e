"""Every hookspec is documented in docs/plugins.md (after datasette's documentation test)."""

from pathlib import Path

import pytest

from dhr_sdk.core import hookspecs

DOC = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", sorted(hookspecs.HOOK_KINDS))
def test_hook_is_documented(hook: str) -> None:
    assert f"### `{hook}`" in DOC


def test_hook_kinds_match_hookspecs() -> None:
    specs = {n for n in dir(hookspecs) if n.startswith("register_")}
    assert specs == set(hookspecs.HOOK_KINDS)
