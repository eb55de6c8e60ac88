"""Batch runs: many rows from files, checked on all cores, sorted into valid / invalid /
unverified outputs (SPEC §6).

The work is split along what can run anywhere and what needs the whole run:

* ``check_chunk(rows, schema_name, options, verdicts, plan)`` is a pure function of a chunk of
  rows (JSON values, or CSV cells with the plan that maps them) and the DNS verdicts of their
  domains. It maps, coerces, validates and builds the error bodies; it is what the process pool
  runs, and what a distributed engine (Dask) can map over partitions unchanged.
* What depends on the whole input stays in the parent: reading (one stream, in order),
  resolving every distinct domain once for the run before the chunk that needs it is sent, the
  1008 check (a repeat of an e-mail in a campaign is only a repeat relative to the rows before
  it), the outputs and the counts.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from . import _dns
from ._aggregate import aggregate, order
from ._api import Validator, only_unverifiable
from ._batch_io import (
    AtomicOutput,
    Format,
    InputError,
    Record,
    Source,
    ValidWriter,
    open_source,
)
from ._batch_map import CsvPlan, SchemaView, build_plan
from ._catalog import DEFAULT_CATALOG
from ._email import email_ascii_domain
from ._errors import Failure
from ._registry import default_registry

VALID, INVALID, UNVERIFIED = 0, 1, 2
GENERAL_VALIDATION_ERROR = 1000
UNDELIVERABLE = 1002
DUPLICATE = 1008
# Counters keyed by free text (domains, reasons) stop growing here, so that a file with
# millions of distinct bad domains still runs in flat memory; the rest is counted as "(other)".
_COUNTER_CAP = 20_000
# After this many failed lookups without one answer in between, DNS is taken to be down: a run
# over a million rows must not wait out a timeout for each of its domains.
DNS_GIVE_UP = 64
DUPLICATE_REASON = "A repeat of an e-mail already added to the same campaign"


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What ``check_chunk`` needs besides the rows; picklable, sent once to each worker."""

    check_mx: bool = False
    always_combine: bool = False
    suppressed_addresses: frozenset[str] = frozenset()
    suppressed_domains: frozenset[str] = frozenset()
    schema_paths: tuple[str, ...] = ()
    campaign_id: str | None = None
    """campaign.campaignId for rows that have none."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A row that could not be read; ``check_chunk`` turns it into a 1000 body."""

    description: str
    raw: str


class RowOutcome(NamedTuple):
    """The verdict on one row, with what the whole-run checks need to know of it.

    A named tuple: a million of them cross the process boundary, and tuples pickle fastest."""

    status: int
    failures: tuple[Failure, ...] = ()
    body: bytes | None = None
    email: str | None = None
    """The e-mail as given (for the 1008 check and the per-domain counts)."""
    campaign_id: str | None = None


_validators: dict[tuple[str, CheckOptions], Validator] = {}


def _validator(schema_name: str, options: CheckOptions) -> Validator:
    key = (schema_name, options)
    found = _validators.get(key)
    if found is None:
        registry = default_registry()
        # A fresh worker process knows only the shipped schemas; the parent registered the
        # user's already, so it skips this.
        if schema_name not in registry:
            for path in options.schema_paths:
                if os.path.isdir(path):
                    registry.register_dir(path)
                else:
                    registry.register_file(path)
        found = _validators[key] = Validator(schema_name, check_mx=options.check_mx,
                                             always_combine=options.always_combine)
    return found


def _suppression(payload: Any, options: CheckOptions) -> Failure | None:
    if not isinstance(payload, dict):
        return None
    email = payload.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    address = email.strip().lower()
    domain = address.rpartition("@")[2]
    if address in options.suppressed_addresses:
        mask = address
    elif domain in options.suppressed_domains:
        mask = "@" + domain
    else:
        return None
    return Failure(UNDELIVERABLE, ("email",), email,
                   f"The address is on the suppression list ({mask})", keyword="suppress")


def _with_campaign(payload: Any, campaign_id: str | None) -> Any:
    if campaign_id is None or not isinstance(payload, dict):
        return payload
    campaign = payload.get("campaign")
    if campaign is None:
        return {**payload, "campaign": {"campaignId": campaign_id}}
    if isinstance(campaign, dict) and "campaignId" not in campaign:
        return {**payload, "campaign": {**campaign, "campaignId": campaign_id}}
    return payload


