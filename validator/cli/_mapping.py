"""`validator check FILE --suggest-mapping`: a mapping file guessed from a CSV header."""

from __future__ import annotations

import sys

import click
import orjson

from .._account import Account
from .._exceptions import InputError
from ..batch import Format, open_source, suggest_mapping
from ._options import EXIT_USAGE


def print_suggested_mapping(path: str, schema_name: str, account: Account | None, *,
                            fmt: Format | None, delimiter: str | None,
                            encoding: str | None) -> None:
    """Print the guessed mapping (JSON, on stdout) and what it could not settle (stderr)."""
    try:
        source = open_source(path, fmt=fmt, delimiter=delimiter, encoding=encoding)
    except InputError as exc:
        click.echo(f"validator: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        if not source.reader.tabular:
            click.echo(f"validator: {source.name} is not CSV: only a header can be mapped",
                       err=True)
            sys.exit(EXIT_USAGE)
        header = source.dialect.header
    finally:
        source.close()
    mapping, notes = suggest_mapping(header, schema_name, account)
    click.echo(orjson.dumps(mapping, option=orjson.OPT_INDENT_2).decode())
    for note in notes:
        click.echo(f"validator: note: {note}", err=True)
    unmatched = [name for name, target in mapping.items() if target is None]
    if unmatched:
        click.echo("validator: note: no field guessed for " + ", ".join(map(repr, unmatched))
                   + " (null drops a column; write a target path to keep it)", err=True)
