"""The unit of work of a batch run: a block of raw records in, compact verdicts out.

``check_block(block, spec, schema_name, options, batch, verdicts)`` is a pure function of a
block of raw records (bytes cut at record boundaries, with the line the block starts on) and the
DNS verdicts of their domains. It decodes, parses, maps, coerces, validates, builds the error
bodies and serialises every output line; it is what the process pool runs, and what a
distributed engine (Dask) can map over partitions unchanged. ``check_chunk`` is the same for
rows already parsed. ``block_domains`` gives a block's domains, for runs with MX checks. Every
argument and result pickles.
"""

from __future__ import annotations

import gc
import os
import re
import select
import signal
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from .._aggregate import aggregate, order
from .._api import Validator
from .._catalog import Code, ErrorCatalog
from .._options import ValidationOptions
from .._registry import default_registry
from .._results import ApiError, Failure, Result, only_unverifiable
from ..dns import DNSOptions
from ..rules import MXPath, email_ascii_domain, values_at
from ._columnar import check_columnar, columnar_domains, precheck_for
from ._columnar_jsonl import check_columnar_jsonl, json_precheck_for
from ._dedupe import dedupe_pairs, dedupe_text
from ._hygiene import RowNotes
from ._options import BatchOptions
from ._plan import CsvPlan
from ._readers import Malformed
from ._reasons import Reason, note_example, reason_template
from ._units import INVALID, UNVERIFIED, VALID, Block, BlockResult, BlockSpec

if TYPE_CHECKING:
    from ..dns import DomainVerdict

# Counters keyed by free text (domains, reasons) stop growing here, so that a file with
# millions of distinct bad domains still runs in flat memory; the rest is counted as "(other)".
COUNTER_CAP = 20_000


class RowOutcome(NamedTuple):
    """The verdict on one row, with what the whole-run checks need to know of it (a named
    tuple: cheap to make; blocks return bytes and arrays instead of these)."""

    status: int
    failures: tuple[Failure, ...] = ()
    body: bytes | None = None
    email: str | None = None
    """The e-mail as given (for the 1008 check and the per-domain counts)."""
    campaign_id: str | None = None


_validators: dict[tuple[Any, ...], Validator] = {}


def validator_for(schema_name: str, options: ValidationOptions, batch: BatchOptions
                  ) -> Validator:
    """The run's validator, built once per process (a worker builds its own)."""
    key = (schema_name, options.key())
    found = _validators.get(key)
    if found is None:
        registry = default_registry()
        # A fresh worker process knows only the shipped schemas; the parent registered the
        # user's already, so it skips this.
        if schema_name not in registry:
            for path in batch.schema_paths:
                registry.register_path(path)
        # The run resolves every domain itself (through options.dns) and hands the verdicts
        # to the checks: a validator of its own would only open the resolver's cache again.
        found = _validators[key] = Validator(schema_name, replace(options, dns=DNSOptions()))
    return found


def _suppression(payload: Any, batch: BatchOptions) -> Failure | None:
    if not isinstance(payload, dict):
        return None
    email = payload.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    address = email.strip().lower()
    domain = address.rpartition("@")[2]
    if address in batch.suppressed_addresses:
        mask = address
    elif domain in batch.suppressed_domains:
        mask = "@" + domain
    else:
        return None
    return Failure(Code.FORBIDDEN_STATE, ("email",), email,
                   f"The address is on the suppression list ({mask})", keyword="suppress")


def with_campaign(payload: Any, campaign_id: str | None) -> Any:
    """The payload with ``campaign_id`` as its campaign when it has none."""
    if campaign_id is None or not isinstance(payload, dict):
        return payload
    campaign = payload.get("campaign")
    if campaign is None:
        return {**payload, "campaign": {"campaignId": campaign_id}}
    if isinstance(campaign, dict) and "campaignId" not in campaign:
        return {**payload, "campaign": {**campaign, "campaignId": campaign_id}}
    return payload


def identity(payload: Any) -> tuple[str | None, str | None]:
    """The e-mail and campaign of a payload, when they are strings."""
    if not isinstance(payload, dict):
        return None, None
    email = payload.get("email")
    campaign = payload.get("campaign")
    campaign_id = campaign.get("campaignId") if isinstance(campaign, dict) else None
    return (email if isinstance(email, str) else None,
            campaign_id if isinstance(campaign_id, str) else None)


