"""`validator check`: batch runs over contact files (see `validator.batch`)."""

from __future__ import annotations

import os
import signal
import sys
import types
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NoReturn

import click
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .._exceptions import InputError, UnknownSchema
from .._options import ValidationOptions
from .._registry import default_registry
from ..batch import (
    FORMATS,
    BatchOptions,
    Format,
    MappingEntry,
    RunConfig,
    RunSummary,
    load_mapping,
    load_suppression,
    run,
)
from ..batch import Progress as RunProgress
from ._mapping import print_suggested_mapping
from ._options import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    SUMMARY_JSON,
    SUMMARY_TEXT,
    account_option,
    always_combine_option,
    dns_from,
    dns_options,
    load_account,
    register_schemas,
    schema_dirs_option,
)


def _load_mapping(path: str) -> dict[str, MappingEntry]:
    try:
        return load_mapping(path)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--mapping") from exc


def _terminate(signum: int, frame: types.FrameType | None) -> NoReturn:
    # SIGTERM becomes an exception, so that the run's cleanup removes its partial files.
    raise KeyboardInterrupt


class _Display:
    """The progress bar (only on a terminal, never with --quiet)."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.source = ""
        self._first = 0
        if enabled:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("{task.fields[rows]:>12,} rows  {task.fields[rate]:>9,.0f} rows/s"),
                TimeElapsedColumn(), TimeRemainingColumn(),
                console=console, transient=True)

    def __enter__(self) -> _Display:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, progress: RunProgress) -> None:
        if self.progress is None:
            return
        if self.task is None or progress.source != self.source:
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.source = progress.source
            self.task = self.progress.add_task(progress.source, total=progress.total_bytes,
                                               rows=0, rate=0.0)
            self._first = progress.rows
        task = self.progress.tasks[-1]
        elapsed = task.elapsed or 0.0
        rate = (progress.rows - self._first) / elapsed if elapsed > 0 else 0.0
        self.progress.update(self.task, completed=progress.done_bytes, rows=progress.rows,
                             rate=rate)


def _print_summary(console: Console, summary: RunSummary) -> None:
    table = Table(title="validator check", show_header=True, header_style="bold")
    table.add_column("rows", justify="left")
    table.add_column("count", justify="right")
    table.add_row("read", f"{summary.rows_read:,}")
    table.add_row("valid", f"{summary.valid:,}", style="green")
    table.add_row("invalid", f"{summary.invalid:,}", style="red" if summary.invalid else None)
    table.add_row("unverified", f"{summary.unverified:,}",
                  style="yellow" if summary.unverified else None)
    console.print(table)
    console.print(f"rows read {summary.rows_read:,} = valid {summary.valid:,} + invalid "
                  f"{summary.invalid:,} + unverified {summary.unverified:,}", highlight=False)
    if summary.by_code:
        console.print(reason_table(summary))
    if summary.warnings:
        console.print("warnings (never a verdict): " + ", ".join(
            f"{kind} {n:,}" for kind, n in summary.warnings.most_common()), highlight=False)
    if summary.dns_unknown:
        reason, _ = summary.dns_unknown.most_common(1)[0]
        console.print(f"[yellow]DNS: {sum(summary.dns_unknown.values()):,} of "
                      f"{summary.dns_domains:,} domains could not be checked ({reason}); their "
                      f"rows are unverified, not invalid.[/yellow]")
    total = summary.timings.get("total", 0.0)
    if total:
        console.print(f"{total:.2f} s, {summary.rows_read / total:,.0f} rows/s",
                      highlight=False)
    for error in summary.input_errors:
        console.print(f"[red]error:[/red] {error}", highlight=False)


def _one_stdout(outputs: list[str], summary_format: str) -> None:
    """stdout (-) can take one output: two would interleave."""
    takers = outputs.count("-") + (summary_format == SUMMARY_JSON)
    if takers > 1:
        raise click.UsageError("only one of --valid, --rejects, --unverified, --report and "
                               "--summary json can write to stdout (-)")


def reason_table(summary: RunSummary, per_code: int = 5) -> Table:
    """Failures by reason, not by value: each code with its total, then its most common
    (field, reason) pairs with a few example lines."""
    table = Table(title="failures", show_header=True, header_style="bold")
    table.add_column("code", justify="right")
    table.add_column("field")
    table.add_column("reason")
    table.add_column("rows", justify="right")
    table.add_column("e.g. lines")
    by_code: dict[int, list[tuple[tuple[int, str, str], int]]] = {}
    for reason, count in summary.reasons.most_common():
        by_code.setdefault(reason[0], []).append((reason, count))
    several = len(summary.per_file) > 1
    for code, total in summary.by_code.most_common():
        table.add_row(str(code), "(all)", "total", f"{total:,}", "", style="bold")
        reasons = by_code.get(code, [])
        for reason, count in reasons[:per_code]:
            text = reason[2]
            lines = ", ".join(f"{line}" + (f" ({source})" if several else "")
                              for source, line in summary.examples.get(reason, []))
            table.add_row("", reason[1], text if len(text) <= 70 else text[:67] + "...",
                          f"{count:,}", lines)
        if len(reasons) > per_code:
            table.add_row("", "", f"... {len(reasons) - per_code} more reasons", "", "",
                          style="dim")
    return table


def _parse_separator(value: str, option: str) -> str:
    if value == "\\t":
        return "\t"
    if len(value) != 1:
        raise click.BadParameter("expected one character (or \\t)", param_hint=option)
    return value


@click.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--schema", "schema_name", default="contacts.create", show_default=True,
              help="Schema every row is checked against.")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Input format (default: sniffed from the content).")
@click.option("--delimiter", help="CSV delimiter, \\t for tab (default: sniffed from the header).")
@click.option("--encoding", help="CSV encoding (default: UTF-8, or a BOM's, else guessed by "
                                 "charset-normalizer and said so).")
@click.option("--mapping", "mapping_path", type=click.Path(exists=True, dir_okay=False),
              help="JSON object: CSV header → target path (dotted), or null to drop a column.")
@click.option("--campaign-id", help="campaign.campaignId for rows that have none.")
@click.option("--list-separator", default="|", show_default=True,
              help="Separator of values in array columns such as tags.")
@click.option("--value-separator", default="|", show_default=True,
              help="Separator of values in customFieldValues.<id> columns.")
@click.option("--valid", "valid_path", type=click.Path(dir_okay=False),
              help="Write the rows that pass here, in the input's format (.gz: compressed; "
                   "- for stdout).")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False),
              help="Write refused rows here as JSON Lines with their error bodies (- for "
                   "stdout).")
@click.option("--unverified", "unverified_path", type=click.Path(dir_okay=False),
              help="Write rows whose only failures are 1010 (DNS could not answer) here, as "
                   "JSON Lines like --rejects (- for stdout).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write counts per code, field and domain, top reasons and timings: JSON, "
                   "or a self-contained page for people when the name ends in .html (- for "
                   "stdout).")
@click.option("--annotated", "annotated_path", type=click.Path(dir_okay=False),
              help="Write every input row in order with its status, code, failing fields, "
                   "first reason and warnings (.csv or .jsonl, .gz: compressed; .parquet with "
                   "pyarrow).")
@click.option("--warnings/--no-warnings", default=True, show_default=True,
              help="Note list-hygiene warnings (disposable domains, role accounts, likely "
                   "typos and duplicates); they never change a verdict.")
@click.option("--dedupe-normalised", is_flag=True,
              help="Compare e-mails for 1008 as their providers deliver them (Gmail's dots, "
                   "+tags), so two spellings of one mailbox are a repeat.")
@click.option("--dedupe/--no-dedupe", default=True, show_default=True,
              help="Refuse (1008) a repeat of an e-mail in the same campaign.")
@click.option("--suppress", "suppress_paths", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Suppression list: addresses or @domain masks, one a line (1002).")
@dns_options(check_mx_default=True)
@always_combine_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: the machine's cores).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=None,
              help="Rows per unit of work (default: 2000 on the row path, about 6,500 for "
                   "CSV read in columns).")
@click.option("--row-path", is_flag=True,
              help="Judge every row one by one (the reference), not UTF-8 CSV in columns.")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Judge the rows on Dask: 'local' starts a cluster of --jobs worker "
                   "processes, tcp://HOST:PORT uses a running scheduler (pip install "
                   "'getresponse-validator[dask]').")
@click.option("--dask-timeout", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, help="Seconds to wait for the Dask scheduler to answer.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@account_option
@click.option("--suggest-mapping", is_flag=True,
              help="Print a mapping file guessed from the first file's CSV header (to edit and "
                   "pass to --mapping), and check nothing.")
@click.option("--summary", "summary_format", type=click.Choice([SUMMARY_TEXT, SUMMARY_JSON]),
              default=SUMMARY_TEXT,
              show_default=True,
              help="text: the summary tables on stderr; json: the report (as --report writes "
                   "it) on one line of stdout, for scripts.")
@schema_dirs_option
def check(files: tuple[str, ...], schema_name: str, fmt: Format | None, delimiter: str | None,
          encoding: str | None, mapping_path: str | None, campaign_id: str | None,
          list_separator: str, value_separator: str, valid_path: str | None,
          rejects_path: str | None, unverified_path: str | None, report_path: str | None,
          annotated_path: str | None, warnings: bool, dedupe_normalised: bool, dedupe: bool,
          suppress_paths: tuple[str, ...], check_mx: bool,
          dns_server: str | None, dns_timeout: float, dns_cache: str | None,
          dns_canaries: tuple[str, ...], no_dns_canaries: bool,
          always_combine: bool, jobs: int | None, chunk_size: int | None, row_path: bool,
          dask_address: str | None, dask_timeout: float,
          quiet: bool, account_path: str | None, phone_region: str | None,
          suggest_mapping: bool, summary_format: str, schema_dirs: tuple[str, ...]) -> None:
    """Check contact files (CSV, JSON Lines, JSON arrays, Parquet; gzip; - for stdin; globs
    and fsspec URLs) row by row.

    Exit code 0: no row is invalid (unverified rows are not invalid); 1: some rows are
    invalid; 2: unusable input or arguments (a file that cannot be read to its end).
    """
    if files.count("-") > 1:
        raise click.BadParameter("stdin (-) can be read once", param_hint="FILES")
    outputs = [p for p in (valid_path, rejects_path, unverified_path, report_path,
                           annotated_path) if p]
    _one_stdout(outputs, summary_format)
    if len(set(map(os.path.abspath, outputs))) != len(outputs):
        raise click.UsageError("the output files must differ from one another")
    inputs = {os.path.abspath(f) for f in files if f != "-"}
    if inputs & set(map(os.path.abspath, outputs)):
        raise click.UsageError("an output file cannot be one of the inputs")
    for path in outputs:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise click.BadParameter(f"folder {folder} does not exist", param_hint=path)
    register_schemas(schema_dirs)
    try:
        default_registry().get(schema_name)
    except UnknownSchema as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    account = load_account(account_path)
    if suggest_mapping:
        print_suggested_mapping(files[0], schema_name, account, fmt=fmt, delimiter=delimiter,
                                encoding=encoding,
                                list_separator=_parse_separator(list_separator,
                                                                "--list-separator"))
        return
    dns = dns_from(dns_server, dns_timeout, cache=dns_cache, canaries=dns_canaries,
                   no_canaries=no_dns_canaries)
    addresses: set[str] = set()
    domains: set[str] = set()
    try:
        for path in suppress_paths:
            more_addresses, more_domains = load_suppression(path)
            addresses |= more_addresses
            domains |= more_domains
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--suppress") from exc
    options = ValidationOptions(check_mx=check_mx, always_combine=always_combine, dns=dns,
                                account=account, phone_region=phone_region)
    batch = BatchOptions(
        suppressed_addresses=frozenset(addresses), suppressed_domains=frozenset(domains),
        schema_paths=tuple(os.path.abspath(p) for p in schema_dirs), campaign_id=campaign_id,
        dedupe=dedupe, dedupe_normalised=dedupe_normalised, warnings=warnings)
    config = RunConfig(
        inputs=list(files), schema_name=schema_name, fmt=fmt,
        delimiter=_parse_separator(delimiter, "--delimiter") if delimiter else None,
        encoding=encoding,
        mapping=_load_mapping(mapping_path) if mapping_path else {},
        list_separator=_parse_separator(list_separator, "--list-separator"),
        value_separator=_parse_separator(value_separator, "--value-separator"),
        valid_path=valid_path, rejects_path=rejects_path, unverified_path=unverified_path,
        report_path=report_path, annotated_path=annotated_path, options=options, batch=batch,
        jobs=jobs or os.cpu_count() or 1, chunk_size=chunk_size, columnar=not row_path,
        dask=dask_address, dask_timeout=dask_timeout)

    console = Console(stderr=True)
    previous: Any = signal.signal(signal.SIGTERM, _terminate)
    try:
        with _Display(console, enabled=console.is_terminal and not quiet) as display:
            summary = run(config, display.update,
                          None if quiet else lambda text: console.print(text, highlight=False,
                                                                   soft_wrap=True))
    except KeyboardInterrupt:
        click.echo("validator: interrupted; no output file was written", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenProcessPool as exc:
        click.echo(f"validator: a worker process stopped unexpectedly ({exc}); no output file "
                   "was written", err=True)
        sys.exit(EXIT_USAGE)
    except InputError as exc:
        click.echo(f"validator: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        signal.signal(signal.SIGTERM, previous)
    for notice in summary.notices:
        click.echo(f"validator: note: {notice}", err=True)
    for warning in summary.input_warnings:  # even with --quiet: a wrong guess passes garbled rows
        click.echo(f"validator: warning: {warning}", err=True)
    if summary_format == SUMMARY_JSON:
        click.echo(orjson.dumps(summary.report()).decode())
    if not quiet and summary_format == SUMMARY_TEXT:
        _print_summary(console, summary)
    else:
        for error in summary.input_errors:
            click.echo(f"validator: {error}", err=True)
    sys.exit(summary.exit_code)

