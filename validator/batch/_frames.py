"""Data frames checked in place: the rows of a Dask, pandas or polars frame or an Arrow table,
returned with three verdict columns (``status``, ``code``, ``error``).

A frame's columns are read as a CSV file's header and cells (``_readers.table_rows``: numbers,
booleans and dates as their text, null as an empty cell), through the same column plan
(``build_plan``: dotted names, ``mapping``, tags and custom fields, the schema's types) and
the same row checks (``check_chunk``). A Dask frame stays lazy: ``check_frame`` adds the
columns partition by partition (``map_partitions``), so it composes with the rest of a
pipeline and runs where the frame runs.

What needs the whole input is the command's (``validator check``): here a row is judged on
its own, so a repeat of an e-mail in a campaign (1008) is not looked for, and with MX checks
each partition resolves its own distinct domains once (through the options' resolver, and
its cache file when ``DNSOptions.cache_path`` is set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from .._exceptions import InputError
from .._options import ValidationOptions
from .._registry import default_registry
from ..rules import SchemaView
from ._blocks import block_domains, check_chunk
from ._blocks import validator_for as _validator_for
from ._options import BatchOptions
from ._plan import CsvPlan, build_plan
from ._readers import ParquetReader, arrow, arrow_header, table_rows
from ._units import INVALID, UNVERIFIED, VALID, Block, BlockSpec

if TYPE_CHECKING:
    from ..dns import DomainVerdict

VERDICT_COLUMNS = ("status", "code", "error")
"""The columns added: ``status`` (valid / invalid / unverified), ``code`` (the error body's
code, null when valid) and ``error`` (the error body as JSON text, null when valid)."""

_STATUS = {VALID: "valid", INVALID: "invalid", UNVERIFIED: "unverified"}


def _plan(columns: list[str], schema_name: str, mapping: Mapping[str, str | None],
          list_separator: str, value_separator: str) -> CsvPlan:
    taken = [c for c in VERDICT_COLUMNS if c in columns]
    if taken:
        raise InputError(f"the frame already has a column named {taken[0]!r}, which the "
                         "verdicts would replace; rename it first")
    registry = default_registry()
    document, base_uri = registry.get(schema_name)
    view = SchemaView(document, base_uri, registry.resources())
    return build_plan([str(c).strip() for c in columns], view, mapping, list_separator,
                      value_separator)


def _verdicts(table: Any, plan: CsvPlan, schema_name: str, options: ValidationOptions,
              batch: BatchOptions) -> tuple[list[str], list[int | None], list[str | None]]:
    """Status, code and error body of each row of an Arrow table, in order."""
    rows: list[Any] = [[cell if cell is not None else "" for cell in row]
                       for row in table_rows(table)]
    verdicts: dict[str, DomainVerdict] = {}
    mx_paths = _validator_for(schema_name, options, batch).mx_paths
    if options.check_mx and mx_paths and rows:
        # (The reader is not asked: the rows are given as records, already cells.)
        spec = BlockSpec("frame", ParquetReader(), plan=plan)
        domains = block_domains(Block(1, records=[(i, "", row, None)
                                                  for i, row in enumerate(rows)]),
                                spec, mx_paths)
        if domains:
            checker = options.dns.checker()
            verdicts = dict(checker.check_many(sorted(domains)))
            checker.cache.flush()
    statuses: list[str] = []
    codes: list[int | None] = []
    errors: list[str | None] = []
    for outcome in check_chunk(rows, schema_name, options, batch, verdicts, plan):
        statuses.append(_STATUS[outcome.status])
        if outcome.body is None:
            codes.append(None)
            errors.append(None)
        else:
            codes.append(int(orjson.loads(outcome.body)["code"]))
            errors.append(outcome.body.decode())
    return statuses, codes, errors


def _check_pandas(frame: Any, plan: CsvPlan, schema_name: str, options: ValidationOptions,
                  batch: BatchOptions) -> Any:
    import pandas as pd

    pa = arrow()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # (An object column of the frame's meta told nothing of what its partitions hold.)
    arrow_header(table.schema, "a partition of the frame")
    statuses, codes, errors = _verdicts(table, plan, schema_name, options, batch)
    return frame.assign(
        status=pd.Series(statuses, index=frame.index, dtype="string"),
        code=pd.Series(codes, index=frame.index, dtype="Int64"),
        error=pd.Series(errors, index=frame.index, dtype="string"))


def _arguments(schema_name: str, options: ValidationOptions | None, batch: BatchOptions | None
               ) -> tuple[ValidationOptions, BatchOptions]:
    options = options or ValidationOptions()
    batch = batch or BatchOptions()
    _validator_for(schema_name, options, batch)  # an unknown schema fails here, not later
    return options, batch


def check_frame(frame: Any, schema_name: str = "contacts.create", *,
                mapping: Mapping[str, str | None] | None = None, list_separator: str = "|",
                value_separator: str = "|", options: ValidationOptions | None = None,
                batch: BatchOptions | None = None) -> Any:
    """A ``dask.dataframe.DataFrame`` with the verdict columns added, lazily (nothing is
    checked until the frame is computed or written). ``mapping`` renames columns to target
    paths (None drops one), as ``--mapping`` does; ``batch`` brings a suppression list and a
    default campaign."""
    options, batch = _arguments(schema_name, options, batch)
    plan = _plan(list(frame.columns), schema_name, mapping or {}, list_separator,
                 value_separator)
    arrow_header(arrow().Schema.from_pandas(frame._meta, preserve_index=False), "the frame")
    meta = _check_pandas(frame._meta, plan, schema_name, options, batch)
    return frame.map_partitions(_check_pandas, plan, schema_name, options, batch, meta=meta)


def check_table(table: Any, schema_name: str = "contacts.create", *,
                mapping: Mapping[str, str | None] | None = None, list_separator: str = "|",
                value_separator: str = "|", options: ValidationOptions | None = None,
                batch: BatchOptions | None = None) -> Any:
    """A pandas or polars ``DataFrame``, or a ``pyarrow.Table``, with the verdict columns
    added (the same type back). Arguments as for ``check_frame``."""
    options, batch = _arguments(schema_name, options, batch)
    pa = arrow()
    kind = type(table).__module__.partition(".")[0]
    if isinstance(table, pa.Table):
        arrow_table = table
    elif kind == "polars":
        arrow_table = table.to_arrow()
    elif kind == "pandas":
        arrow_table = pa.Table.from_pandas(table, preserve_index=False)
    else:
        raise InputError(f"check_table takes a pandas or polars DataFrame or a pyarrow Table, "
                         f"not {type(table).__name__}; for Dask, use check_frame")
    arrow_header(arrow_table.schema, "the table")
    plan = _plan(list(arrow_table.column_names), schema_name, mapping or {}, list_separator,
                 value_separator)
    if kind == "pandas":
        return _check_pandas(table, plan, schema_name, options, batch)
    statuses, codes, errors = _verdicts(arrow_table, plan, schema_name, options, batch)
    if kind == "polars":
        import polars as pl

        return table.with_columns(pl.Series("status", statuses, pl.String),
                                  pl.Series("code", codes, pl.Int64),
                                  pl.Series("error", errors, pl.String))
    return (arrow_table.append_column("status", pa.array(statuses, pa.string()))
            .append_column("code", pa.array(codes, pa.int64()))
            .append_column("error", pa.array(errors, pa.string())))
