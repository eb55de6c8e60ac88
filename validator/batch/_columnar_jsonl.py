"""The columnar way through a JSON Lines block: the CSV way's precheck, on JSON values.

polars' JSON reader cannot be trusted with types (it reads a number, an object or ``true`` into
a string column as text, and keeps the first of two equal keys where ``orjson`` keeps the last),
so a line is first held to a **shape** generated from the schema's properties, in one regex
over the block's lines: an object whose keys are the schema's property names, written plainly,
each at most once (counted per line), each value of a kind its property's ``type`` names and
that one polars dtype holds exactly: a string (no control characters, no ``\\u`` escape of a
surrogate), an integer of at most 15 digits, ``null``, an object of such members, an array of
strings or of small objects of them. JSON whitespace but CR only. Such a line decodes into a
struct column exactly as ``orjson.loads`` reads it, and the precheck (``_precheck``'s compiler
over nodes of those columns) marks the rows the engine would certainly accept; they are written
out as the bytes they were read as.

Every other line (a duplicate key, an escaped key, a number past 15 digits or with a fraction or
an exponent, ``NaN``, a boolean, a lone surrogate, a BOM, CRLF, a blank line, bytes that are not
UTF-8, a record past the size limit, anything not an object) and every line the precheck does
not pass is read by the exact reader (``JsonLinesReader.parse``, line by line as the row path
reads them) and judged by the row path: the outputs are the row path's, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import permutations
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .._options import ValidationOptions
from .._registry import default_registry
from ..rules import is_query_schema, stricter_schema
from ._columnar import _passing, _runs, merge_passed
from ._options import BatchOptions
from ._precheck import (
    TRUE,
    Precheck,
    _any,
    _Compiler,
    _List,
    _Node,
    _Null,
    _Number,
    _Object,
    _Text,
    cell,
)
from ._readers import MAX_RECORD, JsonLinesReader
from ._units import Block, BlockResult, BlockSpec

if TYPE_CHECKING:
    from ..dns import DomainVerdict

_NEWLINE = 10
_WS = r"[ \t]*"
# A JSON string polars and orjson read alike: no raw control character (invalid JSON), no
# escaped surrogate (lone ones are refused by orjson; pairs are left to it too).
_STRING = (r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]'
           r'|\\u(?:[0-9A-Ca-cEeFf][0-9A-Fa-f]{3}|[Dd][0-7][0-9A-Fa-f]{2}))*"')
# Exact in int64 and float64 alike; larger ones (orjson's big ints) go to the exact reader.
_INTEGER = r"-?(?:0|[1-9][0-9]{0,14})"
_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# Members of an array item object spelled out in every order: a few only.
_MAX_ITEM_MEMBERS = 3
_MAX_FIELDS = 64


def columnar_jsonl(spec: BlockSpec) -> bool:
    """Whether blocks of this spec can take the JSON Lines columnar way."""
    return isinstance(spec.reader, JsonLinesReader)


# -- the shape: which lines polars reads exactly, and how ----------------------------------
@dataclass(frozen=True, slots=True)
class _Leaf:
    name: str
    string: bool
    """A string (else an integer)."""
    null: bool


@dataclass(frozen=True, slots=True)
class _Members:
    name: str
    members: tuple[_Field, ...]
    array: bool
    """An array of such objects (else one object)."""


@dataclass(frozen=True, slots=True)
class _Strings:
    name: str
    """An array of strings."""


_Field = _Leaf | _Members | _Strings


def _types(schema: Any) -> frozenset[str]:
    if not isinstance(schema, dict):
        return frozenset()
    kind = schema.get("type")
    names = kind if isinstance(kind, list) else [kind]
    return frozenset(n for n in names if isinstance(n, str))


def _field(name: str, schema: Any, depth: int, in_item: bool) -> _Field | None:
    """The shape of a property, or None when its values are left to the exact reader."""
    if not _NAME.match(name):
        return None
    types = _types(schema)
    if types <= {"string", "null"} and "string" in types:
        return _Leaf(name, True, "null" in types and not in_item)
    if not in_item and types <= {"integer", "number", "null"} and types & {"integer", "number"}:
        return _Leaf(name, False, "null" in types)
    if types == {"array"} and isinstance(schema, dict):
        items = schema.get("items")
        item_types = _types(items)
        if item_types == {"string"}:
            return _Strings(name)
        if not in_item and item_types == {"object"} and depth < 2:
            members = _members(items, depth + 1, True)
            if members and len(members) <= _MAX_ITEM_MEMBERS:
                return _Members(name, members, True)
        return None
    if not in_item and types == {"object"} and depth < 2:
        members = _members(schema, depth + 1, False)
        return _Members(name, members, False) if members else None
    return None


def _members(schema: Any, depth: int, in_item: bool) -> tuple[_Field, ...]:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return ()
    found = (_field(name, sub, depth, in_item) for name, sub in properties.items())
    return tuple(f for f in found if f is not None)


def _names(fields: tuple[_Field, ...]) -> list[str]:
    out: list[str] = []
    for f in fields:
        out.append(f.name)
        if isinstance(f, _Members):
            out += _names(f.members)
    return out


def _value_pattern(f: _Field) -> str:
    if isinstance(f, _Leaf):
        kinds = [_STRING if f.string else _INTEGER] + ["null"] * f.null
        return "(?:" + "|".join(kinds) + ")"
    if isinstance(f, _Strings):
        return rf"\[{_WS}(?:{_STRING}(?:{_WS},{_WS}{_STRING})*)?{_WS}\]"
    if not f.array:
        member = "(?:" + "|".join(_member(m) for m in f.members) + ")"
        return rf"\{{{_WS}{member}(?:{_WS},{_WS}{member})*{_WS}\}}"
    # An item object: each member at most once, in any order (duplicates cannot be counted
    # per item over a line).
    orders = [order for size in range(1, len(f.members) + 1)
              for order in permutations(f.members, size)]
    item = "(?:" + "|".join(f"{_WS},{_WS}".join(_member(m) for m in order)
                            for order in orders) + ")"
    obj = rf"\{{{_WS}{item}{_WS}\}}"
    return rf"\[{_WS}(?:{obj}(?:{_WS},{_WS}{obj})*)?{_WS}\]"


def _member(f: _Field) -> str:
    return rf'"{f.name}"{_WS}:{_WS}{_value_pattern(f)}'


def _dtype(f: _Field) -> pl.DataType:
    if isinstance(f, _Leaf):
        return pl.String() if f.string else pl.Int64()
    if isinstance(f, _Strings):
        return pl.List(pl.String())
    struct = pl.Struct({m.name: _dtype(m) for m in f.members})
    return pl.List(struct) if f.array else struct


@dataclass(frozen=True, slots=True)
class _Shape:
    fields: tuple[_Field, ...]
    line: str
    """The regex a simple line matches."""
    counted: tuple[str, ...]
    """Names that appear at most once a line (those outside array items)."""
    dtype: pl.DataType


def _shape(document: Any) -> _Shape | None:
    fields = _members(document, 0, False)
    if not fields or len(fields) > _MAX_FIELDS:
        return None
    names = _names(fields)
    if len(set(names)) != len(names):
        return None  # a name on two levels: its count would not say which one is present
    member = "(?:" + "|".join(_member(f) for f in fields) + ")"
    line = rf"^{_WS}\{{{_WS}(?:{member}(?:{_WS},{_WS}{member})*)?{_WS}\}}{_WS}$"
    counted: list[str] = []

    def walk(group: tuple[_Field, ...]) -> None:
        for f in group:
            counted.append(f.name)
            if isinstance(f, _Members) and not f.array:
                walk(f.members)

    walk(fields)
    return _Shape(fields, line, tuple(counted), pl.Struct({f.name: _dtype(f) for f in fields}))


def _count(name: str) -> str:
    return f"k_{name}"


# -- the payload as precheck nodes -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Leafy:
    """A member that may be a string or an integer, or ``null``, depending on the row."""

    present: pl.Expr
    value: pl.Expr
    string: bool
    null: bool


@dataclass(frozen=True, slots=True)
class _ObjectItems(_List):
    """An array of objects with several members (the list of structs ``items``)."""

    members: tuple[_Field, ...] = ()


class _JsonCompiler(_Compiler):
    def check(self, schema: Any, node: Any, depth: int = 0) -> pl.Expr:
        if isinstance(node, _Leafy):
            kinds: list[pl.Expr] = []
            if node.null:
                kinds.append(node.value.is_null() & super().check(schema, _Null(), depth))
            if node.string:
                kinds.append(node.value.is_not_null()
                             & super().check(schema, _Text(TRUE, node.value), depth))
            else:
                kinds.append(node.value.is_not_null()
                             & super().check(schema, _Number(node.value, True), depth))
            return _any(kinds).fill_null(False)
        return super().check(schema, node, depth)

    def _array_keyword(self, key: str, value: Any, node: Any, depth: int) -> pl.Expr:
        if isinstance(node, _ObjectItems):
            if key == "items":
                item = _Object({m.name: _item_node(m) for m in node.members})
                passed = self.check(value, item, depth + 1)
                return node.items.list.eval(passed).list.all().fill_null(False)
            if key == "uniqueItems" and value is True:
                return pl.lit(False)
        return super()._array_keyword(key, value, node, depth)


def _item_node(f: _Field) -> _Node:
    value = pl.element().struct.field(f.name)
    if isinstance(f, _Strings):
        return _List(value.is_not_null(), value, None)
    assert isinstance(f, _Leaf) and f.string and not f.null
    return _Text(value.is_not_null(), value)


def _node(f: _Field, value: pl.Expr) -> Any:
    present = pl.col(_count(f.name)) == 1
    if isinstance(f, _Leaf):
        if f.string and not f.null:
            return _Text(present, value)
        return _Leafy(present, value, f.string, f.null)
    if isinstance(f, _Strings):
        return _List(present, value, None)
    if not f.array:
        return _Object({m.name: _node(m, value.struct.field(m.name)) for m in f.members})
    if len(f.members) == 1 and isinstance(f.members[0], _Leaf):
        # Each item is exactly {name: string} (the shape requires its one member).
        name = f.members[0].name
        return _List(present, value.list.eval(pl.element().struct.field(name)), name)
    return _ObjectItems(present, value, None, f.members)


def _payload(shape: _Shape, campaign_id: str | None) -> _Object | None:
    v = pl.col("v")
    children = {f.name: _node(f, v.struct.field(f.name)) for f in shape.fields}
    if campaign_id is not None:
        default = _Text(TRUE, pl.lit(campaign_id))
        campaign = children.get("campaign")
        if campaign is None:
            children["campaign"] = _Object({"campaignId": default})
        elif isinstance(campaign, _Object):
            given = campaign.children.get("campaignId")
            if given is None:
                children["campaign"] = _Object({**campaign.children, "campaignId": default})
            elif isinstance(given, _Text):
                children["campaign"] = _Object({
                    **campaign.children,
                    "campaignId": _Text(TRUE, pl.when(given.present).then(given.value)
                                        .otherwise(pl.lit(campaign_id)))})
            else:
                return None
        else:
            return None
    return _Object(children)


@dataclass(frozen=True, slots=True)
class JsonPrecheck:
    shape: _Shape
    precheck: Precheck
    """Over a frame of ``v`` (the decoded struct), the counts and ``cell(0)``/``cell(1)``
    (e-mail and campaign ID, "" when absent) for what ``_columnar`` applies to it."""


_cache: dict[tuple[Any, ...], JsonPrecheck | None] = {}


def json_precheck_for(schema_name: str, options: ValidationOptions, batch: BatchOptions,
                      mx_paths: tuple[Any, ...]) -> JsonPrecheck | None:
    """The JSON Lines precheck of a run's schema, built once per process; None: every row takes
    the row path."""
    if options.account is not None:
        return None  # the account's rules (1001, custom-field values) have no expressions
    key = (schema_name, options.key(), batch.campaign_id, mx_paths)
    if key not in _cache:
        if len(_cache) > 64:
            _cache.clear()
        document, _ = default_registry().get(schema_name)
        _cache[key] = _build(document, options, batch.campaign_id, mx_paths)
    return _cache[key]


def _build(document: Any, options: ValidationOptions, campaign_id: str | None,
           mx_paths: tuple[Any, ...]) -> JsonPrecheck | None:
    if is_query_schema(document) or not isinstance(document, dict):
        return None
    if options.check_mx and any(tuple(path) != ("email",) for path in mx_paths):
        return None  # the addresses to look up are not only the top-level e-mail's
    custom = frozenset(options.formats) if options.formats else frozenset()
    translated = stricter_schema(document, assert_formats=options.assert_formats,
                                 custom_formats=custom)
    if translated is None or translated is False:
        return None
    shape = _shape(document)
    if shape is None:
        return None
    payload = _payload(shape, campaign_id)
    if payload is None:
        return None
    email = payload.children.get("email")
    campaign = payload.children.get("campaign")
    campaign_id_node = (campaign.children.get("campaignId")
                        if isinstance(campaign, _Object) else None)
    if (email is not None and not isinstance(email, _Text)) \
            or (campaign_id_node is not None and not isinstance(campaign_id_node, _Text)):
        return None  # its 1008 identity and MX address are the row path's to find
    expression = _JsonCompiler(translated).check(translated, payload).fill_null(False)
    return JsonPrecheck(shape, Precheck(expression, 0 if email is not None else None,
                                        1 if campaign is not None else None,
                                        pl.col(cell(1)) if campaign is not None else pl.lit("")))


# -- a block ---------------------------------------------------------------------------------
def check_columnar_jsonl(block: Block, spec: BlockSpec, schema_name: str,
                         options: ValidationOptions, batch: BatchOptions,
                         verdicts: Mapping[str, DomainVerdict], checker: JsonPrecheck,
                         judge_rows: Callable[..., BlockResult]) -> BlockResult | None:
    """``check_block`` for a JSON Lines block the columnar way; None for an empty block, or
    one polars would not decode: the caller takes the row path."""
    data = block.data
    if not data:
        return None
    first = block.first_line
    buffer = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(buffer == _NEWLINE) + 1
    if not len(ends) or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1]))
    try:
        decoded_text, clean = data.decode("utf-8"), True
    except UnicodeDecodeError:
        # Bytes that are not UTF-8 become U+FFFD, whose lines are the exact reader's ("\n" is
        # never part of a multi-byte sequence, so the lines stay the lines).
        decoded_text, clean = data.decode("utf-8", "replace"), False
    text = pl.Series("line", [decoded_text]).str.split("\n").explode()
    del decoded_text
    if len(text) > len(ends):
        text = text.head(len(ends))  # the empty piece after a final newline
    if len(text) != len(ends):
        return None  # (never seen) polars split the lines otherwise: the row path reads them
    shape = checker.shape
    frame = pl.DataFrame({"line": text})
    flags = frame.select(
        simple=pl.col("line").str.contains(shape.line)
        & (pl.lit(True) if clean else ~pl.col("line").str.contains("\ufffd", literal=True)),
        **{_count(name): pl.col("line").str.count_matches(rf'"{name}"{_WS}:')
           for name in shape.counted})
    lengths = ends - starts
    simple = flags["simple"].to_numpy() & (lengths <= MAX_RECORD)
    counts = flags.drop("simple")
    if counts.width:
        simple &= (counts.select(pl.max_horizontal(pl.all()))
                   .to_series().to_numpy() <= 1)
    simple_index = np.flatnonzero(simple)
    passed = np.zeros(len(ends), bool)
    passed_frame: pl.DataFrame | None = None
    if len(simple_index):
        lines = frame["line"].gather(simple_index)
        try:
            decoded = pl.DataFrame({"v": lines.str.json_decode(shape.dtype)})
        except pl.exceptions.PolarsError:
            return None  # (never seen: the shape is what the dtype holds) the row path decides
        v = pl.col("v")
        columns = [pl.col(c).gather(simple_index) for c in counts.columns]
        cells = pl.concat([decoded, counts.select(columns)], how="horizontal")
        email = _string_at(shape, ("email",))
        campaign = _string_at(shape, ("campaign", "campaignId"))
        cells = cells.with_columns(
            (v.struct.field("email") if email else pl.lit(None, pl.String))
            .fill_null("").alias(cell(0)),
            (v.struct.field("campaign").struct.field("campaignId") if campaign
             else pl.lit(None, pl.String)).fill_null("").alias(cell(1)))
        ok = _passing(cells, checker.precheck, options, batch, verdicts)
        passed[simple_index[ok]] = True
        passed_frame = cells.filter(pl.Series(ok))
    # Every line not passed is read as the row path reads it, run by run.
    row_lines: list[int] = []
    raws: list[Any] = []
    rows: list[Any] = []
    parse = spec.reader.parse
    starts_list, ends_list = starts.tolist(), ends.tolist()
    for a, b in _runs(~passed):
        parse(data[starts_list[a]:ends_list[b - 1]], first + a, spec.dialect, row_lines, raws,
              rows)
    judged = judge_rows(row_lines, raws, rows, spec, schema_name, options, batch, verdicts)
    if passed_frame is None or not passed_frame.height:
        return judged
    return merge_passed(judged, data, starts, ends, np.flatnonzero(passed), first, b"\n",
                        passed_frame, checker.precheck, spec, batch, row_lines)


def _string_at(shape: _Shape, path: tuple[str, ...]) -> bool:
    """Whether a string-only member is at ``path`` (objects, not arrays, on the way)."""
    group = shape.fields
    for depth, name in enumerate(path):
        found = next((f for f in group if f.name == name), None)
        if found is None:
            return False
        if depth == len(path) - 1:
            return isinstance(found, _Leaf) and found.string and not found.null
        if not isinstance(found, _Members) or found.array:
            return False
        group = found.members
    return False
