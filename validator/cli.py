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


@main.command()
@schema_dirs_option
def schemas(schema_dirs: tuple[str, ...]) -> None:
    """List the schema names that --schema accepts."""
    _register(schema_dirs)
    registry = default_registry()
    for name in registry.names():
        document, _ = registry.get(name)
        title = document.get("title", "") if isinstance(document, dict) else ""
        click.echo(f"{name:32} {title}".rstrip())


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
