"""Batch runs: many rows from files, checked on all cores, sorted into valid / invalid /
unverified outputs (SPEC §6).

The work is split along what can run anywhere and what needs the whole run. A block of raw
records is judged anywhere by ``check_block`` (``_blocks``). What depends on the whole input
stays here, in the parent, which is kept nearly idle: cutting the input into blocks (its
reader's job: no decoding, no parsing), resolving every distinct domain once for the run, the
1008 check on 64-bit digests (``_dedupe``: a repeat of an e-mail in a campaign is only a repeat
relative to the rows before it), writing the bytes in input order and adding up the counts.
"""

from __future__ import annotations

import bisect
import multiprocessing
import multiprocessing.forkserver as forkserver
import os
import time
import zlib
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import orjson

from .._aggregate import aggregate
from .._catalog import DEFAULT_CATALOG, Code
from .._exceptions import InputError
from .._options import ValidationOptions
from .._registry import default_registry
from .._results import Failure
from ..rules import MXPath, SchemaView
from . import _blocks
from ._annotated import AnnotatedWriter, annotated_format
from ._blocks import (
    RowOutcome,
    block_domains,
    bump,
    check_block,
    check_chunk,
    count_invalid,
    identity,
    original,
    output_line,
    validator_for,
    with_campaign,
)
from ._columnar import columnar
from ._columnar_jsonl import columnar_jsonl
from ._dedupe import FirstRows
from ._html import check_html_support, is_html, render_html
from ._hygiene import ProviderRepeats, rows_of, warning_counts
from ._mapping import MappingEntry, mapping_notes
from ._options import BatchOptions
from ._outputs import AtomicOutput, ValidWriter, candidates_in_order, rows_without
from ._plan import CsvPlan, build_plan
from ._readers import (
    MAX_RECORD,
    Format,
    Record,
    Source,
    byte_blocks,
    expand_inputs,
    open_source,
)
from ._reasons import EXAMPLES, Reason
from ._units import INVALID, VALID, Block, BlockResult, BlockSpec

if TYPE_CHECKING:
    from ..dns import DomainVerdict, MXChecker

# After this many failed lookups without one answer in between, DNS is taken to be down: a run
# over a million rows must not wait out a timeout for each of its domains.
DNS_GIVE_UP = 64
# Bytes per block of the columnar way (about 6,500 contacts). What a worker holds grows with
# its block (~75 MiB at 2 MiB: the frames, and what polars' allocator keeps of them), while the
# fixed cost of each polars call (~25 queries a block) shrinks with it: 512 KiB keeps a 1M-row
# run near 300 MB, for ~20 % more CPU a row than 2 MiB (benchmarks/README.md, issue 11).
COLUMNAR_BLOCK = 2**19
ROW_CHUNK = 2000
WORKER_ENV = {"POLARS_MAX_THREADS": "1"}
"""Set where the workers import polars (it reads them once): the workers are parallel by
process, and each further polars thread would add its stack and allocator caches to each."""

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class RunConfig:
    """What one run reads, checks and writes. ``options`` are the rules' (MX checks and the
    resolver that makes them, the catalog ...), ``batch`` the whole-run checks'."""

    inputs: list[str]
    schema_name: str = "contacts.create"
    fmt: Format | None = None
    delimiter: str | None = None
    encoding: str | None = None
    mapping: dict[str, MappingEntry] = field(default_factory=dict)
    """Header → target path or None, and joins (see `validator.batch.load_mapping`)."""
    list_separator: str = "|"
    value_separator: str = "|"
    valid_path: str | None = None
    rejects_path: str | None = None
    unverified_path: str | None = None
    report_path: str | None = None
    """JSON, or with a name ending in .html/.htm a page for people (``validator.batch``'s
    ``_html``; needs the ``report`` extra: jinja2)."""
    annotated_path: str | None = None
    """Every input row in order with its status, code, failing fields, first reason and
    warnings (.csv, .jsonl; .gz compressed)."""
    options: ValidationOptions = field(default_factory=ValidationOptions)
    batch: BatchOptions = field(default_factory=BatchOptions)
    jobs: int = 1
    chunk_size: int | None = None
    """Rows per block; None: 2,000 on the row path, about 6,500 (512 KiB) the columnar way."""
    columnar: bool = True
    """UTF-8 CSV blocks take the columnar way (a generated precheck decides most rows in
    bulk); False keeps every row on the row path, the reference the columnar way is held to."""
    dask: str | None = None
    """Judge the blocks on a Dask cluster: ``"local"`` starts a ``LocalCluster`` of ``jobs``
    worker processes, ``tcp://host:port`` connects to a running scheduler."""
    dask_timeout: float = 10.0
    """Seconds to wait for the scheduler before the run ends (InputError, exit 2)."""


