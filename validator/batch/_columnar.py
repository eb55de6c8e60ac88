"""The columnar way through a CSV block: most rows decided in bulk, the rest by the engine.

A block of a UTF-8 CSV file (whole records, as ``CsvReader.cut`` makes them) is split into its
lines by numpy (their bytes) and polars (their text), without a Python object per line.
A line is *simple* when a record starts on it and ends on it, every field is plainly unquoted
or wholly quoted, it holds no NUL and it has the header's number of fields: polars parses such
lines exactly as ``csv.reader`` does. Every other stretch of lines (a quoted newline, a stray
quote, a malformed record, a wrong field count) goes, as raw bytes, to the exact reader
(``CsvReader.parse``), as a block of its own: never a record cut in two, never one lost.

The simple lines become a frame of cells; the generated precheck (``_precheck``), the
suppression list and the run's MX verdicts mark the rows the engine would certainly accept.
Those are written out as the bytes they were read as; only the others become Python rows and go
through the row path (``_blocks``), whose results are merged back in line order. The outputs
are therefore exactly the row path's.
"""

from __future__ import annotations

import codecs
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .._options import ValidationOptions
from .._registry import default_registry
from ..rules import email_ascii_domain
from ._dedupe import dedupe_pairs
from ._hygiene import (
    BlockNotes,
    merge_notes,
    no_provider,
    provider_normalised_column,
    valid_rows_notes,
)
from ._options import BatchOptions
from ._plan import CsvPlan
from ._precheck import Precheck, build_precheck, cell, quick_email
from ._readers import MAX_RECORD, CsvReader, Malformed, csv_line_records
from ._units import VALID, Block, BlockResult, BlockSpec

if TYPE_CHECKING:
    from ..dns import DomainVerdict

_NEWLINE = 10
# An address whose dedupe form polars can make as Python does (strip and lower agree on it).
_PLAIN_ADDRESS = r"^[\x21-\x7e]+$"
# Wider headers take the row path: their expressions and frames cost more memory than the
# columnar way saves time on files that wide.
MAX_COLUMNS = 256
_precheck_cache: dict[tuple[Any, ...], Precheck | None] = {}


def precheck_for(schema_name: str, options: ValidationOptions, batch: BatchOptions,
                 plan: CsvPlan, mx_paths: tuple[Any, ...]) -> Precheck | None:
    """The precheck of a run's schema under a plan, built once per process."""
    key = (schema_name, options.key(), plan._key(), batch.campaign_id, mx_paths)
    if key not in _precheck_cache:
        if len(_precheck_cache) > 64:
            _precheck_cache.clear()
        document, _ = default_registry().get(schema_name)
        _precheck_cache[key] = build_precheck(document, plan, options, batch.campaign_id,
                                              mx_paths)
    return _precheck_cache[key]


def columnar(spec: BlockSpec) -> bool:
    """Whether blocks of this spec can take the columnar way (CSV cut as UTF-8 bytes)."""
    delimiter = spec.dialect.delimiter
    if spec.plan is None or not isinstance(spec.reader, CsvReader) \
            or len(spec.dialect.header) > MAX_COLUMNS \
            or len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
        return False
    try:
        return codecs.lookup(spec.dialect.encoding).name == "utf-8"
    except LookupError:
        return False