def _identity(payload: Any) -> tuple[str | None, str | None]:
    """The e-mail and campaign of a payload, when they are strings."""
    if not isinstance(payload, dict):
        return None, None
    email = payload.get("email")
    campaign = payload.get("campaign")
    campaign_id = campaign.get("campaignId") if isinstance(campaign, dict) else None
    return (email if isinstance(email, str) else None,
            campaign_id if isinstance(campaign_id, str) else None)


def check_chunk(rows: Sequence[Any], schema_name: str, options: CheckOptions,
                verdicts: Mapping[str, _dns.DomainVerdict], plan: CsvPlan | None = None
                ) -> list[RowOutcome]:
    """Judge a chunk of rows, in order. Pure: the outcome depends only on the arguments (DNS
    answers come in as ``verdicts``, keyed by ASCII domain).

    A row is a JSON value, or with a ``plan`` the cells of a CSV record (mapped here, in the
    worker, rather than in the process that reads), or ``Malformed``."""
    validator = _validator(schema_name, options)
    catalog = validator.catalog
    payloads = [row if isinstance(row, Malformed)
                else _with_campaign(plan.payload(row) if plan is not None else row,
                                    options.campaign_id)
                for row in rows]
    readable = [row for row in payloads if not isinstance(row, Malformed)]
    # The run resolved the domains up front; the chunk only applies those answers.
    results = iter(validator.validate_many(readable, verdicts=verdicts))
    suppress = bool(options.suppressed_addresses or options.suppressed_domains)
    outcomes: list[RowOutcome] = []
    for row in payloads:
        if isinstance(row, Malformed):
            failure = Failure(GENERAL_VALIDATION_ERROR, (), row.raw, row.description,
                              keyword="row")
            error = aggregate([failure], catalog)
            assert error is not None
            outcomes.append(RowOutcome(INVALID, (failure,), error.to_json()))
            continue
        result = next(results)
        email, campaign_id = _identity(row)
        failures = list(result.failures)
        extra = _suppression(row, options) if suppress else None
        if extra is not None:
            failures = order([*failures, extra], row)
        elif result.ok:
            outcomes.append(RowOutcome(VALID, (), None, email, campaign_id))
            continue
        error = result.error if extra is None else aggregate(
            failures, catalog, always_combine=options.always_combine)
        assert error is not None
        status = UNVERIFIED if only_unverifiable(failures) else INVALID
        outcomes.append(RowOutcome(status, tuple(failures), error.to_json(), email,
                                   campaign_id))
    return outcomes


# The pool's workers keep the run's constants here (set once by the initializer) rather than
# receiving them with every chunk.
_worker_setup: tuple[str, CheckOptions] | None = None


def _init_worker(schema_name: str, options: CheckOptions) -> None:
    global _worker_setup
    # Ctrl-C reaches the whole process group; the parent alone handles it (and stops the
    # workers), instead of every worker printing its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_setup = (schema_name, options)
    _validator(schema_name, options)


def _pool_check(rows: list[Any], verdicts: dict[str, _dns.DomainVerdict],
                plan: CsvPlan | None) -> list[RowOutcome]:
    assert _worker_setup is not None
    return check_chunk(rows, _worker_setup[0], _worker_setup[1], verdicts, plan)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class RunConfig:
    inputs: list[str]
    schema_name: str = "contacts.create"
    fmt: Format | None = None
    delimiter: str | None = None
    encoding: str | None = None
    mapping: dict[str, str | None] = field(default_factory=dict)
    list_separator: str = "|"
    value_separator: str = "|"
    valid_path: str | None = None
    rejects_path: str | None = None
    unverified_path: str | None = None
    report_path: str | None = None
    dedupe: bool = True
    options: CheckOptions = field(default_factory=CheckOptions)
    nameservers: list[str] | None = None
    dns_port: int = 53
    dns_timeout: float = 2.0
    dns_cache_path: str | None = None
    jobs: int = 1
    chunk_size: int = 2000


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
    dns_domains: int = 0
    dns_unknown: Counter[str] = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

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
                {"code": code, "field": name, "description": text, "rows": n}
                for (code, name, text), n in self.reasons.most_common(top)
            ],
            "dns": {"domainsLookedUp": self.dns_domains,
                    "domainsUnknown": sum(self.dns_unknown.values()),
                    "unknownReasons": dict(self.dns_unknown.most_common(10))},
            "inputErrors": self.input_errors,
            "outputs": self.outputs,
            "timings": {**{k: round(v, 3) for k, v in self.timings.items()},
                        "rowsPerSecond": round(self.rows_read / elapsed) if elapsed else None},
            "exitCode": self.exit_code,
        }


