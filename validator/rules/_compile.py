"""Rule compilation: a JSON Schema (2020-12) becomes a tree of small closures that walk a
payload once and append a `Failure` for every broken rule.

Each closure has the signature `node(value, path, out)` (see `_nodes`). `None` stands for an
always-valid schema. The engine's own keywords and formats come from the table in `_dialect`.

Keywords this compiler does not implement (dynamic references, `unevaluated*`, other drafts)
raise `Unsupported`; the caller then uses the jsonschema-backed engine for that schema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, cast

import referencing
import referencing.exceptions
from referencing.jsonschema import DRAFT202012

from .._catalog import Code
from .._exceptions import SchemaError
from .._options import FormatChecker, ValidationOptions
from .._results import Failure
from . import _keywords as kw
from ._dialect import FORMATS, KEYWORDS, REGION, Keyword
from ._formats import standard_checker
from ._nodes import Cell, Node, flat
from ._patterns import Search, compile_pattern

if TYPE_CHECKING:
    from referencing._core import Resolver

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
UNSUPPORTED_KEYWORDS = frozenset({
    "$dynamicRef", "$dynamicAnchor", "unevaluatedProperties", "unevaluatedItems",
    "$recursiveRef", "$recursiveAnchor",
})


class Unsupported(Exception):
    """The schema uses a keyword that only the fallback engine implements."""


# A Decimal (from `json.loads(..., parse_float=Decimal)`, as money-minded callers parse) is a
# JSON number like a float: both engines and the quick test (jsonschema-rs) must agree on it.
_NUMBER_CLASSES = (int, float, Decimal)


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER_CLASSES) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, Decimal):
        # JSON Schema's integer is any number with a zero fractional part (2.0, Decimal("2")).
        return value.is_finite() and value == value.to_integral_value()
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPE_PREDICATES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def json_key(value: Any) -> Any:
    """A hashable key under which two values are equal exactly when JSON says they are
    (1 == 1.0, but true != 1, and key order does not matter)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, Decimal):
        # Equal numbers hash alike across int, float and Decimal; a signalling NaN cannot be
        # hashed and equals nothing anyway.
        return ("?", id(value)) if value.is_snan() else ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z",)
    if isinstance(value, list):
        return ("l", tuple(json_key(v) for v in value))
    if isinstance(value, dict):
        return ("o", frozenset((k, json_key(v)) for k, v in value.items()))
    return ("?", id(value))


