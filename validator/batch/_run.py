"""Batch runs: many rows from files, checked on all cores, sorted into valid / invalid /
unverified outputs (SPEC §6).

The work is split along what can run anywhere and what needs the whole run:

* ``check_block(block, spec, schema_name, options, verdicts)`` is a pure function of a block of
  raw records (bytes cut at record boundaries, with the line the block starts on) and the DNS
  verdicts of their domains. It decodes, parses, maps, coerces, validates, builds the error
  bodies and serialises every output line; it is what the process pool runs, and what a
  distributed engine (Dask) can map over partitions unchanged. ``check_chunk`` is the same for
  rows already parsed. ``block_domains`` gives a block's domains, for runs with MX checks.
* What depends on the whole input stays in the parent, which is kept nearly idle: cutting the
  input into blocks (no decoding, no parsing), resolving every distinct domain once for the
  run, the 1008 check on 64-bit digests (a repeat of an e-mail in a campaign is only a repeat
  relative to the rows before it), writing the bytes in input order and adding up the counts.
"""

from __future__ import annotations

import bisect
import csv
import gc
import io
import json
import multiprocessing
import os
import signal
import time
import zlib
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from hashlib import blake2b
from typing import Any, NamedTuple

import orjson

from .._aggregate import aggregate, order
from .._api import Validator
from .._catalog import DEFAULT_CATALOG, Code, ErrorCatalog
from .._exceptions import InputError
from .._registry import default_registry
from .._results import Failure, Result, only_unverifiable
from ..dns import DNSOptions, _mx
from ..rules import MXPath, SchemaView, email_ascii_domain, values_at
from ._plan import CsvPlan, build_plan
from ._readers import (
    _UNDECODABLE,
    AtomicOutput,
    Format,
    Record,
    Source,
    ValidWriter,
    byte_blocks,
    open_source,
)

VALID, INVALID, UNVERIFIED = 0, 1, 2
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
    """The verdict on one row, with what the whole-run checks need to know of it (a named
    tuple: cheap to make; blocks return bytes and arrays instead of these)."""

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
                registry.register_path(path)
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
    return Failure(Code.FORBIDDEN_STATE, ("email",), email,
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
                verdicts: Mapping[str, _mx.DomainVerdict], plan: CsvPlan | None = None
                ) -> list[RowOutcome]:
    """Judge a chunk of rows, in order. Pure: the outcome depends only on the arguments (DNS
    answers come in as ``verdicts``, keyed by ASCII domain).

    A row is a JSON value, or with a ``plan`` the cells of a CSV record (mapped here, in the
    worker, rather than in the process that reads), or ``Malformed``."""
    validator = _validator(schema_name, options)
    catalog = validator.catalog
    mapper = plan.compiled() if plan is not None else None
    default_campaign = options.campaign_id
    payloads = [row if isinstance(row, Malformed)
                else _with_campaign(mapper(row) if mapper is not None else row,
                                    default_campaign)
                for row in rows]
    readable = [row for row in payloads if not isinstance(row, Malformed)]
    if options.check_mx:
        # The run resolved the domains up front; the chunk only applies those answers.
        results = iter(validator.validate_many(readable, verdicts=verdicts, plain=True))
    else:
        # Parsed or mapped rows are JSON data by construction.
        results = map(partial(validator.validate, plain=True), readable)
    suppress = bool(options.suppressed_addresses or options.suppressed_domains)
    outcomes: list[RowOutcome] = []
    for row in payloads:
        if isinstance(row, Malformed):
            outcomes.append(_malformed(row, catalog))
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


def _malformed(row: Malformed, catalog: ErrorCatalog) -> RowOutcome:
    failure = Failure(Code.VALIDATION_ERROR, (), row.raw, row.description, keyword="row")
    error = aggregate([failure], catalog)
    assert error is not None
    return RowOutcome(INVALID, (failure,), error.to_json())