class _Lines:
    """A block's lines: where each starts and ends (its newline included), which are simple,
    which are blank, and the frame of the simple ones' cells."""

    def __init__(self, data: bytes, width: int, delimiter: str) -> None:
        self.data = data
        buffer = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(buffer == _NEWLINE) + 1
        if not len(ends) or ends[-1] != len(data):
            ends = np.append(ends, len(data))
        self.ends = ends
        self.starts = np.concatenate(([0], ends[:-1]))
        # One polars split of the whole text: its pieces are the lines without their "\n"
        # (the classification below reads them so; their bytes are ``starts``/``ends``).
        text = pl.Series("line", [data.decode("utf-8")]).str.split("\n").explode()
        if len(text) > len(ends):
            text = text.head(len(ends))  # the empty piece after a final newline
        d = _escape(delimiter)
        quoted = r'"(?:[^"]|"")*"'
        field = rf'(?:{quoted}|[^"{d}\r\n]*)'
        frame = pl.DataFrame({"line": text}).select(
            quotes=pl.col("line").str.count_matches('"', literal=True),
            blank=pl.col("line").str.contains(r"^\r?$"),
            plain=pl.col("line").str.contains(rf"^{field}(?:{d}{field})*\r?$")
            & ~pl.col("line").str.contains("\x00", literal=True)
            # (polars could take a BOM at the start of what it reads for the file's own)
            & ~pl.col("line").str.starts_with("\ufeff"),
            fields=pl.col("line").str.replace_all(quoted, "").str.count_matches(
                delimiter, literal=True) + 1,
        )
        odd = (frame["quotes"].to_numpy() % 2).astype(np.int64)
        # Inside a record that spans lines: an odd number of quotes before the line (in this
        # block, which starts at a record boundary), or on it.
        before = np.cumsum(odd) - odd
        outside = (before % 2 == 0) & (odd == 0)
        self.blank = frame["blank"].to_numpy() & outside
        lengths = ends - self.starts
        self.simple = (outside & frame["plain"].to_numpy() & ~self.blank
                       & (frame["fields"].to_numpy() == width) & (lengths <= MAX_RECORD))


def _escape(text: str) -> str:
    return "".join(f"\\x{{{ord(c):x}}}" for c in text)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in ``flags``."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _cells(lines: _Lines, spec: BlockSpec) -> pl.DataFrame:
    data = lines.data
    runs = _runs(lines.simple)
    if len(runs) == 1 and runs[0] == (0, len(lines.ends)):
        body = data
    else:
        body = b"".join(data[lines.starts[a]:lines.ends[b - 1]] for a, b in runs)

    width = len(spec.dialect.header)
    names = [cell(i) for i in range(width)]
    frame = pl.read_csv(body, has_header=False, separator=spec.dialect.delimiter,
                        quote_char='"', schema=dict.fromkeys(names, pl.String),
                        raise_if_empty=False, truncate_ragged_lines=False)
    return frame.with_columns(pl.all().fill_null(""))


def _domain(address: pl.Expr) -> pl.Expr:
    return address.str.extract(r"@([^@]*)$", 1).str.to_lowercase()


def _passing(frame: pl.DataFrame, precheck: Precheck, options: ValidationOptions,
             batch: BatchOptions, verdicts: Mapping[str, DomainVerdict]) -> np.ndarray:
    condition = precheck.expression
    if precheck.email_column is not None:
        email = pl.col(cell(precheck.email_column))
        if batch.suppresses:
            address = email.str.to_lowercase()
            # (Not plain e-mails take the row path, whose strip() may differ.)
            condition = condition & email.str.contains(_PLAIN_ADDRESS) & ~(
                address.is_in(list(batch.suppressed_addresses))
                | _domain(email).is_in(list(batch.suppressed_domains)))
        if options.check_mx:
            deliverable = [d for d, v in verdicts.items() if v.status == "deliverable"]
            condition = condition & ((email == "") | _domain(email).is_in(deliverable))
    # with_columns, not select: a precheck that folds to a literal (no column of the header
    # reaches a field the schema requires: "false") must still give one flag a row.
    mask: np.ndarray = frame.with_columns(
        condition.fill_null(False).alias("__ok"))["__ok"].to_numpy()
    return mask