def failed_multiple(value: int | float | Decimal, divisor: int | float) -> bool:
    """Whether ``value`` is not a multiple of ``divisor``; both engines ask this."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return True
        if not isinstance(divisor, float):
            return Fraction(value) % divisor != 0
        # Against a float divisor, as the float it stands for (1.5 is a multiple of 0.01,
        # though not of the binary fraction that 0.01 is), unless past the float range.
        as_float = float(value)
        if not math.isfinite(as_float):
            return Fraction(value) % Fraction(divisor) != 0
        value = as_float
    if isinstance(value, float) and not math.isfinite(value):
        # Infinity and NaN (Python's JSON parser reads them) are no multiple of anything.
        return True
    if isinstance(divisor, float):
        try:
            quotient = value / divisor
            return int(quotient) != quotient
        except OverflowError:
            # A huge value over a small divisor overflows floats (or an int past the float
            # range cannot be divided as one); fractions are exact.
            return Fraction(value) % Fraction(divisor) != 0
    if isinstance(value, float):
        # float % int converts the int, which may be past the float range; fractions are exact.
        return Fraction(value) % divisor != 0
    return bool(value % divisor)


class Compiler:
    def __init__(self, registry: referencing.Registry[Any], options: ValidationOptions) -> None:
        self._registry = registry
        self._options = options
        self._done: dict[tuple[int, str], Node | None] = {}
        self._building: dict[tuple[int, str], list[Node | None]] = {}
        self.in_payload_order = True
        """Whether every node compiled so far reports its failures in payload order (see
        `_OUT_OF_ORDER`), so that the caller need not sort them."""

    def compile_root(self, schema: Any, base_uri: str = "") -> Node | None:
        if isinstance(schema, dict):
            declared = schema.get("$schema")
            if declared is not None and declared.rstrip("#") != DRAFT_2020_12:
                raise Unsupported(f"$schema {declared}")
        resource = DRAFT202012.create_resource(schema)
        uri = base_uri or resource.id() or ""
        registry = self._registry.with_resource(uri, resource).crawl()
        return self.compile(schema, registry.resolver(base_uri=uri), entered=bool(uri))

    def compile(self, schema: Any, resolver: Resolver[Any], *, entered: bool = False
                ) -> Node | None:
        """`entered`: the resolver is already inside this schema's resource (a `$ref` target
        or the root), so its `$id` must not be applied a second time."""
        if schema is True:
            return None
        if schema is False:
            return _false_node
        if not isinstance(schema, dict):
            raise SchemaError(f"a schema must be an object or a boolean, got {schema!r}")
        if "$id" in schema and not entered:
            resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
        key = (id(schema), str(getattr(resolver, "_base_uri", "")))
        if key in self._done:
            return self._done[key]
        if key in self._building:
            # A recursive reference: point at the node once it exists.
            cell = self._building[key]

            def forward(value: Any, path: Cell, out: list[Failure]) -> None:
                target = cell[0]
                if target is not None:
                    target(value, path, out)

            return forward
        self._building[key] = cell = [None]
        try:
            node = self._compile_object(schema, resolver)
        finally:
            del self._building[key]
        cell[0] = node
        self._done[key] = node
        return node

    def _compile_object(self, schema: dict[str, Any], resolver: Resolver[Any]
                        ) -> Node | None:
        unsupported = UNSUPPORTED_KEYWORDS.intersection(schema)
        if unsupported:
            raise Unsupported(", ".join(sorted(unsupported)))
        declared = schema.get("$schema")
        if declared is not None and declared.rstrip("#") != DRAFT_2020_12:
            raise Unsupported(f"$schema {declared}")

        if self.in_payload_order and (not _OUT_OF_ORDER.isdisjoint(schema) or (
                "$ref" in schema and not _REF_ALONE.issuperset(schema))):
            self.in_payload_order = False
        checks: list[Node] = []
        for build in (self._value_checks, self._string_checks, self._number_checks,
                      self._array_checks, self._object_checks, self._applicators):
            checks.extend(build(schema, resolver))
        type_pred, types = _type_predicate(schema.get("type"))
        node = _combine(type_pred, types, checks)
        if node is None:
            return None
        return self._fast_path(schema, types, node, checks, resolver)

    def _fast_path(self, schema: dict[str, Any], types: list[str], slow: Node,
                   checks: list[Node], resolver: Resolver[Any]) -> Node:
        """A one-closure yes/no test for the common leaf shapes; only a value that fails it
        goes through `slow`, which builds the failures. It must accept exactly what `slow`
        accepts (tests/rules/test_differential.py holds the two together)."""
        # `x-` keys are extensions (OpenAPI's `x-route` on every shipped schema): no rule.
        if types == ["object"] and all(k in _OBJECT_KEYWORDS or k.startswith("x-")
                                       for k in schema):
            return self._fast_object(schema, slow, resolver)
        if types == ["array"] and _ARRAY_KEYWORDS.issuperset(schema):
            items = self.compile(schema["items"], resolver) if "items" in schema else None
            return _fast_array(items, slow)
        if not types or not all(k in _LEAF_KEYWORDS or k in KEYWORDS for k in schema):
            return slow
        kinds = set(types)
        nullable = "null" in kinds
        kinds.discard("null")
        if kinds == {"string"}:
            return self._fast_string(schema, nullable, slow, checks)
        if _STRING_KEYWORDS.isdisjoint(schema) and KEYWORDS.keys().isdisjoint(schema) \
                and "enum" not in schema and "const" not in schema \
                and _NUMBER_KEYWORDS.isdisjoint(schema) and kinds <= _CLASS_OF.keys():
            classes = frozenset(_CLASS_OF[k] for k in kinds) | (
                {type(None)} if nullable else set()) | ({float} if "number" in kinds else set())

            def fast_type(value: Any, path: Cell, out: list[Failure]) -> None:
                if value.__class__ not in classes:
                    slow(value, path, out)

            return fast_type
        return slow

    def _fast_object(self, schema: dict[str, Any], slow: Node, resolver: Resolver[Any]) -> Node:
        # Compiled already for `slow`; these come from the cache.
        get = {name: self.compile(sub, resolver)
               for name, sub in schema.get("properties", {}).items()}.get
        return _declared_properties(get, schema.get("required", []), otherwise=slow)

    def _fast_string(self, schema: dict[str, Any], nullable: bool, slow: Node,
                     checks: list[Node]) -> Node:
        """`checks`: the rules `slow` runs on a value of the right type (a string here)."""
        if not _NUMBER_KEYWORDS.isdisjoint(schema):
            return slow
        blank = False
        words: set[str] = set()
        refusals: list[str] = []
        for name, entry in self._engine_keywords(schema):
            if entry.fast is None:
                return slow
            refusal = entry.fast(schema[name])
            if refusal is not None:
                blank = blank or refusal.blank
                words.update(refusal.words)
                if refusal.pattern is not None:
                    refusals.append(refusal.pattern)
        reserved = frozenset(words) or None
        allowed = schema.get("enum") if "enum" in schema else (
            [schema["const"]] if "const" in schema else None)
        if allowed is not None and not all(isinstance(v, str) for v in allowed):
            return slow
        strings = frozenset(allowed) if allowed is not None else None
        lo = schema.get("minLength", 0)
        hi = schema.get("maxLength", math.inf)
        search = compile_pattern(schema["pattern"]) if "pattern" in schema else None
        fmt, matches = (self._format_checker(schema)
                        if "format" in schema and self._options.assert_formats else (None, None))
        if matches is not None:
            fmt = None
        if (lo, hi, blank, search, matches, fmt, allowed, reserved, refusals) == (
                0, math.inf, False, None, None, None, None, None, []):
            # A string and nothing more (array items often are): the class test alone.
            def fast_str(value: Any, path: Cell, out: list[Failure]) -> None:
                if value.__class__ is not str and not (value is None and nullable):
                    slow(value, path, out)

            return fast_str
        # One search for every refused word, character and emoji (the words are matched
        # case-insensitively, as their own rule does).
        refuse = (re.compile("|".join(f"(?:{r})" for r in refusals), re.IGNORECASE).search
                  if refusals else None)

        def fast_string(value: Any, path: Cell, out: list[Failure]) -> None:
            if value.__class__ is str:
                n = len(value)
                if (
                    lo <= n <= hi
                    and not (blank and value.isspace())
                    and (search is None or search(value) is True)
                    and (matches is None or matches(value) is not None)
                    and (fmt is None or fmt(value) is None)
                    and (strings is None or value in strings)
                    and (reserved is None or value.casefold() not in reserved)
                    and (refuse is None or refuse(value) is None)
                ):
                    return
                # What `slow` does with a string (its type test passes), without the call.
                mark = len(out)
                for check in checks:
                    check(value, path, out)
                if len(out) > mark + 1:
                    _collapse_empty(out, mark, value, path)
                return
            elif value is None and nullable:
                return
            slow(value, path, out)

        return fast_string

    # -- keyword groups -------------------------------------------------------------------

    def _value_checks(self, schema: dict[str, Any], _: Any) -> list[Node]:
        checks: list[Node] = []
        if "const" in schema:
            checks.append(_enum_node([schema["const"]], "const"))
        if "enum" in schema:
            if not isinstance(schema["enum"], list):
                raise SchemaError("enum must be an array")
            checks.append(_enum_node(schema["enum"], "enum"))
        return checks

    def _engine_keywords(self, schema: dict[str, Any]) -> list[tuple[str, Keyword]]:
        """The engine keywords of the schema that are rules under these options, in the
        table's order."""
        if KEYWORDS.keys().isdisjoint(schema):
            return []  # the common case, and a schema of 100,000 properties meets it as often
        return [(name, entry) for name, entry in KEYWORDS.items()
                if name in schema and entry.enabled(self._options)]

    def _string_checks(self, schema: dict[str, Any], _: Any) -> list[Node]:
        checks: list[Node] = []
        for name, entry in () if KEYWORDS.keys().isdisjoint(schema) else KEYWORDS.items():
            problem = entry.check(schema[name]) if name in schema and entry.check else None
            if problem is not None:
                raise SchemaError(f"{name}: {problem}")
        low, high = schema.get("minLength"), schema.get("maxLength")
        if low is not None or high is not None:
            checks.append(_length_node(low, high))
        if "pattern" in schema:
            checks.append(_pattern_node(schema["pattern"]))
        if "format" in schema and self._options.assert_formats:
            checker, _ = self._format_checker(schema)
            if checker is not None:
                checks.append(_format_node(checker))
        for name, entry in self._engine_keywords(schema):
            node = entry.compile(schema[name])
            if node is not None:
                checks.append(node)
        return checks

    def _format_checker(self, schema: dict[str, Any]
                        ) -> tuple[FormatChecker | None, Callable[[str], object] | None]:
        """The schema's format rule, and the regex that decides it when there is one."""
        name = schema["format"]
        own = self._options.formats.get(name)
        if own is not None:
            return own, None
        entry = FORMATS.get(name)
        if entry is None:
            return standard_checker(name), None
        region = schema.get(REGION) or self._options.phone_region
        if entry.regional is not None and region:
            return entry.regional(region), None
        return entry.check, entry.matcher

    def _number_checks(self, schema: dict[str, Any], _: Any) -> list[Node]:
        checks: list[Node] = []
        bounds = [schema.get(k) for k in
                  ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")]
        if any(b is not None for b in bounds):
            checks.append(_range_node(*bounds))
        if "multipleOf" in schema:
            checks.append(_multiple_node(schema["multipleOf"]))
        return checks

    def _array_checks(self, schema: dict[str, Any], resolver: Any) -> list[Node]:
        checks: list[Node] = []
        low, high = schema.get("minItems"), schema.get("maxItems")
        if low is not None or high is not None:
            checks.append(_count_node(list, low, high, "items", "minItems", "maxItems"))
        if schema.get("uniqueItems") is True:
            checks.append(_unique_node)
        prefix = [self.compile(s, resolver) for s in schema.get("prefixItems", ())]
        items = self.compile(schema["items"], resolver) if "items" in schema else None
        if items is not None or any(n is not None for n in prefix):
            checks.append(_items_node(prefix, items))
        if "contains" in schema:
            contains = self.compile(schema["contains"], resolver)
            checks.append(_contains_node(contains, schema.get("minContains", 1),
                                         schema.get("maxContains")))
        return checks

    def _object_checks(self, schema: dict[str, Any], resolver: Any) -> list[Node]:
        checks: list[Node] = []
        low, high = schema.get("minProperties"), schema.get("maxProperties")
        if low is not None or high is not None:
            checks.append(_count_node(dict, low, high, "properties", "minProperties",
                                      "maxProperties"))
        properties = {name: self.compile(sub, resolver)
                      for name, sub in schema.get("properties", {}).items()}
        patterns = [(p, compile_pattern(p), self.compile(sub, resolver))
                    for p, sub in schema.get("patternProperties", {}).items()]
        additional = (self.compile(schema["additionalProperties"], resolver)
                      if "additionalProperties" in schema else None)
        required = schema.get("required", [])
        if properties or patterns or additional is not None or required:
            checks.append(_properties_node(properties, patterns, additional, required))
        # `dependencies` is the pre-2019 spelling of both keywords; schemas written for older
        # drafts still use it.
        legacy = schema.get("dependencies", {})
        required_deps = {**{k: v for k, v in legacy.items() if isinstance(v, list)},
                         **schema.get("dependentRequired", {})}
        schema_deps = {**{k: v for k, v in legacy.items() if not isinstance(v, list)},
                       **schema.get("dependentSchemas", {})}
        if required_deps:
            checks.append(_dependent_required_node(required_deps))
        for name, sub in schema_deps.items():
            node = self.compile(sub, resolver)
            if node is not None:
                checks.append(_dependent_schema_node(name, node))
        if "propertyNames" in schema:
            node = self.compile(schema["propertyNames"], resolver)
            if node is not None:
                checks.append(_property_names_node(node))
        return checks

    def _applicators(self, schema: dict[str, Any], resolver: Resolver[Any]
                     ) -> list[Node]:
        checks: list[Node] = []
        if "$ref" in schema:
            try:
                resolved = resolver.lookup(schema["$ref"])
            except referencing.exceptions.Unresolvable as exc:
                raise SchemaError(f"cannot resolve $ref {schema['$ref']!r}: {exc}") from exc
            target = resolved.contents
            if isinstance(target, dict):
                declared = target.get("$schema")
                if declared is not None and declared.rstrip("#") != DRAFT_2020_12:
                    raise Unsupported(f"$schema {declared}")
            node = self.compile(target, resolved.resolver, entered=True)
            if node is not None:
                checks.append(node)
        for sub in schema.get("allOf", ()):
            node = self.compile(sub, resolver)
            if node is not None:
                checks.append(node)
        if "anyOf" in schema:
            branches = [self.compile(s, resolver) for s in schema["anyOf"]]
            if all(b is not None for b in branches):
                checks.append(_any_of_node(branches))  # type: ignore[arg-type]
        if "oneOf" in schema:
            checks.append(_one_of_node([self.compile(s, resolver) for s in schema["oneOf"]]))
        if "not" in schema:
            checks.append(_not_node(self.compile(schema["not"], resolver)))
        if "if" in schema:
            condition = self.compile(schema["if"], resolver)
            then = self.compile(schema["then"], resolver) if "then" in schema else None
            otherwise = self.compile(schema["else"], resolver) if "else" in schema else None
            if then is not None or otherwise is not None:
                checks.append(_if_node(condition, then, otherwise))
        return checks


# -- node builders ------------------------------------------------------------------------

def _type_predicate(declared: Any) -> tuple[Callable[[Any], bool] | None, list[str]]:
    if declared is None:
        return None, []
    types = [declared] if isinstance(declared, str) else list(declared)
    try:
        predicates = [_TYPE_PREDICATES[t] for t in types]
    except KeyError as exc:
        raise SchemaError(f"unknown type {exc.args[0]!r}") from exc
    if len(predicates) == 1:
        return predicates[0], types
    # One isinstance for the types that are a class; a call each only for number and integer.
    classes = tuple(_TYPE_CLASSES[t] for t in types if t in _TYPE_CLASSES) + (
        (type(None),) if "null" in types else ())
    tests = tuple(_TYPE_PREDICATES[t] for t in types if t in ("number", "integer"))

    def any_type(value: Any) -> bool:
        if isinstance(value, classes):
            return True
        for test in tests:  # noqa: SIM110 - a loop: any() over a generator costs twice as much
            if test(value):
                return True
        return False

    return any_type, types


_TYPE_CLASSES: dict[str, type] = {"string": str, "object": dict, "array": list, "boolean": bool}
# Exact classes for the fast paths (a subclass simply takes the slow path). "integer" is absent:
# 3.0 is an integer too.
_CLASS_OF: dict[str, type] = {"string": str, "boolean": bool, "number": int}
# `$id` too: compile() has already moved into the schema's resource.
_ANNOTATIONS = frozenset({"$id", "title", "description", "$comment", "examples", "default",
                          "readOnly", "writeOnly", "deprecated", "$anchor", "$defs", "definitions",
                          "contentMediaType", "contentEncoding"})
# The standard ones; the engine's own (`_dialect.KEYWORDS`) are string rules too.
_STRING_KEYWORDS = frozenset({"minLength", "maxLength", "pattern", "format"})
_NUMBER_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                              "multipleOf"})
# The nodes walk objects in their own key order and arrays by index, report a value's own
# failures before those below it, and a missing key after every key its object has: the order
# `_aggregate.order` sorts into. These keywords add failures after that walk (a `$ref` beside
# other rules too), so a schema using one needs the sort.
_OUT_OF_ORDER = frozenset({"allOf", "anyOf", "oneOf", "not", "if", "contains",
                           "patternProperties", "propertyNames", "dependentSchemas",
                           "dependencies"})