def _plain_outcomes(rows: Sequence[Any], schema_name: str, options: CheckOptions,
                    plan: CsvPlan | None, dedupe: bool,
                    verdicts: Mapping[str, _mx.DomainVerdict]) -> list[int | RowOutcome]:
    """What ``check_chunk`` says when there is no suppression list, without an object per
    valid row: a valid row is its ``dedupe_key`` (0 without --dedupe)."""
    validator = _validator(schema_name, options)
    catalog = validator.catalog
    mapper = plan.compiled() if plan is not None else None
    default_campaign = options.campaign_id
    outcomes: list[int | RowOutcome] = []
    append = outcomes.append
    payloads = [row if row.__class__ is Malformed
                else _with_campaign(mapper(row) if mapper is not None else row,
                                    default_campaign)
                for row in rows]
    if options.check_mx:
        # The run resolved the domains up front; the block only applies those answers.
        results: Iterator[Result] = iter(validator.validate_many(
            [p for p in payloads if p.__class__ is not Malformed], verdicts=verdicts,
            plain=True))
    else:
        # Parsed or mapped rows are JSON data by construction.
        results = map(partial(validator.validate, plain=True),
                      [p for p in payloads if p.__class__ is not Malformed])
    for payload in payloads:
        if payload.__class__ is Malformed:
            append(_malformed(payload, catalog))
            continue
        result = next(results)
        error = result.error
        if error is None:
            if dedupe:
                email, campaign_id = _identity(payload)
                append(dedupe_key(email, campaign_id))
            else:
                append(0)
            continue
        email, campaign_id = _identity(payload)
        failures = result.failures
        append(RowOutcome(UNVERIFIED if only_unverifiable(failures) else INVALID, failures,
                          error.to_json(), email, campaign_id))
    return outcomes


# --------------------------------------------------------------------------------------------
# Blocks: what a worker gets (raw bytes of whole records) and what it gives back
# --------------------------------------------------------------------------------------------
class Block(NamedTuple):
    """Whole records of one input: raw ``data`` (CSV, JSON Lines) starting on ``first_line``,
    or, for inputs read record by record here (JSON arrays, CSV in encodings that cannot be
    cut as bytes), the ``records`` as ``(line, raw text, cells or JSON value, defect)``."""

    first_line: int
    data: bytes = b""
    records: list[tuple[int, str, Any, str | None]] | None = None


@dataclass(frozen=True, slots=True)
class BlockSpec:
    """How the rows of one input are read and written back; picklable, sent with each block."""

    source: str
    format: Format
    header: tuple[str, ...] = ()
    delimiter: str = ","
    encoding: str = "utf-8"
    plan: CsvPlan | None = None
    newline: str = "\n"
    """Ends a valid CSV row that has none (the last line of a file)."""
    dedupe: bool = True


class BlockResult(NamedTuple):
    """The verdicts on a block, compact: output bytes, arrays of ints and counters, never an
    object per row, so that the process that reads and writes stays nearly idle.

    Valid rows are ``valid`` (the rows as they go into the valid output, ``valid_ends`` their
    end offsets) with their lines and 1008 keys; the run drops the few that repeat an earlier
    row and rejects them. Rejected rows are ready JSON Lines (``rejects``, ends and lines, so
    that a repeat can be put in its place). Unverified rows are few: a tuple each."""

    rows: int
    valid: bytes
    valid_ends: array[int]
    valid_lines: array[int]
    valid_keys: array[int]
    """``dedupe_key`` of each valid row (0: no e-mail and campaign to compare); empty without
    --dedupe."""
    rejects: bytes
    reject_ends: array[int]
    reject_lines: array[int]
    unverified: list[tuple[int, int, bytes, bytes]]
    """(line, 1008 key, the row as it goes into the valid output, its JSON Lines entry)."""
    by_code: Counter[int]
    by_field: Counter[str]
    by_domain: Counter[str]
    reasons: Counter[tuple[int, str, str]]


