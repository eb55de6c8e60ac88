"""The engine's dialect: JSON Schema 2020-12 plus the API's own keywords and formats, each
declared once, here.

Three consumers read these tables instead of keeping lists of their own: the compiler
(`_compile`), the jsonschema-backed fallback (`_fallback`) and the quick test in front of the
engine (`_quick`). A new keyword is one `Keyword` entry in `KEYWORDS` plus the functions it
names; a new format, one `Format` entry in `FORMATS` (python-jsonschema keeps each dialect the
same way, as one mapping from keyword to function).

Every engine keyword but `accountCustomFields` (a rule about a `customFieldValues` item) is a
rule about strings: a value of another type passes it. The failures
the functions here report are built by `_keywords`, as the standard keywords' are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any

import email_validator
from jsonschema import ValidationError

from .._options import FormatChecker, ValidationOptions
from .._results import Failure, Path
from . import _account_rules as account
from . import _keywords as kw
from ._email import email_syntax_error
from ._formats import (
    IPV4_RE,
    QUICK_DATE,
    QUICK_IP,
    QUICK_IPV4,
    QUICK_IPV6,
    RESOURCE_ID_RE,
    check_date,
    check_date_time,
    check_email,
    check_ip,
    check_ipv4,
    check_ipv6,
    check_phone,
    check_resource_id,
    check_string_boolean,
    check_uri,
    check_url,
)
from ._nodes import Cell, Node, flat
from ._patterns import check_regex

FallbackKeyword = Callable[[Any, Any, Any, Any], Iterator[ValidationError]]
"""A jsonschema keyword function: ``(validator, keyword value, instance, schema) → errors``."""


@dataclass(frozen=True, slots=True)
class FastRefusal:
    """What the compiler's one-closure test for a string leaf (`Compiler._fast_string`) must
    send on to the full rules, so that it never accepts a value the keyword rejects. It may
    refuse more than the keyword does (the full rules then find nothing), never less."""

    pattern: str | None = None
    """Values in which this regex is found (searched case-insensitively)."""
    words: frozenset[str] = frozenset()
    """Values whose casefold is one of these."""
    blank: bool = False
    """Non-empty values of whitespace only."""


def _always(options: ValidationOptions) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Keyword:
    """One engine keyword, as each consumer reads it. Each function takes the keyword's value
    in the schema."""

    compile: Callable[[Any], Node | None]
    """The compiler's node; None when the value asks for nothing (``notBlank: false``)."""
    fallback: FallbackKeyword | None
    """What the fallback engine extends jsonschema's dialect with; None leaves the keyword to
    jsonschema, which ignores it."""
    quick: Callable[[Any], dict[str, Any]] | None
    """The quick test's translation: a subschema stricter than or equal to the keyword (``{}``
    when it adds nothing). None: the quick test cannot say, and sends the value to the
    engine."""
    fast: Callable[[Any], FastRefusal | None] | None
    """What the compiler's fast string test must refuse (None from the function: nothing).
    None here: a string leaf with this keyword always takes the full rules."""
    check: Callable[[Any], str | None] | None = None
    """The value's check, made when the schema is compiled (where a bad ``pattern`` is refused
    too): None, or the sentence saying what is wrong."""
    enabled: Callable[[ValidationOptions], bool] = _always
    """The options under which the keyword is a rule at all; otherwise every consumer leaves
    it alone, as an annotation."""


@dataclass(frozen=True, slots=True)
class Format:
    """One format the engine asserts (1003 on a mismatch)."""

    check: FormatChecker
    """None for a good value, else the sentence saying what is wrong: the compiler's and the
    fallback's rule."""
    matcher: Callable[[str], object] | None = None
    """When `check` is exactly "the whole value matches this regex": the regex's fullmatch,
    which the compiler's fast path calls directly, leaving the message to `check`."""
    quick: dict[str, Any] | None = None
    """The quick test's stricter-or-equal subschema; None sends the value to the engine."""
    regional: Callable[[str], FormatChecker] | None = None
    """The check for a region (the schema's `REGION` keyword, else the options' one)."""