_REF_ALONE = _ANNOTATIONS | {"$ref", "$schema"}
_LEAF_KEYWORDS = _ANNOTATIONS | _STRING_KEYWORDS | {"type", "enum", "const", "$schema"}
_OBJECT_KEYWORDS = _ANNOTATIONS | {"type", "properties", "required", "$schema"}
_ARRAY_KEYWORDS = _ANNOTATIONS | {"type", "items", "$schema"}


def _combine(type_pred: Callable[[Any], bool] | None, types: list[str], checks: list[Node]
             ) -> Node | None:
    wrong_type = kw.type_rule(types)
    if type_pred is None:
        if not checks:
            return None
        if len(checks) == 1:
            # One rule reports at most one failure for this value (a nested schema collapses
            # its own), so there is nothing to collapse here.
            return checks[0]

        def untyped(value: Any, path: Cell, out: list[Failure]) -> None:
            mark = len(out)
            for check in checks:
                check(value, path, out)
            if len(out) > mark + 1:
                _collapse_empty(out, mark, value, path)

        return untyped

    cls = _TYPE_CLASSES.get(types[0]) if len(types) == 1 else None
    if cls is not None:
        # The common case, spelled out: isinstance inline is much cheaper than a predicate.
        if not checks:
            def bare(value: Any, path: Cell, out: list[Failure]) -> None:
                if not isinstance(value, cls):
                    out.append(wrong_type(flat(path), value))

            return bare

        def typed(value: Any, path: Cell, out: list[Failure]) -> None:
            # A value of the wrong type gets one entry, not one per rule it also breaks.
            if not isinstance(value, cls):
                out.append(wrong_type(flat(path), value))
                return
            mark = len(out)
            for check in checks:
                check(value, path, out)
            if len(out) > mark + 1:
                _collapse_empty(out, mark, value, path)

        return typed

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if not type_pred(value):
            out.append(wrong_type(flat(path), value))
            return
        mark = len(out)
        for check in checks:
            check(value, path, out)
        if len(out) > mark + 1:
            _collapse_empty(out, mark, value, path)

    return node


