"""``dhr rank``: importance scores of a store's graph and its importance list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    json_option,
    params_option,
    plugin_params,
    progress,
    quiet_option,
    render_table,
)
from dhr_sdk.core.registry import get_registry
from dhr_sdk.core.types import ImportanceList, RankResult
from dhr_sdk.offline.relevance import rank
from dhr_sdk.store import Store


def rank_report(store: Path, result: RankResult, il: ImportanceList, top: int,
                image_ids: Callable[[Sequence[int]], Sequence[str]]) -> dict[str, Any]:
    """The JSON contract of ``dhr rank --json`` (docs/ranking.md): per row the first ten
    images as ``image_ids`` (file names, read by ``image_ids(rows)`` for the shown rows
    only) and as ``image_indices`` (rows of the store)."""
    shown = [il.images_of(r)[:10].tolist() for r in range(min(top, il.n_codes))]
    wanted = sorted({i for first in shown for i in first})
    name = dict(zip(wanted, image_ids(wanted), strict=True))
    rows = []
    for r, first in enumerate(shown):
        rows.append({"order": int(il.order[r]), "code": il.codes[r].tobytes().hex(),
                     "score": float(il.scores[r]), "images": int(il.counts[r]),
                     "image_ids": [name[i] for i in first], "image_indices": first})
    return {"store": str(store), "ranker": result.method, "iterations": result.iterations,
            "converged": result.converged, "residual": result.residual,
            "info": result.info, "rows": il.n_codes, "images": il.n_images, "top": rows}


@click.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--ranker", default="cpr", show_default=True, help="Ranker plugin: cpr or shr.")
@click.option("--top", default=10, show_default=True, help="Rows of the importance list shown.")
@params_option
@config_option
@json_option
@quiet_option
def rank_command(store: Path, ranker: str, top: int, params: tuple[str, ...],
                 config: Path | None, as_json: bool, quiet: bool) -> None:
    """Rank STORE's graph into an importance list (params such as -p damping=0.85, or
    -p solver=power for the paper's iteration instead of the exact closed form)."""
    plugin = get_registry().create("ranker", ranker, plugin_params("ranker", params, config))
    result, il = rank(store, plugin, progress(quiet or as_json))
    report = rank_report(store, result, il, top, Store(store).read_image_ids)
    if as_json:
        emit_json(report)
        return
    state = "converged" if result.converged else "NOT converged"
    click.echo(f"{store}: {result.method} ({result.info.get('solver')}), "
               f"{result.iterations} iterations, {state} (residual {result.residual:.3g}); "
               f"importance list of {il.n_codes} codes for {il.n_images} images")
    table = [(r["order"], r["code"], r["score"], r["images"],
              " ".join(r["image_ids"][:5]) + (" ..." if r["images"] > 5 else ""))
             for r in report["top"]]
    click.echo(render_table(["O", "H (hex)", "S", "N", "D (image ids)"], table))
