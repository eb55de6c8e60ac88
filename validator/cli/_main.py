"""The `validator` command group; each command lives in a module of its own."""

from __future__ import annotations

import click

from ._account import account
from ._check import check
from ._codes import codes
from ._options import add_defaults_table
from ._schemas import schemas
from ._serve import serve
from ._validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="getresponse-validator")
def main() -> None:
    """Validate JSON payloads the way the GetResponse REST API v3 does."""


for _command in (validate, check, schemas, codes, serve, account):
    add_defaults_table(_command)
    main.add_command(_command)
