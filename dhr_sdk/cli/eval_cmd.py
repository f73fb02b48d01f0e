"""``dhr eval``: retrieval evaluation of hashers (mAP@K, MAP/P@HD<=2, PR, P@k) with plots."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    progress,
    quiet_option,
    render_table,
)
from dhr_sdk.errors import DhrError
from dhr_sdk.eval_data import DEFAULT_BACKBONE, LabeledFeatures, collection_features, demo_features
from dhr_sdk.eval_report import EvalReport
from dhr_sdk.evaluation import MetricSpec, SplitSpec, run_evaluation
from dhr_sdk.params import load_config, parse_key_values
from dhr_sdk.plugins import get_registry


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


def hasher_params(names: Sequence[str], pairs: Sequence[str],
                  config: Path | None) -> list[tuple[str, dict[str, Any]]]:
    """Per-hasher params: ``key=value`` goes to every selected hasher that declares ``key``;
    ``name.key=value`` (or a ``[hasher.name]`` config table) to hasher ``name`` only."""
    common: dict[str, Any] = {}
    own: dict[str, dict[str, Any]] = {n: {} for n in names}
    if config is not None:
        section = load_config(config).get("hasher", {})
        for key, value in section.items():
            if isinstance(value, dict):
                if key not in own:
                    raise DhrError(f"config table [hasher.{key}] names no selected hasher")
                own[key].update(value)
            else:
                common[key] = value
    for key, value in parse_key_values(pairs).items():
        name, dot, sub = key.partition(".")
        if dot:
            if name not in own:
                raise DhrError(f"parameter {key!r} names hasher {name!r}, which is not selected")
            own[name][sub] = value
        else:
            common[key] = value
    reg = get_registry()
    fields = {n: set(reg.get("hasher", n).cls.Params.model_fields) for n in names}
    for key in common:
        if not any(key in f for f in fields.values()):
            raise DhrError(f"parameter {key!r} is not a parameter of any selected hasher")
    return [(n, {**{k: v for k, v in common.items() if k in fields[n]}, **own[n]})
            for n in names]


def load_data(dataset: str | None, collection: Path | None, labels: Path | None,
              tags: Path | None, store: Path | None, output: Path, backbone: str,
              backbone_params: dict[str, Any], batch_size: int, device: str,
              prog: Any) -> LabeledFeatures:
    if (dataset is None) == (collection is None):
        raise DhrError("give either --dataset NAME or a COLLECTION folder (with --labels)")
    if dataset is not None:
        return demo_features(dataset, backbone, backbone_params, batch_size=batch_size,
                             device=device, progress=prog)
    from dhr_sdk.cli.features_cmd import open_source

    if labels is None:
        raise DhrError("evaluating a collection needs --labels FILE (ground truth)")
    assert collection is not None
    col = open_source(collection, labels, tags)
    return collection_features(col, store or output / "features.h5", backbone, backbone_params,
                               batch_size=batch_size, device=device, progress=prog)


@click.command(name="eval")
@click.argument("collection", required=False, type=click.Path(path_type=Path))
@click.option("--dataset", default=None,
              help="Built-in labeled data: animal-mnist, mnist or animal-multilabel.")
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Labels side file of COLLECTION (.csv/.jsonl, see docs/data.md).")
@click.option("--tags", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Tags side file of COLLECTION (for hashers that require tags).")
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Feature cache for COLLECTION [default: OUTPUT/features.h5].")
@click.option("--hasher", "hashers", multiple=True, required=True,
              help="Hasher plugin to evaluate (repeatable).")
@click.option("--bits", default="16,32,64", show_default=True, help="Code lengths.")
@click.option("--backbone", default=DEFAULT_BACKBONE, show_default=True,
              help="Backbone plugin producing the features every hasher sees.")
@click.option("-B", "--backbone-param", "backbone_pairs", multiple=True, metavar="KEY=VALUE",
              help="Backbone parameter (repeatable).")
@click.option("-p", "--param", "params", multiple=True, metavar="[HASHER.]KEY=VALUE",
              help="Hasher parameter (repeatable): KEY=VALUE for every selected hasher that "
                   "has KEY, HASHER.KEY=VALUE for one hasher.")
@config_option
@click.option("--queries", type=int, default=1000, show_default=True, help="Query images.")
@click.option("--database", type=int, default=None,
              help="Database images [default: all non-queries].")
@click.option("--train", type=int, default=None,
              help="Training images [default: min(5000, database)].")
@click.option("--train-from", type=click.Choice(["database", "rest"]), default="database",
              show_default=True, help="Draw the training set from the database or the rest.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
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
              required=True, help="Folder for results.json, results.md and plots.")
@click.option("--plot-format", default="png", show_default=True, help="png, svg or png,svg.")
@click.option("--batch-size", type=int, default=256, show_default=True,
              help="Images per backbone forward pass.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON (contract: docs/evaluation.md).")
@quiet_option
def eval_command(collection: Path | None, dataset: str | None, labels: Path | None,
                 tags: Path | None, store: Path | None, hashers: tuple[str, ...], bits: str,
                 backbone: str, backbone_pairs: tuple[str, ...], params: tuple[str, ...],
                 config: Path | None, queries: int, database: int | None, train: int | None,
                 train_from: str, seed: int, part: str, topk: str, radius: int, no_relevant: str,
                 output: Path, plot_format: str, batch_size: int, device: str, as_json: bool,
                 quiet: bool) -> None:
    """Evaluate hashers by Hamming-ranking retrieval on labeled data.

    Splits the data into queries / database / training set (seeded), fits each hasher at
    each code length on the training features, encodes database and queries, and reports
    mAP@K, MAP/P/R within Hamming radius, PR curves and precision@k (docs/evaluation.md).
    """
    prog = progress(quiet)
    names = list(dict.fromkeys(hashers))
    per_hasher = hasher_params(names, params, config)
    bb_params = dict(load_config(config).get("backbone", {})) if config else {}
    bb_params.update(parse_key_values(backbone_pairs))
    code_bits = parse_ints(bits, "--bits")
    spec = MetricSpec(topk=parse_ints(topk, "--topk", allow_all=True), radius=radius,
                      no_relevant=no_relevant)  # type: ignore[arg-type]
    split = SplitSpec(queries, database, train, seed, train_from,  # type: ignore[arg-type]
                      part)  # type: ignore[arg-type]
    formats = parse_formats(plot_format)
    data = load_data(dataset, collection, labels, tags, store, output, backbone, bb_params,
                     batch_size, device, prog)
    report: EvalReport = run_evaluation(data, per_hasher, code_bits, split, spec, prog)
    report.command = command_line(click.get_current_context())
    files = report.write(output, formats)
    if as_json:
        emit_json({**report.to_dict(), "files": [str(f) for f in files]})
        return
    headers, rows = report.table()
    click.echo(render_table(headers, rows))
    click.echo(f"wrote {len(files)} files to {output}")


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in ("png", "svg")]
    if bad or not formats:
        raise DhrError(f"--plot-format must be png, svg or png,svg, got {text!r}")
    return formats


def command_line(ctx: click.Context) -> str:
    """The invocation as an explicit command (every option that affects results, in order)."""
    parts = ["dhr", "eval"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name in ("as_json", "quiet") or value is None or value is False \
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
