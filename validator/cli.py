"""The `validator` command: check payloads from files or stdin, list schemas and codes."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

import click
import orjson

from ._api import Validator
from ._catalog import DEFAULT_CATALOG
from ._dns import DNSCache, MXChecker
from ._errors import SchemaError, UnknownSchema
from ._registry import default_registry

EXIT_INVALID = 1
EXIT_USAGE = 2


def parse_dns_server(value: str | None) -> tuple[list[str] | None, int]:
    """`HOST[:PORT]` (IPv6 as `[::1]:5353`) → nameservers and port."""
    if not value:
        return None, 53
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif value.count(":") == 1:
        host, port = value.split(":")
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise click.BadParameter(f"expected HOST or HOST:PORT, got {value!r}",
                                 param_hint="--dns-server")
    return [host], int(port)


def _register(folders: tuple[str, ...]) -> None:
    from pathlib import Path

    registry = default_registry()
    for folder in folders:
        try:
            if Path(folder).is_dir():
                registry.register_dir(folder)
            else:
                registry.register_file(folder)
        except SchemaError as exc:
            raise click.UsageError(str(exc)) from exc


schema_dirs_option = click.option(
    "--schemas", "schema_dirs", multiple=True, type=click.Path(exists=True),
    help="A schema file or a folder of *.json schemas to add (repeatable).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="getresponse-validator")
def main() -> None:
    """Validate JSON payloads the way the GetResponse REST API v3 does."""


@main.command()
@click.option("--schema", "schema_name", required=True, help="Schema name, e.g. contacts.create.")
@click.argument("file", default="-", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--always-combine", is_flag=True, help="Always answer 1000, as the live API does.")
@click.option("--check-mx", is_flag=True, help="Check that e-mail domains accept mail (DNS).")
@click.option("--dns-server", metavar="HOST[:PORT]", help="Nameserver for MX checks.")
@click.option("--dns-timeout", type=float, default=2.0, show_default=True,
              help="Seconds per DNS lookup.")
@click.option("--dns-cache", type=click.Path(dir_okay=False),
              help="SQLite file that keeps DNS answers between runs.")
@click.option("--pretty", is_flag=True, help="Indent the error body.")
@schema_dirs_option
def validate(schema_name: str, file: str, always_combine: bool, check_mx: bool,
             dns_server: str | None, dns_timeout: float, dns_cache: str | None, pretty: bool,
             schema_dirs: tuple[str, ...]) -> None:
    """Check one JSON payload (FILE, or - for stdin). Prints the API's error body and exits 1
    when the payload would be refused; prints nothing and exits 0 when it is valid."""
    _register(schema_dirs)
    nameservers, port = parse_dns_server(dns_server)
    checker = None
    if check_mx and dns_cache:
        try:
            cache = DNSCache(path=dns_cache)
        except (OSError, sqlite3.Error) as exc:
            raise click.BadParameter(f"cannot use {dns_cache}: {exc}",
                                     param_hint="--dns-cache") from exc
        checker = MXChecker(nameservers=nameservers, port=port, timeout=dns_timeout,
                            cache=cache)
    try:
        validator = Validator(schema_name, always_combine=always_combine, check_mx=check_mx,
                              nameservers=nameservers, dns_port=port, dns_timeout=dns_timeout,
                              mx_checker=checker)
    except UnknownSchema as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    try:
        data = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()  # noqa: SIM115
    except OSError as exc:
        click.echo(f"validator: cannot read {file}: {exc.strerror}", err=True)
        sys.exit(EXIT_USAGE)
    result = validator.validate(data)
    if result.error is not None:
        option = orjson.OPT_INDENT_2 if pretty else 0
        click.echo(orjson.dumps(result.error.to_dict(), option=option).decode())
        sys.exit(EXIT_INVALID)


@main.group(invoke_without_command=True)
@schema_dirs_option
@click.pass_context
def schemas(ctx: click.Context, schema_dirs: tuple[str, ...]) -> None:
    """List the schema names that --schema accepts (or import an OpenAPI document)."""
    if ctx.invoked_subcommand is not None:
        return
    _register(schema_dirs)
    registry = default_registry()
    for name in registry.names():
        document, _ = registry.get(name)
        title = document.get("title", "") if isinstance(document, dict) else ""
        click.echo(f"{name:32} {title}".rstrip())


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
    from ._openapi import generate
    from ._overlay import load_rules

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
    from ._openapi import sync_folder

    try:
        return sync_folder(files, out_dir, check=check)
    except OSError as exc:
        click.echo(f"validator: cannot write {out_dir}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)


@main.command()
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


def _attach_commands() -> None:
    # Imported here: these modules import this one for shared option parsing.
    from ._batch_cli import check
    from ._serve_cli import serve

    main.add_command(check)
    main.add_command(serve)


_attach_commands()

if __name__ == "__main__":
    main()
