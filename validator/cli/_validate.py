"""`validator validate`: one payload, the API's answer."""

from __future__ import annotations

import sys

import click

from .._api import Validator
from .._exceptions import OptionsError, UnknownSchema
from .._options import ValidationOptions
from ._options import (
    EXIT_INVALID,
    EXIT_USAGE,
    account_option,
    always_combine_option,
    dns_from,
    dns_options,
    load_account,
    register_schemas,
    schema_dirs_option,
)


@click.command()
@click.option("--schema", "schema_name", required=True, help="Schema name, e.g. contacts.create.")
@click.argument("file", default="-", type=click.Path(allow_dash=True, dir_okay=False))
@always_combine_option
@dns_options(check_mx_default=False)
@click.option("--pretty", is_flag=True, help="Indent the error body.")
@account_option
@schema_dirs_option
def validate(schema_name: str, file: str, always_combine: bool, check_mx: bool,
             dns_server: str | None, dns_timeout: float, dns_cache: str | None,
             dns_canaries: tuple[str, ...], no_dns_canaries: bool, pretty: bool,
             account_path: str | None, phone_region: str | None,
             schema_dirs: tuple[str, ...]) -> None:
    """Check one JSON payload (FILE, or - for stdin). Prints the API's error body and exits 1
    when the payload would be refused; prints nothing and exits 0 when it is valid."""
    register_schemas(schema_dirs)
    options = ValidationOptions(always_combine=always_combine, check_mx=check_mx,
                                dns=dns_from(dns_server, dns_timeout, cache=dns_cache,
                                             canaries=dns_canaries,
                                             no_canaries=no_dns_canaries),
                                account=load_account(account_path), phone_region=phone_region)
    try:
        validator = Validator(schema_name, options)
    except UnknownSchema as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    except OptionsError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        data = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()  # noqa: SIM115
    except OSError as exc:
        click.echo(f"validator: cannot read {file}: {exc.strerror}", err=True)
        sys.exit(EXIT_USAGE)
    result = validator.validate(data)
    if result.error is not None:
        click.echo(result.error.to_json(indent=pretty).decode())
        sys.exit(EXIT_INVALID)