def _dedupe_texts(frame: pl.DataFrame, precheck: Precheck, campaign_id: str | None,
                  normalised: bool) -> list[str | None] | pl.Series:
    """The 1008 form of each row's (e-mail, campaign) — ``_dedupe.dedupe_text``'s — made by
    polars where it agrees with Python's, by Python for the rest."""
    from ._dedupe import dedupe_text

    if precheck.email_column is None:
        return [None] * frame.height
    email = pl.col(cell(precheck.email_column))
    campaign = precheck.campaign_text
    if campaign_id is not None:
        campaign = pl.when(campaign != "").then(campaign).otherwise(pl.lit(campaign_id))
    both = (email != "") & (campaign != "")
    plain = email.str.contains(_PLAIN_ADDRESS)
    # --dedupe-normalised: the provider rules in columns (``provider_normalised_column``),
    # null where only Python's own case mapping and strip can make the form.
    address = pl.lit(provider_normalised_column(frame[cell(precheck.email_column)])) \
        if normalised else pl.when(plain).then(email.str.to_lowercase())
    texts = frame.select(text=pl.when(both).then(address + "\x00" + campaign),
                         odd=both & address.is_null())
    if not texts["odd"].any():
        return texts["text"]
    column = texts["text"].to_list()
    campaigns = frame.select(campaign.alias("c"))["c"].to_list()
    emails = frame[cell(precheck.email_column)].to_list()
    for index in np.flatnonzero(texts["odd"].to_numpy()).tolist():
        column[index] = dedupe_text(emails[index], campaigns[index], normalised)
    return column


def _read(data: bytes, spec: BlockSpec) -> tuple[_Lines, pl.DataFrame, np.ndarray] | None:
    """A block's lines and the frame of its simple ones, with their indexes; None for a block
    the columnar way cannot read (not UTF-8, a lone CR line end)."""
    if not data or data.count(b"\r") != data.count(b"\r\n"):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = _Lines(data, len(spec.dialect.header), spec.dialect.delimiter)
    frame = _cells(lines, spec)
    simple_index = np.flatnonzero(lines.simple)
    if frame.height != len(simple_index):
        return None  # polars read the lines otherwise than expected: the exact reader decides
    return lines, frame, simple_index


def check_columnar(block: Block, spec: BlockSpec, schema_name: str, options: ValidationOptions,
                   batch: BatchOptions, verdicts: Mapping[str, DomainVerdict],
                   precheck: Precheck, judge_rows: Callable[..., BlockResult]
                   ) -> BlockResult | None:
    """``check_block`` for a UTF-8 CSV block the columnar way; None when the block cannot be
    read so (not UTF-8, a lone CR line end): the caller takes the row path, ``judge_rows``
    (given by ``_blocks``, which this module does not import)."""
    data = block.data
    read = _read(data, spec)
    if read is None:
        return None
    lines, frame, simple_index = read
    first = block.first_line
    # The exact reader's stretches first: one may read on past the lines found not simple (a
    # quote opened and never closed takes the lines after it), exactly as the row path would.
    row_lines: list[int] = []
    raws: list[Any] = []
    rows: list[Any] = []
    taken = _exact_stretches(data, lines, first, spec, row_lines, raws, rows)
    simple_taken = taken[simple_index]
    passed = (_passing(frame, precheck, options, batch, verdicts) if frame.height
              else np.zeros(0, bool)) & ~simple_taken
    # The rows for the row path: simple lines that did not pass (their cells), in line order
    # with what the exact reader made of the rest.
    failing = np.flatnonzero(~passed & ~simple_taken)
    failing_lines = simple_index[failing].tolist()
    failing_cells = frame[failing.tolist()].rows() if len(failing) else []
    if failing_lines:
        exact = list(zip(row_lines, raws, rows, strict=True))
        simple_rows = [
            (first + index, data[lines.starts[index]:lines.ends[index]].decode("utf-8"),
             list(cells))
            for index, cells in zip(failing_lines, failing_cells, strict=True)]
        merged = sorted(exact + simple_rows, key=lambda item: item[0]) if exact \
            else simple_rows
        row_lines = [item[0] for item in merged]
        raws = [item[1] for item in merged]
        rows = [item[2] for item in merged]
    judged = judge_rows(row_lines, raws, rows, spec, schema_name, options, batch, verdicts)
    if not passed.any():
        return judged
    passed_frame = frame.filter(pl.Series(passed))
    return merge_passed(judged, data, lines.starts, lines.ends, simple_index[passed], first,
                        spec.newline.encode(), passed_frame, precheck, spec, batch, row_lines)