def _collapse_empty(out: list[Failure], mark: int, value: Any, path: Cell) -> None:
    """An empty or blank value is reported once (1005), whichever other rules it breaks.
    Failures below it (the missing fields of an empty object) are kept: they are other
    fields."""
    here = flat(path)
    empty = kw.is_empty(value)
    keep = next((f for f in out[mark:] if f.field_name == here
                 and (empty or f.code == Code.EMPTY_VALUE)), None)
    if keep is not None:
        out[mark:] = [f for f in out[mark:] if f is keep or f.field_name != here]


def _false_node(value: Any, path: Cell, out: list[Failure]) -> None:
    out.append(kw.forbidden(flat(path), value))


def _enum_node(allowed: list[Any], keyword: str) -> Node:
    keys = {json_key(v) for v in allowed}
    strings = frozenset(v for v in allowed if isinstance(v, str))

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, str) and value in strings:
            return
        if json_key(value) not in keys:
            out.append(kw.not_allowed_value(flat(path), value, allowed, keyword))

    return node


def _length_node(low: int | None, high: int | None) -> Node:
    lo = 0 if low is None else low
    hi = math.inf if high is None else high
    wrong_length = kw.length_rule(low, high)

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, str):
            n = len(value)
            if n < lo or n > hi:
                keyword = "minLength" if n < lo else "maxLength"
                out.append(wrong_length(flat(path), value, keyword))

    return node


