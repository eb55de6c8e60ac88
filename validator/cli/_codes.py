"""`validator codes`: the error catalog."""

from __future__ import annotations

from typing import Any

import click
import orjson

from .._catalog import DEFAULT_CATALOG


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
def codes(as_json: bool) -> None:
    """Print the error catalog: code, HTTP status, title."""
    rows: list[dict[str, Any]] = [
        {"code": e.code, "httpStatus": e.http_status, "title": e.title,
         "description": e.description}
        for e in DEFAULT_CATALOG.values()
    ]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        click.echo(f"{row['code']:>5}  {row['httpStatus']}  {row['title']}")