def merge_passed(judged: BlockResult, data: bytes, starts: np.ndarray, ends: np.ndarray,
                 good: np.ndarray, first: int, newline: bytes, passed_frame: pl.DataFrame,
                 precheck: Precheck, spec: BlockSpec, batch: BatchOptions,
                 row_lines: Sequence[int]) -> BlockResult:
    """The block's result: the row path's ``judged`` with the passed rows merged in, in line
    order (``good``: the passed lines' indexes into ``starts``/``ends``, the bytes of the
    block's lines, each written as read; ``passed_frame``: their cells)."""
    good_lines = good + first
    lengths = ends[good] - starts[good]
    ends_without_newline = data[-1:] != b"\n"
    if ends_without_newline and good[-1] == len(ends) - 1:
        lengths[-1] += len(newline)
    keys, checks = (dedupe_pairs(_dedupe_texts(passed_frame, precheck, batch.campaign_id,
                                               batch.dedupe_normalised))
                    if spec.dedupe else (np.zeros(0, np.uint64), np.zeros(0, np.uint64)))
    engine_lines = np.frombuffer(judged.valid_lines, np.uint64).astype(np.int64) \
        if len(judged.valid_lines) else np.zeros(0, np.int64)
    engine_ends = np.frombuffer(judged.valid_ends, np.uint64).astype(np.int64) \
        if len(judged.valid_ends) else np.zeros(0, np.int64)
    engine_lengths = np.diff(np.concatenate(([0], engine_ends)))
    all_lines = np.concatenate((good_lines, engine_lines))
    order = np.argsort(all_lines, kind="stable")
    valid_lengths = np.concatenate((lengths, engine_lengths))[order]
    valid_ends = np.cumsum(valid_lengths)
    # The bytes, piece by piece: runs of passed lines are runs of the block's bytes.
    pieces: list[bytes] = []
    engine_at = 0
    engine_list = engine_lines.tolist()
    engine_ends_list = engine_ends.tolist()
    for a, b in _runs_of(good):
        stop_line = int(good[b - 1]) + first
        start_line = int(good[a]) + first
        while engine_at < len(engine_list) and engine_list[engine_at] < start_line:
            pieces.append(judged.valid[engine_ends_list[engine_at - 1] if engine_at else 0:
                                       engine_ends_list[engine_at]])
            engine_at += 1
        pieces.append(data[starts[good[a]]:ends[good[b - 1]]])
        if ends_without_newline and stop_line - first == len(ends) - 1:
            pieces.append(newline)
    pieces.append(judged.valid[engine_ends_list[engine_at - 1] if engine_at else 0:])
    valid = b"".join(pieces)
    assert len(valid) == (int(valid_ends[-1]) if len(valid_ends) else 0)
    if spec.dedupe:
        engine_keys = np.frombuffer(judged.valid_keys, np.uint64) \
            if len(judged.valid_keys) else np.zeros(0, np.uint64)
        all_keys = np.concatenate((keys, engine_keys))[order]
        # The checks: the valid rows', in the same order, then the unverified rows' as judged.
        engine_checks = np.frombuffer(judged.checks, np.uint64) if judged.checks \
            else np.zeros(len(engine_keys) + len(judged.unverified), np.uint64)
        all_checks = np.concatenate((np.concatenate((checks, engine_checks[:len(engine_keys)]))
                                     [order], engine_checks[len(engine_keys):]))
    notes = judged.notes
    if notes is not None:
        notes = _merged_notes(notes, row_lines, passed_frame, good_lines, keys, precheck,
                              spec, batch)
    return judged._replace(
        rows=judged.rows + len(good), valid=valid, valid_ends=_array(valid_ends),
        valid_lines=_array(all_lines[order]),
        valid_keys=_array(all_keys) if spec.dedupe else array("Q"), notes=notes,
        checks=_array(all_checks) if spec.dedupe else None)


