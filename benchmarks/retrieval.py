"""Retrieval benchmark: every installed hasher x code lengths on the built-in real data.

One command (all installed hashers, 16/32/64 bits, animal-mnist)::

    python benchmarks/retrieval.py

Add or refresh rows without rerunning everything::

    python benchmarks/retrieval.py --hashers nrdh,gah --bits 64 --dataset animal-multilabel

Raw results are merged into ``docs/results/retrieval.json``, keyed by
``dataset/hasher/bits`` (a rerun replaces the row; every row keeps the exact command, the
seed and the protocol that produced it). ``docs/results/retrieval.md`` is then regenerated
from the whole JSON: one table per dataset and protocol (mAP@1000, mAP over the full
ranking, MAP@HD<=2, P@HD<=2, distinct database codes, train and encode seconds), then a
"Training cost of the deep hashers" section: their train seconds side by side per code
length, and their model size (learned parameters and stored state values, recorded in each
row's ``result.info.model`` by the evaluation; rows measured before it was recorded show
"—"). A hasher that fails (or needs tags the data does not have) is recorded with its error
and the run goes on. Protocol and metric conventions: ``docs/evaluation.md``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from dhr_sdk.cli.common import shared_params
from dhr_sdk.core.params import parse_key_values
from dhr_sdk.core.progress import Progress
from dhr_sdk.core.registry import get_registry
from dhr_sdk.evaluation.data import DEFAULT_BACKBONE, demo_features
from dhr_sdk.evaluation.protocol import hasher_grid, run_evaluation
from dhr_sdk.evaluation.report import EvalReport, describe_protocol, markdown_table
from dhr_sdk.evaluation.spec import MetricSpec
from dhr_sdk.evaluation.split import SplitSpec

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "retrieval.json"
DEV_RESULTS = RESULTS.with_name("retrieval-dev.json")  # --part dev: never mixed with test rows
FORMAT = "dhr-retrieval-benchmark"
COLUMNS = ["hasher", "bits", "mAP@1000", "mAP@all", "MAP@HD≤2", "P@HD≤2", "codes",
           "train s", "encode s", "run"]
DEEP = ("nrdh", "dstgeh", "lagnh", "gah")  # the trained hashers of the cost section
MISSING = "—"


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="animal-mnist",
                    help="Built-in data: animal-mnist, mnist or animal-multilabel (comma list).")
    ap.add_argument("--hashers", default=None,
                    help="Comma-separated hashers [default: every installed hasher].")
    ap.add_argument("--bits", default="16,32,64", help="Comma-separated code lengths.")
    ap.add_argument("--seed", type=int, default=0, help="Seed of the split.")
    ap.add_argument("--part", choices=["test", "dev"], default="test",
                    help="'dev': the development split (queries from the database, never the "
                    "test queries) for choosing settings; rows go to retrieval-dev.json.")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--database", type=int, default=None, help="[default: all non-queries]")
    ap.add_argument("--train", type=int, default=None, help="[default: min(5000, database)]")
    ap.add_argument("--backbone", default=DEFAULT_BACKBONE)
    ap.add_argument("-B", "--backbone-param", action="append", default=[], metavar="KEY=VALUE",
                    help="Backbone parameter, e.g. weights=none (repeatable).")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="[HASHER.]KEY=VALUE",
                    help="Hasher parameter as in dhr eval: itq.n_iter=50 for one hasher, "
                         "seed=1 for every selected hasher that has it (repeatable).")
    ap.add_argument("--results", type=Path, default=None,
                    help="Raw results JSON to update [default: docs/results/retrieval.json, "
                    "retrieval-dev.json with --part dev].")
    ap.add_argument("--only-markdown", action="store_true",
                    help="Regenerate the markdown from the JSON without running anything.")
    return ap.parse_args(argv)


def load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"format": FORMAT, "version": 1, "runs": {}}
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        sys.exit(f"error: {path} is not a {FORMAT} file")
    return dict(data)


def merge_rows(path: Path, rows: dict[str, dict[str, Any]],
               drop: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Add ``rows`` to the results file under an exclusive lock, re-reading it first, so
    concurrent benchmark runs (e.g. different hashers) never drop each other's rows;
    ``drop`` removes the stored rows it is true for (rows that measured something that no
    longer exists, e.g. a retrained backbone file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load(path)
        if drop is not None:
            data["runs"] = {k: v for k, v in data["runs"].items() if not drop(v)}
        data["runs"].update(rows)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return data


def rows_of(report: EvalReport, command: str) -> dict[str, dict[str, Any]]:
    """One JSON row per (dataset, hasher, bits) of ``report``."""
    whole = report.to_dict()
    shared = {k: whole[k] for k in ("created", "environment", "dataset", "backbone",
                                    "protocol", "metrics")}
    out = {}
    for res in whole["results"]:
        key = f"{report.dataset['name']}/{res['hasher']}/{res['n_bits']}"
        out[key] = {**shared, "command": command, "seed": report.split.seed, "result": res}
    return out


def protocol_of(row: dict[str, Any]) -> dict[str, Any]:
    """The row's split protocol; rows recorded before the split had a ``part`` are test rows."""
    return {"part": "test", **row["protocol"]}


