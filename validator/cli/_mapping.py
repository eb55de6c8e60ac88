"""`validator check FILE --suggest-mapping`: a mapping file guessed from a CSV header."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from .._account import Account
from .._exceptions import InputError
from ..batch import Format, Source, open_source, suggest_mapping
from ._options import EXIT_USAGE

_SAMPLE = 1 << 16
"""Bytes of a file's first rows that the guess reads for its campaign and tag values."""


def _first_rows(source: Source) -> list[list[str]]:
    """The cells of the rows in about the first 64 KiB (malformed ones left out)."""
    if source.stream is None or source.cutter is None:
        return []
    data = source.stream.read(_SAMPLE)
    if len(data) == _SAMPLE:
        # Whole records only: up to the last record boundary the reader finds.
        end = source.cutter.cut(data, _SAMPLE // 2)
        data = data[:end] if end else b""
    lines: list[int] = []
    raws: list[Any] = []
    rows: list[Any] = []
    source.reader.parse(data, source.first_line, source.dialect, lines, raws, rows)
    return [row for row in rows if isinstance(row, list)]


def print_suggested_mapping(path: str, schema_name: str, account: Account | None, *,
                            fmt: Format | None, delimiter: str | None,
                            encoding: str | None, list_separator: str = "|") -> None:
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
        rows = _first_rows(source) if account is not None else []
    finally:
        source.close()
    mapping, notes = suggest_mapping(header, schema_name, account, rows, list_separator)
    click.echo(orjson.dumps(mapping, option=orjson.OPT_INDENT_2).decode())
    for note in notes:
        click.echo(f"validator: note: {note}", err=True)
    unmatched = [name for name, target in mapping.items() if target is None]
    if unmatched:
        click.echo("validator: note: no field guessed for " + ", ".join(map(repr, unmatched))
                   + " (null drops a column; write a target path to keep it)", err=True)