def _pattern_node(pattern: str) -> Node:
    search = compile_pattern(pattern)
    no_match = kw.pattern_rule(pattern)

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, str):
            found = search(value)
            if found is False:
                out.append(no_match(flat(path), value))
            elif found is None:
                out.append(kw.pattern_timeout(flat(path), value, pattern))

    return node


def _format_node(checker: FormatChecker) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, str):
            message = checker(value)
            if message is not None:
                out.append(kw.bad_format(flat(path), value, message))

    return node




def _fast_array(items: Node | None, slow: Node) -> Node:
    def fast_array(value: Any, path: Cell, out: list[Failure]) -> None:
        if value.__class__ is not list:
            slow(value, path, out)
            return
        if items is not None:
            for index, item in enumerate(value):
                items(item, (path, index), out)

    return fast_array














def _range_node(minimum: Any, exclusive_min: Any, maximum: Any, exclusive_max: Any) -> Node:
    if minimum is not None and exclusive_min is not None and minimum > exclusive_min:
        exclusive_min = None
    if maximum is not None and exclusive_max is not None and maximum < exclusive_max:
        exclusive_max = None
    low = exclusive_min if exclusive_min is not None else minimum
    high = exclusive_max if exclusive_max is not None else maximum

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if not isinstance(value, _NUMBER_CLASSES) or isinstance(value, bool):
            return
        if value.__class__ is Decimal and value.is_nan():
            return  # as a float NaN: no bound fails (comparing it raises InvalidOperation)
        if (
            (minimum is not None and value < minimum)
            or (exclusive_min is not None and value <= exclusive_min)
            or (maximum is not None and value > maximum)
            or (exclusive_max is not None and value >= exclusive_max)
        ):
            keyword = ("minimum" if low is not None and value <= low else "maximum")
            out.append(kw.out_of_range(flat(path), value, low, high, exclusive_min is not None,
                                       exclusive_max is not None, keyword))

    return node