def check_chunk(rows: Sequence[Any], schema_name: str, options: ValidationOptions,
                batch: BatchOptions, verdicts: Mapping[str, DomainVerdict],
                plan: CsvPlan | None = None) -> list[RowOutcome]:
    """Judge a chunk of rows, in order. Pure: the outcome depends only on the arguments (DNS
    answers come in as ``verdicts``, keyed by ASCII domain).

    A row is a JSON value, or with a ``plan`` the cells of a CSV record (mapped here, in the
    worker, rather than in the process that reads), or ``Malformed``."""
    validator = validator_for(schema_name, plan.options(options) if plan else options, batch)
    catalog = validator.catalog
    suppress = batch.suppresses
    outcomes: list[RowOutcome] = []
    for row, result in _judge(rows, validator, plan, batch.campaign_id, options.check_mx,
                              verdicts):
        if result is None:
            outcomes.append(_malformed(row, catalog))
            continue
        email, campaign_id = identity(row)
        failures = list(result.failures)
        extra = _suppression(row, batch) if suppress else None
        if extra is not None:
            failures = order([*failures, extra], row)
        elif result.ok:
            outcomes.append(RowOutcome(VALID, (), None, email, campaign_id))
            continue
        error = result.error if extra is None else aggregate(
            failures, catalog, always_combine=options.always_combine)
        assert error is not None
        status = UNVERIFIED if only_unverifiable(failures) else INVALID
        outcomes.append(_judged(status, tuple(failures), error, email, campaign_id, catalog))
    return outcomes


# Rows mapped and validated at a time with MX checks (which take rows by the batch; without,
# one at a time). A block's payloads are never all alive at once: under a wide header of dotted
# names, one CSV row of a few kilobytes maps to megabytes of objects.
_SLICE = 64


def _judge(rows: Sequence[Any], validator: Validator, plan: CsvPlan | None,
           campaign_id: str | None, check_mx: bool, verdicts: Mapping[str, DomainVerdict]
           ) -> Iterator[tuple[Any, Result | None]]:
    """Each row as its payload with its result, in order; a ``Malformed`` row with None."""
    mapper = plan.compiled() if plan is not None else None
    # Parsed or mapped rows are JSON data by construction.
    validate = partial(validator.validate, plain=True)
    if not check_mx:
        for row in rows:
            if row.__class__ is Malformed:
                yield row, None
            else:
                payload = with_campaign(mapper(row) if mapper is not None else row, campaign_id)
                yield payload, validate(payload)
        return
    for start in range(0, len(rows), _SLICE):
        payloads = [row if row.__class__ is Malformed
                    else with_campaign(mapper(row) if mapper is not None else row, campaign_id)
                    for row in rows[start:start + _SLICE]]
        readable = [p for p in payloads if p.__class__ is not Malformed]
        # The run resolved the domains up front; this only applies the answers.
        results = iter(validator.validate_many(readable, verdicts=verdicts, plain=True))
        for payload in payloads:
            yield payload, None if payload.__class__ is Malformed else next(results)


def _judged(status: int, failures: tuple[Failure, ...], error: ApiError, email: str | None,
            campaign_id: str | None, catalog: ErrorCatalog) -> RowOutcome:
    """The outcome of a refused row, with its body as JSON; a body that cannot be written
    (a value nested past what JSON output follows, an integer past 64 bits) makes the row a
    1000 that says so, instead of ending the run and losing every other row."""
    try:
        return RowOutcome(status, failures, error.to_json(), email, campaign_id)
    except TypeError as exc:  # orjson.JSONEncodeError is one
        failure = Failure(Code.VALIDATION_ERROR, (), None, unwritable(exc), keyword="row")
        body = aggregate([failure], catalog)
        assert body is not None
        return RowOutcome(INVALID, (failure,), body.to_json(), email, campaign_id)


def unwritable(exc: Exception) -> str:
    """Why a row's entry cannot be written as JSON, naming the limit it passed."""
    text = str(exc)
    if "ecursion" in text:
        return ("The row nests objects and arrays deeper than the 255 levels its error body "
                "can be written with")
    if "64-bit" in text:
        return "The row holds an integer past the 64-bit range its error body can be written with"
    return f"The row's error body cannot be written as JSON ({text})"


def _malformed(row: Malformed, catalog: ErrorCatalog) -> RowOutcome:
    failure = Failure(Code.VALIDATION_ERROR, (), row.raw, row.description, keyword="row")
    error = aggregate([failure], catalog)
    assert error is not None
    return RowOutcome(INVALID, (failure,), error.to_json())