def _bump(counter: Counter[Any], key: Any) -> None:
    if key in counter or len(counter) < _COUNTER_CAP:
        counter[key] += 1
    else:
        counter["(other)" if isinstance(key, str) else (0, "(other)", "(other)")] += 1


def field_label(path: Sequence[str | int]) -> str:
    """``("tags", 3, "tagId")`` → ``tags[].tagId``: counts per field ignore the index."""
    label = ""
    for key in path:
        if isinstance(key, int):
            label += "[]"
        else:
            label += ("." if label else "") + key
    return label or "(row)"


def load_suppression(path: str) -> tuple[frozenset[str], frozenset[str]]:
    """Addresses and ``@domain`` masks, one a line; ``#`` starts a comment."""
    addresses: set[str] = set()
    domains: set[str] = set()
    try:
        handle = open(path, encoding="utf-8-sig")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot open suppression list {path}: {exc.strerror}") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            entry = line.split("#", 1)[0].strip().lower()
            if not entry:
                continue
            if entry.startswith("@") and len(entry) > 1 and "@" not in entry[1:]:
                domains.add(_dns.normalise_domain(entry[1:]))
            elif entry.count("@") == 1 and not entry.endswith("@"):
                addresses.add(entry)
            else:
                raise InputError(f"{path}:{number}: expected an address or @domain, "
                                 f"got {line.strip()!r}")
    return frozenset(addresses), frozenset(domains)