def _multiple_node(divisor: int | float) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if _is_number(value) and failed_multiple(value, divisor):
            out.append(kw.not_multiple(flat(path), value, divisor))

    return node


def _count_node(cls: type, low: int | None, high: int | None, what: str, low_kw: str,
                high_kw: str) -> Node:
    lo = 0 if low is None else low
    hi = math.inf if high is None else high

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, cls):
            n = len(cast("list[Any] | dict[str, Any]", value))
            if n < lo or n > hi:
                keyword = low_kw if n < lo else high_kw
                out.append(kw.wrong_count(flat(path), value, n, low, high, keyword, what))

    return node


def _unique_node(value: Any, path: Cell, out: list[Failure]) -> None:
    if isinstance(value, list) and len(value) > 1:
        seen: dict[Any, int] = {}
        for index, item in enumerate(value):
            first = seen.setdefault(json_key(item), index)
            if first != index:
                out.append(kw.not_unique(flat(path), value, first, index))
                return


def _items_node(prefix: list[Node | None], items: Node | None) -> Node:
    n_prefix = len(prefix)

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, list):
            for index, item in enumerate(value):
                check = prefix[index] if index < n_prefix else items
                if check is not None:
                    check(item, (path, index), out)

    return node


def _contains_node(contains: Node | None, low: int, high: int | None) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if not isinstance(value, list):
            return
        if contains is None:
            count = len(value)
        else:
            count = 0
            for index, item in enumerate(value):
                scratch: list[Failure] = []
                contains(item, (path, index), scratch)
                count += not scratch
        if count < low or (high is not None and count > high):
            out.append(kw.wrong_count(flat(path), value, count, low, high, "contains",
                                      "items matching the 'contains' schema"))

    return node


