"""A quiet Progress hands out a silent bar with the tqdm surface the SDK and plugins use."""

from __future__ import annotations

import pytest

from dhr_sdk.core.progress import QUIET, Progress, SilentBar


def test_quiet_bar_iterates_and_counts_without_output(capsys: pytest.CaptureFixture[str]) -> None:
    bar = QUIET.bar([1, 2, 3], desc="x")
    assert isinstance(bar, SilentBar) and list(bar) == [1, 2, 3]
    with QUIET.bar(total=5) as counter:
        counter.update(2)
        counter.update()
        counter.set_postfix(loss=1.0)
        counter.set_description("y")
    counter.close()
    assert counter.n == 3 and list(QUIET.iterate(range(4))) == [0, 1, 2, 3]
    QUIET.log("hidden")
    assert capsys.readouterr() == ("", "")


def test_a_loud_bar_is_tqdm_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from tqdm.auto import tqdm

    bar = Progress().bar(range(2), desc="loud")
    assert isinstance(bar, tqdm) and list(bar) == [0, 1]
    bar.close()
    Progress().log("shown")
    assert "shown" in capsys.readouterr().err