class _Run:
    """State of one run: outputs, counters, the dedupe index and the DNS verdicts."""

    def __init__(self, config: RunConfig, on_progress: Callable[[Progress], None] | None) -> None:
        self.config = config
        self.on_progress = on_progress
        self.summary = RunSummary()
        self.outputs: list[AtomicOutput] = []
        self.valid: ValidWriter | None = None
        self.rejects: AtomicOutput | None = None
        self.unverified: AtomicOutput | None = None
        self.report: AtomicOutput | None = None
        # hash((e-mail, campaign)) → file index << 32 | line of the first accepted row. Two
        # ints instead of the strings and a tuple hold a million distinct keys in ~100 MB
        # instead of ~250 MB; two different pairs sharing a 64-bit hash within one run is a
        # ~1e-8 event at that size.
        self.seen: dict[int, int] = {}
        self.verdicts: dict[str, _dns.DomainVerdict] = {}
        self.checker: _dns.MXChecker | None = None
        self.failures_in_a_row = 0
        self.outage = ""
        registry = default_registry()
        document, base_uri = registry.get(config.schema_name)
        self.view = SchemaView(document, base_uri, registry.resources())
        self.mx_paths = self.view.mx_paths() if config.options.check_mx else []
        self.files: list[str] = []
        self.pool: ProcessPoolExecutor | None = None
        self.chunks_seen = 0

    def get_pool(self) -> ProcessPoolExecutor | None:
        if self.config.jobs > 1 and self.pool is None:
            self.pool = _pool(self.config)
        return self.pool

    def open_outputs(self) -> None:
        config = self.config
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

    def discard(self) -> None:
        for out in self.outputs:
            out.discard()

    # -- preparing rows ----------------------------------------------------------------------

    def plan(self, source: Source) -> CsvPlan | None:
        if source.format != "csv":
            return None
        return build_plan(source.header or [], self.view, self.config.mapping,
                          self.config.list_separator, self.config.value_separator)

    def rows(self, source: Source) -> Iterator[tuple[Record, Any]]:
        """Each record with what ``check_chunk`` takes for it."""
        for record in self._guarded(source):
            if record.defect is not None:
                yield record, Malformed(record.defect, record.raw)
            elif record.cells is not None:
                yield record, record.cells
            else:
                yield record, record.value

    def _guarded(self, source: Source) -> Iterator[Record]:
        # A file that breaks off (truncated gzip, a read error) ends here, so that the rows
        # read before it, including those of an unfinished chunk, are still judged and counted;
        # the run then ends with exit code 2.
        records = source.records
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except (OSError, EOFError, zlib.error, UnicodeError) as exc:
                self.summary.input_errors.append(f"cannot read {source.name} to the end: {exc}")
                return
            yield record

    def domains_of(self, rows: Iterable[Any], plan: CsvPlan | None) -> set[str]:
        found: set[str] = set()
        # For CSV, the cells the mx fields come from are read directly: the rows are mapped
        # in the workers, after their domains must be known.
        columns = [c.index for c in plan.columns if c.path in self.mx_paths] if plan else []
        for row in rows:
            if isinstance(row, Malformed):
                continue
            if plan is not None:
                values: list[Any] = [row[i] for i in columns]
            else:
                values = []
                for path in self.mx_paths:
                    node = row
                    for key in path:
                        node = node.get(key) if isinstance(node, dict) else None
                    values.append(node)
            for value in values:
                if isinstance(value, str) and value:
                    with contextlib.suppress(ValueError):
                        found.add(email_ascii_domain(value))
        return found

    def resolve(self, rows: Sequence[Any], plan: CsvPlan | None
                ) -> dict[str, _dns.DomainVerdict]:
        if not self.mx_paths:
            return {}
        domains = self.domains_of(rows, plan)
        missing = [d for d in domains if d not in self.verdicts]
        if missing:
            if self.checker is None:
                cache = (_dns.DNSCache(path=self.config.dns_cache_path)
                         if self.config.dns_cache_path else _dns.DNSCache())
                self.checker = _dns.MXChecker(nameservers=self.config.nameservers,
                                              port=self.config.dns_port,
                                              timeout=self.config.dns_timeout, cache=cache)
            if self.failures_in_a_row >= DNS_GIVE_UP:
                found = {d: _dns.DomainVerdict(d, "unknown", self.outage) for d in missing}
            else:
                found = self.checker.check_many(missing)
            self.summary.dns_domains += len(found)
            for domain, verdict in found.items():
                self.verdicts[domain] = verdict
                if verdict.status == "unknown":
                    _bump(self.summary.dns_unknown, verdict.reason)
                    self.failures_in_a_row += 1
                else:
                    self.failures_in_a_row = 0
            if self.failures_in_a_row >= DNS_GIVE_UP and not self.outage:
                self.outage = (f"DNS did not answer {self.failures_in_a_row} lookups in a row; "
                               "not asked again in this run")
        return {d: self.verdicts[d] for d in domains}

    # -- the outcome of each row ---------------------------------------------------------------

    def dedupe(self, outcome: RowOutcome, file_index: int, line: int) -> RowOutcome:
        email, campaign_id = outcome.email, outcome.campaign_id
        if email is None or campaign_id is None:
            return outcome
        key = hash((email.strip().lower(), campaign_id))
        first = self.seen.get(key)
        if first is None:
            self.seen[key] = file_index << 32 | line
            return outcome
        first_file, first_line = first >> 32, first & 0xFFFFFFFF
        where = f"line {first_line}"
        if first_file != file_index:
            where += f" of {self.files[first_file]}"
        failure = Failure(DUPLICATE, ("email",), email,
                          f"The same e-mail is already added to campaign {campaign_id} "
                          f"({where})", keyword="dedupe")
        # Only MX failures (1010, on the e-mail itself) can precede it here, so appending
        # keeps SPEC §2's payload order.
        failures = [*outcome.failures, failure]
        error = aggregate(failures, DEFAULT_CATALOG,
                          always_combine=self.config.options.always_combine)
        assert error is not None
        return RowOutcome(INVALID, tuple(failures), error.to_json(), email, campaign_id)

    def settle(self, source: Source, file_index: int, records: list[Record],
               outcomes: list[RowOutcome]) -> None:
        summary = self.summary
        counts = summary.per_file[source.name]
        for record, outcome in zip(records, outcomes, strict=True):
            if self.config.dedupe and outcome.status != INVALID:
                outcome = self.dedupe(outcome, file_index, record.line)
            summary.rows_read += 1
            counts["read"] += 1
            if outcome.status == VALID:
                summary.valid += 1
                counts["valid"] += 1
                if self.valid is not None:
                    self.valid.write(record.raw)
                continue
            line = self._output_line(source, record, outcome)
            if outcome.status == UNVERIFIED:
                summary.unverified += 1
                counts["unverified"] += 1
                if self.unverified is not None:
                    self.unverified.write(line)
                continue
            summary.invalid += 1
            counts["invalid"] += 1
            if self.rejects is not None:
                self.rejects.write(line)
            domain = (outcome.email.rpartition("@")[2].strip().lower()
                      if outcome.email is not None else None)
            if domain:
                _bump(summary.by_domain, domain)
            for failure in outcome.failures:
                summary.by_code[failure.code] += 1
                label = field_label(failure.field_name)
                _bump(summary.by_field, label)
                # A repeat names the line it repeats; counted by that, every one would be its
                # own "reason".
                text = (DUPLICATE_REASON if failure.keyword == "dedupe"
                        else failure.description)
                _bump(summary.reasons, (failure.code, label, text))

    def _output_line(self, source: Source, record: Record, outcome: RowOutcome) -> bytes:
        original: Any = record.value
        if record.defect is not None:
            original = record.raw
        elif record.cells is not None:
            # Built only for the rows that are written out, not for every row read.
            original = dict(zip(source.header or (), record.cells, strict=True))
        assert outcome.body is not None
        return orjson.dumps({"source": source.name, "line": record.line, "row": original,
                             "error": orjson.Fragment(outcome.body)},
                            option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


def _pool(config: RunConfig) -> ProcessPoolExecutor:
    # forkserver: workers start from a clean process, not a fork of one that may already run
    # DNS threads; the engine is imported once in the server and inherited by every worker.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["validator._batch"])
    return ProcessPoolExecutor(max_workers=config.jobs, mp_context=context,
                               initializer=_init_worker,
                               initargs=(config.schema_name, config.options))


def _chunks(rows: Iterator[tuple[Record, Any]], size: int
            ) -> Iterator[tuple[list[Record], list[Any]]]:
    records: list[Record] = []
    payloads: list[Any] = []
    for record, payload in rows:
        records.append(record)
        payloads.append(payload)
        if len(records) >= size:
            yield records, payloads
            records, payloads = [], []
    if records:
        yield records, payloads


def run(config: RunConfig, on_progress: Callable[[Progress], None] | None = None) -> RunSummary:
    """Check every input and write the outputs. A file that cannot be opened or breaks off is
    recorded in ``summary.input_errors`` (exit code 2) and the rows read before are kept;
    InputError is raised, and nothing written, when the arguments themselves cannot work."""
    started = time.perf_counter()
    state = _Run(config, on_progress)
    summary = state.summary
    # Fail on an unknown schema or a bad schema path here, not inside a worker.
    _validator(config.schema_name, config.options)
    state.open_outputs()
    try:
        for file_index, path in enumerate(config.inputs):
            try:
                source = open_source(path, fmt=config.fmt, delimiter=config.delimiter,
                                     encoding=config.encoding)
            except InputError as exc:
                summary.input_errors.append(str(exc))
                continue
            state.files.append(source.name)
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
                _run_source(state, source, file_index)
            finally:
                summary.input_errors.extend(source.broken)
                source.close()
        if state.valid is not None:
            state.valid.finish()
        if summary.rows_read != summary.valid + summary.invalid + summary.unverified:
            raise AssertionError("rows read differ from valid + invalid + unverified")
        summary.timings["total"] = time.perf_counter() - started
        if state.checker is not None:
            state.checker.cache.flush()
        for out in state.outputs:
            summary.outputs[
                {id(state.rejects): "rejects", id(state.unverified): "unverified",
                 id(state.report): "report"}.get(id(out), "valid")] = out.path
        if state.report is not None:
            state.report.write(orjson.dumps(summary.report(), option=orjson.OPT_INDENT_2
                                            | orjson.OPT_APPEND_NEWLINE))
        for out in state.outputs:
            out.commit()
    except BaseException:
        state.discard()
        if state.pool is not None:
            state.pool.shutdown(wait=False, cancel_futures=True)
            state.pool = None
        raise
    finally:
        if state.pool is not None:
            state.pool.shutdown(wait=True)
    return summary


def _run_source(state: _Run, source: Source, file_index: int) -> None:
    config = state.config
    timings = state.summary.timings
    plan = state.plan(source)
    pending: deque[tuple[list[Record], Future[list[RowOutcome]]]] = deque()
    window = max(2, config.jobs * 2)

    def report_progress() -> None:
        if state.on_progress is not None:
            state.on_progress(Progress(source.name, state.summary.rows_read,
                                       source.position(), source.size))

    def settle_next() -> None:
        done_records, future = pending.popleft()
        began = time.perf_counter()
        outcomes = future.result()
        timings["waitForWorkers"] = timings.get("waitForWorkers", 0.0) + (
            time.perf_counter() - began)
        state.settle(source, file_index, done_records, outcomes)
        report_progress()

    for records, rows in _chunks(state.rows(source), config.chunk_size):
        verdicts = state.resolve(rows, plan)
        # The first chunk is checked here: an input that fits in one chunk never pays for
        # starting worker processes.
        pool = state.get_pool() if state.chunks_seen else None
        state.chunks_seen += 1
        if pool is None:
            began = time.perf_counter()
            outcomes = check_chunk(rows, config.schema_name, config.options, verdicts, plan)
            timings["checkInProcess"] = timings.get("checkInProcess", 0.0) + (
                time.perf_counter() - began)
            state.settle(source, file_index, records, outcomes)
            report_progress()
            continue
        pending.append((records, pool.submit(_pool_check, rows, verdicts, plan)))
        while len(pending) >= window:
            settle_next()
    while pending:
        settle_next()