def _plain_outcomes(rows: Sequence[Any], schema_name: str, options: ValidationOptions,
                    batch: BatchOptions, plan: CsvPlan | None, dedupe: bool,
                    verdicts: Mapping[str, DomainVerdict]) -> list[str | RowOutcome | None]:
    """What ``check_chunk`` says when there is no suppression list, without an object per
    valid row: a valid row is its ``dedupe_text`` (None without --dedupe)."""
    validator = validator_for(schema_name, plan.options(options) if plan else options, batch)
    catalog = validator.catalog
    outcomes: list[str | RowOutcome | None] = []
    append = outcomes.append
    for payload, result in _judge(rows, validator, plan, batch.campaign_id, options.check_mx,
                                  verdicts):
        if result is None:
            append(_malformed(payload, catalog))
            continue
        error = result.error
        if error is None:
            if dedupe:
                email, campaign_id = identity(payload)
                append(dedupe_text(email, campaign_id, batch.dedupe_normalised))
            else:
                append(None)
            continue
        email, campaign_id = identity(payload)
        failures = result.failures
        append(_judged(UNVERIFIED if only_unverifiable(failures) else INVALID, failures, error,
                       email, campaign_id, catalog))
    return outcomes


# --------------------------------------------------------------------------------------------
# Blocks: what a worker gets (raw bytes of whole records) and what it gives back
# --------------------------------------------------------------------------------------------
def parse_block(block: Block, spec: BlockSpec) -> tuple[list[int], list[Any], list[Any]]:
    """The rows of a block: their lines, their raw form (what ``Reader.valid_bytes`` takes)
    and what ``check_chunk`` takes for each (CSV cells, a JSON value, or ``Malformed``)."""
    lines: list[int] = []
    raws: list[Any] = []
    rows: list[Any] = []
    if block.records is not None:
        for line, raw, value, defect in block.records:
            lines.append(line)
            raws.append(raw)
            rows.append(Malformed(defect, raw) if defect is not None else value)
    else:
        spec.reader.parse(block.data, block.first_line, spec.dialect, lines, raws, rows)
    return lines, raws, rows


def block_domains(block: Block, spec: BlockSpec, mx_paths: Sequence[MXPath]) -> set[str]:
    """The ASCII domains of the e-mails a block's rows have at the MX-checked paths: the first
    pass of a run with MX checks, so that the run can resolve each domain once for all blocks
    before the rows are judged."""
    if block.records is None and spec.columnar and spec.plan is not None:
        found_columnar = columnar_domains(block, spec, mx_paths)
        if found_columnar is not None:
            return found_columnar
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
                cells = plan.cells(row)
                values.update(cells[i] for i in columns)
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


def original(row: Any, spec: BlockSpec) -> Any:
    """The row as a reject shows it: the raw text of a malformed row, the header → cell
    object of a CSV record, the JSON value."""
    if isinstance(row, Malformed):
        return row.raw
    if spec.plan is not None:
        return dict(zip(spec.dialect.header, row, strict=True))
    return row


_LONE = re.compile("[\ud800-\udfff]")