def _merged_notes(judged: BlockNotes, judged_lines: Sequence[int], passed: pl.DataFrame,
                  passed_lines: np.ndarray, keys: np.ndarray, precheck: Precheck,
                  spec: BlockSpec, batch: BatchOptions) -> BlockNotes:
    """The block's notes (``_hygiene``): the row path's on its rows, and the passed rows' —
    all valid — in line order, made in columns (``valid_rows_notes``)."""
    size = len(judged_lines) + len(passed_lines)
    places = np.argsort(np.concatenate((np.asarray(judged_lines, np.int64),
                                        passed_lines.astype(np.int64))), kind="stable")
    place_of = np.empty(size, np.int64)
    place_of[places] = np.arange(size)
    duplicates = spec.dedupe and not batch.dedupe_normalised
    if batch.warnings and precheck.email_column is not None and passed.height:
        own = valid_rows_notes(
            passed[cell(precheck.email_column)],
            passed[cell(precheck.campaign_column)] if precheck.campaign_column is not None
            else None, batch.campaign_id, passed_lines, keys if spec.dedupe else None,
            duplicates, VALID)
    else:
        own = BlockNotes(bytearray([VALID]) * len(passed_lines), Counter(), {}, no_provider())
    return merge_notes(judged, place_of[:len(judged_lines)], own, place_of[len(judged_lines):],
                       size)


def _runs_of(indexes: np.ndarray) -> list[tuple[int, int]]:
    """(a, b): positions in ``indexes`` of each run of consecutive values."""
    if not len(indexes):
        return []
    breaks = np.flatnonzero(np.diff(indexes) != 1) + 1
    bounds = np.concatenate(([0], breaks, [len(indexes)]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _array(values: np.ndarray) -> array[int]:
    out = array("Q")
    out.frombytes(np.ascontiguousarray(values, dtype=np.uint64).tobytes())
    return out


def _exact_stretches(data: bytes, lines: _Lines, first: int, spec: BlockSpec,
                     row_lines: list[int], raws: list[Any], rows: list[Any]) -> np.ndarray:
    """Read each stretch of lines that are not simple with the exact reader, from its first
    line on until the reader stands at a record start past the stretch where a simple or blank
    line begins (so where the row path's reader would stand too). Gives the lines taken."""
    count = len(lines.ends)
    taken = np.zeros(count, bool)
    reached = 0
    simple_or_blank = (lines.simple | lines.blank).tolist()
    starts, ends = lines.starts.tolist(), lines.ends.tolist()
    for a, b in _runs(~lines.simple & ~lines.blank):
        if b <= reached:
            continue
        a = max(a, reached)
        physical = (data[starts[i]:ends[i]].decode("utf-8") for i in range(a, count))
        stop = count
        for read in csv_line_records(physical, first + a, spec.dialect, row_lines, raws, rows):
            at = a + read
            if at >= b and (at == count or simple_or_blank[at]):
                stop = at
                break
        taken[a:stop] = True
        reached = stop
    return taken


def columnar_domains(block: Block, spec: BlockSpec, mx_paths: Sequence[Any]) -> set[str] | None:
    """``block_domains`` for a UTF-8 CSV block: the distinct addresses of the MX-checked
    columns in one polars step; those in the quick test's e-mail subset give their domain in
    the same step, the few others one by one. None: take the row path's way."""
    plan = spec.plan
    assert plan is not None
    if any(c.index >= len(spec.dialect.header) for c in plan.columns if c.path in mx_paths):
        return None  # an address joined from several columns: the row path's way
    data = block.data
    read = _read(data, spec)
    if read is None:
        return None
    lines, frame, simple_index = read
    row_lines: list[int] = []
    raws: list[Any] = []
    rows: list[Any] = []
    taken = _exact_stretches(data, lines, block.first_line, spec, row_lines, raws, rows)
    indexes = [c.index for c in plan.columns if c.path in mx_paths]
    if not indexes:
        return set()
    kept = frame.filter(pl.Series(~taken[simple_index]))
    addresses = pl.concat([kept[cell(i)] for i in indexes]).unique()
    others = {row[i] for row in rows if not isinstance(row, Malformed) for i in indexes}
    plain = pl.DataFrame({"a": addresses}).select(
        domain=pl.when(quick_email(pl.col("a"))).then(_domain(pl.col("a"))), a=pl.col("a"))
    found = set(plain["domain"].drop_nulls().unique().to_list())
    others.update(plain.filter(pl.col("domain").is_null())["a"].to_list())
    for value in others:
        if value:
            try:  # noqa: SIM105
                found.add(email_ascii_domain(value))
            except ValueError:
                pass
    return found