def dedupe_key(email: str | None, campaign_id: str | None) -> int:
    """A 64-bit digest of the normalised e-mail and the campaign; 0 when either is missing.
    The same in every process (unlike ``hash``), so workers compute it and the run compares
    ints: two different pairs sharing a key within one run is a ~1e-8 event at a million."""
    if email is None or campaign_id is None:
        return 0
    text = f"{email.strip().lower()}\x00{campaign_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(text, digest_size=8).digest(), "little") or 1


def _csv_rows(text: str, first_line: int, delimiter: str, width: int,
              lines: list[int], raws: list[Any], rows: list[Any]) -> None:
    # Lines as a file opened with newline="" gives them (\n, \r\n or \r), as the reader of
    # the header did; a record may span several of them (a quoted newline).
    physical = io.StringIO(text, newline="").readlines()
    reader = csv.reader(physical, delimiter=delimiter, strict=True)
    start = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            lines.append(first_line + start)
            raw = "".join(physical[start:end])
            raws.append(raw)
            rows.append(Malformed(f"Malformed CSV record: {exc}", raw))
            start = end
            continue
        end = reader.line_num
        line = first_line + start
        raw = physical[start] if end == start + 1 else "".join(physical[start:end])
        start = end
        if not cells:
            continue  # a blank line separates nothing and holds no row
        lines.append(line)
        if not raw.isascii() and _UNDECODABLE.search(raw):
            shown = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raws.append(shown)
            rows.append(Malformed("Malformed CSV record: bytes that are not valid in the file's "
                                  "encoding", shown))
        elif len(cells) != width:
            raws.append(raw)
            rows.append(Malformed(f"Malformed CSV record: {len(cells)} fields, the header has "
                                  f"{width}", raw))
        else:
            raws.append(raw)
            rows.append(cells)


def _jsonl_rows(data: bytes, first_line: int, lines: list[int], raws: list[Any],
                rows: list[Any]) -> None:
    loads = orjson.loads
    for number, line in enumerate(data.split(b"\n"), first_line):
        body = line.rstrip(b"\r")
        if not body or not body.strip():
            continue
        lines.append(number)
        raws.append(body)
        try:
            rows.append(loads(body))
        except orjson.JSONDecodeError as exc:
            rows.append(Malformed(f"Malformed JSON line: {exc.msg} at column {exc.colno}",
                                  body.decode("utf-8", "replace")))


def parse_block(block: Block, spec: BlockSpec) -> tuple[list[int], list[Any], list[Any]]:
    """The rows of a block: their lines, their raw text (``bytes`` for JSON Lines) and what
    ``check_chunk`` takes for each (CSV cells, a JSON value, or ``Malformed``)."""
    lines: list[int] = []
    raws: list[Any] = []
    rows: list[Any] = []
    if block.records is not None:
        for line, raw, value, defect in block.records:
            lines.append(line)
            raws.append(raw)
            rows.append(Malformed(defect, raw) if defect is not None else value)
    elif spec.format == "csv":
        text = block.data.decode(spec.encoding, "surrogateescape")
        _csv_rows(text, block.first_line, spec.delimiter, len(spec.header), lines, raws, rows)
    else:
        _jsonl_rows(block.data, block.first_line, lines, raws, rows)
    return lines, raws, rows


def row_bytes(raw: Any, spec: BlockSpec) -> bytes:
    """A valid row as it goes into the valid output (``ValidWriter.write_rows``)."""
    if isinstance(raw, bytes):
        return raw + b"\n"
    if spec.format == "csv" and not raw.endswith(("\n", "\r")):
        raw += spec.newline
    return raw.encode("utf-8", "surrogateescape")  # type: ignore[no-any-return]


