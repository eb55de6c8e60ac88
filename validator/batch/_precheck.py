"""The columnar precheck: a schema and a CSV column plan → one polars expression that is true
only for rows the engine would certainly accept.

It is generated, never written for one header: the schema is first turned into the quick test's
stricter-or-equal schema (``validator.rules.stricter_schema``, the one source of the facts: the
e-mail subset of what email-validator accepts, the resource-ID, IPv4/IPv6 and date patterns,
``notBlank`` as "a letter or digit" …), then that schema is walked over the payload the plan
builds from a row, keyword by keyword, into expressions over the row's cells. Each keyword
becomes an exact or stricter expression; whatever has no translation here (a keyword, a value
kind, a shape of the plan) becomes ``false`` at its place, so its rows go to the engine, which
decides them and writes their bodies. Translating to ``false`` is safe because every keyword
walked is monotone (``allOf``, ``anyOf``, properties, items): making a part stricter can only
make the whole stricter. ``not`` is kept only around a plain pattern, whose negation is exact.

Cells are the CSV text exactly as ``csv.reader`` gives it (``""`` for an empty cell, which the
plan leaves out of the payload). Conversions mirror ``_plan``'s converters on a strict subset of
their inputs: integers and decimals without signs, spaces or exponents, ``null`` as written;
list cells only when no piece has whitespace at its ends (so Python's ``strip`` and splitting
agree with polars'); booleans and anything else go to the engine.

With an account, its rules are written into the schema first (``with_account``, as the engine
does), so the translation holds them too: known IDs as ``enum``s (``is_in`` here) and each
custom field's values as exact or stricter patterns; a type without one (phone, url) makes its
non-empty cells go to the engine. Campaign and tag names become IDs through the converter's
own table (exact for the account's spellings; another case goes to the engine). A field joined
from several columns is built with ``concat_str`` where no cell has whitespace at its ends
(else the row goes to the engine), exactly as ``_plan._joined`` builds it.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Any

import polars as pl

from .._options import ValidationOptions
from ..rules import is_query_schema, stricter_schema, with_account
from ._mapping import CUSTOM_FIELDS
from ._plan import ArrayConverter, CsvPlan, NameConverter, ScalarConverter

TRUE = pl.lit(True)
FALSE = pl.lit(False)
# A strict subset of what ScalarConverter reads as an int / a finite float (no sign but "-",
# no spaces, no exponent, at most 15 digits on a side so that both int64 and float64 are exact).
_INT = r"^-?(?:0|[1-9][0-9]{0,14})$"
_DECIMAL = r"^-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,15}$"
# Python's str.strip() removes str.isspace() characters: Unicode White_Space (regex \s) plus
# the separators U+001C..U+001F.
_SPACE = r"[\s\x1c-\x1f]"
_MAX_DEPTH = 48
_STRING_KEYWORDS = frozenset({"minLength", "maxLength", "pattern"})
_NUMBER_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                              "multipleOf"})
_ARRAY_KEYWORDS = frozenset({"items", "prefixItems", "minItems", "maxItems", "uniqueItems",
                             "contains", "minContains", "maxContains"})
_OBJECT_KEYWORDS = frozenset({"properties", "required", "additionalProperties",
                              "patternProperties", "minProperties", "maxProperties",
                              "dependentRequired", "propertyNames"})
_SKIPPED = frozenset({"$defs", "definitions"})


def _all(parts: list[pl.Expr]) -> pl.Expr:
    return functools.reduce(operator.and_, parts) if parts else TRUE


def _any(parts: list[pl.Expr]) -> pl.Expr:
    return functools.reduce(operator.or_, parts) if parts else FALSE


# -- the payload a plan builds, as expressions ------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Text:
    """A string value (a cell as it is, a constant, a list element)."""

    present: pl.Expr
    value: pl.Expr


@dataclass(frozen=True, slots=True)
class _Scalar:
    """A cell converted by a ScalarConverter: an int, a float or null, depending on the row."""

    present: pl.Expr
    cell: pl.Expr
    convert: ScalarConverter


@dataclass(frozen=True, slots=True)
class _Number:
    value: pl.Expr
    integer: bool


class _Null:
    pass


@dataclass(frozen=True, slots=True)
class _Opaque:
    """A value this module cannot follow (a list of numbers …): rows that have one go to the
    engine (every schema but ``true`` is false for it)."""

    present: pl.Expr


@dataclass(frozen=True, slots=True)
class _List:
    """An array of strings (``wrap``: of ``{wrap: string}`` objects) held as a list column."""

    present: pl.Expr
    items: pl.Expr
    wrap: str | None


@dataclass(frozen=True, slots=True)
class _Custom:
    """customFieldValues: one ``{customFieldId, value}`` object per non-empty column."""

    fields: tuple[tuple[pl.Expr, _Object], ...]
    distinct_ids: bool

    @property
    def present(self) -> pl.Expr:
        return _any([present for present, _ in self.fields])


@dataclass(frozen=True, slots=True)
class _Object:
    children: dict[str, _Node]

    @property
    def present(self) -> pl.Expr:
        return _any([child.present for child in self.children.values()])


_Node = _Text | _Scalar | _List | _Custom | _Object | _Opaque


class _Unsupported(Exception):
    """The plan builds a payload this module cannot follow: no precheck (all rows to the engine)."""


def cell(index: int) -> str:
    """The column name of a row's cell ``index`` in the frames the precheck reads."""
    return f"c{index}"


