"""``dhr import-codes``: create a store from hash codes made by another system."""

from __future__ import annotations

from pathlib import Path

import click

from dhr_sdk.cli.common import emit_json, json_option, progress, quiet_option
from dhr_sdk.offline.relevance import import_codes


@click.command("import-codes")
@click.argument("codes_file", type=click.Path(path_type=Path))
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--names", "names_file", type=click.Path(path_type=Path), default=None,
              help="Text file with one image name per line (default: row numbers).")
@click.option("--format", "fmt", type=click.Choice(["auto", "packed", "bits"]), default="auto",
              show_default=True, help="packed: uint8 (n, n_bits/8) np.packbits rows; bits: "
              "(n, n_bits) of 0/1, -1/+1 or bool; auto: bits if every value is 0/1 or ±1.")
@click.option("--n-bits", type=int, default=None, help="Expected code length (checked).")
@click.option("--overwrite", is_flag=True, help="Replace STORE if it exists.")
@json_option
@quiet_option
def import_codes_command(codes_file: Path, store: Path, names_file: Path | None, fmt: str,
                         n_bits: int | None, overwrite: bool, as_json: bool,
                         quiet: bool) -> None:
    """Create STORE from CODES_FILE (.npy, or .npz with 'codes' and optional 'names').

    The store then supports 'dhr graph' and 'dhr rank' without a hasher.
    """
    summary = import_codes(store, codes_file, names_file, fmt, n_bits,  # type: ignore[arg-type]
                           overwrite, progress(quiet or as_json))
    if as_json:
        emit_json(summary)
        return
    click.echo(f"wrote {summary['store']}: {summary['images']} codes of {summary['n_bits']} "
               f"bits ({summary['format']}), {summary['distinct_codes']} distinct")