def block_domains(block: Block, spec: BlockSpec, mx_paths: Sequence[MXPath]) -> set[str]:
    """The ASCII domains of the e-mails a block's rows have at the MX-checked paths: the first
    pass of a run with MX checks, so that the run can resolve each domain once for all blocks
    before the rows are judged."""
    _, _, rows = parse_block(block, spec)
    plan = spec.plan
    found: set[str] = set()
    values: set[Any] = set()
    if plan is not None:
        # The cells the MX-checked fields come from are read directly, without mapping the
        # rows (a header with two columns for one field gives the domains of both).
        columns = [c.index for c in plan.columns if c.path in mx_paths]
        for row in rows:
            if not isinstance(row, Malformed):
                values.update(row[i] for i in columns)
    else:
        for row in rows:
            if isinstance(row, Malformed):
                continue
            for path in mx_paths:
                values.update(value for _, value in values_at(row, path)
                              if isinstance(value, str))
    for value in values:
        if isinstance(value, str) and value:
            # (Not contextlib.suppress: one per distinct address is measurable.)
            try:  # noqa: SIM105
                found.add(email_ascii_domain(value))
            except ValueError:
                pass
    return found


def _original(row: Any, raw: Any, spec: BlockSpec) -> Any:
    """The row as a reject shows it: the raw text of a malformed row, the header → cell
    object of a CSV record, the JSON value."""
    if isinstance(row, Malformed):
        return row.raw
    if spec.plan is not None:
        return dict(zip(spec.header, row, strict=True))
    return row