def protocol_key(row: dict[str, Any]) -> str:
    """Rows share a table when data, backbone, split and metric settings are identical."""
    return json.dumps([row["dataset"]["name"], row["backbone"]["name"],
                       row["backbone"]["params"], protocol_of(row),
                       {k: v for k, v in row["metrics"].items() if k != "k_values"}],
                      sort_keys=True)


def markdown(data: dict[str, Any], source: str = RESULTS.name) -> str:
    """The whole results page, regenerated from the raw JSON."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in data["runs"].values():
        groups[protocol_key(row)].append(row)
    lines = ["# Retrieval benchmark", "",
             f"Generated by `benchmarks/retrieval.py` from `{source}` (raw results, one "
             "entry per dataset/hasher/bits); do not edit by hand. Conventions: "
             "[docs/evaluation.md](../evaluation.md). `run` points to the command that "
             "produced the row. Times are wall-clock seconds on a shared 2-core CPU machine "
             "(train = fit on the training set; encode = database + queries). `codes` = "
             "distinct codes among the database items (1 = a collapsed hash function: "
             "every item ties and mAP falls to chance).", ""]
    ordered = sorted(groups.values(), key=lambda g: protocol_key(g[0]))
    for rows in ordered:
        first = rows[0]
        rep = EvalReport.from_dict({
            "format": "dhr-retrieval-eval", "version": 1, "dataset": first["dataset"],
            "backbone": first["backbone"], "protocol": first["protocol"],
            "metrics": first["metrics"], "results": []})
        lines += [f"## {first['dataset']['name']} — backbone `{first['backbone']['name']}`, "
                  f"seed {first['seed']}", ""]
        lines += [ln for ln in describe_protocol(rep) if not ln.startswith("- times")]
        commands = run_commands(rows)
        table = []
        order = sorted(rows, key=lambda r: (r["result"]["hasher"], r["result"]["n_bits"]))
        for r in order:
            res, m = r["result"], r["result"]["metrics"]
            run = commands.index(r["command"]) + 1
            if m is None:
                table.append([res["hasher"], res["n_bits"], f"failed: {res['error']}",
                              "", "", "", "", "", "", run])
                continue
            table.append([res["hasher"], res["n_bits"], f"{m['map_at'].get('1000', 0):.4f}",
                          f"{m['map_at'].get('all', 0):.4f}", f"{m['map_radius']:.4f}",
                          f"{m['precision_radius']:.4f}", res["distinct_codes"],
                          f"{res['fit_seconds']:.2f}",
                          f"{res['encode_seconds']:.2f}", run])
        lines += ["", markdown_table(COLUMNS, table), ""]
        lines += [f"{i}. `{c}`" for i, c in enumerate(commands, start=1)]
        lines += ["", *chance_lines(order), *sanity_lines(order), ""]
    lines += cost_lines(ordered)
    return "\n".join(lines).rstrip() + "\n"


def run_commands(rows: list[dict[str, Any]]) -> list[str]:
    """The distinct commands of a table's rows, in first-seen order (``run`` = index + 1)."""
    return list(dict.fromkeys(r["command"] for r in rows))