def _pieces(text: pl.Expr, separator: str, drop_empty: bool) -> tuple[pl.Expr, pl.Expr]:
    """A separated cell as the list the plan makes of it, and the condition under which polars'
    split equals Python's split-and-strip (no piece with whitespace at its ends)."""
    sep = _escape(separator)
    edges = rf"(?:^|{sep}){_SPACE}|{_SPACE}(?:{sep}|$)"
    pieces = text.str.split(separator, inclusive=False)
    if drop_empty:
        pieces = pieces.list.eval(pl.element().filter(pl.element() != ""))
    return pieces, ~text.str.contains(edges)


def _escape(text: str) -> str:
    return "".join(f"\\x{{{ord(c):x}}}" for c in text)


def _joined(plan: CsvPlan, index: int) -> tuple[pl.Expr, pl.Expr]:
    """The text of a column, a cell or one joined from several (``_plan._joined``: the cells
    stripped, the empty ones left out, the rest joined by the separator), and the condition
    under which polars makes it exactly so: no cell with whitespace at its ends, where
    Python's strip() would change it."""
    width = len(plan.header)
    if index < width:
        return pl.col(cell(index)), TRUE
    join = plan.joins[index - width]
    cells = [pl.col(cell(i)) for i in join.indexes]
    edges = rf"^{_SPACE}|{_SPACE}$"
    safe = _all([~c.str.contains(edges) for c in cells])
    text = pl.concat_str([pl.when(c != "").then(c) for c in cells], separator=join.separator,
                         ignore_nulls=True).fill_null("")
    return text, safe


def _payload(plan: CsvPlan, campaign_id: str | None, guards: list[pl.Expr]) -> _Object:
    """The payload's nodes; ``guards`` gets the conditions every passing row must meet
    besides the schema's (joined texts polars makes exactly)."""
    root: dict[str, Any] = {}
    for column in plan.columns:
        text, safe = _joined(plan, column.index)
        if column.index >= len(plan.header):
            guards.append(safe)
        present = text != ""
        node: _Node
        convert = column.convert
        if convert is None:
            node = _Text(present, text)
        elif isinstance(convert, NameConverter):
            # Exact for the account's own names and IDs; a name in another case stays as
            # written here, is no ID, and so goes to the engine, whose converter finds it.
            node = _Text(present, text.replace(convert.table()))
        elif isinstance(convert, ScalarConverter):
            node = _Scalar(present, text, convert)
        elif isinstance(convert, ArrayConverter) and convert.item is None:
            items, safe = _pieces(text, convert.separator, True)
            if convert.names is not None:
                items = items.list.eval(pl.element().replace(convert.names.table()))
            # An unsafe cell is present (for `required`) but its list is null: it never passes.
            node = _List(present, pl.when(safe).then(items), convert.wrap)
        else:
            node = _Opaque(present)
        _insert(root, column.path, node)
    if plan.custom_fields:
        if CUSTOM_FIELDS in root:
            raise _Unsupported
        fields = []
        for custom in plan.custom_fields:
            text = pl.col(cell(custom.index))
            values, safe = _pieces(text, plan.value_separator, False)
            item = _Object({"customFieldId": _Text(TRUE, pl.lit(custom.field_id)),
                            "value": _List(TRUE, pl.when(safe).then(values), None)})
            fields.append((text != "", item))
        ids = [c.field_id for c in plan.custom_fields]
        root[CUSTOM_FIELDS] = _Custom(tuple(fields), len(set(ids)) == len(ids))
    if campaign_id is not None:
        campaign = root.get("campaign")
        if campaign is None:
            root["campaign"] = {"campaignId": _Text(TRUE, pl.lit(campaign_id))}
        elif isinstance(campaign, dict):
            given = campaign.get("campaignId")
            if given is None:
                campaign["campaignId"] = _Text(TRUE, pl.lit(campaign_id))
            elif isinstance(given, _Text):
                campaign["campaignId"] = _Text(TRUE, pl.when(given.present).then(given.value)
                                               .otherwise(pl.lit(campaign_id)))
            else:
                raise _Unsupported
        else:
            raise _Unsupported
    return _freeze(root)


