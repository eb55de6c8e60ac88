"""``--annotated``: every input row, in order, with its verdict beside it: status, code, the
failing fields, the first reason and the list-hygiene warnings. A spreadsheet user sees the
verdicts next to the rows; the next tool filters on a column.

Written in the run's process from what the blocks already give back (the valid rows' bytes,
the reject entries); it costs a parse per row, which only this output pays."""

from __future__ import annotations

import csv
import importlib.util
import io
from array import array
from dataclasses import replace
from typing import Any

import orjson

from .._exceptions import InputError
from ._blocks import field_label, original
from ._outputs import AtomicOutput
from ._units import UNVERIFIED, VALID, BlockResult, BlockSpec

COLUMNS = ("status", "code", "failing_fields", "first_reason", "warnings")
"""The columns added to each row (CSV; the same keys in camel case in JSON Lines)."""
_JSON_KEYS = ("status", "code", "failingFields", "firstReason", "warnings")


TABLE, LINES, COLUMNAR = "table", "lines", "columnar"
"""The annotated file's forms (not input formats: any input can be written any way)."""


def annotated_format(path: str) -> str:
    """``TABLE`` (.csv) or ``LINES`` (.jsonl, .ndjson), a ``.gz`` after either compressing,
    or ``COLUMNAR`` (.parquet, with pyarrow); InputError otherwise."""
    lowered = path.lower()
    if lowered.endswith(".parquet"):
        if importlib.util.find_spec("pyarrow") is None:
            raise InputError(f"--annotated {path}: a Parquet file needs pyarrow: pip install "
                             "'getresponse-validator[parquet]'")
        return COLUMNAR
    name = lowered.removesuffix(".gz")
    if name.endswith(".csv"):
        return TABLE
    if name.endswith((".jsonl", ".ndjson")):
        return LINES
    raise InputError(f"--annotated {path}: the name must end in .csv, .jsonl or .ndjson "
                     "(optionally .gz), or .parquet")


def _verdict(status: str, error: Any) -> tuple[str, Any, str, str]:
    if not isinstance(error, dict):
        return status, "", "", ""
    context = error.get("context")
    entries = context if isinstance(context, list) else []
    fields: list[str] = []
    for entry in entries:
        label = field_label(entry.get("fieldName") or [])
        if label not in fields:
            fields.append(label)
    reason = entries[0].get("errorDescription", "") if entries else error.get("message", "")
    return status, error.get("code", ""), ", ".join(fields), reason