def _properties_node(properties: dict[str, Node | None],
                     patterns: list[tuple[str, Search, Node | None]],
                     additional: Node | None, required: list[str]) -> Node:
    absent = object()
    get = properties.get
    forbid_additional = additional is _false_node

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if not isinstance(value, dict):
            return
        for name, item in value.items():
            check = get(name, absent)
            matched = check is not absent
            if matched and check is not None:
                check(item, (path, name), out)  # type: ignore[operator]
            for text, name_pattern, sub in patterns:
                found = name_pattern(name)
                if found:
                    matched = True
                    if sub is not None:
                        sub(item, (path, name), out)
                elif found is None:
                    # Neither matched nor unmatched: the name is reported, never let through.
                    matched = True
                    out.append(kw.property_name((*flat(path), name), name,
                                                kw.pattern_timeout((), name, text)))
            if not matched and additional is not None:
                if forbid_additional:
                    out.append(kw.unknown_property(flat((path, name)), item))
                else:
                    additional(item, (path, name), out)
        for name in required:
            if name not in value:
                out.append(kw.missing(flat((path, name))))

    if not patterns and additional is None:
        # The common shape: declared properties only, so skip the pattern/additional logic.
        return _declared_properties(get, required, otherwise=None)
    return node


def _declared_properties(get: Callable[[str], Node | None], required: list[str],
                         otherwise: Node | None) -> Node:
    """Declared properties and `required`, nothing else. A value that is not exactly a dict
    goes to `otherwise` (the full rules) when given; without it, only dicts are checked."""

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if value.__class__ is not dict:
            if otherwise is not None:
                otherwise(value, path, out)
                return
            if not isinstance(value, dict):
                return
        for name, item in value.items():
            check = get(name)
            if check is not None:
                check(item, (path, name), out)
        for name in required:
            if name not in value:
                out.append(kw.missing(flat((path, name))))

    return node