def _insert(root: dict[str, Any], path: tuple[str, ...], node: _Node) -> None:
    """Place a column's node; two columns on one path, or one under another's value, are a
    payload shape (later cells overwrite earlier ones) left to the engine."""
    here = root
    for key in path[:-1]:
        child = here.setdefault(key, {})
        if not isinstance(child, dict):
            raise _Unsupported
        here = child
    if path[-1] in here:
        raise _Unsupported
    here[path[-1]] = node


def _freeze(tree: dict[str, Any]) -> _Object:
    return _Object({k: _freeze(v) if isinstance(v, dict) else v for k, v in tree.items()})


# -- schema → expression ----------------------------------------------------------------------
class _Compiler:
    def __init__(self, root: Any) -> None:
        self.root = root

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return False
        node = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return False
        return node

    def check(self, schema: Any, node: _Node | _Number | _Null, depth: int = 0) -> pl.Expr:
        """True where the value at ``node`` (when present) satisfies ``schema``."""
        if schema is True:
            return TRUE
        if schema is False or not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return FALSE
        if isinstance(node, _Scalar):
            return self._scalar(schema, node, depth)
        if isinstance(node, _Opaque):
            return FALSE
        parts: list[pl.Expr] = []
        for key, value in schema.items():
            if key in _SKIPPED:
                continue
            if key == "$ref":
                parts.append(self.check(self.resolve(value), node, depth + 1))
            elif key == "allOf":
                parts += [self.check(sub, node, depth + 1) for sub in value]
            elif key == "anyOf":
                parts.append(_any([self.check(sub, node, depth + 1) for sub in value]))
            elif key == "not":
                parts.append(self._not(value, node))
            elif key == "type":
                parts.append(TRUE if _kind(node) in _types(value) else FALSE)
            elif key in ("enum", "const"):
                parts.append(self._enum([value] if key == "const" else value, node))
            else:
                parts.append(self._keyword(key, value, schema, node, depth))
        return _all(parts)

    def _not(self, value: Any, node: _Node | _Number | _Null) -> pl.Expr:
        # Only `not: {pattern}` (the special-use domains of the e-mail subset): exact both ways.
        if isinstance(value, dict) and set(value) == {"pattern"} and isinstance(node, _Text):
            matched = _contains(node.value, value["pattern"])
            return FALSE if matched is None else ~matched
        # (Any other value satisfies a pattern, which applies to strings only: `not` fails.)
        return FALSE

    def _enum(self, members: Any, node: _Node | _Number | _Null) -> pl.Expr:
        if not isinstance(members, list):
            return FALSE
        if isinstance(node, _Text):
            texts = [m for m in members if isinstance(m, str)]
            return node.value.is_in(texts) if texts else FALSE
        if isinstance(node, _Null):
            return TRUE if None in members else FALSE
        return FALSE

    def _keyword(self, key: str, value: Any, schema: dict[str, Any],
                 node: _Node | _Number | _Null, depth: int) -> pl.Expr:
        if isinstance(node, _Text):
            if key in _STRING_KEYWORDS:
                return _string_keyword(key, value, node.value)
            return TRUE if key in _NUMBER_KEYWORDS | _ARRAY_KEYWORDS | _OBJECT_KEYWORDS \
                else FALSE
        if isinstance(node, _Number):
            if key in _NUMBER_KEYWORDS:
                return _number_keyword(key, value, node)
            return TRUE if key in _STRING_KEYWORDS | _ARRAY_KEYWORDS | _OBJECT_KEYWORDS \
                else FALSE
        if isinstance(node, _Null):
            return TRUE if key in (_STRING_KEYWORDS | _NUMBER_KEYWORDS | _ARRAY_KEYWORDS
                                   | _OBJECT_KEYWORDS) else FALSE
        if isinstance(node, _List | _Custom):
            if key in _ARRAY_KEYWORDS:
                return self._array_keyword(key, value, node, depth)
            return TRUE if key in _STRING_KEYWORDS | _NUMBER_KEYWORDS | _OBJECT_KEYWORDS \
                else FALSE
        assert isinstance(node, _Object)
        if key in _OBJECT_KEYWORDS:
            return self._object_keyword(key, value, schema, node, depth)
        return TRUE if key in _STRING_KEYWORDS | _NUMBER_KEYWORDS | _ARRAY_KEYWORDS else FALSE

    def _object_keyword(self, key: str, value: Any, schema: dict[str, Any], node: _Object,
                        depth: int) -> pl.Expr:
        children = node.children
        if key == "required":
            if not isinstance(value, list):
                return FALSE
            return _all([children[name].present if name in children else FALSE
                         for name in value])
        if key == "properties":
            if not isinstance(value, dict):
                return FALSE
            return _all([~child.present | self.check(value[name], child, depth + 1)
                         for name, child in children.items() if name in value])
        if key == "additionalProperties":
            named = schema.get("properties", {})
            if schema.get("patternProperties") or not isinstance(named, dict):
                return FALSE
            return _all([~child.present | self.check(value, child, depth + 1)
                         for name, child in children.items() if name not in named])
        if key == "patternProperties":
            return TRUE if not value else FALSE
        return FALSE  # minProperties, propertyNames …: left to the engine

    def _array_keyword(self, key: str, value: Any, node: _List | _Custom, depth: int
                       ) -> pl.Expr:
        if isinstance(node, _Custom):
            count = pl.sum_horizontal([p.cast(pl.Int32) for p, _ in node.fields])
            if key == "items":
                return _all([~present | self.check(value, item, depth + 1)
                             for present, item in node.fields])
            if key == "uniqueItems":
                return TRUE if value is not True or node.distinct_ids else FALSE
        else:
            count = node.items.list.len()
            if key == "items":
                element = _Text(TRUE, pl.element())
                item: _Node = element if node.wrap is None else _Object({node.wrap: element})
                passed = self.check(value, item, depth + 1)
                return node.items.list.eval(passed).list.all().fill_null(False)
            if key == "uniqueItems":
                return TRUE if value is not True else \
                    (node.items.list.n_unique() == node.items.list.len()).fill_null(False)
        if key in ("minItems", "maxItems") and _is_int(value):
            bound: pl.Expr = count >= value if key == "minItems" else count <= value
            return bound
        if key in ("minContains", "maxContains"):
            return TRUE  # without `contains` they mean nothing
        return FALSE  # prefixItems, contains: left to the engine

    def _scalar(self, schema: dict[str, Any], node: _Scalar, depth: int) -> pl.Expr:
        convert, text = node.convert, node.cell
        kinds: list[pl.Expr] = []
        if convert.null:
            kinds.append((text == "null") & self.check(schema, _Null(), depth))
        if convert.integer or convert.number:
            value = _Number(text.cast(pl.Int64, strict=False), True)
            kinds.append(text.str.contains(_INT) & self.check(schema, value, depth))
        if convert.number:
            value = _Number(text.cast(pl.Float64, strict=False), False)
            kinds.append(text.str.contains(_DECIMAL) & self.check(schema, value, depth))
        return _any(kinds).fill_null(False)