@dataclass(slots=True)
class Progress:
    source: str
    rows: int
    done_bytes: int
    total_bytes: int | None


@dataclass(slots=True)
class RunSummary:
    rows_read: int = 0
    valid: int = 0
    invalid: int = 0
    unverified: int = 0
    by_code: Counter[int] = field(default_factory=Counter)
    by_field: Counter[str] = field(default_factory=Counter)
    by_domain: Counter[str] = field(default_factory=Counter)
    reasons: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)
    input_errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    """What the user should know about how the columns were mapped, each said once."""
    input_warnings: list[str] = field(default_factory=list)
    """What the user should know about how the input was read (an encoding guessed ...)."""
    dns_domains: int = 0
    dns_unknown: Counter[str] = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    examples: dict[Reason, list[tuple[str, int]]] = field(default_factory=dict)
    """Reason → the first rows (source, line) that have it."""
    example_bodies: dict[Reason, bytes] = field(default_factory=dict)
    """Reason → the error body of its first example."""
    warnings: Counter[str] = field(default_factory=Counter)
    """List-hygiene warnings by kind (``validator.hygiene.KINDS``)."""
    dns_outage: str = ""
    """Why DNS was taken to be down for the rest of the run, if it was."""

    @property
    def exit_code(self) -> int:
        if self.input_errors:
            return 2
        return 1 if self.invalid else 0

    def report(self, top: int = 20) -> dict[str, Any]:
        elapsed = self.timings.get("total", 0.0)
        return {
            "rows": {"read": self.rows_read, "valid": self.valid, "invalid": self.invalid,
                     "unverified": self.unverified},
            "files": self.per_file,
            "byCode": {str(code): n for code, n in sorted(self.by_code.items())},
            "byField": dict(self.by_field.most_common()),
            "byDomain": dict(self.by_domain.most_common(100)),
            "topReasons": [
                {"code": code, "field": name, "description": text, "rows": n,
                 "examples": [{"source": source, "line": line} for source, line
                              in self.examples.get((code, name, text), [])]}
                for (code, name, text), n in self.reasons.most_common(top)
            ],
            "warnings": warning_counts(self.warnings),
            "dns": {"domainsLookedUp": self.dns_domains,
                    "domainsUnknown": sum(self.dns_unknown.values()),
                    "unknownReasons": dict(self.dns_unknown.most_common(10)),
                    "outage": self.dns_outage or None},
            "inputErrors": self.input_errors,
            "inputWarnings": self.input_warnings,
            "notices": self.notices,
            "outputs": self.outputs,
            "timings": {**{k: round(v, 3) for k, v in self.timings.items()},
                        "rowsPerSecond": round(self.rows_read / elapsed) if elapsed else None},
            "exitCode": self.exit_code,
        }


class Pending(Protocol[T_co]):
    """A unit of work handed to an engine (a ``concurrent.futures`` or Dask future)."""

    def done(self) -> bool: ...

    def result(self) -> T_co: ...


class Engine(Protocol):
    """Where the blocks of a run are judged: a pool of processes on this machine or a Dask
    cluster. The run keeps everything that needs the whole input (cutting, resolving each
    domain once, 1008, writing in order); an engine only maps the unit of work over blocks."""

    in_process_first: bool
    """Whether an input of one block is judged in this process (it then never waits for
    workers to start)."""

    def window(self, mx: bool) -> int:
        """Blocks to keep in flight."""
        ...

    def check(self, block: Block, spec: BlockSpec, verdicts: dict[str, DomainVerdict]
              ) -> Pending[BlockResult]: ...

    def domains(self, block: Block, spec: BlockSpec) -> Pending[set[str]]: ...

    def close(self, cancel: bool) -> None: ...