def _dependent_required_node(dependencies: dict[str, list[str]]) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, dict):
            for name, needed in dependencies.items():
                if name in value:
                    for other in needed:
                        if other not in value:
                            out.append(kw.missing(flat((path, other)), "dependentRequired"))

    return node


def _dependent_schema_node(name: str, check: Node) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, dict) and name in value:
            check(value, path, out)

    return node


def _property_names_node(check: Node) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, dict):
            for name in value:
                scratch: list[Failure] = []
                check(name, (path, name), scratch)
                out.extend(kw.property_name(f.field_name, name, f) for f in scratch)

    return node


def _any_of_node(branches: list[Node]) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        failed: list[list[Failure]] = []
        for branch in branches:
            scratch: list[Failure] = []
            branch(value, path, scratch)
            if not scratch:
                return
            failed.append(scratch)
        out.extend(kw.no_branch_matches(flat(path), value, failed, "anyOf"))

    return node


def _one_of_node(branches: list[Node | None]) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        failed: list[list[Failure]] = []
        matched: list[int] = []
        for index, branch in enumerate(branches):
            scratch: list[Failure] = []
            if branch is not None:
                branch(value, path, scratch)
            if scratch:
                failed.append(scratch)
            else:
                matched.append(index)
        if not matched:
            out.extend(kw.no_branch_matches(flat(path), value, failed, "oneOf"))
        elif len(matched) > 1:
            out.append(kw.too_many_matches(flat(path), value, matched))

    return node


def _not_node(check: Node | None) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        scratch: list[Failure] = []
        if check is not None:
            check(value, path, scratch)
        if not scratch:
            out.append(kw.negated(flat(path), value))

    return node


def _if_node(condition: Node | None, then: Node | None, otherwise: Node | None) -> Node:
    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        scratch: list[Failure] = []
        if condition is not None:
            condition(value, path, scratch)
        branch = otherwise if scratch else then
        if branch is not None:
            branch(value, path, out)

    return node