# -- the compiler's nodes -------------------------------------------------------------------

MX_PENDING: ContextVar[list[tuple[Path, str]] | None] = ContextVar("mx_pending", default=None)
"""E-mail values that passed syntax and await a deliverability check, per validation call."""


def _blank_node(value: Any, path: Cell, out: list[Failure]) -> None:
    if isinstance(value, str) and value and value.isspace():
        out.append(kw.blank(flat(path), value))


def _reserved_node(words: list[str]) -> Node:
    reserved = frozenset(w.casefold() for w in words)

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, str) and value.casefold() in reserved:
            out.append(kw.reserved_word(flat(path), value))

    return node


def words_regex(words: list[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def _chars_regex(chars: str | list[str]) -> re.Pattern[str] | None:
    """The class of the characters; None when there are none (an empty string in a list, as
    the fallback reads it, is a character that never occurs)."""
    found = [c for c in chars if c]
    return re.compile("[" + "".join(re.escape(c) for c in found) + "]") if found else None


def _search_node(pattern: re.Pattern[str], build: Callable[[Path, str, str], Failure]
                 ) -> Node:
    """A string that `pattern` finds something in fails with `build(path, value, found)`."""

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if isinstance(value, str):
            match = pattern.search(value)
            if match is not None:
                out.append(build(flat(path), value, match.group()))

    return node


def _forbidden_words_node(words: list[str]) -> Node:
    return _search_node(words_regex(words), kw.forbidden_word)


def _forbidden_chars_node(chars: str | list[str]) -> Node | None:
    pattern = _chars_regex(chars)
    return _search_node(pattern, kw.forbidden_character) if pattern is not None else None


def _chars_refusal(chars: str | list[str]) -> FastRefusal | None:
    pattern = _chars_regex(chars)
    return FastRefusal(pattern=pattern.pattern) if pattern is not None else None


def _emoji_node(value: Any, path: Cell, out: list[Failure]) -> None:
    if isinstance(value, str):
        match = kw.EMOJI.search(value)
        if match is not None:
            out.append(kw.emoji(flat(path), value, match.group()))


def _mx_node(value: Any, path: Cell, out: list[Failure]) -> None:
    # Only well-formed addresses are looked up (SPEC §3): syntax failures are reported by
    # the `format` rule beside this one.
    if isinstance(value, str) and email_syntax_error(value) is None:
        pending = MX_PENDING.get()
        if pending is not None:
            pending.append((flat(path), value))


# -- the fallback's keyword functions -------------------------------------------------------

class EngineError(ValidationError):
    """Carries an engine keyword's outcome through jsonschema. The path is only known once
    jsonschema has placed the error, so the failure is built from it later; a `build` that
    returns None has done what the keyword needs (noted an address to look up) and reports
    nothing."""

    build: Callable[[Path], Failure | None]


def string_keyword(rule: Callable[[Any, str], Callable[[Path], Failure | None] | None]
                    ) -> FallbackKeyword:
    def keyword(validator: Any, value: Any, instance: Any, schema: Any
                ) -> Iterator[ValidationError]:
        if isinstance(instance, str):
            build = rule(value, instance)
            if build is not None:
                error = EngineError(instance)
                error.build = build
                yield error

    return keyword


def _not_blank(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    if value is True and instance and instance.isspace():
        return lambda path: kw.blank(path, instance)
    return None


def _reserved(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    if instance.casefold() in {w.casefold() for w in value}:
        return lambda path: kw.reserved_word(path, instance)
    return None


def _forbidden_words(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    match = words_regex(value).search(instance)
    if match is None:
        return None
    return lambda path: kw.forbidden_word(path, instance, match.group())


def _forbidden_chars(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    for char in instance:
        if char in value:
            return lambda path: kw.forbidden_character(path, instance, char)
    return None


def _no_emoji(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    match = kw.EMOJI.search(instance) if value is True else None
    if match is None:
        return None
    return lambda path: kw.emoji(path, instance, match.group())


def _mx(value: Any, instance: str) -> Callable[[Path], None] | None:
    pending = MX_PENDING.get()
    if value is not True or pending is None or email_syntax_error(instance) is not None:
        return None
    return lambda path: pending.append((path, instance))


def _account_custom_fields(validator: Any, value: Any, instance: Any, schema: Any
                           ) -> Iterator[ValidationError]:
    for build in account.custom_fields_failures(value, instance):
        error = EngineError(instance)
        error.build = build
        yield error


# -- the quick test's translations ----------------------------------------------------------

_ATEXT = r"a-zA-Z0-9_!#$%&'*+/=?^`{|}~-"
# Labels of at most 20 + 2 * 21 = 62 characters (under the 63 limit), hyphens only between
# alphanumerics (so never "--"), and a top-level label of letters only.
_LABEL = r"[a-zA-Z0-9]{1,20}(?:-[a-zA-Z0-9]{1,20}){0,2}"
QUICK_EMAIL = rf"^[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?:{_LABEL}\.)+[a-zA-Z]{{2,20}}$"
QUICK_SPECIAL_USE = "(?i)[.@](?:" + "|".join(
    re.escape(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES) + ")$"
_QUICK_NOT_BLANK = {"pattern": r"[\p{L}\p{N}]"}


def _adds_nothing(value: Any) -> dict[str, Any]:
    return {}


# -- the schema checks ----------------------------------------------------------------------

def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {value!r}"


def _strings(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return None
    return f"expected an array of strings, got {value!r}"


def _characters(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    return _strings(value) and f"expected a string or an array of strings, got {value!r}"


def _region(value: Any) -> str | None:
    if isinstance(value, str) and len(value) == 2:
        return None
    return f"expected a two-letter region such as 'PL', got {value!r}"


# -- the tables -----------------------------------------------------------------------------

MX = "mx"
REGION = "phoneRegion"

KEYWORDS: dict[str, Keyword] = {
    "notBlank": Keyword(
        compile=lambda v: _blank_node if v is True else None,
        fallback=string_keyword(_not_blank),
        quick=lambda v: _QUICK_NOT_BLANK if v is True else {},
        fast=lambda v: FastRefusal(blank=True) if v is True else None,
        check=_boolean),
    "reservedWords": Keyword(
        compile=lambda v: _reserved_node(v) if v else None,
        fallback=string_keyword(_reserved),
        quick=None,
        fast=lambda v: FastRefusal(words=frozenset(w.casefold() for w in v)) if v else None,
        check=_strings),
    "forbiddenWords": Keyword(
        compile=lambda v: _forbidden_words_node(v) if v else None,
        fallback=string_keyword(_forbidden_words),
        quick=None,
        fast=lambda v: FastRefusal(pattern=words_regex(v).pattern) if v else None,
        check=_strings),
    "forbiddenCharacters": Keyword(
        compile=lambda v: _forbidden_chars_node(v) if v else None,
        fallback=string_keyword(_forbidden_chars),
        quick=None,
        fast=lambda v: _chars_refusal(v) if v else None,
        check=_characters),
    "noEmoji": Keyword(
        compile=lambda v: _emoji_node if v is True else None,
        fallback=string_keyword(_no_emoji),
        quick=None,
        fast=lambda v: FastRefusal(pattern=kw.EMOJI.pattern) if v is True else None,
        check=_boolean),
    # The addresses are looked up after the rules ran: the quick test leaves `mx` out, and
    # the caller reads the addresses at the paths `_mx_paths` finds.
    MX: Keyword(
        compile=lambda v: _mx_node if v is True else None,
        fallback=string_keyword(_mx),
        quick=_adds_nothing,
        fast=None,
        check=_boolean,
        enabled=lambda options: options.check_mx),
    # The account's rules, written into a schema by `_account_rules.with_account`.
    account.IDS: Keyword(
        compile=account.ids_node,
        fallback=string_keyword(account.ids_failure),
        quick=account.ids_quick,
        fast=None,
        check=account.check_ids_rule),
    account.CUSTOM_FIELDS: Keyword(
        compile=account.custom_fields_node,
        fallback=_account_custom_fields,
        quick=account.custom_fields_quick,
        fast=None,
        check=account.check_custom_fields_rule),
    # Read by the `format` rule of a regional format (`Format.regional`); no rule of its own.
    REGION: Keyword(
        compile=lambda v: None,
        fallback=None,
        quick=None,
        fast=lambda v: None,
        check=_region),
}

# Where a schema holds subschemas: what `check_keywords` walks (the values of `enum`, `const`,
# `default` … are data, not schemas).
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions",
                   "dependentSchemas")
_SUBSCHEMA_ONE = ("items", "additionalItems", "additionalProperties", "not", "if", "then",
                  "else", "contains", "propertyNames", "unevaluatedItems",
                  "unevaluatedProperties", "contentSchema")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")


def _subschemas(schema: dict[str, Any]) -> Iterator[tuple[str | int, Any]]:
    for key in _SUBSCHEMA_MAPS:
        value = schema.get(key)
        if isinstance(value, dict):
            for name, sub in value.items():
                yield f"{key}/{name}", sub
    for key in _SUBSCHEMA_ONE:
        if key in schema and not isinstance(schema[key], list):
            yield key, schema[key]
    for key in _SUBSCHEMA_LISTS:
        value = schema.get(key)
        if isinstance(value, list):
            for index, sub in enumerate(value):
                yield f"{key}/{index}", sub
    legacy = schema.get("dependencies")
    if isinstance(legacy, dict):
        for name, sub in legacy.items():
            if not isinstance(sub, list):
                yield f"dependencies/{name}", sub


def check_keywords(schema: Any) -> None:
    """Refuse, naming the keyword and where it stands, a value of an engine keyword (or a
    `pattern`) the rules could not use; made when a schema is registered or given inline,
    for every subschema, whichever engine later runs it. Iterative: a deep schema cannot
    exhaust the stack here."""
    from .._exceptions import SchemaError
    from ._patterns import check_pattern

    stack: list[tuple[str, Any]] = [("#", schema)]
    while stack:
        where, node = stack.pop()
        if not isinstance(node, dict):
            continue
        for name, entry in KEYWORDS.items():
            problem = entry.check(node[name]) if name in node and entry.check else None
            if problem is not None:
                raise SchemaError(f"{name}: {problem} (at {where})")
        if "pattern" in node:
            problem = check_pattern(node["pattern"])
            if problem is not None:
                raise SchemaError(f"pattern: {problem} (at {where})")
        if isinstance(node.get("patternProperties"), dict):
            for pattern in node["patternProperties"]:
                problem = check_pattern(pattern)
                if problem is not None:
                    raise SchemaError(f"patternProperties: {problem} (at {where})")
        stack.extend((f"{where}/{key}", sub) for key, sub in _subschemas(node))


FORMATS: dict[str, Format] = {
    "email": Format(check_email, quick={"pattern": QUICK_EMAIL, "maxLength": 254,
                                        "not": {"pattern": QUICK_SPECIAL_USE}}),
    "idn-email": Format(check_email),
    "ipv4": Format(check_ipv4, matcher=IPV4_RE.fullmatch, quick={"pattern": QUICK_IPV4}),
    "ipv6": Format(check_ipv6, quick={"pattern": QUICK_IPV6}),
    "ip": Format(check_ip, quick={"pattern": QUICK_IP}),
    "date": Format(check_date, quick={"pattern": QUICK_DATE}),
    "date-time": Format(check_date_time),
    "uri": Format(check_uri),
    "url": Format(check_url),
    "phone": Format(check_phone, regional=lambda region: partial(check_phone, region=region)),
    "resource-id": Format(check_resource_id, matcher=RESOURCE_ID_RE.fullmatch,
                          quick={"pattern": "^[A-Za-z0-9]{1,64}$"}),
    "string-boolean": Format(check_string_boolean),
    "regex": Format(check_regex),
}