def _kind(node: _Node | _Number | _Null) -> str:
    if isinstance(node, _Text):
        return "string"
    if isinstance(node, _Number):
        return "integer" if node.integer else "number"
    if isinstance(node, _Null):
        return "null"
    if isinstance(node, _List | _Custom):
        return "array"
    if isinstance(node, _Opaque):
        return "(unknown)"
    return "object"


def _types(value: Any) -> frozenset[str]:
    names = frozenset(value if isinstance(value, list) else [value])
    # An integer is also a number.
    return names | {"integer"} if "number" in names else names


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _contains(value: pl.Expr, pattern: Any) -> pl.Expr | None:
    """``pattern`` searched in the string (JSON Schema's meaning), or None when polars' regex
    engine cannot read it."""
    if not isinstance(pattern, str):
        return None
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except Exception:  # polars raises its own ComputeError family for a bad pattern
        return None
    return value.str.contains(pattern)


def _string_keyword(key: str, value: Any, text: pl.Expr) -> pl.Expr:
    if key == "pattern":
        found = _contains(text, value)
        return FALSE if found is None else found
    if not _is_int(value):
        return FALSE
    length = text.str.len_chars()
    bound: pl.Expr = length >= value if key == "minLength" else length <= value
    return bound


_EXACT = 2**53