def cost_lines(groups: list[list[dict[str, Any]]]) -> list[str]:
    """Section comparing the deep hashers' training time and model size per table.

    Times side by side per code length, each with the run that produced it (times of one
    run share one machine load; different runs may not). Sizes come from the row's
    ``result.info.model`` (see :mod:`dhr_sdk.model.size`); older rows lack it: "—".
    """
    deep = [[r for r in rows if r["result"]["hasher"] in DEEP] for rows in groups]
    if not any(deep):
        return []
    lines = ["## Training cost of the deep hashers", "",
             "Train = wall-clock seconds of `fit` on the training set of the table above "
             "(shared 2-core CPU; the number in brackets is the `run` of that table: times "
             "from one run were measured under the same load, times from different runs "
             "may not be). `parameters` = elements of the learned torch parameters of the "
             "modules the fitted model keeps (and a saved model stores): networks used "
             "only while training and then dropped (a stage-1 network, a discriminator) "
             "are not counted, and a kept module may include parts only training uses (a "
             "decoder); `buffers` = non-learned tensors of those modules "
             "(BatchNorm statistics, fixed inputs); `state values` = elements of every "
             "array a saved model stores (`get_state`), split by key group. "
             f"{MISSING} = not measured (row recorded before sizes were).", ""]
    for rows, deep_rows in zip(groups, deep, strict=True):
        if not deep_rows:
            continue
        commands = run_commands(rows)
        got = {(r["result"]["hasher"], r["result"]["n_bits"]): r for r in deep_rows}
        names = [h for h in DEEP if any(k[0] == h for k in got)]
        bits = sorted({k[1] for k in got})
        times = []
        for b in bits:
            cells: list[Any] = [b]
            for h in names:
                r = got.get((h, b))
                ok = r is not None and r["result"]["metrics"] is not None
                cells.append(f"{r['result']['fit_seconds']:.1f} "
                             f"({commands.index(r['command']) + 1})" if r and ok else MISSING)
            times.append(cells)
        first = rows[0]
        lines += [f"### {first['dataset']['name']} — backbone `{first['backbone']['name']}`, "
                  f"seed {first['seed']}", "", "Train seconds (run):", "",
                  markdown_table(["bits", *names], times), "", "Model size:", "",
                  markdown_table(["hasher", "bits", "parameters", "buffers", "state values",
                                  "state contents"],
                                 [size_cells(got[(h, b)]) for h in names for b in bits
                                  if (h, b) in got]), ""]
    return lines


def size_cells(row: dict[str, Any]) -> list[Any]:
    """hasher, bits, parameters, buffers, state values, state groups of one row."""
    res = row["result"]
    size = res.get("info", {}).get("model")
    if res["metrics"] is None or not size:
        return [res["hasher"], res["n_bits"], MISSING, MISSING, MISSING, MISSING]

    def num(v: int | None) -> str:
        return MISSING if v is None else f"{v:,}"

    groups = ", ".join(f"{k} {v:,}" for k, v in size["state_groups"].items())
    return [res["hasher"], res["n_bits"], num(size["parameters"]), num(size["buffers"]),
            num(size["state_values"]), groups]


def chance_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Chance level: the share of relevant database items per query (precision of retrieving
    everything, the last point of the PR curve), to read the table against."""
    for r in rows:
        m = r["result"]["metrics"]
        if m is not None:
            return [f"Chance level (mean share of relevant database items per query): "
                    f"{m['pr_curve']['precision'][-1]:.4f}.", ""]
    return []


def sanity_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The check every hashing paper shows: ITQ beats LSH (mAP@1000) at 32 and 64 bits."""
    got = {(r["result"]["hasher"], r["result"]["n_bits"]): r["result"]["metrics"] for r in rows}
    out = []
    for b in (32, 64):
        itq, lsh = got.get(("itq", b)), got.get(("lsh", b))
        if itq and lsh:
            a, c = itq["map_at"]["1000"], lsh["map_at"]["1000"]
            out.append(f"Sanity check, {b} bits: ITQ mAP@1000 {a:.4f} vs LSH {c:.4f} — "
                       f"{'ITQ better, as in the literature' if a > c else 'ITQ NOT better'}.")
    return out


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.results is None:
        args.results = DEV_RESULTS if args.part == "dev" else RESULTS
    data = load(args.results)
    command = shlex.join(["python", "benchmarks/retrieval.py", *argv])
    if not args.only_markdown:
        parts = {protocol_of(row)["part"] for row in data["runs"].values()}
        if parts - {args.part}:
            sys.exit(f"error: {args.results} holds {'/'.join(sorted(parts))} rows; --part "
                     f"{args.part} rows go to a separate --results file")
        reg = get_registry()
        names = (args.hashers.split(",") if args.hashers else reg.names("hasher"))
        hashers = list(shared_params("hasher", [n.strip() for n in names if n.strip()],
                                     args.param, None).items())
        bits = [int(b) for b in args.bits.split(",") if b.strip()]
        split = SplitSpec(args.queries, args.database, args.train, args.seed, part=args.part)
        prog = Progress()
        for dataset in args.dataset.split(","):
            feats = demo_features(dataset.strip(), args.backbone,
                                  parse_key_values(args.backbone_param), progress=prog)
            report = run_evaluation(feats, hasher_grid(hashers, bits), split, MetricSpec(), prog,
                                    catch=(Exception,))
            data = merge_rows(args.results, rows_of(report, command))
            headers, rows = report.table()
            print(markdown_table(headers, rows))
    md = args.results.with_suffix(".md")
    md.write_text(markdown(data, args.results.name))
    print(f"wrote {md}" if args.only_markdown else f"wrote {args.results} and {md}")


if __name__ == "__main__":
    main(sys.argv[1:])
