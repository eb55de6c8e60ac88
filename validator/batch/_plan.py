"""CSV cells → the JSON payload a schema expects.

A CSV cell is always text, while the API takes numbers, arrays and nested objects. The plan for
a header is built once per file: every column gets a target path and a converter chosen from the
schema's declared type at that path, so a row costs one small function call per cell.

Rules (a user of the API would expect them; they are written into the docs):

* a dotted header builds nested objects: ``campaign.campaignId`` → ``{"campaign": {...}}``;
* ``customFieldValues.<customFieldId>`` appends ``{"customFieldId": id, "value": [...]}``, the
  cell split on the value separator;
* an array-typed column (``tags``) is split on the list separator; when the array's items are
  objects with one required property (``tagId``), each piece becomes such an object;
* an empty cell means "no value": the field is left out, exactly as if the column were absent;
* number, integer, boolean and null columns are converted when the text is one; text that is not
  is passed on unchanged, so the engine reports the row's 1006 with the value as written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._account import Account, NameIndex
from .._exceptions import InputError
from .._options import ValidationOptions
from ..rules import INTEGER_TEXT as _INTEGER
from ..rules import NUMBER_TEXT as _NUMBER
from ..rules import SchemaView
from ._mapping import (
    CUSTOM_FIELDS,
    MappingEntry,
    check_mapping,
    custom_field_id,
    is_field,
    split_mapping,
)
from ._readers import MAX_DEPTH

# Converters are plain dataclasses, not closures, so that a plan can be pickled and sent to the
# worker processes with the rows it maps.
Converter = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class ScalarConverter:
    """Text → number, boolean or null when the field takes one and the text is one."""

    integer: bool
    number: bool
    boolean: bool
    null: bool

    def __call__(self, text: str) -> Any:
        value = text.strip()
        if self.null and value == "null":
            return None
        if self.boolean and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if (self.integer or self.number) and _INTEGER.fullmatch(value):
            return int(value)
        if self.number and _NUMBER.fullmatch(value):
            number = float(value)
            if math.isfinite(number):
                return number
        return text


@dataclass(frozen=True)
class NameConverter:
    """A campaign or tag cell, as list owners write it (a name or an ID) → the account's ID
    (``NameIndex``: the ID, the one exact name, the one name in another case). A name the
    account does not have, or has several of, is kept as written: the account's rule (taking
    names) makes it the row's 1001, or 1003 for a name of several."""

    kind: str
    items: tuple[tuple[str, str | None], ...]
    index: NameIndex = field(init=False, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", NameIndex(self.items))

    def __call__(self, text: str) -> str:
        found = self.index.resolve(text)
        return found if isinstance(found, str) else text

    def table(self) -> dict[str, str]:
        """Text → ID for every name and ID the account has that resolves to one ID: what the
        converter does to those texts (a text outside it may still be a name in another
        case, which only the converter finds)."""
        found: dict[str, str] = {}
        for ident, name in self.items:
            for text in (ident, name):
                if isinstance(text, str):
                    resolved = self.index.resolve(text)
                    if isinstance(resolved, str):
                        found[text] = resolved
        return found


@dataclass(frozen=True, slots=True)
class ArrayConverter:
    """A cell of separated values → an array; ``wrap`` makes each value ``{wrap: value}``,
    ``names`` maps each (a tag's name) to its ID."""

    separator: str
    wrap: str | None
    item: ScalarConverter | None
    names: NameConverter | None = None

    def __call__(self, text: str) -> Any:
        separator = self.separator
        if separator not in text:
            piece = text.strip()
            pieces: list[Any] = [piece] if piece else []
        else:
            pieces = [p for p in (piece.strip() for piece in text.split(separator)) if p]
        if self.names is not None:
            pieces = [self.names(p) for p in pieces]
        if self.item is not None:
            pieces = [self.item(p) for p in pieces]
        wrap = self.wrap
        return [{wrap: p} for p in pieces] if wrap else pieces


def scalar_converter(types: frozenset[str]) -> ScalarConverter | None:
    """The conversion of one cell for a field of these JSON types (None: keep the text)."""
    if not types or "string" in types:
        return None
    return ScalarConverter("integer" in types, "number" in types, "boolean" in types,
                           "null" in types)


@dataclass(frozen=True, slots=True)
class _Column:
    index: int
    path: tuple[str, ...]
    convert: Converter | None
    """None for text kept as it is, which spares a call per cell on most columns."""


@dataclass(frozen=True, slots=True)
class _CustomField:
    index: int
    field_id: str


@dataclass(frozen=True, slots=True)
class _Joined:
    """Cells joined into one text, which stands in the row past its real cells (a column's
    `index` at or past the header's length is such a text)."""

    indexes: tuple[int, ...]
    separator: str


@dataclass(slots=True)
class CsvPlan:
    """How one header's cells become a payload."""

    header: list[str]
    columns: list[_Column] = field(default_factory=list)
    custom_fields: list[_CustomField] = field(default_factory=list)
    value_separator: str = "|"
    joins: list[_Joined] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    """Headers whose column reaches no field of the schema (kept in the payload as before)."""
    _top: list[tuple[int, str, Converter | None]] = field(default_factory=list)
    _nested: list[_Column] = field(default_factory=list)

    def freeze(self) -> CsvPlan:
        self._top = [(c.index, c.path[0], c.convert) for c in self.columns if len(c.path) == 1]
        self._nested = [c for c in self.columns if len(c.path) > 1]
        return self

    def payload(self, cells: Sequence[str]) -> dict[str, Any]:
        return self.compiled()(cells)

    def cells(self, cells: Sequence[str]) -> Sequence[str]:
        """A row's cells with the joined texts after them (the row itself without joins)."""
        if not self.joins:
            return cells
        return [*cells, *(_joined(cells, j.indexes, j.separator) for j in self.joins)]

    @property
    def takes_names(self) -> bool:
        """Whether campaign or tag cells may hold names (mapped to the account's IDs)."""
        return any(isinstance(c.convert, NameConverter)
                   or (isinstance(c.convert, ArrayConverter) and c.convert.names is not None)
                   for c in self.columns)

    def options(self, options: ValidationOptions) -> ValidationOptions:
        """The run's options for this plan's rows: where cells may hold names, the account
        `taking_names`, so that a name it does not have is 1001 as written."""
        account = options.account
        if account is None or not self.takes_names or account.by_name:
            return options
        return replace(options, account=account.taking_names())

    @property
    def reached(self) -> list[tuple[str, ...]]:
        """The paths the columns write."""
        return [c.path for c in self.columns] + [(CUSTOM_FIELDS,)] * bool(self.custom_fields)

    def compiled(self) -> Callable[[Sequence[str]], dict[str, Any]]:
        """``payload`` as one function written for this plan (built once per process and
        plan; not pickled): no loop over columns, no lookups of their attributes."""
        key = self._key()
        function = _compiled.get(key)
        if function is None:
            function = _compiled[key] = _compile(self)
        return function

    def _key(self) -> tuple[Any, ...]:
        return (tuple(self.header), tuple(self.columns), tuple(self.custom_fields),
                self.value_separator, tuple(self.joins))

    def payload_slow(self, cells: Sequence[str]) -> dict[str, Any]:
        """What ``compiled`` does, written plainly (the reference the tests hold it to)."""
        cells = self.cells(cells)
        payload: dict[str, Any] = {}
        for index, key, convert in self._top:
            text = cells[index]
            if text:
                payload[key] = text if convert is None else convert(text)
        for column in self._nested:
            text = cells[column.index]
            if not text:
                continue
            node = payload
            path = column.path
            for key in path[:-1]:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
            node[path[-1]] = text if column.convert is None else column.convert(text)
        if self.custom_fields:
            separator = self.value_separator
            values = [
                {"customFieldId": custom.field_id,
                 "value": _split(cells[custom.index], separator)}
                for custom in self.custom_fields if cells[custom.index]
            ]
            if values:
                existing = payload.get(CUSTOM_FIELDS)
                if isinstance(existing, list):
                    existing.extend(values)
                else:
                    payload[CUSTOM_FIELDS] = values
        return payload


_compiled: dict[tuple[Any, ...], Callable[[Sequence[str]], dict[str, Any]]] = {}
_CACHED = 4096
# Columns written out in one function. Python's parser and compiler hold a whole source at once,
# at some kilobytes a line: one function for thousands of columns took gigabytes. In parts of
# this many columns, each compiled on its own, a wide header costs time and memory in
# proportion to its columns.
_PART = 100
# Paths up to this long are walked inline; longer ones (rare) by one call, so that a column
# costs a bounded number of lines however deep its path.
_INLINE_PATH = 4


def _put(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = payload
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _compile(plan: CsvPlan) -> Callable[[Sequence[str]], dict[str, Any]]:
    """Python source for ``payload_slow`` unrolled over the plan's columns, the same steps
    in the same order (so the payload's key order, which orders error entries, is the same)."""
    names: dict[str, Any] = {"_split": _split, "_put": _put, "isinstance": isinstance,
                             "dict": dict, "list": list}

    def converted(convert: Converter | None) -> list[str]:
        """Lines that set ``value`` to the converted ``text``. A cell's text repeats a lot
        (tags, scores), so the converted values of a column are kept (up to _CACHED): the
        same value object then stands in several payloads, which nothing changes."""
        if convert is None:
            return ["        value = text"]
        name = f"_convert{len(names)}"
        names[name] = convert
        names[f"{name}_cache"] = {}
        return [f"        value = {name}_cache.get(text)",
                "        if value is None:",
                f"            value = {name}(text)",
                f"            if len({name}_cache) < {_CACHED}:",
                f"                {name}_cache[text] = value"]

    # The lines of each column, in order, for a function body holding ``cells`` and ``payload``.
    steps: list[list[str]] = []
    for index, key, convert in plan._top:
        steps.append([f"    text = cells[{index}]", "    if text:", *converted(convert),
                      f"        payload[{key!r}] = value"])
    for column in plan._nested:
        lines = [f"    text = cells[{column.index}]", "    if text:", *converted(column.convert)]
        if len(column.path) > _INLINE_PATH:
            lines.append(f"        _put(payload, {column.path!r}, value)")
        else:
            lines.append("        node = payload")
            for key in column.path[:-1]:
                lines += [f"        child = node.get({key!r})",
                          "        if not isinstance(child, dict):",
                          f"            child = node[{key!r}] = {{}}",
                          "        node = child"]
            lines.append(f"        node[{column.path[-1]!r}] = value")
        steps.append(lines)
    if plan.custom_fields:
        names["_separator"] = plan.value_separator
        lines = ["    values = []"]
        for custom in plan.custom_fields:
            lines += [f"    text = cells[{custom.index}]", "    if text:",
                      f"        values.append({{'customFieldId': {custom.field_id!r}, "
                      "'value': _split(text, _separator)})"]
        # A new list rather than extending the column's: that one may be a kept value.
        lines += ["    if values:",
                  f"        existing = payload.get({CUSTOM_FIELDS!r})",
                  "        if isinstance(existing, list):",
                  f"            payload[{CUSTOM_FIELDS!r}] = existing + values",
                  "        else:",
                  f"            payload[{CUSTOM_FIELDS!r}] = values"]
        steps.append(lines)
    if len(steps) <= _PART:
        body = [line for step in steps for line in step]
    else:
        body = []
        for number, start in enumerate(range(0, len(steps), _PART)):
            part = [f"def _part{number}(cells, payload):"]
            part += [line for step in steps[start:start + _PART] for line in step]
            exec(compile("\n".join(part), "<csv plan>", "exec"), names)
            body.append(f"    _part{number}(cells, payload)")
    head = ["def payload(cells):"]
    if plan.joins:
        names["_cells"] = plan.cells
        head.append("    cells = _cells(cells)")
    source = [*head, "    payload = {}", *body, "    return payload"]
    exec(compile("\n".join(source), "<csv plan>", "exec"), names)
    function: Callable[[Sequence[str]], dict[str, Any]] = names["payload"]
    return function


def _joined(cells: Sequence[str], indexes: tuple[int, ...], separator: str) -> str:
    return separator.join(piece for piece in (cells[i].strip() for i in indexes) if piece)


def _split(text: str, separator: str) -> list[str]:
    if separator not in text:
        return [text.strip()]
    return [piece.strip() for piece in text.split(separator)]


def _array_converter(view: SchemaView, path: tuple[str, ...], separator: str,
                     account: Account | None) -> ArrayConverter:
    items = view.node((*path, 0)) or {}
    required = items.get("required")
    wrap: str | None = None
    if items.get("type") == "object" and isinstance(required, list) and len(required) == 1:
        wrap = str(required[0])
    item_types = view.types((*path, 0, wrap)) if wrap else view.types((*path, 0))
    item = scalar_converter(item_types)
    names = _names(account, "tag") if path == ("tags",) and wrap == "tagId" and item is None \
        else None
    return ArrayConverter(separator, wrap, item, names)


def _names(account: Account | None, kind: str) -> NameConverter | None:
    """Names → IDs for a column of campaigns or tags, where the account gives that kind."""
    items = account.id_names(kind) if account is not None else None
    return None if items is None else NameConverter(kind, items)


def build_plan(header: Sequence[str], view: SchemaView, mapping: Mapping[str, MappingEntry],
               list_separator: str, value_separator: str, account: Account | None = None
               ) -> CsvPlan:
    """The plan for a header: mapped names first, then dotted names as they are, then the
    fields joined from several columns. A mapping that names a column the header does not
    have, or a target that is not a field of the schema, is an InputError; with an account,
    so is a `customFieldValues.<name>` column that names none of its custom fields."""
    renames, joins = split_mapping(mapping)
    if mapping:
        check_mapping(header, renames, joins, view)
    plan = CsvPlan(header=list(header), value_separator=value_separator)
    joined = {c for j in joins for c in j.columns}
    for index, name in enumerate(header):
        key = name.strip()
        if key in joined and key not in renames:
            continue
        target = renames.get(key, key)
        if target:
            _add_column(plan, view, index, name, target, list_separator, account)
    positions = {h.strip(): i for i, h in reversed(list(enumerate(header)))}
    for number, join in enumerate(joins):
        plan.joins.append(_Joined(tuple(positions[c] for c in join.columns), join.separator))
        _add_column(plan, view, len(header) + number, join.target, join.target,
                    list_separator, account)
    return plan.freeze()


def _add_column(plan: CsvPlan, view: SchemaView, index: int, name: str, target: str,
                list_separator: str, account: Account | None) -> None:
    parts = tuple(p for p in target.split("."))
    if len(parts) > MAX_DEPTH:
        raise InputError(f"the column {name[:80]!r} nests {len(parts):,} levels deep, more "
                         f"than the limit of {MAX_DEPTH}")
    if parts[0] == CUSTOM_FIELDS and len(parts) == 2 and parts[1]:
        plan.custom_fields.append(_CustomField(index, custom_field_id(parts[1], account)))
        return
    if not is_field(view, parts) and len(plan.unmapped) < 2000:
        plan.unmapped.append(name.strip())
    types = view.types(parts)
    converter: Converter | None
    if "array" in types and "string" not in types:
        converter = _array_converter(view, parts, list_separator, account)
    else:
        converter = scalar_converter(types)
        if converter is None and parts == ("campaign", "campaignId"):
            converter = _names(account, "campaign")
    plan.columns.append(_Column(index, parts, converter))
