"""``dhr eval``: retrieval evaluation (mAP@K, MAP/P@HD<=2, PR, P@k) with plots, of hashers
fitted on a split or of a fitted model on the user's own queries and database."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    feature_options,
    plugin_params,
    progress,
    quiet_option,
    render_table,
    shared_params,
)
from dhr_sdk.core.errors import DhrError
from dhr_sdk.evaluation.data import (
    DEFAULT_BACKBONE,
    LabeledFeatures,
    demo_features,
    labeled_features,
)
from dhr_sdk.evaluation.protocol import evaluate_model, hasher_grid, run_evaluation
from dhr_sdk.evaluation.report import EvalReport
from dhr_sdk.evaluation.spec import MetricSpec
from dhr_sdk.evaluation.split import SplitSpec


def parse_ints(text: str, what: str, allow_all: bool = False) -> tuple[Any, ...]:
    """``"16,32,64"`` -> ``(16, 32, 64)``; ``"all"`` -> ``None`` when ``allow_all``."""
    out: list[int | None] = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if allow_all and item == "all":
            out.append(None)
            continue
        try:
            out.append(int(item))
        except ValueError:
            raise DhrError(f"{what} must be comma-separated integers, got {item!r}") from None
    if not out:
        raise DhrError(f"{what} is empty")
    return tuple(out)


def load_data(dataset: str | None, collection: Path | None, labels: Path | None,
              tags: Path | None, store: Path | None, output: Path, backbone: str,
              backbone_params: dict[str, Any], batch_size: int, workers: int, device: str,
              prog: Any) -> LabeledFeatures:
    if (dataset is None) == (collection is None):
        raise DhrError("give either --dataset NAME or a COLLECTION folder (with --labels)")
    if dataset is not None:
        return demo_features(dataset, backbone, backbone_params, batch_size=batch_size,
                             device=device, progress=prog)
    from dhr_sdk.data.collection import open_collection

    if labels is None:
        raise DhrError("evaluating a collection needs --labels FILE (ground truth)")
    assert collection is not None
    col = open_collection(collection, labels, tags)
    return labeled_features(col, store or output / "features.h5", backbone, backbone_params,
                            batch_size=batch_size, workers=workers, device=device, progress=prog)


SPLIT_ONLY = ("collection", "dataset", "labels", "tags", "store", "hashers", "bits", "backbone",
              "backbone_pairs", "params", "config", "train", "train_from", "part")
MODEL_ONLY = ("query_labels", "database_labels")
DEFAULT_QUERIES = 1000


@click.command(name="eval")
@click.argument("collection", required=False, type=click.Path(path_type=Path))
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A fitted hash model (a 'dhr fit' file or any store holding a model): "
                   "evaluate it as it is on --queries and --database (no split, no fitting).")
@click.option("--dataset", default=None,
              help="Built-in labeled data: animal-mnist, mnist or animal-multilabel.")
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Labels side file of COLLECTION (.csv/.jsonl, see docs/data.md).")
@click.option("--tags", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Tags side file of COLLECTION (for hashers that require tags).")
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Feature cache for COLLECTION [default: OUTPUT/features.h5].")
@click.option("--hasher", "hashers", multiple=True,
              help="Hasher plugin to fit and evaluate on a split (repeatable).")
@click.option("--bits", default="16,32,64", show_default=True, help="Code lengths.")
@click.option("--backbone", default=DEFAULT_BACKBONE, show_default=True,
              help="Backbone plugin producing the features every hasher sees.")
@click.option("-B", "--backbone-param", "backbone_pairs", multiple=True, metavar="KEY=VALUE",
              help="Backbone parameter (repeatable).")
@click.option("-p", "--param", "params", multiple=True, metavar="[HASHER.]KEY=VALUE",
              help="Hasher parameter (repeatable): KEY=VALUE for every selected hasher that "
                   "has KEY, HASHER.KEY=VALUE for one hasher.")
@config_option
@click.option("--queries", default=None, metavar="N|PATH",
              help="Split: number of query images [default: 1000]. With --model: the query "
                   "images, a labeled folder or .txt list of image paths (--query-labels), or "
                   "a store holding codes and labels.")
@click.option("--database", default=None, metavar="N|PATH",
              help="Split: database images [default: all non-queries]. With --model: the "
                   "database, a labeled folder or .txt list (--database-labels) or a store.")
@click.option("--query-labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --model: labels side file of the --queries folder (ids relative to "
                   "it); for a store, replaces the labels it records.")
@click.option("--database-labels", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="With --model: labels side file of the --database folder "
                                 "(for a store, replaces the labels it records).")
@click.option("--train", type=int, default=None,
              help="Training images [default: min(5000, database)].")
@click.option("--train-from", type=click.Choice(["database", "rest"]), default="database",
              show_default=True, help="Draw the training set from the database or the rest.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the split; with --model, of the database's random order (ties "
                   "keep database order).")
@click.option("--part", type=click.Choice(["test", "dev"]), default="test", show_default=True,
              help="'dev': development queries drawn from the database, never the test "
                   "queries, for choosing settings (docs/evaluation.md).")
@click.option("--topk", default="1000,all", show_default=True,
              help="mAP cut-offs ('all' = full ranking).")
@click.option("--radius", type=int, default=2, show_default=True,
              help="Hamming radius of MAP/P/R@HD<=r.")
@click.option("--no-relevant", type=click.Choice(["zero", "exclude"]), default="zero",
              show_default=True, help="Queries without any relevant item: score 0 or drop.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for results.json, results.md and plots (and the "
                                  "feature caches of folders).")
@click.option("--plot-format", default="png", show_default=True, help="png, svg or png,svg.")
@feature_options
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON (contract: docs/evaluation.md).")
@quiet_option
@click.pass_context
def eval_command(ctx: click.Context, collection: Path | None, model: Path | None,
                 dataset: str | None, labels: Path | None, tags: Path | None,
                 store: Path | None, hashers: tuple[str, ...], bits: str, backbone: str,
                 backbone_pairs: tuple[str, ...], params: tuple[str, ...],
                 config: Path | None, queries: str | None, database: str | None,
                 query_labels: Path | None, database_labels: Path | None, train: int | None,
                 train_from: str, seed: int, part: str, topk: str, radius: int,
                 no_relevant: str, output: Path, plot_format: str, batch_size: int,
                 workers: int, device: str, as_json: bool, quiet: bool) -> None:
    """Evaluate hash codes by Hamming-ranking retrieval on labeled data.

    \b
    Two ways (docs/evaluation.md):
      dhr eval --dataset NAME | COLLECTION --labels FILE --hasher NAME ...
        splits the data into queries / database / training set (seeded), fits each
        hasher at each code length on the training features, encodes and measures;
      dhr eval --model MODEL.h5 --queries Q --database DB [--query-labels FILE]
               [--database-labels FILE]
        measures the fitted model you will deploy on your own queries and database
        (labeled folders or stores): no split is drawn and nothing is fitted.

    Both report mAP@K, MAP/P/R within Hamming radius, PR curves and precision@k.
    """
    prog = progress(quiet)
    spec = MetricSpec(topk=parse_ints(topk, "--topk", allow_all=True), radius=radius,
                      no_relevant=no_relevant)  # type: ignore[arg-type]
    formats = parse_formats(plot_format)
    if model is not None:
        _check_model_usage(ctx, queries, database)
        assert queries is not None and database is not None
        report: EvalReport = evaluate_model(
            model, queries, database, query_labels=query_labels,
            database_labels=database_labels, metrics=spec, seed=seed, cache=output,
            batch_size=batch_size, workers=workers, device=device, progress=prog)
        report.command = command_line(ctx, skip=SPLIT_ONLY)
    else:
        given = _given(ctx, MODEL_ONLY)
        if given:
            raise click.UsageError(f"{', '.join(given)} go with --model (the labels of the "
                                   "--queries / --database folders of a fitted model)")
        if not hashers:
            raise click.UsageError("give --hasher NAME (fit and evaluate hashers on a split) "
                                   "or --model MODEL (evaluate a fitted model on --queries "
                                   "and --database)")
        n_queries = _count(queries, "--queries", DEFAULT_QUERIES)
        n_database = _count(database, "--database", None)
        names = list(dict.fromkeys(hashers))
        per_hasher = shared_params("hasher", names, params, config)
        bb_params = plugin_params("backbone", backbone_pairs, config)
        code_bits = parse_ints(bits, "--bits")
        split = SplitSpec(n_queries, n_database, train, seed,  # type: ignore[arg-type]
                          train_from, part)  # type: ignore[arg-type]
        data = load_data(dataset, collection, labels, tags, store, output, backbone, bb_params,
                         batch_size, workers, device, prog)
        report = run_evaluation(data, hasher_grid(list(per_hasher.items()), code_bits),
                                split, spec, prog)
        report.command = command_line(ctx, skip=MODEL_ONLY,
                                      values={"queries": n_queries, "database": n_database})
    files = report.write(output, formats)
    if as_json:
        emit_json({**report.to_dict(), "files": [str(f) for f in files]})
        return
    headers, rows = report.table()
    click.echo(render_table(headers, rows))
    click.echo(f"wrote {len(files)} files to {output}")


def _given(ctx: click.Context, names: Sequence[str]) -> list[str]:
    """The command-line spelling of the parameters in ``names`` that the user set."""
    out = []
    for param in ctx.command.params:
        if param.name in names and ctx.get_parameter_source(param.name) not in (
                None, click.core.ParameterSource.DEFAULT):
            out.append(param.human_readable_name if isinstance(param, click.Argument)
                       else max(param.opts, key=len))
    return out


def _check_model_usage(ctx: click.Context, queries: str | None, database: str | None) -> None:
    """--model evaluates the model as it is: no option that chooses a split or a fit."""
    given = _given(ctx, SPLIT_ONLY)
    if given:
        hint = ("; give each side's labels with --query-labels / --database-labels"
                if "--labels" in given else "")
        raise click.UsageError(f"{', '.join(given)} cannot be combined with --model (a fitted "
                               f"model is evaluated as it is: no split, nothing fitted){hint}")
    if queries is None or database is None:
        raise click.UsageError("--model needs --queries Q and --database DB (labeled image "
                               "folders, .txt lists of image paths, or stores)")


def _count(value: str | None, option: str, default: int | None) -> int | None:
    """A split size given as text (``--queries``/``--database`` also take paths with --model)."""
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number of images (a folder or store "
                                 "goes with --model MODEL)", param_hint=option) from None


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in ("png", "svg")]
    if bad or not formats:
        raise DhrError(f"--plot-format must be png, svg or png,svg, got {text!r}")
    return formats


def command_line(ctx: click.Context, skip: Sequence[str] = (),
                 values: dict[str, Any] | None = None) -> str:
    """The invocation as an explicit command (every option that affects results, in order).

    ``skip``: parameters of the other way of evaluating; ``values``: resolved defaults.
    """
    parts = ["dhr", "eval"]
    for param in ctx.command.params:
        value = {**ctx.params, **(values or {})}.get(param.name or "")
        if param.name in ("as_json", "quiet", *skip) or value is None or value is False \
                or value == ():
            continue
        if isinstance(param, click.Argument):
            parts.append(str(value))
            continue
        opt = max(param.opts, key=len)
        if isinstance(param, click.Option) and param.is_flag:
            parts.append(opt)
        elif isinstance(value, tuple):
            for item in value:
                parts += [opt, str(item)]
        else:
            parts += [opt, str(value)]
    return shlex.join(parts)
