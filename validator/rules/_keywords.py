"""How a broken keyword becomes a `Failure`: its code (SPEC §3), its context keys (SPEC §2)
and a precise sentence.

Both engines (the compiled one and the jsonschema fallback) build their failures here, so the
two cannot drift apart in what they report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .._catalog import Code
from .._results import Failure, Path, dumps
from ._patterns import PATTERN_TIMEOUT_MS

_JSON_TYPE_NAMES = {
    bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
    dict: "object", type(None): "null", Decimal: "number",
}

# Rules whose failure on an empty value means "a value was needed" (1005). Rules about what
# may exist at all (unknown or forbidden properties) keep their own code.
_STRUCTURAL = frozenset({"additionalProperties", "false", "unevaluatedProperties",
                         "unevaluatedItems", "uniqueItems"})


def json_type(value: Any) -> str:
    for cls in type(value).__mro__:
        name = _JSON_TYPE_NAMES.get(cls)
        if name is not None:
            return name
    return type(value).__name__


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _empty_word(value: Any) -> str:
    return "null" if value is None else "empty"


# Read once: an IntEnum member looked up on its class costs a descriptor call each time.
_EMPTY_VALUE = Code.EMPTY_VALUE
_WRONG_TYPE = Code.WRONG_TYPE
_WRONG_LENGTH = Code.WRONG_LENGTH
_WRONG_COUNT = Code.WRONG_COUNT
_WRONG_FORMAT = Code.WRONG_FORMAT
_EMPTY_CLASSES = (str, list, dict)


def failure(
    code: int,
    path: Path,
    value: Any,
    description: str,
    keyword: str,
    limits: dict[str, Any] | None = None,
    expected_type: list[str] | None = None,
    allowed_values: list[Any] | None = None,
    regex: str | None = None,
) -> Failure:
    """A failure, re-coded as 1005 when the value is empty and the rule needed a value.

    The whole body (path `()`) keeps its code: a body of `null` or `[]` is the wrong type
    of body, not an empty field.
    """
    if (value is None or (isinstance(value, _EMPTY_CLASSES) and not value)) and path \
            and code != _EMPTY_VALUE and keyword not in _STRUCTURAL:
        detail = description[0].lower() + description[1:]
        description = f"Value cannot be {_empty_word(value)}: {detail}"
        code = _EMPTY_VALUE
    return Failure(code, path, value, description, "body", limits, expected_type,
                   allowed_values, regex, keyword)


def missing(path: Path, keyword: str = "required") -> Failure:
    return Failure(_EMPTY_VALUE, path, None, "Field is required but missing", "body", None,
                   None, None, None, keyword)


# Prepared builders: the compiler makes one per rule when it compiles the schema, so that what
# depends only on the schema (the sentence around the value, the limits) is worked out once,
# not on every failure. The plain functions below build the same failure in one call.

def type_rule(expected: list[str]) -> Callable[[Path, Any], Failure]:
    wanted = f"Expected {' or '.join(expected)}, got "

    def build(path: Path, value: Any) -> Failure:
        name = _JSON_TYPE_NAMES.get(value.__class__) or json_type(value)
        if value is None or (isinstance(value, _EMPTY_CLASSES) and not value):
            return failure(_WRONG_TYPE, path, value, wanted + name, "type", None, expected)
        return Failure(_WRONG_TYPE, path, value, wanted + name, "body", None, expected, None,
                       None, "type")

    return build


def wrong_type(path: Path, value: Any, expected: list[str]) -> Failure:
    return type_rule(expected)(path, value)


def _limits(low: Any, high: Any) -> dict[str, Any]:
    limits = {}
    if low is not None:
        limits["min"] = low
    if high is not None:
        limits["max"] = high
    return limits


def _bounds_phrase(low: Any, high: Any, unit: str = "") -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}{unit}"
    if low is not None:
        return f"at least {low}{unit}"
    return f"at most {high}{unit}"


def length_rule(low: int | None, high: int | None) -> Callable[[Path, str, str], Failure]:
    wanted = f"Expected string length {_bounds_phrase(low, high)}, got "
    limits = _limits(low, high)

    def build(path: Path, value: str, keyword: str) -> Failure:
        # Each failure gets its own dict: a caller may edit the body it is given.
        if value:
            return Failure(_WRONG_LENGTH, path, value, f"{wanted}{len(value)}", "body",
                           limits.copy(), None, None, None, keyword)
        return failure(_WRONG_LENGTH, path, value, f"{wanted}0", keyword, limits.copy())

    return build


def wrong_length(path: Path, value: str, low: int | None, high: int | None, keyword: str
                 ) -> Failure:
    return length_rule(low, high)(path, value, keyword)


def wrong_count(
    path: Path, value: Any, count: int, low: int | None, high: int | None, keyword: str,
    what: str,
) -> Failure:
    return failure(
        _WRONG_COUNT, path, value,
        f"Expected {_bounds_phrase(low, high)} {what}, got {count}",
        keyword, _limits(low, high),
    )


def out_of_range(
    path: Path, value: Any, low: Any, high: Any, exclusive_low: bool, exclusive_high: bool,
    keyword: str,
) -> Failure:
    parts = []
    if low is not None:
        parts.append(f"greater than {low}" if exclusive_low else f"at least {low}")
    if high is not None:
        parts.append(f"less than {high}" if exclusive_high else f"at most {high}")
    if low is not None and high is not None and not exclusive_low and not exclusive_high:
        phrase = f"between {low} and {high}"
    else:
        phrase = " and ".join(parts)
    return failure(_WRONG_FORMAT, path, value,
                   f"Expected a number {phrase}, got {value}", keyword,
                   _limits(low, high))


def not_multiple(path: Path, value: Any, divisor: Any) -> Failure:
    return failure(_WRONG_FORMAT, path, value, f"Expected a multiple of {divisor}, got {value}",
                   "multipleOf")


def bad_format(path: Path, value: Any, description: str, keyword: str = "format") -> Failure:
    if isinstance(value, str) and value:
        # A string with something in it is never re-coded as empty: skip failure()'s test.
        return Failure(_WRONG_FORMAT, path, value, description, "body", None, None, None, None,
                       keyword)
    return failure(_WRONG_FORMAT, path, value, description, keyword)


def pattern_rule(pattern: str) -> Callable[[Path, str], Failure]:
    description = f"Value does not match the pattern {pattern}"

    def build(path: Path, value: str) -> Failure:
        if not value:
            return failure(_WRONG_FORMAT, path, value, description, "pattern", None, None,
                           None, pattern)
        return Failure(_WRONG_FORMAT, path, value, description, "body", None, None, None,
                       pattern, "pattern")

    return build


def no_pattern_match(path: Path, value: str, pattern: str) -> Failure:
    return pattern_rule(pattern)(path, value)


def pattern_timeout(path: Path, value: str, pattern: str) -> Failure:
    return failure(_WRONG_FORMAT, path, value,
                   f"The value could not be matched against the pattern {pattern} within "
                   f"{PATTERN_TIMEOUT_MS} ms", "pattern", None, None, None, pattern)


def not_allowed_value(path: Path, value: Any, allowed: list[Any], keyword: str) -> Failure:
    if len(allowed) == 1:
        description = f"Value must be {_show(allowed[0])}"
    else:
        description = "Value must be one of: " + ", ".join(_show(v) for v in allowed)
    return failure(_WRONG_FORMAT, path, value,
                   description, keyword, None, None, list(allowed))


def unknown_property(path: Path, value: Any) -> Failure:
    return failure(_WRONG_FORMAT, path, value,
                   f"Unknown property {path[-1]!r} is not allowed here", "additionalProperties")


def forbidden(path: Path, value: Any, keyword: str = "false") -> Failure:
    where = f"Property {path[-1]!r}" if path else "Value"
    return failure(_WRONG_FORMAT, path, value, f"{where} is not allowed here", keyword)


def not_unique(path: Path, value: list[Any], first: int, again: int) -> Failure:
    return failure(_WRONG_FORMAT, path, value,
                   f"Items must be unique; item {again} repeats item {first}", "uniqueItems")


def reserved_word(path: Path, value: str) -> Failure:
    return failure(_WRONG_FORMAT, path, value,
                   f"{value!r} is a reserved word and cannot be used", "reservedWords")


def forbidden_word(path: Path, value: str, word: str) -> Failure:
    return failure(_WRONG_FORMAT, path, value, f"Value contains the forbidden word {word!r}",
                   "forbiddenWords")


def forbidden_character(path: Path, value: str, char: str) -> Failure:
    return failure(_WRONG_FORMAT, path, value,
                   f"Value contains the forbidden character {char!r}",
                   "forbiddenCharacters")


def emoji(path: Path, value: str, char: str) -> Failure:
    return failure(_WRONG_FORMAT, path, value, f"Value contains an emoji ({char!r})", "noEmoji")


def blank(path: Path, value: str) -> Failure:
    return Failure(_EMPTY_VALUE, path, value, "Value cannot be blank (whitespace only)", "body",
                   None, None, None, None, "notBlank")


def negated(path: Path, value: Any) -> Failure:
    return failure(_WRONG_FORMAT, path, value,
                   "Value matches a schema it must not match", "not")


def too_many_matches(path: Path, value: Any, matched: list[int]) -> Failure:
    return failure(_WRONG_FORMAT, path, value,
                   f"Value must match exactly one allowed form, but matches forms {matched}",
                   "oneOf")


def property_name(path: Path, name: str, inner: Failure) -> Failure:
    # Every detail of the inner entry carries over: a 1006 without expectedType is no body.
    return Failure(inner.code, path, name, f"Property name {name!r}: {inner.description}",
                   limits=inner.limits, expected_type=inner.expected_type,
                   allowed_values=inner.allowed_values, regex=inner.regex,
                   keyword="propertyNames")


def no_branch_matches(path: Path, value: Any, branches: list[list[Failure]], keyword: str
                      ) -> list[Failure]:
    """anyOf/oneOf with no matching branch: the failures of the branch the value came closest
    to, or one summary entry when no branch stands out.

    A branch whose every failure is a type mismatch at the value itself is a different shape of
    value, not a near miss; among the others, the one with fewest failures is the closest.
    """
    def type_only(fails: list[Failure]) -> bool:
        return all(f.keyword == "type" and f.field_name == path for f in fails)

    near = [b for b in branches if b and not type_only(b)]
    if len(near) == 1:
        return near[0]
    if not near:
        expected: list[str] = []
        for branch in branches:
            for f in branch:
                for t in f.expected_type or ():
                    if t not in expected:
                        expected.append(t)
        if expected:
            return [wrong_type(path, value, expected)]
    candidates = near or branches
    entries = [f for b in candidates for f in b if f.field_name == path]
    codes = {f.code for f in entries}
    if len(entries) == len(candidates) and len(codes) == 1:
        # Each form failed on this very value for the same kind of reason: say so once.
        code = codes.pop()
        limits = _envelope(entries) if code in (_WRONG_LENGTH, _WRONG_COUNT) else None
        if limits is None or limits:
            description = " or ".join(dict.fromkeys(f.description for f in entries))
            return [failure(code, path, value, description, keyword, limits)]
    fewest = min(candidates, key=len)
    if all(len(b) > len(fewest) for b in candidates if b is not fewest):
        return fewest
    return [failure(_WRONG_FORMAT, path, value,
                    "Value matches none of the allowed forms", keyword)]


def _envelope(entries: list[Failure]) -> dict[str, Any]:
    """The widest bounds over length or count failures of several forms: a 1004 entry always
    carries `limits` (SPEC §2), and a value within these bounds fits at least the size of one
    form. Empty when some form has no lower and another no upper bound.
    """
    lows: list[Any] = [(f.limits or {}).get("min") for f in entries]
    highs: list[Any] = [(f.limits or {}).get("max") for f in entries]
    bounds: dict[str, Any] = {}
    if None not in lows:
        bounds["min"] = min(lows)
    if None not in highs:
        bounds["max"] = max(highs)
    return bounds


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return dumps(value).decode()


EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U0001F1E6-\U0001F1FF\U00002B00-\U00002BFF"
    "\U0000FE0F\U0000200D\U000E0020-\U000E007F]"
)