class _PoolEngine:
    """Worker processes of this machine; they keep the run's constants from the start."""

    in_process_first = True

    def __init__(self, config: RunConfig, mx_paths: tuple[MXPath, ...]) -> None:
        self.jobs = config.jobs
        self.pool = _pool(config, mx_paths)

    def window(self, mx: bool) -> int:
        # With MX checks a block goes through the pool twice (its domains, then its rows), so
        # more of them are in flight.
        return max(2, self.jobs * (3 if mx else 2))

    def check(self, block: Block, spec: BlockSpec, verdicts: dict[str, DomainVerdict]
              ) -> Future[BlockResult]:
        return self.pool.submit(_blocks.pool_check, block, spec, verdicts)

    def domains(self, block: Block, spec: BlockSpec) -> Future[set[str]]:
        return self.pool.submit(_blocks.pool_domains, block, spec)

    def close(self, cancel: bool) -> None:
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


class _Run:
    """State of one run: outputs, counters, the dedupe index and the DNS verdicts."""

    def __init__(self, config: RunConfig, on_progress: Callable[[Progress], None] | None,
                 on_notice: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.on_progress = on_progress
        self.on_notice = on_notice
        self.summary = RunSummary()
        self.outputs: list[AtomicOutput] = []
        self.valid: ValidWriter | None = None
        self.rejects: AtomicOutput | None = None
        self.unverified: AtomicOutput | None = None
        self.report: AtomicOutput | None = None
        self.annotated: AnnotatedWriter | None = None
        self.first_rows = FirstRows()
        self.provider_repeats = ProviderRepeats()
        self.verdicts: dict[str, DomainVerdict] = {}
        self.checker: MXChecker | None = None
        self.failures_in_a_row = 0
        self.outage = ""
        registry = default_registry()
        document, base_uri = registry.get(config.schema_name)
        self.view = SchemaView(document, base_uri, registry.resources())
        self.mx_paths = validator_for(config.schema_name, config.options, config.batch).mx_paths
        self.files: dict[int, str] = {}
        """Names of the inputs opened, by their index in ``config.inputs``."""
        self.engine: Engine | None = None
        self.blocks_seen = 0
        self.utf8_specs: dict[int, tuple[BlockSpec, BlockSpec]] = {}

    def start_engine(self) -> None:
        """A Dask run connects (or starts its cluster) before anything is read: a scheduler
        that cannot be reached ends the run before it has written anything."""
        config = self.config
        if config.dask is not None:
            from . import _dask

            began = time.perf_counter()
            self.engine = _dask.DaskEngine(config.dask, config.jobs, config.dask_timeout,
                                           config.schema_name,
                                           config.options, config.batch, tuple(self.mx_paths))
            _timed(self.summary.timings, "engineStart", began)
            if self.on_notice is not None:
                self.on_notice(self.engine.describe())

    def get_engine(self, last: bool) -> Engine | None:
        """The engine for the next block, None to judge it in this process; ``last``: the
        block is the last of its input."""
        # An input of one block is judged here and never waits for workers to start. A bigger
        # one goes to the workers from its first block: this process then never holds a
        # block's frames (polars' allocator keeps what it once took), only their outcomes.
        alone = last and not self.blocks_seen
        if self.engine is None and self.config.jobs > 1 and not alone:
            self.engine = _PoolEngine(self.config, tuple(self.mx_paths))
        if self.engine is not None and self.engine.in_process_first and alone:
            return None
        return self.engine

    def open_outputs(self) -> None:
        config = self.config
        # Refused before any file is made.
        if config.report_path and is_html(config.report_path):
            check_html_support()
        if config.annotated_path:
            annotated_format(config.annotated_path)
        if config.valid_path:
            out = AtomicOutput(config.valid_path)
            self.outputs.append(out)
            self.valid = ValidWriter(out)
        if config.rejects_path:
            self.rejects = AtomicOutput(config.rejects_path)
            self.outputs.append(self.rejects)
        if config.unverified_path:
            self.unverified = AtomicOutput(config.unverified_path)
            self.outputs.append(self.unverified)
        if config.report_path:
            self.report = AtomicOutput(config.report_path)
            self.outputs.append(self.report)
        if config.annotated_path:
            out = AtomicOutput(config.annotated_path)
            self.outputs.append(out)
            self.annotated = AnnotatedWriter(out)

    def discard(self) -> None:
        for out in self.outputs:
            out.discard()

    # -- preparing blocks ----------------------------------------------------------------------

    def plan(self, source: Source) -> CsvPlan | None:
        """The column plan of a tabular source; InputError for a header past the limits."""
        if not source.reader.tabular:
            return None
        config = self.config
        plan = build_plan(source.dialect.header, self.view, config.mapping,
                          config.list_separator, config.value_separator, config.options.account)
        filled = [("campaign", "campaignId")] if config.batch.campaign_id else []
        for note in mapping_notes(plan.header, plan.reached, plan.unmapped, self.view,
                                  config.options.account, filled):
            if note not in self.summary.notices:
                self.summary.notices.append(note)
        return plan

    def spec(self, source: Source, plan: CsvPlan | None = None) -> BlockSpec:
        if plan is None:
            plan = self.plan(source)
        spec = BlockSpec(source.name, source.reader, source.dialect, plan,
                         self.valid.newline if self.valid is not None else "\n",
                         self.config.batch.dedupe, False,
                         tuple(self.mx_paths) if self.config.options.check_mx else ())
        if self.config.columnar and (columnar(spec) or columnar_jsonl(spec)):
            spec = replace(spec, columnar=True)
        return spec

    def blocks(self, source: Source, columnar: bool = False) -> Iterator[Block]:
        config = self.config
        if source.batches is not None:
            blocks: Iterator[Any] = (
                Block(line, data)
                for line, data in source.batches(config.chunk_size or ROW_CHUNK))
        elif source.stream is not None:
            # (Capped: a first line of 64 KiB would otherwise make blocks of gigabytes.)
            if config.chunk_size is None and columnar:
                # Polars pays per call, not per row: the columnar way wants big blocks.
                target = COLUMNAR_BLOCK
            else:
                target = min(round((config.chunk_size or ROW_CHUNK) * source.line_bytes),
                             MAX_RECORD)
            target = _block_bytes() or target
            blocks = (
                Block(line, data) if isinstance(data, bytes)
                else Block(line, records=[(line, data.raw, None, data.description)])
                for line, data in byte_blocks(source, target))
        else:
            blocks = _record_blocks(source.records, config.chunk_size or ROW_CHUNK)
        # A file that breaks off (truncated gzip, a read error) ends here, so that the rows
        # read before it are still judged and counted; the run then ends with exit code 2.
        while True:
            try:
                block = next(blocks)
            except StopIteration:
                return
            except (OSError, EOFError, zlib.error, UnicodeError) as exc:
                self.summary.input_errors.append(f"cannot read {source.name} to the end: {exc}")
                return
            except InputError as exc:  # a record too long to find its end
                self.summary.input_errors.append(str(exc))
                return
            yield block

    def resolve(self, domains: set[str]) -> dict[str, DomainVerdict]:
        if not self.mx_paths:
            return {}
        missing = [d for d in domains if d not in self.verdicts]
        if missing:
            if self.checker is None:
                self.checker = self.config.options.dns.checker(private_cache=True)
            if self.failures_in_a_row >= DNS_GIVE_UP:
                from ..dns import DomainVerdict

                found = {d: DomainVerdict(d, "unknown", self.outage) for d in missing}
            else:
                found = self.checker.check_many(missing)
            self.summary.dns_domains += len(found)
            for domain, verdict in found.items():
                self.verdicts[domain] = verdict
                if verdict.status == "unknown":
                    bump(self.summary.dns_unknown, verdict.reason)
                    self.failures_in_a_row += 1
                else:
                    self.failures_in_a_row = 0
            if self.failures_in_a_row >= DNS_GIVE_UP and not self.outage:
                # A resolver whose canaries showed it lies did answer: say that, not silence.
                self.outage = self.checker.resolver_down or (
                    f"DNS did not answer {self.failures_in_a_row} lookups in a row; "
                    "not asked again in this run")
        return {d: self.verdicts[d] for d in domains}

    # -- the outcome of each block -------------------------------------------------------------

    def repeat(self, spec: BlockSpec, file_index: int, line: int, first_file: int,
               first_line: int, data: bytes, was_valid: bool) -> tuple[bytes, RowOutcome]:
        """The reject entry of a row that repeats an earlier one (1008). Rare, so the row is
        judged again here, from its bytes, for the e-mail, campaign and failures it has."""
        if spec.dialect.encoding != "utf-8":
            utf8 = self.utf8_specs.get(id(spec))
            if utf8 is None or utf8[0] is not spec:
                utf8 = self.utf8_specs[id(spec)] = (
                    spec, replace(spec, dialect=replace(spec.dialect, encoding="utf-8")))
            spec = utf8[1]  # the valid form is UTF-8
        lines: list[int] = []
        raws: list[Any] = []
        rows: list[Any] = []
        spec.reader.parse(data, line, spec.dialect, lines, raws, rows)
        assert len(lines) == 1
        batch = self.config.batch
        if was_valid:
            # A valid row has no failures: only its e-mail and campaign are needed.
            payload = spec.plan.compiled()(rows[0]) if spec.plan is not None else rows[0]
            email, campaign_id = identity(with_campaign(payload, batch.campaign_id))
            outcome = RowOutcome(VALID, (), None, email, campaign_id)
        else:
            block = Block(line, data)
            domains = block_domains(block, spec, self.mx_paths) if self.mx_paths else set()
            (outcome,) = check_chunk(rows, self.config.schema_name, self.config.options, batch,
                                     self.resolve(domains), spec.plan)
        email, campaign_id = outcome.email, outcome.campaign_id
        assert email is not None and campaign_id is not None
        where = f"line {first_line}"
        if first_file != file_index:
            where += f" of {self.files[first_file]}"
        failure = Failure(Code.NOT_UNIQUE, ("email",), email,
                          f"The same e-mail is already added to campaign {campaign_id} "
                          f"({where})", keyword="dedupe")
        # Only MX failures (1010, on the e-mail itself) can precede it here, so appending
        # keeps SPEC §2's payload order.
        failures = [*outcome.failures, failure]
        error = aggregate(failures, DEFAULT_CATALOG,
                          always_combine=self.config.options.always_combine)
        assert error is not None
        body = error.to_json()
        outcome = RowOutcome(INVALID, tuple(failures), body, email, campaign_id)
        entry = output_line(spec, line, original(rows[0], spec), body, raws[0])
        return entry, outcome

    def settle(self, spec: BlockSpec, file_index: int, result: BlockResult) -> None:
        summary = self.summary
        counts = summary.per_file[spec.source]
        valid, valid_ends, valid_lines = result.valid, result.valid_ends, result.valid_lines
        unverified = result.unverified
        # (line, entry) of the rows that repeat an earlier row, and which rows they were.
        repeats: list[tuple[int, bytes]] = []
        repeated: dict[int, bytes] = {}
        """The same entries by the row they replace (as ``found`` names it)."""
        dropped_valid: list[int] = []
        dropped_unverified: set[int] = set()
        # Rows that repeat an earlier one: (line, index into the valid rows, or -1 - index into
        # the unverified ones, the first row's file and line).
        found: list[tuple[int, int, int, int]] = []
        checks = result.checks
        if spec.dedupe and unverified:
            # With unverified rows (MX on, DNS failing) both kinds are candidates, in the
            # order of their lines.
            lines, keys, indexes, ordered_checks = candidates_in_order(
                valid_lines, result.valid_keys, unverified, checks)
            for at, first_file, first_line in self.first_rows.repeats(file_index, keys, lines,
                                                                      ordered_checks):
                found.append((lines[at], int(indexes[at]), first_file, first_line))
        elif spec.dedupe:
            found = [(valid_lines[index], index, first_file, first_line)
                     for index, first_file, first_line in self.first_rows.repeats(
                         file_index, result.valid_keys, valid_lines, checks)]
        for line, index, first_file, first_line in found:
            if index >= 0:
                data = valid[valid_ends[index - 1] if index else 0:valid_ends[index]]
                dropped_valid.append(index)
            else:
                data = unverified[-1 - index][2]
                dropped_unverified.add(-1 - index)
            entry, outcome = self.repeat(spec, file_index, line, first_file, first_line, data,
                                         index >= 0)
            repeats.append((line, entry))
            repeated[index] = entry
            examples: dict[Reason, tuple[list[int], bytes]] = {}
            count_invalid(outcome, summary.by_code, summary.by_field, summary.by_domain,
                          summary.reasons, examples, line)
            self.take_examples(spec.source, examples)
        n_valid = len(valid_lines) - len(dropped_valid)
        n_unverified = len(unverified) - len(dropped_unverified)
        n_invalid = len(result.reject_lines) + len(repeats)
        assert result.rows == n_valid + n_unverified + n_invalid
        summary.rows_read += result.rows
        counts["read"] += result.rows
        summary.valid += n_valid
        counts["valid"] += n_valid
        summary.unverified += n_unverified
        counts["unverified"] += n_unverified
        summary.invalid += n_invalid
        counts["invalid"] += n_invalid
        summary.by_code.update(result.by_code)
        _merge(summary.by_field, result.by_field)
        _merge(summary.by_domain, result.by_domain)
        _merge(summary.reasons, result.reasons)
        if result.examples:
            self.take_examples(spec.source, result.examples)
        row_warnings = self.take_notes(result, file_index, dropped_valid)
        if self.annotated is not None:
            self.annotated.write_block(spec, result, repeated, row_warnings)
        if self.valid is not None:
            if dropped_valid:
                self.valid.write_rows(*rows_without(valid, valid_ends, dropped_valid))
            else:
                self.valid.write_rows(valid, valid_ends)
        if self.unverified is not None:
            for i, (_, _, _, entry) in enumerate(unverified):
                if i not in dropped_unverified:
                    self.unverified.write(entry)
        if self.rejects is not None:
            if not repeats:
                self.rejects.write(result.rejects)
            else:
                _write_merged(self.rejects, result.rejects, result.reject_ends,
                              result.reject_lines, repeats)


    def take_examples(self, source: str, examples: dict[Reason, tuple[list[int], bytes]]
                      ) -> None:
        kept, bodies = self.summary.examples, self.summary.example_bodies
        for reason, (lines, body) in examples.items():
            found = kept.get(reason)
            if found is None:
                if len(kept) >= _blocks.COUNTER_CAP:
                    continue
                found = kept[reason] = []
                bodies[reason] = body
            found.extend((source, line) for line in lines[:EXAMPLES - len(found)])

    def take_notes(self, result: BlockResult, file_index: int, dropped_valid: list[int]
                   ) -> dict[int, str]:
        """Count the block's warnings, with the likely duplicates that only the run can see;
        row index in the block → the row's warnings."""
        notes = result.notes
        if notes is None:
            return {}
        self.summary.warnings.update(notes.counts)
        if not len(notes.provider):
            return notes.rows
        dropped = rows_of(notes.statuses, VALID, dropped_valid)
        found = self.provider_repeats.take(file_index, notes.provider, dropped, self.files)
        if not found:
            return notes.rows
        rows = dict(notes.rows)
        for index, text in found:
            self.summary.warnings["duplicate"] += 1
            rows[index] = f"{rows[index]}; {text}" if index in rows else text
        return rows


def block_spec(config: RunConfig, source: Source) -> BlockSpec:
    """The spec of ``source``'s blocks under ``config``, as a run makes it: with ``Block``s
    cut from the same source (``byte_blocks``), what mapping ``check_block`` elsewhere (a
    Dask bag of blocks) needs."""
    return _Run(config, None).spec(source)


def _merge(counter: Counter[Any], more: Counter[Any]) -> None:
    for key, n in more.items():
        bump(counter, key, n)


def _write_merged(out: AtomicOutput, data: bytes, ends: array[int], lines: array[int],
                  more: list[tuple[int, bytes]]) -> None:
    """Entries of ``data`` and ``more`` in the order of their lines."""
    start = 0
    index = 0
    for line, entry in sorted(more):
        stop = bisect.bisect_left(lines, line, lo=index)
        if stop > index:
            end = ends[stop - 1]
            out.write(data[start:end])
            start = end
            index = stop
        out.write(entry)
    out.write(data[start:])


def _block_bytes() -> int:
    """VALIDATOR_BLOCK_BYTES sets the size of byte blocks (tests make them tiny, so that
    records straddle block boundaries everywhere)."""
    try:
        return max(0, int(os.environ.get("VALIDATOR_BLOCK_BYTES", "0")))
    except ValueError:
        return 0


def _with_last(items: Iterator[T]) -> Iterator[tuple[T, bool]]:
    """Each item, and whether it is the last (known by reading one item ahead)."""
    ahead = iter(items)
    for current in ahead:
        for following in ahead:
            yield current, False
            current = following
        yield current, True


def _record_blocks(records: Iterator[Record], size: int) -> Iterator[Block]:
    batch: list[tuple[int, str, Any, str | None]] = []
    for record in records:
        batch.append((record.line, record.raw,
                       record.cells if record.cells is not None else record.value,
                       record.defect))
        if len(batch) >= size:
            yield Block(batch[0][0], records=batch)
            batch = []
    if batch:
        yield Block(batch[0][0], records=batch)


@contextmanager
def _environment(settings: dict[str, str]) -> Iterator[None]:
    """``settings`` in this process's environment for a while, but those the user set."""
    added = {name: value for name, value in settings.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _pool(config: RunConfig, mx_paths: tuple[MXPath, ...]) -> ProcessPoolExecutor:
    # forkserver: workers start from a clean process, not a fork of one that may already run
    # DNS threads; the engine is imported once in the server and its pages are shared by
    # every worker forked from it.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # The module the workers run from (named, so that a move cannot leave it stale).
        context.set_forkserver_preload([_blocks.__name__])
        # Started here, so that it imports polars under WORKER_ENV (a server already running
        # for an earlier run of this process was started so too).
        with _environment(WORKER_ENV):
            forkserver.ensure_running()
    return ProcessPoolExecutor(max_workers=config.jobs, mp_context=context,
                               initializer=_blocks.init_worker,
                               initargs=(config.schema_name, config.options, config.batch,
                                         mx_paths, os.getpid()))


def run(config: RunConfig, on_progress: Callable[[Progress], None] | None = None,
        on_notice: Callable[[str], None] | None = None) -> RunSummary:
    """Check every input and write the outputs. A file that cannot be opened or breaks off is
    recorded in ``summary.input_errors`` (exit code 2) and the rows read before are kept;
    InputError is raised, and nothing written, when the arguments themselves cannot work (or
    a Dask scheduler cannot be reached). ``on_notice`` hears what is said once (where the Dask
    cluster and its dashboard are)."""
    started = time.perf_counter()
    state = _Run(config, on_progress, on_notice)
    summary = state.summary
    # Fail on an unknown schema or a bad schema path here, not inside a worker.
    validator_for(config.schema_name, config.options, config.batch)
    inputs, unmatched = expand_inputs(config.inputs)
    summary.input_errors.extend(unmatched)
    state.open_outputs()
    try:
        state.start_engine()
        for file_index, path in enumerate(inputs):
            try:
                source = open_source(path, fmt=config.fmt, delimiter=config.delimiter,
                                     encoding=config.encoding)
            except InputError as exc:
                summary.input_errors.append(str(exc))
                continue
            summary.input_warnings.extend(source.warnings)
            try:
                plan = state.plan(source)
            except InputError as exc:  # a header the rows cannot be mapped under
                summary.input_errors.append(f"{source.name}: {exc}")
                source.close()
                continue
            state.files[file_index] = source.name
            summary.per_file[source.name] = Counter(read=0, valid=0, invalid=0, unverified=0)
            if state.valid is not None:
                try:
                    state.valid.start(source)
                except InputError:
                    # An argument problem found late: the outputs would be incomplete without
                    # a defect in any file to blame, so none is written.
                    source.close()
                    raise
            try:
                _run_source(state, source, state.spec(source, plan), file_index)
            finally:
                summary.input_errors.extend(source.broken)
                change = source.size_change()
                if change is not None:
                    summary.input_errors.append(
                        f"{source.name} changed size while it was read ({change[0]:,} bytes "
                        f"when opened, {change[1]:,} at the end): it was checked as far as it "
                        f"was read, {summary.per_file[source.name]['read']:,} rows")
                source.close()
        if state.valid is not None:
            state.valid.finish()
        if summary.rows_read != summary.valid + summary.invalid + summary.unverified:
            raise AssertionError("rows read differ from valid + invalid + unverified")
        summary.timings["total"] = time.perf_counter() - started
        if state.checker is not None:
            state.checker.cache.flush()
        summary.dns_outage = state.outage
        if state.annotated is not None:
            state.annotated.finish()
        names = {id(state.rejects): "rejects", id(state.unverified): "unverified",
                 id(state.report): "report"}
        if state.annotated is not None:
            names[id(state.annotated.out)] = "annotated"
        for out in state.outputs:
            summary.outputs[names.get(id(out), "valid")] = out.path
        if state.report is not None and is_html(state.report.path):
            state.report.write(render_html(summary, config))
        elif state.report is not None:
            state.report.write(orjson.dumps(summary.report(), option=orjson.OPT_INDENT_2
                                            | orjson.OPT_APPEND_NEWLINE))
        # Every output is complete on disk before any takes its final name: a full disk found
        # at the end leaves none of them behind.
        for out in state.outputs:
            out.seal()
        for out in state.outputs:
            out.commit()
    except BaseException:
        state.discard()
        if state.engine is not None:
            engine, state.engine = state.engine, None
            engine.close(cancel=True)
        raise
    finally:
        if state.engine is not None:
            state.engine.close(cancel=False)
    return summary


@dataclass(slots=True)
class _Pending:
    block: Block
    domains: Pending[set[str]] | None = None
    check: Pending[BlockResult] | None = None


def _timed(timings: dict[str, float], name: str, began: float) -> None:
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - began


def _run_source(state: _Run, source: Source, spec: BlockSpec, file_index: int) -> None:
    config = state.config
    timings = state.summary.timings
    mx = bool(state.mx_paths)
    pending: deque[_Pending] = deque()

    def report_progress() -> None:
        if state.on_progress is not None:
            state.on_progress(Progress(source.name, state.summary.rows_read,
                                       source.position(), source.size))

    def settle(result: BlockResult) -> None:
        began = time.perf_counter()
        state.settle(spec, file_index, result)
        _timed(timings, "settle", began)
        report_progress()

    def submit_check(item: _Pending, pool: Engine) -> None:
        verdicts: dict[str, DomainVerdict] = {}
        if item.domains is not None:
            began = time.perf_counter()
            domains = item.domains.result()
            _timed(timings, "waitForWorkers", began)
            began = time.perf_counter()
            verdicts = state.resolve(domains)
            _timed(timings, "dns", began)
        item.check = pool.check(item.block, spec, verdicts)

    def advance(pool: Engine) -> None:
        # Blocks whose domains are known go on to be checked, in order.
        for item in pending:
            if item.check is None:
                assert item.domains is not None
                if not item.domains.done():
                    break
                submit_check(item, pool)

    def settle_next(pool: Engine) -> None:
        item = pending[0]
        if item.check is None:
            submit_check(item, pool)
            advance(pool)
        assert item.check is not None
        began = time.perf_counter()
        result = item.check.result()
        _timed(timings, "waitForWorkers", began)
        pending.popleft()
        settle(result)

    for block, last in _with_last(state.blocks(source, spec.columnar)):
        pool = state.get_engine(last)
        state.blocks_seen += 1
        if pool is None:
            began = time.perf_counter()
            verdicts = state.resolve(block_domains(block, spec, state.mx_paths)) if mx else {}
            result = check_block(block, spec, config.schema_name, config.options, config.batch,
                                 verdicts)
            _timed(timings, "checkInProcess", began)
            settle(result)
            continue
        item = _Pending(block)
        if mx:
            item.domains = pool.domains(block, spec)
            advance(pool)
        else:
            item.check = pool.check(block, spec, {})
        pending.append(item)
        while len(pending) >= pool.window(mx):
            settle_next(pool)
    while pending:
        assert state.engine is not None
        settle_next(state.engine)
