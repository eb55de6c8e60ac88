"""`validator schemas`: list the known schemas, or import an OpenAPI document into schemas."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from .._exceptions import SchemaError
from .._registry import default_registry
from ._options import EXIT_INVALID, EXIT_USAGE, register_schemas, schema_dirs_option


@click.group(invoke_without_command=True)
@schema_dirs_option
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON array of {name, title, route, validationType} instead.")
@click.pass_context
def schemas(ctx: click.Context, schema_dirs: tuple[str, ...], as_json: bool) -> None:
    """List the schema names that --schema accepts (or import an OpenAPI document)."""
    if ctx.invoked_subcommand is not None:
        return
    register_schemas(schema_dirs)
    registry = default_registry()
    rows = []
    for name in registry.names():
        document, _ = registry.get(name)
        meta = document if isinstance(document, dict) else {}
        rows.append({"name": name, "title": str(meta.get("title", "")),
                     "route": meta.get("x-route"),
                     "validationType": meta.get("validationType", "body")})
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        click.echo(f"{row['name']:32} {row['title']}".rstrip())


@schemas.command("import-openapi")
@click.argument("documents", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the generated schemas (e.g. schemas/).")
@click.option("--rules", "rules_file", type=click.Path(exists=True, dir_okay=False),
              help="Rules the documents do not express (JSON), applied after the import.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if the folder differs from what the import makes.")
def import_openapi(documents: tuple[str, ...], out_dir: str, rules_file: str | None,
                   check: bool) -> None:
    """Turn every JSON request body and the query parameters of OpenAPI 3.0/3.1 DOCUMENTS
    (JSON or YAML) into engine schemas named <resource>.<operation>[.query]. When documents
    repeat an operation, the first one listed wins."""
    from ..openapi import generate, load_rules

    try:
        rules = load_rules(rules_file) if rules_file else {}
        result, files = generate(list(documents), rules)
    except SchemaError as exc:
        click.echo(f"validator: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    sync = _sync(files, out_dir, check)
    for op, why in result.skipped:
        click.echo(f"skipped {op.method.upper()} {op.path} from {op.source}: {why}", err=True)
    bodies = sum(1 for op in result.operations if op.body is not None)
    queries = sum(1 for op in result.operations if op.query is not None)
    click.echo(f"{len(result.operations)} operations: {bodies} request bodies, "
               f"{queries} query schemas → {out_dir}", err=True)
    if check:
        for label, names in (("differs", sync.changed), ("missing", sync.missing),
                             ("no longer generated", sync.stale)):
            for name in names:
                click.echo(f"{label}: {name}.json", err=True)
        if sync.drift:
            click.echo("validator: the schemas are out of date; run the same command "
                       "without --check", err=True)
            sys.exit(EXIT_INVALID)
        return
    click.echo(f"wrote {len(sync.written)}, removed {len(sync.stale)}, "
               f"{len(files) - len(sync.written)} unchanged", err=True)


def _sync(files: dict[str, bytes], out_dir: str, check: bool) -> Any:
    from ..openapi import sync_folder

    try:
        return sync_folder(files, out_dir, check=check)
    except OSError as exc:
        click.echo(f"validator: cannot write {out_dir}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)


