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
    RunConfig,
    RunSummary,
    load_suppression,
    run,
)
from ..batch import Progress as RunProgress
from ._options import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    always_combine_option,
    dns_from,
    dns_options,
    register_schemas,
    schema_dirs_option,
)


def _load_mapping(path: str) -> dict[str, str | None]:
    try:
        with open(path, "rb") as handle:
            data = orjson.loads(handle.read())
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}",
                                 param_hint="--mapping") from exc
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"{path} is not JSON: {exc}", param_hint="--mapping") from exc
    if not isinstance(data, dict) or not all(
            isinstance(v, str) or v is None for v in data.values()):
        raise click.BadParameter(
            f"{path} must be a JSON object of header name → target path (or null to drop)",
            param_hint="--mapping")
    return {str(k).strip(): v for k, v in data.items()}


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
        codes = Table(title="failures", show_header=True, header_style="bold")
        codes.add_column("code", justify="right")
        codes.add_column("field")
        codes.add_column("reason")
        codes.add_column("rows", justify="right")
        for (code, label, text), count in summary.reasons.most_common(10):
            codes.add_row(str(code), label, text if len(text) <= 80 else text[:77] + "...",
                          f"{count:,}")
        console.print(codes)
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
@click.option("--delimiter", help="CSV delimiter (default: sniffed from the header; \\t for tab).")
@click.option("--encoding", help="CSV encoding (default: sniffed; a UTF-8 BOM is tolerated).")
@click.option("--mapping", "mapping_path", type=click.Path(exists=True, dir_okay=False),
              help="JSON object: CSV header → target path (dotted), or null to drop a column.")
@click.option("--campaign-id", help="campaign.campaignId for rows that have none.")
@click.option("--list-separator", default="|", show_default=True,
              help="Separator of values in array columns such as tags.")
@click.option("--value-separator", default="|", show_default=True,
              help="Separator of values in customFieldValues.<id> columns.")
@click.option("--valid", "valid_path", type=click.Path(dir_okay=False),
              help="Write the rows that pass here, in the input's format (.gz: compressed).")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False),
              help="Write refused rows here as JSON Lines with their error bodies.")
@click.option("--unverified", "unverified_path", type=click.Path(dir_okay=False),
              help="Write rows whose only failures are 1010 (DNS could not answer) here, as "
                   "JSON Lines like --rejects.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write counts per code, field and domain, top reasons and timings (JSON).")
@click.option("--dedupe/--no-dedupe", default=True, show_default=True,
              help="Refuse (1008) a repeat of an e-mail in the same campaign.")
@click.option("--suppress", "suppress_paths", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Suppression list: addresses or @domain masks, one a line (1002).")
@dns_options(check_mx_default=True)
@always_combine_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: the machine's cores).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Rows per unit of work.")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Judge the rows on Dask: 'local' starts a cluster of --jobs worker "
                   "processes, tcp://HOST:PORT uses a running scheduler (pip install "
                   "'getresponse-validator[dask]').")
@click.option("--dask-timeout", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, help="Seconds to wait for the Dask scheduler to answer.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@schema_dirs_option
def check(files: tuple[str, ...], schema_name: str, fmt: Format | None, delimiter: str | None,
          encoding: str | None, mapping_path: str | None, campaign_id: str | None,
          list_separator: str, value_separator: str, valid_path: str | None,
          rejects_path: str | None, unverified_path: str | None, report_path: str | None,
          dedupe: bool, suppress_paths: tuple[str, ...], check_mx: bool,
          dns_server: str | None, dns_timeout: float, dns_cache: str | None,
          dns_canaries: tuple[str, ...], no_dns_canaries: bool,
          always_combine: bool, jobs: int | None, chunk_size: int, dask_address: str | None,
          dask_timeout: float,
          quiet: bool, schema_dirs: tuple[str, ...]) -> None:
    """Check contact files (CSV, JSON Lines, JSON arrays, Parquet; gzip; - for stdin; globs
    and fsspec URLs) row by row.

    Exit code 0: no row is invalid (unverified rows are not invalid); 1: some rows are
    invalid; 2: unusable input or arguments (a file that cannot be read to its end).
    """
    if files.count("-") > 1:
        raise click.BadParameter("stdin (-) can be read once", param_hint="FILES")
    outputs = [p for p in (valid_path, rejects_path, unverified_path, report_path) if p]
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
    options = ValidationOptions(check_mx=check_mx, always_combine=always_combine, dns=dns)
    batch = BatchOptions(
        suppressed_addresses=frozenset(addresses), suppressed_domains=frozenset(domains),
        schema_paths=tuple(os.path.abspath(p) for p in schema_dirs), campaign_id=campaign_id,
        dedupe=dedupe)
    config = RunConfig(
        inputs=list(files), schema_name=schema_name, fmt=fmt,
        delimiter=_parse_separator(delimiter, "--delimiter") if delimiter else None,
        encoding=encoding,
        mapping=_load_mapping(mapping_path) if mapping_path else {},
        list_separator=_parse_separator(list_separator, "--list-separator"),
        value_separator=_parse_separator(value_separator, "--value-separator"),
        valid_path=valid_path, rejects_path=rejects_path, unverified_path=unverified_path,
        report_path=report_path, options=options, batch=batch,
        jobs=jobs or os.cpu_count() or 1, chunk_size=chunk_size, dask=dask_address,
        dask_timeout=dask_timeout)

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
    if not quiet:
        _print_summary(console, summary)
    else:
        for error in summary.input_errors:
            click.echo(f"validator: {error}", err=True)
    sys.exit(summary.exit_code)