def output_line(spec: BlockSpec, line: int, original: Any, body: bytes, raw: Any = None
                ) -> bytes:
    """A reject entry. A row that cannot be written as JSON (nested past 255 levels, an integer
    past 64 bits) is shown as its ``raw`` text instead."""
    try:
        return orjson.dumps({"source": spec.source, "line": line, "row": original,
                             "error": orjson.Fragment(body)},
                            option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        shown = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        # Text decoded with surrogateescape (bytes that are not UTF-8) holds lone surrogates,
        # which JSON cannot carry: shown as U+FFFD, as error bodies show them.
        return orjson.dumps({"source": _LONE.sub("\ufffd", spec.source), "line": line,
                             "row": _LONE.sub("\ufffd", shown),
                             "error": orjson.Fragment(body)}, option=orjson.OPT_APPEND_NEWLINE)


def bump(counter: Counter[Any], key: Any, n: int = 1) -> None:
    """Count ``n`` for ``key``, or for "(other)" once ``counter`` holds too many keys."""
    if key in counter or len(counter) < COUNTER_CAP:
        counter[key] += n
    else:
        counter["(other)" if isinstance(key, str) else (0, "(other)", "(other)")] += n


_LABELS: dict[Any, str] = {}


def field_label(path: Sequence[str | int]) -> str:
    """``("tags", 3, "tagId")`` → ``tags[].tagId``: counts per field ignore the index."""
    # A refused row's few paths are the same from row to row: each is spelled out once.
    if path.__class__ is not tuple:
        return _field_label(path)  # (a body's list, read back from a file)
    found = _LABELS.get(path)
    if found is None:
        found = _field_label(path)
        if len(_LABELS) < COUNTER_CAP:
            _LABELS[path] = found
    return found


def _field_label(path: Sequence[str | int]) -> str:
    label = ""
    for key in path:
        if isinstance(key, int):
            label += "[]"
        else:
            label += ("." if label else "") + key
    return label or "(row)"


def count_invalid(outcome: RowOutcome, by_code: Counter[int], by_field: Counter[str],
                  by_domain: Counter[str], reasons: Counter[tuple[int, str, str]],
                  examples: dict[Reason, tuple[list[int], bytes]] | None = None,
                  line: int = 0) -> None:
    domain = (outcome.email.rpartition("@")[2].strip().lower()
              if outcome.email is not None else None)
    if domain:
        bump(by_domain, domain)
    for failure in outcome.failures:
        by_code[failure.code] += 1
        label = field_label(failure.field_name)
        bump(by_field, label)
        # By reason, not by value: counted by its domain or the line it repeats, each row
        # would be a "reason" of its own.
        reason = (failure.code, label,
                  reason_template(failure.description, failure.original_value, failure.keyword))
        bump(reasons, reason)
        if examples is not None:
            note_example(examples, reason, line, outcome.body, COUNTER_CAP)


def check_block(block: Block, spec: BlockSpec, schema_name: str, options: ValidationOptions,
                batch: BatchOptions, verdicts: Mapping[str, DomainVerdict]) -> BlockResult:
    """Parse, map, check and write out a block of records. Pure, like ``check_chunk``: the
    result depends only on the arguments, so a distributed engine can map it over partitions
    (a Dask bag of blocks) and a run can fold the results in order."""
    # The objects made for a block are freed by reference counting; the cyclic collector
    # would only rescan the engine's long-lived objects again and again meanwhile.
    collect = gc.isenabled()
    gc.disable()
    try:
        if block.records is None and spec.columnar and spec.plan is not None:
            precheck = precheck_for(schema_name, options, batch, spec.plan, spec.mx_paths)
            if precheck is not None:
                result = check_columnar(block, spec, schema_name, options, batch, verdicts,
                                        precheck, judge_rows)
                if result is not None:
                    return result
        elif block.records is None and spec.columnar:
            checker = json_precheck_for(schema_name, options, batch, spec.mx_paths)
            if checker is not None:
                result = check_columnar_jsonl(block, spec, schema_name, options, batch,
                                              verdicts, checker, judge_rows)
                if result is not None:
                    return result
        lines, raws, rows = parse_block(block, spec)
        return judge_rows(lines, raws, rows, spec, schema_name, options, batch, verdicts)
    finally:
        if collect:
            gc.enable()


def judge_rows(lines: list[int], raws: list[Any], rows: list[Any], spec: BlockSpec,
               schema_name: str, options: ValidationOptions, batch: BatchOptions,
               verdicts: Mapping[str, DomainVerdict]) -> BlockResult:
    """The row path: rows as ``parse_block`` gives them, judged one by one, written out."""
    dedupe = spec.dedupe
    outcomes: Sequence[str | RowOutcome | None]
    if batch.suppresses:
        outcomes = check_chunk(rows, schema_name, options, batch, verdicts, spec.plan)
    else:
        outcomes = _plain_outcomes(rows, schema_name, options, batch, spec.plan, dedupe,
                                   verdicts)
    valid_parts: list[bytes] = []
    valid_ends = array("Q")
    valid_lines = array("Q")
    valid_texts: list[str | None] = []
    unverified_texts: list[str | None] = []
    reject_parts: list[bytes] = []
    reject_ends = array("Q")
    reject_lines = array("Q")
    unverified: list[tuple[int, int, bytes, bytes]] = []
    by_code: Counter[int] = Counter()
    by_field: Counter[str] = Counter()
    by_domain: Counter[str] = Counter()
    reasons: Counter[tuple[int, str, str]] = Counter()
    examples: dict[Reason, tuple[list[int], bytes]] = {}
    notes = RowNotes(spec.plan, batch.campaign_id, batch.warnings,
                     dedupe and not batch.dedupe_normalised)
    normalised = batch.dedupe_normalised
    valid_size = reject_size = 0
    valid_bytes = spec.reader.valid_bytes
    newline = spec.newline
    for line, raw, row, outcome in zip(lines, raws, rows, outcomes, strict=True):
        if outcome is None or outcome.__class__ is str \
                or outcome.status == VALID:  # type: ignore[union-attr]
            data = valid_bytes(raw, newline)
            valid_parts.append(data)
            valid_size += len(data)
            valid_ends.append(valid_size)
            valid_lines.append(line)
            if dedupe:
                valid_texts.append(outcome if not isinstance(outcome, RowOutcome)
                                   else dedupe_text(outcome.email, outcome.campaign_id,
                                                    normalised))
            # (The 1008 key is made for the whole block below; the note learns it then.)
            notes.note(line, row, VALID, True, len(valid_lines) - 1)
            continue
        assert isinstance(outcome, RowOutcome)
        notes.note(line, row, outcome.status, False)
        status = outcome.status
        assert outcome.body is not None
        entry = output_line(spec, line, original(row, spec), outcome.body, raw)
        if status == UNVERIFIED:
            unverified.append((line, 0, valid_bytes(raw, newline), entry))
            unverified_texts.append(dedupe_text(outcome.email, outcome.campaign_id, normalised))
            continue
        reject_parts.append(entry)
        reject_size += len(entry)
        reject_ends.append(reject_size)
        reject_lines.append(line)
        count_invalid(outcome, by_code, by_field, by_domain, reasons, examples, line)
    valid_keys = array("Q")
    checks: array[int] | None = None
    if dedupe:
        keys, found = dedupe_pairs(valid_texts + unverified_texts)
        valid_keys.frombytes(keys[:len(valid_texts)].tobytes())
        checks = array("Q", found.tobytes())
        if unverified:
            unverified = [(line, key, data, entry) for (line, _, data, entry), key
                          in zip(unverified, keys[len(valid_texts):].tolist(), strict=True)]
    notes.exact_keys(valid_keys)
    return BlockResult(len(lines), b"".join(valid_parts), valid_ends, valid_lines, valid_keys,
                       b"".join(reject_parts), reject_ends, reject_lines, unverified,
                       by_code, by_field, by_domain, reasons, examples,
                       notes.result, checks)


# --------------------------------------------------------------------------------------------
# The pool's side: its workers keep the run's constants (set once by the initializer) rather
# than receiving them with every block.
# --------------------------------------------------------------------------------------------
_worker_setup: tuple[str, ValidationOptions, BatchOptions, tuple[MXPath, ...]] | None = None


def init_worker(schema_name: str, options: ValidationOptions, batch: BatchOptions,
                mx_paths: tuple[MXPath, ...], run_pid: int | None = None) -> None:
    global _worker_setup
    # Ctrl-C reaches the whole process group; the parent alone handles it (and stops the
    # workers), instead of every worker printing its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if run_pid is not None:
        _end_with(run_pid)
    _worker_setup = (schema_name, options, batch, mx_paths)
    validator_for(schema_name, options, batch)
    # What is alive now (modules, the compiled schema) lives as long as the worker.
    gc.freeze()


def _end_with(pid: int) -> None:
    """End this worker as soon as process ``pid`` (the run) ends, however it ends (SIGKILL
    included), rather than outlive it holding its caller's pipes.

    The run is not this worker's parent under the forkserver start method: the server is, and
    the server itself stays up as long as any worker does (each holds its "alive" pipe), so a
    parent-death signal would never come. The worker watches the run's process instead: a
    pidfd becomes readable when that process ends (no polling); without pidfds, it is probed
    every second."""
    try:
        handle: int | None = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)  # the run has already ended
    except (AttributeError, OSError):
        handle = None

    def watch() -> None:
        if handle is not None:
            select.select([handle], [], [])
        else:
            while _alive(pid):
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="validator-run-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pool_check(block: Block, spec: BlockSpec, verdicts: dict[str, DomainVerdict]
               ) -> BlockResult:
    assert _worker_setup is not None
    schema_name, options, batch, _ = _worker_setup
    return check_block(block, spec, schema_name, options, batch, verdicts)


def pool_domains(block: Block, spec: BlockSpec) -> set[str]:
    assert _worker_setup is not None
    return block_domains(block, spec, _worker_setup[3])
