"""What every command shares: exit codes, the options that mean the same everywhere (schema
folders, DNS, 1000-combining) and how their values become the package's option objects."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .._account import Account, AccountError
from .._exceptions import OptionsError, SchemaError
from .._registry import default_registry
from ..dns import DNSOptions

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# `check --summary`: how the run's summary is printed (not input formats, which are the
# batch readers' names).
SUMMARY_TEXT = "text"
SUMMARY_JSON = "json"

_F = TypeVar("_F", bound=Callable[..., Any])


def register_schemas(paths: tuple[str, ...]) -> None:
    """Add `--schemas` files and folders to the default registry; a bad one is a usage
    error."""
    registry = default_registry()
    for path in paths:
        try:
            registry.register_path(path)
        except SchemaError as exc:
            raise click.UsageError(str(exc)) from exc


def schema_dirs_option(command: _F) -> _F:
    return click.option(
        "--schemas", "schema_dirs", multiple=True, type=click.Path(exists=True),
        help="A schema file or a folder of *.json schemas to add (repeatable).")(command)


def always_combine_option(command: _F) -> _F:
    return click.option("--always-combine", is_flag=True,
                        help="Always answer 1000, as the live API does.")(command)


_SECONDS = click.FloatRange(min=0, min_open=True)


def dns_options(*, check_mx_default: bool, budget: float | None = None,
                cache: bool = True) -> Callable[[_F], _F]:
    """`--check-mx/--no-check-mx` with the command's default, `--dns-server`,
    `--dns-timeout`, `--dns-budget` (where a command has a budget), `--dns-cache` and
    `--dns-canary`/`--no-dns-canaries`."""

    def decorate(command: _F) -> _F:
        command = click.option(
            "--no-dns-canaries", is_flag=True,
            help="Ask no canaries: believe the resolver's \"no such domain\".")(command)
        command = click.option(
            "--dns-canary", "dns_canaries", metavar="NAME", multiple=True,
            help="A domain that must exist (repeatable; default: gmail.com, outlook.com, "
                 "yahoo.com). A resolver that denies it is treated as down: its \"no such "
                 "domain\" answers are 1010, not 1002.")(command)
        if cache:
            command = click.option(
                "--dns-cache", "dns_cache", type=click.Path(dir_okay=False),
                help="SQLite file that keeps DNS verdicts between runs.")(command)
        if budget is not None:
            command = click.option(
                "--dns-budget", type=_SECONDS, default=budget, show_default=True,
                help="Seconds all DNS lookups of one request may take; then 1010.")(command)
        command = click.option("--dns-timeout", type=_SECONDS, default=2.0,
                               show_default=True, help="Seconds per domain.")(command)
        command = click.option("--dns-server", metavar="HOST[:PORT]",
                               help="Nameserver for MX checks (default: the system's).")(command)
        return click.option("--check-mx/--no-check-mx", default=check_mx_default,
                            show_default=True,
                            help="Check that e-mail domains accept mail (DNS), once per "
                                 "distinct domain.")(command)

    return decorate


def dns_from(server: str | None, timeout: float, budget: float | None = None,
             cache: str | None = None, canaries: tuple[str, ...] = (),
             no_canaries: bool = False) -> DNSOptions:
    """The DNS options of a command line; a bad value is a usage error naming the option."""
    if canaries and no_canaries:
        raise click.UsageError("--dns-canary and --no-dns-canaries exclude each other")
    chosen = () if no_canaries else (canaries or None)
    try:
        chosen = DNSOptions(canaries=chosen).canaries
    except OptionsError as exc:
        raise click.BadParameter(str(exc), param_hint="--dns-canary") from exc
    try:
        return DNSOptions.from_server(server, timeout=timeout, budget=budget, cache_path=cache,
                                      canaries=chosen)
    except OptionsError as exc:
        raise click.BadParameter(str(exc), param_hint="--dns-server") from exc


def _region(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not (len(value) == 2 and value.isalpha() and value.isascii()):
        raise click.BadParameter(f"expected a two-letter region such as PL, got {value!r}")
    return value.upper() if value else None


def account_option(command: _F) -> _F:
    """`--account` and `--phone-region` (national phone numbers, in phone formats and phone
    custom fields)."""
    command = click.option(
        "--phone-region", metavar="XX", callback=_region,
        help="Region of national phone numbers (US, PL ...); otherwise phones must be E.164 "
             "(+48600100200).")(command)
    return click.option(
        "--account", "account_path", type=click.Path(exists=True),
        help="Account data: a JSON file {\"campaigns\": [...], \"customFields\": [...], "
             "\"tags\": [...]} (the items of GET /v3/campaigns, /v3/custom-fields, /v3/tags; "
             "`validator account pull` writes one) or a folder of campaigns.json, "
             "custom-fields.json, tags.json. Unknown IDs are 1001; custom-field values are "
             "checked by their definitions.")(command)


def load_account(path: str | None) -> Account | None:
    """The `--account` data; a bad file is a usage error (exit 2) naming the file and item."""
    if path is None:
        return None
    try:
        return Account.load(path)
    except AccountError as exc:
        raise click.BadParameter(str(exc), param_hint="--account") from exc
# MX checks are on by default only where DNS is what the command is for.
MX_DEFAULTS_NOTE = (
    "MX checks (--check-mx) are on by default in check, where a list's deliverability is "
    "the point, and off in validate and serve, where a lookup would add its latency to every "
    "payload; --check-mx / --no-check-mx sets them either way.")

_DEFAULT_IN_HELP = re.compile(r"[(;] ?default: ([^)]*)\)")


def option_defaults(command: click.Command) -> list[tuple[str, str]]:
    """(option, default) of every option of ``command`` that has one: a value, an on/off
    switch, or a default that its help names ("(default: the system's)")."""
    rows = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        name = max(param.opts, key=len)
        if param.is_flag and not param.secondary_opts:
            continue  # a plain flag: off unless given
        default = param.to_info_dict()["default"]  # None where there is none
        if param.is_flag:
            rows.append((name, "on" if default else "off"))
            continue
        match = _DEFAULT_IN_HELP.search(param.help or "")
        if default not in (None, ()):
            rows.append((name, str(default)))
        elif match:
            rows.append((name, match.group(1)))
    return rows


def add_defaults_table(command: click.Command) -> None:
    """End ``command``'s --help with the table of its defaults (the README has the same)."""
    rows = option_defaults(command)
    if not rows:
        return
    width = max(len(name) for name, _ in rows)
    # \b keeps click from rewrapping the table's lines into one paragraph.
    table = "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)
    note = MX_DEFAULTS_NOTE if any(name == "--check-mx" for name, _ in rows) else ""
    command.epilog = f"\b\nDefaults:\n{table}" + (f"\n\n{note}" if note else "")
