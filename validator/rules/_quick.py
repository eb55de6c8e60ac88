"""A quick "certainly valid" test in Rust (jsonschema-rs), in front of the engine.

Most payloads are valid, and for them only the verdict matters. This module translates a schema
into a *stricter or equal* one that jsonschema-rs can check in about a microsecond: when it
says valid, the engine would too, and the payload needs nothing more. When it says invalid (or
cannot tell), the engine runs as before and reports the failures itself, so error bodies never
come from here.

How the translation stays on the safe side:

* standard keywords are kept as they are, where both engines mean the same;
* the engine's own rules become what their entries in `_dialect` say (``Keyword.quick``,
  ``Format.quick``): patterns that accept a subset of what the engine accepts, e.g.
  ``notBlank`` → at least one letter or digit; ``format: email`` → a plain ASCII address
  that email-validator accepts (dot-atom local part, LDH labels without ``--``, an alphabetic
  top-level label, not a special-use domain, at most 254 characters); ``resource-id`` and
  ``ipv4`` → their exact patterns; ``ip`` → IPv4 only;
  the account's keywords (`_account_rules`) → the known IDs as an ``enum``, and each custom
  field's values as an ``enum`` or a pattern where one can promise them (phone, URL, IP and
  date-time values always go to the engine);
* anything else the engine checks (other formats, reserved words, emoji, phone numbers, a
  ``pattern`` outside a plain ASCII subset …) makes its subschema ``false``, so a payload that
  uses it always goes to the engine;
* that last step only makes a schema stricter where strictness can only shrink what passes:
  under ``not``, ``if``, ``oneOf``, ``contains``, ``dependentSchemas``, ``propertyNames`` or the
  ``unevaluated*`` keywords it could widen it, so a schema needing it there gets no quick test
  at all, as does any schema using ``$dynamicRef``, ``multipleOf`` with a fraction or
  ``$ref`` outside itself.

With MX checks the quick test can still stand in for the engine when every ``mx`` rule sits at
a path `_mx_paths` can name exactly (properties, array items, local references): the
addresses to look up are then read from those paths.

`tests/rules/test_quick.py` holds the promise (quick-valid ⇒ engine-valid) on generated and
hand-picked payloads, and the JSON-Schema-Test-Suite runs through it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._dialect import FORMATS, KEYWORDS
from ._schema_view import MAX_DEPTH

try:  # an optional speed-up: without it the engine alone decides
    import jsonschema_rs
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    jsonschema_rs = None  # type: ignore[assignment]

__all__ = ["MAX_DEPTH", "quick_check", "stricter_schema", "too_deep"]


QuickCheck = Callable[[Any, bool, bool], bool]
"""``(payload, plain, shallow) → bool``; ``plain`` says the payload is known to be JSON data
(from a JSON parser or built of JSON types), so the walk that checks it is skipped; ``shallow``
says it is known to nest at most MAX_DEPTH deep (without it, a plain payload's depth is checked
in jsonschema-rs, beside the translation)."""


class _NoQuickTest(Exception):
    """The schema needs something the translation cannot promise."""


# Annotations and the engine's own markers: no effect on validity.
_IGNORED = frozenset({"title", "description", "examples", "default", "deprecated", "readOnly",
                      "writeOnly", "$comment", "$schema", "$id", "$anchor", "contentMediaType",
                      "contentEncoding", "contentSchema", "validationType", "x-route"})
_SCHEMA_MAP = ("properties", "patternProperties", "$defs", "definitions")
_SCHEMA_ONE = ("items", "additionalProperties", "then", "else")
_SCHEMA_LIST = ("allOf", "anyOf", "prefixItems")
# Subschemas where a stricter schema could let more payloads through.
_NON_MONOTONE = ("not", "if", "oneOf", "contains", "dependentSchemas", "propertyNames",
                 "unevaluatedItems", "unevaluatedProperties")
_PLAIN = frozenset({"type", "enum", "const", "required", "minLength", "maxLength", "minimum",
                    "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
                    "uniqueItems", "minProperties", "maxProperties", "dependentRequired",
                    "minContains", "maxContains", "$ref"})
# Patterns both engines read alike: ASCII literals, classes, groups, anchors, quantifiers and
# escaped punctuation; no \d \w \s \b, no flags, no look-around, no backreferences.
_SAFE_PATTERN = re.compile(
    r"(?:[A-Za-z0-9 _\-^$.*+?()\[\]{},|:/@#%&=~'\"!<>;]|\\[\\.\-+*?()\[\]{}|^$/])*")
# Inline flags and look-around are not read alike (or not at all); only "(?:" is kept.
_GROUP_FLAGS = re.compile(r"\(\?(?!:)")


def _positive(schema: Any, sealed: bool, formats: dict[str, dict[str, Any]] | None) -> Any:
    """The stricter-or-equal translation. ``sealed``: inside a non-monotone keyword, where
    nothing may be made stricter (any need to is a `_NoQuickTest`)."""
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise _NoQuickTest
    out: dict[str, Any] = {}
    extra: list[dict[str, Any]] = []
    impossible = False
    for key, value in schema.items():
        if key in _IGNORED or key.startswith("x-"):
            continue
        if key in _PLAIN:
            # A $ref points at a schema translated on the positive side; reached from under
            # `not` or `if` that would widen, not narrow.
            if key == "$ref" and (sealed or not (isinstance(value, str)
                                                 and value.startswith("#"))):
                raise _NoQuickTest
            out[key] = value
        elif key in _SCHEMA_MAP:
            out[key] = {name: _positive(sub, sealed, formats) for name, sub in value.items()}
        elif key in _SCHEMA_ONE:
            out[key] = _positive(value, sealed, formats)
        elif key in _SCHEMA_LIST:
            out[key] = [_positive(sub, sealed, formats) for sub in value]
        elif key in _NON_MONOTONE:
            try:
                if key == "dependentSchemas":
                    out[key] = {name: _positive(sub, True, formats)
                                for name, sub in value.items()}
                elif key == "oneOf":
                    out[key] = [_positive(sub, True, formats) for sub in value]
                else:
                    out[key] = _positive(value, True, formats)
            except _NoQuickTest:
                if sealed:
                    raise
                # This subschema (on the positive side) goes to the engine as a whole.
                impossible = True
        elif key == "multipleOf":
            if not isinstance(value, int):
                raise _NoQuickTest
            out[key] = value
        elif key == "pattern":
            if not isinstance(value, str) or not value.isascii() \
                    or _SAFE_PATTERN.fullmatch(value) is None or _GROUP_FLAGS.search(value):
                impossible = True
            else:
                extra.append({"pattern": value})
        elif key == "format":
            if formats is None:
                continue  # formats are annotations under these options, as in the engine
            translated = formats.get(value) if isinstance(value, str) else None
            if translated is None or sealed:
                # (Under `not` or `if`, even the translation, stricter than the engine's
                # format, would widen.)
                impossible = True
            else:
                extra.append(translated)
        elif key in KEYWORDS:
            translate_keyword = KEYWORDS[key].quick
            added = translate_keyword(value) if translate_keyword is not None else None
            if added is None or (added and sealed):
                # (Under `not` or `if`, even a stricter translation would widen.)
                impossible = True
            elif added:
                extra.append(added)
        else:
            # $dynamicRef, an unknown keyword the engine may give meaning to …
            if key in ("$dynamicRef", "$dynamicAnchor", "$vocabulary"):
                raise _NoQuickTest
            impossible = True
    if impossible:
        if sealed:
            raise _NoQuickTest
        # Whatever value stands here goes to the engine.
        return False
    if extra:
        out["allOf"] = [*out.get("allOf", []), *extra]
    return out


def _one_resource_2020_12(schema: Any) -> bool:
    """Draft 2020-12 (or no `$schema`), and no embedded resource whose `$id` would move the
    base of a `#` reference."""
    if isinstance(schema, dict):
        dialect = schema.get("$schema")
        if dialect is not None and "/draft/2020-12/" not in str(dialect):
            return False

    def nested_id(node: Any, root: bool) -> bool:
        if isinstance(node, dict):
            if not root and "$id" in node and isinstance(node["$id"], str):
                return True
            return any(nested_id(v, False) for k, v in node.items()
                       if k not in ("enum", "const", "examples", "default"))
        if isinstance(node, list):
            return any(nested_id(v, False) for v in node)
        return False

    return not nested_id(schema, True)


def translate(schema: Any, *, assert_formats: bool = True,
              custom_formats: frozenset[str] = frozenset()) -> Any:
    """The stricter-or-equal schema, or raise `_NoQuickTest`. Formats are left out when the
    engine does not assert them; a format the caller gave its own checker for is never read
    the built-in way."""
    table = {name: entry.quick for name, entry in FORMATS.items()
             if entry.quick is not None and name not in custom_formats} \
        if assert_formats else None
    return _positive(schema, False, table)


def stricter_schema(schema: Any, *, assert_formats: bool = True,
                    custom_formats: frozenset[str] = frozenset()) -> Any:
    """The stricter-or-equal translation that the quick test runs, for other checkers built on
    the same facts (the batch room's columnar precheck): a JSON Schema using only standard
    keywords, ``pattern`` in the ASCII subset both regex engines read alike, and ``false``
    wherever the engine must decide. None when no such schema can be promised."""
    if not _one_resource_2020_12(schema):
        return None
    try:
        return translate(schema, assert_formats=assert_formats, custom_formats=custom_formats)
    except _NoQuickTest:
        return None


def quick_check(schema: Any, *, assert_formats: bool = True,
                custom_formats: frozenset[str] = frozenset()) -> QuickCheck | None:
    """``payload → True`` only when the engine, under the same format options, would
    certainly accept the payload; None when no such test can be built (no jsonschema-rs, or a
    schema it cannot promise for)."""
    if jsonschema_rs is None or not _one_resource_2020_12(schema):
        return None
    try:
        translated = translate(schema, assert_formats=assert_formats,
                               custom_formats=custom_formats)
        if translated is False:
            return None
        validator = jsonschema_rs.Draft202012Validator(
            translated, validate_formats=False, pattern_options=jsonschema_rs.RegexOptions())
        guarded = jsonschema_rs.Draft202012Validator(
            _within_depth(translated), validate_formats=False,
            pattern_options=jsonschema_rs.RegexOptions())
    except Exception:  # _NoQuickTest, or a schema jsonschema-rs refuses for its own reasons
        return None
    is_valid = validator.is_valid
    is_valid_and_shallow = guarded.is_valid

    def check(payload: Any, plain: bool = False, shallow: bool = False) -> bool:
        # jsonschema-rs reads a tuple as an array and a Decimal as a number, where the engine
        # sees neither: only JSON data may take the quick way.
        if not plain:
            if not is_plain_json(payload, MAX_DEPTH):
                return False
            shallow = True
        try:
            return bool((is_valid if shallow else is_valid_and_shallow)(payload))
        except Exception:
            # Data jsonschema-rs cannot read (a lone surrogate …): the engine decides.
            return False

    return check


_DEPTH_DEF = "validator:depth"


def _within_depth(translated: Any) -> dict[str, Any]:
    """The translation, behind a guard that refuses payloads nesting deeper than MAX_DEPTH, so
    that "quick-valid" also means "within the limit" and valid payloads skip the depth walk.
    The guard comes first, so a payload past it is not walked further."""
    levels: dict[str, Any] = {}
    for n in range(1, MAX_DEPTH + 1):
        below = {"$ref": f"#/$defs/{_DEPTH_DEF}{n - 1}"}
        levels[f"{_DEPTH_DEF}{n}"] = {"items": below, "additionalProperties": below}
    levels[f"{_DEPTH_DEF}0"] = {"type": ["string", "number", "boolean", "null"]}
    root: dict[str, Any] = {"allOf": [{"$ref": f"#/$defs/{_DEPTH_DEF}{MAX_DEPTH}"}]}
    if isinstance(translated, dict):
        # The translation's own `#/$defs/...` references must keep resolving at the root.
        defs = translated.get("$defs", {})
        root["allOf"].append({k: v for k, v in translated.items() if k != "$defs"})
        return {**root, "$defs": {**defs, **levels}}
    root["allOf"].append(translated)
    return {**root, "$defs": levels}


def is_plain_json(value: Any, levels: int) -> bool:
    """Only dicts with string keys, lists, strings, ints, floats, booleans and None — the
    exact types, as a JSON parser makes them — nested at most `levels` deep."""
    kind = type(value)
    if kind is dict:
        for key in value:
            if key.__class__ is not str:
                return False
        items: Any = value.values()
    elif kind is list:
        items = value
    else:
        return kind is str or kind is int or kind is float or kind is bool or value is None
    if levels == 0:
        return False
    below = levels - 1
    for item in items:
        # Leaves inline: a call per string costs more than the test.
        cls = item.__class__
        if cls is str or cls is int or cls is float or cls is bool or item is None:
            continue
        if not is_plain_json(item, below):
            return False
    return True


_CONTAINERS = (dict, list)


def too_deep(value: Any, levels: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays (of any class) nest deeper than `levels`. Recursive, but
    never more than `levels` calls deep, so a hostile payload cannot exhaust the stack."""
    if value.__class__ is not dict and value.__class__ is not list and \
            not isinstance(value, _CONTAINERS):
        return False
    if levels == MAX_DEPTH and jsonschema_rs is not None:
        # jsonschema-rs walks the payload in a fraction of the time. It counts dicts and lists
        # of every class as Python does, and tuples too, so its "within the limit" is never
        # wrong; its "too deep" (or a value it cannot read) is asked again below.
        try:
            if (_within_limit or _build_within_limit())(value):
                return False
        except Exception:  # the walk below decides
            pass
    return _too_deep(value, levels)


def _too_deep(value: Any, levels: int) -> bool:
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return False
    if levels == 0:
        return True
    below = levels - 1
    # A loop, not any() over a generator: half the cost, and every invalid payload pays it.
    for item in items:  # noqa: SIM110
        if isinstance(item, _CONTAINERS) and _too_deep(item, below):
            return True
    return False


_within_limit: Callable[[Any], bool] | None = None


def _build_within_limit() -> Callable[[Any], bool]:
    # Built on first use, not at import: every process (each worker too) would pay for it.
    global _within_limit
    _within_limit = jsonschema_rs.Draft202012Validator(
        _within_depth(True), validate_formats=False).is_valid
    return _within_limit