def output_line(spec: BlockSpec, line: int, original: Any, body: bytes) -> bytes:
    return orjson.dumps({"source": spec.source, "line": line, "row": original,
                         "error": orjson.Fragment(body)},
                        option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


def count_invalid(outcome: RowOutcome, by_code: Counter[int], by_field: Counter[str],
                  by_domain: Counter[str], reasons: Counter[tuple[int, str, str]]) -> None:
    domain = (outcome.email.rpartition("@")[2].strip().lower()
              if outcome.email is not None else None)
    if domain:
        _bump(by_domain, domain)
    for failure in outcome.failures:
        by_code[failure.code] += 1
        label = field_label(failure.field_name)
        _bump(by_field, label)
        # A repeat names the line it repeats; counted by that, every one would be its own
        # "reason".
        text = DUPLICATE_REASON if failure.keyword == "dedupe" else failure.description
        _bump(reasons, (failure.code, label, text))


def check_block(block: Block, spec: BlockSpec, schema_name: str, options: CheckOptions,
                verdicts: Mapping[str, _mx.DomainVerdict]) -> BlockResult:
    """Parse, map, check and write out a block of records. Pure, like ``check_chunk``: the
    result depends only on the arguments, so a distributed engine can map it over partitions
    (a Dask bag of blocks) and a run can fold the results in order."""
    # The objects made for a block are freed by reference counting; the cyclic collector
    # would only rescan the engine's long-lived objects again and again meanwhile.
    collect = gc.isenabled()
    gc.disable()
    try:
        return _check_block(block, spec, schema_name, options, verdicts)
    finally:
        if collect:
            gc.enable()


def _check_block(block: Block, spec: BlockSpec, schema_name: str, options: CheckOptions,
                 verdicts: Mapping[str, _mx.DomainVerdict]) -> BlockResult:
    lines, raws, rows = parse_block(block, spec)
    dedupe = spec.dedupe
    outcomes: Sequence[int | RowOutcome]
    if options.suppressed_addresses or options.suppressed_domains:
        outcomes = check_chunk(rows, schema_name, options, verdicts, spec.plan)
    else:
        outcomes = _plain_outcomes(rows, schema_name, options, spec.plan, dedupe, verdicts)
    valid_parts: list[bytes] = []
    valid_ends = array("Q")
    valid_lines = array("Q")
    valid_keys = array("Q")
    reject_parts: list[bytes] = []
    reject_ends = array("Q")
    reject_lines = array("Q")
    unverified: list[tuple[int, int, bytes, bytes]] = []
    by_code: Counter[int] = Counter()
    by_field: Counter[str] = Counter()
    by_domain: Counter[str] = Counter()
    reasons: Counter[tuple[int, str, str]] = Counter()
    valid_size = reject_size = 0
    csv_newline = spec.newline if spec.format == "csv" else None
    for line, raw, row, outcome in zip(lines, raws, rows, outcomes, strict=True):
        if outcome.__class__ is int or outcome.status == VALID:  # type: ignore[union-attr]
            # row_bytes, inlined.
            if raw.__class__ is bytes:
                data = raw + b"\n"
            elif csv_newline is not None and not raw.endswith(("\n", "\r")):
                data = (raw + csv_newline).encode("utf-8", "surrogateescape")
            else:
                data = raw.encode("utf-8", "surrogateescape")
            valid_parts.append(data)
            valid_size += len(data)
            valid_ends.append(valid_size)
            valid_lines.append(line)
            if dedupe:
                valid_keys.append(outcome if isinstance(outcome, int)
                                  else dedupe_key(outcome.email, outcome.campaign_id))
            continue
        assert isinstance(outcome, RowOutcome)
        status = outcome.status
        assert outcome.body is not None
        entry = output_line(spec, line, _original(row, raw, spec), outcome.body)
        if status == UNVERIFIED:
            unverified.append((line, dedupe_key(outcome.email, outcome.campaign_id)
                               if dedupe else 0, row_bytes(raw, spec), entry))
            continue
        reject_parts.append(entry)
        reject_size += len(entry)
        reject_ends.append(reject_size)
        reject_lines.append(line)
        count_invalid(outcome, by_code, by_field, by_domain, reasons)
    return BlockResult(len(lines), b"".join(valid_parts), valid_ends, valid_lines, valid_keys,
                       b"".join(reject_parts), reject_ends, reject_lines, unverified,
                       by_code, by_field, by_domain, reasons)


# The pool's workers keep the run's constants here (set once by the initializer) rather than
# receiving them with every block.
_worker_setup: tuple[str, CheckOptions, tuple[MXPath, ...]] | None = None


def _init_worker(schema_name: str, options: CheckOptions, mx_paths: tuple[MXPath, ...]
                 ) -> None:
    global _worker_setup
    # Ctrl-C reaches the whole process group; the parent alone handles it (and stops the
    # workers), instead of every worker printing its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_setup = (schema_name, options, mx_paths)
    _validator(schema_name, options)
    # What is alive now (modules, the compiled schema) lives as long as the worker.
    gc.freeze()


def _pool_check(block: Block, spec: BlockSpec, verdicts: dict[str, _mx.DomainVerdict]
                ) -> BlockResult:
    assert _worker_setup is not None
    return check_block(block, spec, _worker_setup[0], _worker_setup[1], verdicts)


def _pool_domains(block: Block, spec: BlockSpec) -> set[str]:
    assert _worker_setup is not None
    return block_domains(block, spec, _worker_setup[2])


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
    dns: DNSOptions = field(default_factory=DNSOptions)
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
                domains.add(_mx.normalise_domain(entry[1:]))
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
        # dedupe_key → the number of the block that holds the first accepted row of that key.
        # The number is one int object per block, shared by all its keys, so an entry costs
        # the key's int and a slot; the line is found, for the few repeats, in that block's
        # keys and lines (``firsts``), 16 bytes a row.
        self.seen: dict[int, int] = {}
        self.firsts: list[tuple[int, array[int], array[int]]] = []
        self.verdicts: dict[str, _mx.DomainVerdict] = {}
        self.checker: _mx.MXChecker | None = None
        self.failures_in_a_row = 0
        self.outage = ""
        registry = default_registry()
        document, base_uri = registry.get(config.schema_name)
        self.view = SchemaView(document, base_uri, registry.resources())
        self.mx_paths = _validator(config.schema_name, config.options).mx_paths
        self.files: list[str] = []
        self.pool: ProcessPoolExecutor | None = None
        self.blocks_seen = 0
        self.utf8_specs: dict[int, tuple[BlockSpec, BlockSpec]] = {}

    def get_pool(self) -> ProcessPoolExecutor | None:
        if self.config.jobs > 1 and self.pool is None:
            self.pool = _pool(self.config, tuple(self.mx_paths))
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

    # -- preparing blocks ----------------------------------------------------------------------

    def spec(self, source: Source) -> BlockSpec:
        plan = None
        if source.format == "csv":
            plan = build_plan(source.header or [], self.view, self.config.mapping,
                              self.config.list_separator, self.config.value_separator)
        return BlockSpec(source.name, source.format, tuple(source.header or ()),
                         source.delimiter, source.encoding, plan,
                         self.valid.newline if self.valid is not None else "\n",
                         self.config.dedupe)

    def blocks(self, source: Source) -> Iterator[Block]:
        config = self.config
        if source.stream is not None:
            target = _block_bytes() or round(config.chunk_size * source.line_bytes)
            blocks: Iterator[Any] = (Block(line, data)
                                     for line, data in byte_blocks(source, target))
        else:
            blocks = _record_blocks(source.records, config.chunk_size)
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
            yield block

    def resolve(self, domains: set[str]) -> dict[str, _mx.DomainVerdict]:
        if not self.mx_paths:
            return {}
        missing = [d for d in domains if d not in self.verdicts]
        if missing:
            if self.checker is None:
                self.checker = self.config.dns.checker(private_cache=True)
            if self.failures_in_a_row >= DNS_GIVE_UP:
                found = {d: _mx.DomainVerdict(d, "unknown", self.outage) for d in missing}
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

    # -- the outcome of each block -------------------------------------------------------------

    def repeat(self, spec: BlockSpec, file_index: int, line: int, first: int,
               data: bytes, was_valid: bool) -> tuple[bytes, RowOutcome]:
        """The reject entry of a row that repeats an earlier one (1008). Rare, so the row is
        judged again here, from its bytes, for the e-mail, campaign and failures it has."""
        if spec.format == "json":
            text = data.decode("utf-8", "surrogateescape")
            block = Block(line, records=[(line, text, json.loads(text), None)])
        else:
            block = Block(line, data)
            if spec.encoding != "utf-8":
                utf8 = self.utf8_specs.get(id(spec))
                if utf8 is None or utf8[0] is not spec:
                    utf8 = self.utf8_specs[id(spec)] = (spec, replace(spec, encoding="utf-8"))
                spec = utf8[1]  # the valid form is UTF-8
        lines, raws, rows = parse_block(block, spec)
        assert len(lines) == 1
        if was_valid:
            # A valid row has no failures: only its e-mail and campaign are needed.
            payload = spec.plan.compiled()(rows[0]) if spec.plan is not None else rows[0]
            email, campaign_id = _identity(_with_campaign(payload,
                                                          self.config.options.campaign_id))
            outcome = RowOutcome(VALID, (), None, email, campaign_id)
        else:
            domains = block_domains(block, spec, self.mx_paths) if self.mx_paths else set()
            (outcome,) = check_chunk(rows, self.config.schema_name, self.config.options,
                                     self.resolve(domains), spec.plan)
        email, campaign_id = outcome.email, outcome.campaign_id
        assert email is not None and campaign_id is not None
        first_file, first_line = first >> 32, first & 0xFFFFFFFF
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
        outcome = RowOutcome(INVALID, tuple(failures), None, email, campaign_id)
        entry = output_line(spec, line, _original(rows[0], raws[0], spec), error.to_json())
        return entry, outcome

    def _new_block(self, file_index: int, keys: array[int], lines: array[int]) -> int:
        """Number a block whose rows may be the first of their keys."""
        self.firsts.append((file_index, keys, lines))
        return len(self.firsts) - 1

    def _check_repeat(self, spec: BlockSpec, file_index: int, result: BlockResult, line: int,
                      key: int, index: int, block: int, repeats: list[tuple[int, bytes]],
                      dropped_valid: list[int], dropped_unverified: set[int]) -> None:
        """Note the row (``index`` into the valid rows, or ``-1 - index`` into the unverified
        ones) as the first of its key, or reject it as a repeat."""
        first_block = self.seen.get(key)
        if first_block is None:
            self.seen[key] = block
            return
        first_file, keys, lines = self.firsts[first_block]
        first_line = lines[keys.index(key)]
        if index >= 0:
            ends = result.valid_ends
            data = result.valid[ends[index - 1] if index else 0:ends[index]]
            dropped_valid.append(index)
        else:
            data = result.unverified[-1 - index][2]
            dropped_unverified.add(-1 - index)
        entry, outcome = self.repeat(spec, file_index, line, first_file << 32 | first_line,
                                     data, index >= 0)
        repeats.append((line, entry))
        summary = self.summary
        count_invalid(outcome, summary.by_code, summary.by_field, summary.by_domain,
                      summary.reasons)

    def _check_repeats(self, spec: BlockSpec, file_index: int, result: BlockResult,
                       repeats: list[tuple[int, bytes]], dropped_valid: list[int]) -> None:
        """The 1008 check of a block's valid rows with set operations: only the keys seen
        before or twice in the block are taken one by one."""
        keys = result.valid_keys.tolist()
        seen = self.seen
        distinct = set(keys)
        # (Not seen.keys() & keys: that copies all the keys seen so far, for every block.)
        flagged = set(filter(seen.__contains__, distinct))
        if len(distinct) != len(keys):
            flagged.update(k for k, n in Counter(keys).items() if n > 1)
        flagged.discard(0)
        block = self._new_block(file_index, result.valid_keys, result.valid_lines)
        if flagged:
            lines = result.valid_lines
            for index in [i for i, k in enumerate(keys) if k in flagged]:
                self._check_repeat(spec, file_index, result, lines[index], keys[index], index,
                                   block, repeats, dropped_valid, set())
        fresh = dict.fromkeys(distinct, block)
        for key in flagged:
            del fresh[key]
        fresh.pop(0, None)
        seen.update(fresh)

    def settle(self, spec: BlockSpec, file_index: int, result: BlockResult) -> None:
        summary = self.summary
        counts = summary.per_file[spec.source]
        valid, valid_ends, valid_lines = result.valid, result.valid_ends, result.valid_lines
        unverified = result.unverified
        # (line, entry) of the rows that repeat an earlier row, and which rows they were.
        repeats: list[tuple[int, bytes]] = []
        dropped_valid: list[int] = []
        dropped_unverified: set[int] = set()
        if spec.dedupe and unverified:
            # With unverified rows (MX on, DNS failing) the candidates are taken one by one, in
            # the order of their lines.
            candidates = sorted(
                [(line, key, i) for i, (line, key) in
                 enumerate(zip(valid_lines, result.valid_keys, strict=True))]
                + [(line, key, -1 - i) for i, (line, key, _, _) in enumerate(unverified)])
            block = self._new_block(file_index, array("Q", [key for _, key, _ in candidates]),
                                    array("Q", [line for line, _, _ in candidates]))
            for line, key, index in candidates:
                if key:
                    self._check_repeat(spec, file_index, result, line, key, index, block,
                                       repeats, dropped_valid, dropped_unverified)
        elif spec.dedupe:
            self._check_repeats(spec, file_index, result, repeats, dropped_valid)
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
        if self.valid is not None:
            if dropped_valid:
                self.valid.write_rows(*_without(valid, valid_ends, dropped_valid,
                                                spec.format == "json"))
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


def _merge(counter: Counter[Any], more: Counter[Any]) -> None:
    for key, n in more.items():
        if key in counter or len(counter) < _COUNTER_CAP:
            counter[key] += n
        else:
            counter["(other)" if isinstance(key, str) else (0, "(other)", "(other)")] += n


def _without(data: bytes, ends: array[int], dropped: list[int], with_ends: bool
             ) -> tuple[bytes, Sequence[int]]:
    """The rows of ``data`` but those at the ``dropped`` indexes (few), with their ends when
    ``with_ends`` (else only as many items as there are rows)."""
    parts: list[bytes] = []
    start = 0
    for index in sorted(dropped):
        parts.append(data[start:ends[index - 1] if index else 0])
        start = ends[index]
    parts.append(data[start:])
    if not with_ends:
        return b"".join(parts), range(len(ends) - len(dropped))
    drop = set(dropped)
    kept = array("Q")
    size = start = 0
    for index, end in enumerate(ends):
        if index not in drop:
            size += end - start
            kept.append(size)
        start = end
    return b"".join(parts), kept


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


def _pool(config: RunConfig, mx_paths: tuple[MXPath, ...]) -> ProcessPoolExecutor:
    # forkserver: workers start from a clean process, not a fork of one that may already run
    # DNS threads; the engine is imported once in the server and inherited by every worker.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["validator.batch._run"])
    return ProcessPoolExecutor(max_workers=config.jobs, mp_context=context,
                               initializer=_init_worker,
                               initargs=(config.schema_name, config.options, mx_paths))


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


@dataclass(slots=True)
class _Pending:
    block: Block
    domains: Future[set[str]] | None = None
    check: Future[BlockResult] | None = None


def _timed(timings: dict[str, float], name: str, began: float) -> None:
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - began


def _run_source(state: _Run, source: Source, file_index: int) -> None:
    config = state.config
    timings = state.summary.timings
    spec = state.spec(source)
    mx = bool(state.mx_paths)
    pending: deque[_Pending] = deque()
    # With MX checks a block goes through the pool twice (its domains, then its rows), so
    # more of them are in flight.
    window = max(2, config.jobs * (3 if mx else 2))

    def report_progress() -> None:
        if state.on_progress is not None:
            state.on_progress(Progress(source.name, state.summary.rows_read,
                                       source.position(), source.size))

    def settle(result: BlockResult) -> None:
        began = time.perf_counter()
        state.settle(spec, file_index, result)
        _timed(timings, "settle", began)
        report_progress()

    def submit_check(item: _Pending, pool: ProcessPoolExecutor) -> None:
        verdicts: dict[str, _mx.DomainVerdict] = {}
        if item.domains is not None:
            began = time.perf_counter()
            domains = item.domains.result()
            _timed(timings, "waitForWorkers", began)
            began = time.perf_counter()
            verdicts = state.resolve(domains)
            _timed(timings, "dns", began)
        item.check = pool.submit(_pool_check, item.block, spec, verdicts)

    def advance(pool: ProcessPoolExecutor) -> None:
        # Blocks whose domains are known go on to be checked, in order.
        for item in pending:
            if item.check is None:
                assert item.domains is not None
                if not item.domains.done():
                    break
                submit_check(item, pool)

    def settle_next(pool: ProcessPoolExecutor) -> None:
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

    for block in state.blocks(source):
        # The first block is checked here: an input that fits in one block never pays for
        # starting worker processes.
        pool = state.get_pool() if state.blocks_seen else None
        state.blocks_seen += 1
        if pool is None:
            began = time.perf_counter()
            verdicts = state.resolve(block_domains(block, spec, state.mx_paths)) if mx else {}
            result = check_block(block, spec, config.schema_name, config.options, verdicts)
            _timed(timings, "checkInProcess", began)
            settle(result)
            continue
        item = _Pending(block)
        if mx:
            item.domains = pool.submit(_pool_domains, block, spec)
            advance(pool)
        else:
            item.check = pool.submit(_pool_check, block, spec, {})
        pending.append(item)
        while len(pending) >= window:
            settle_next(pool)
    while pending:
        assert state.pool is not None
        settle_next(state.pool)