def _number_keyword(key: str, value: Any, node: _Number) -> pl.Expr:
    if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) >= _EXACT:
        return FALSE
    if key == "multipleOf":
        if not node.integer or not isinstance(value, int) or value <= 0:
            return FALSE
        return (node.value % value) == 0
    compare = {"minimum": operator.ge, "maximum": operator.le,
               "exclusiveMinimum": operator.gt, "exclusiveMaximum": operator.lt}[key]
    bound: pl.Expr = compare(node.value, value)
    return bound


@dataclass(frozen=True, slots=True)
class Precheck:
    """The expression, over cell columns named by ``cell(index)``, true for rows the engine
    certainly accepts under the run's options (MX verdicts and the suppression list aside,
    which the block function applies)."""

    expression: pl.Expr
    email_column: int | None
    """The cell the payload's ``email`` comes from (for MX, suppression and 1008), if one."""
    campaign_column: int | None
    campaign_text: pl.Expr
    """The campaign cell as the payload has it (a name mapped to its ID) for the rows that
    pass (for 1008), or "" without a campaign column."""


def build_precheck(document: Any, plan: CsvPlan,
                   options: ValidationOptions, campaign_id: str | None,
                   mx_paths: tuple[tuple[Any, ...], ...] = ()) -> Precheck | None:
    """The precheck of a schema under a plan, or None when none can be promised (the rows
    then all go to the engine, as they did before)."""
    if is_query_schema(document):
        return None
    options = plan.options(options)
    if options.account is not None:
        # The account's rules as engine keywords, which the translation below turns into
        # `enum`s of the known IDs and each custom field's values as far as they can promise.
        document = with_account(document, options.account, options.phone_region)
    custom = frozenset(options.formats) if options.formats else frozenset()
    translated = stricter_schema(document, assert_formats=options.assert_formats,
                                 custom_formats=custom)
    if translated is None or translated is False:
        return None
    guards: list[pl.Expr] = []
    try:
        payload = _payload(plan, campaign_id, guards)
    except _Unsupported:
        return None
    by_path = {c.path: c for c in plan.columns}
    identity = [by_path.get(("email",)), by_path.get(("campaign", "campaignId"))]
    if any(c is not None and (c.index >= len(plan.header)
                              or not (c.convert is None or isinstance(c.convert, NameConverter)))
           for c in identity):
        return None  # a converted or joined e-mail or campaign: 1008 is the engine path's
    email, campaign = (c.index if c is not None else None for c in identity)
    if options.check_mx and any(tuple(path) != ("email",) for path in mx_paths):
        return None  # the addresses to look up are not only the e-mail column's
    expression = _Compiler(translated).check(translated, payload)
    expression = _all([expression, *guards]).fill_null(False)
    campaign_text = pl.lit("")
    if campaign is not None:
        campaign_text = pl.col(cell(campaign))
        convert = by_path[("campaign", "campaignId")].convert
        if isinstance(convert, NameConverter):
            campaign_text = campaign_text.replace(convert.table())
    return Precheck(expression, email, campaign, campaign_text)


_EMAIL_FORMAT = {"type": "string", "format": "email"}


def quick_email(address: pl.Expr) -> pl.Expr:
    """True for addresses in the quick test's e-mail subset (``stricter_schema`` of the email
    format): email-validator accepts them, and their domain is the lowercased text after the
    "@"."""
    translated = stricter_schema(_EMAIL_FORMAT)
    return _Compiler(translated).check(translated, _Text(TRUE, address)).fill_null(False)