class AnnotatedWriter:
    def __init__(self, out: AtomicOutput) -> None:
        self.out = out
        self.format = annotated_format(out.path)
        self.header: list[str] | None = None
        self.started = False
        self._parquet: Any = None
        self._utf8: dict[int, BlockSpec] = {}

    def _valid_rows(self, spec: BlockSpec, data: bytes, count: int) -> list[Any]:
        if spec.dialect.encoding != "utf-8":
            # The valid rows are in their output form, which is UTF-8.
            found = self._utf8.get(id(spec))
            if found is None:
                found = self._utf8[id(spec)] = replace(
                    spec, dialect=replace(spec.dialect, encoding="utf-8"))
            spec = found
        lines: list[int] = []
        raws: list[Any] = []
        rows: list[Any] = []
        spec.reader.parse(data, 1, spec.dialect, lines, raws, rows)
        assert len(rows) == count
        return [original(row, spec) for row in rows]

    def _start(self, spec: BlockSpec) -> None:
        header = list(spec.dialect.header) if spec.plan is not None else None
        if not self.started:
            self.started = True
            self.header = header
            names = ["source", "line", *(header if header is not None else ["row"])]
            taken = set(names)
            names += [f"validator_{c}" if c in taken else c for c in COLUMNS]
            if self.format == TABLE:
                self.out.write(self._csv([names]))
            elif self.format == COLUMNAR:
                self._parquet = _ParquetTable(self.out, names)
        elif self.format != LINES and header != self.header:
            raise InputError(f"--annotated: {spec.source} has other columns than the first "
                             "input; one CSV or Parquet file needs inputs of one header")

    @staticmethod
    def _csv(rows: list[list[Any]]) -> bytes:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        return text.getvalue().encode("utf-8", "surrogatepass")

    def write_block(self, spec: BlockSpec, result: BlockResult, repeated: dict[int, bytes],
                    warnings: dict[int, str]) -> None:
        """The block's rows in input order, from its status sequence (``BlockNotes``):
        ``repeated`` are the entries of rows the run refused as repeats (by valid index, or
        ``-1 -`` unverified index), ``warnings`` by row index in the block."""
        self._start(spec)
        assert result.notes is not None
        valid_rows = self._valid_rows(spec, result.valid, len(result.valid_lines))
        rejects = _split(result.rejects, result.reject_ends)
        counters = [0, 0, 0]
        rows: list[tuple[int, Any, tuple[str, Any, str, str], str]] = []
        for index, status in enumerate(result.notes.statuses):
            nth = counters[status]
            counters[status] += 1
            entry: bytes | None
            if status == VALID:
                line, entry = result.valid_lines[nth], repeated.get(nth)
                if entry is None:
                    rows.append((line, valid_rows[nth], ("valid", "", "", ""),
                                 warnings.get(index, "")))
                    continue
                kind = "invalid"
            elif status == UNVERIFIED:
                line, _, _, entry = result.unverified[nth]
                entry = repeated.get(-1 - nth, entry)
                kind = "unverified" if -1 - nth not in repeated else "invalid"
            else:
                line, entry, kind = result.reject_lines[nth], rejects[nth], "invalid"
            parsed = orjson.loads(entry)
            rows.append((line, parsed.get("row"), _verdict(kind, parsed.get("error")),
                         warnings.get(index, "")))
        if self.format == LINES:
            self.out.write(b"".join(orjson.dumps(
                {"source": spec.source, "line": line, "row": row,
                 **dict(zip(_JSON_KEYS, (*verdict, text), strict=True))},
                option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)
                for line, row, verdict, text in rows))
            return
        table: list[list[Any]] = []
        for line, row, verdict, text in rows:
            if self.header is None:
                cells = [orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS).decode()]
            elif isinstance(row, dict):
                cells = [row.get(name, "") for name in self.header]
            else:  # a record that could not be read as cells: its text, in the first column
                cells = [row, *[""] * (len(self.header) - 1)]
            table.append([spec.source, line, *cells, *verdict, text])
        if self._parquet is not None:
            self._parquet.write(table)
        else:
            self.out.write(self._csv(table))

    def finish(self) -> None:
        """Before the run seals the file: a Parquet file gets its footer (one with no input
        opened, its schema from no header)."""
        if self.format == COLUMNAR:
            if self._parquet is None:
                self._parquet = _ParquetTable(self.out, ["source", "line", "row", *COLUMNS])
            self._parquet.close()


class _ParquetTable:
    """The annotated rows as Parquet, one row group per block: text columns, ``line`` and
    ``code`` integers (``code`` null for a valid row)."""

    def __init__(self, out: AtomicOutput, names: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.names = names
        self.code_at = len(names) - len(COLUMNS) + 1
        self.schema = pa.schema([
            (name, pa.int64() if i in (1, self.code_at) else pa.string())
            for i, name in enumerate(names)])
        self.writer = pq.ParquetWriter(out.stream, self.schema, compression="zstd")

    def write(self, table: list[list[Any]]) -> None:
        columns = [list(column) for column in zip(*table, strict=True)] if table else \
            [[] for _ in self.names]
        columns[self.code_at] = [c if isinstance(c, int) else None for c in columns[self.code_at]]
        for i, column in enumerate(columns):
            if i not in (1, self.code_at):
                columns[i] = [None if c is None else str(c) for c in column]
        self.writer.write_table(self.pa.Table.from_arrays(
            [self.pa.array(c, type=f.type) for c, f in zip(columns, self.schema, strict=True)],
            schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def _split(data: bytes, ends: array[int]) -> list[bytes]:
    start = 0
    found = []
    for end in ends:
        found.append(data[start:end])
        start = end
    return found
