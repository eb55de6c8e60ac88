"""Regular expressions from schemas (`pattern`, `patternProperties`) under a time bound.

Python's `re` backtracks without limit: ``^(a+)+$`` against thirty a's and a ``!`` runs for
minutes, and the value comes from whoever sends the payload. Schema patterns therefore run on
the `regex` engine (the same syntax as `re`, plus the ``\\p{...}`` classes JSON Schema patterns
may use), whose searches stop after `PATTERN_TIMEOUT` seconds. A search that stops is neither
a match nor a mismatch: the rule reports that the value could not be checked (1003), never a
pass.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import regex

from .._exceptions import SchemaError

PATTERN_TIMEOUT = 0.1
"""Seconds one search of one value may take."""
PATTERN_TIMEOUT_MS = round(PATTERN_TIMEOUT * 1000)

Search = Callable[[str], "bool | None"]
"""``value → True`` (found), ``False`` (not found) or ``None`` (out of time)."""


# Patterns that cannot backtrack more than linearly: anchored at both ends, a sequence of
# characters and character classes, each at most once repeated exactly (`{n}`), and at most one
# of them repeated without bound (`+`, `*`; `_UNBOUNDED` counts them): `^[0-9]+$`,
# `^[A-Za-z]{2}$`. These keep `re`, whose search is several times cheaper than a timed one.
_CLASS = r"\[(?:\\.|[^\]\\])+\]"
_ATOM = rf"(?:{_CLASS}|\\[^0-9A-Za-z]|[A-Za-z0-9 _,:;@#%&=~'\"!<>/-])"
_LINEAR = re.compile(rf"\^(?:{_ATOM}(?:\{{[0-9]{{1,3}}\}}|[+*])?)*\$")
_UNBOUNDED = re.compile(rf"(?:{_CLASS}|\\.|[^+*])*?([+*])")


def _linear(pattern: str) -> bool:
    return _LINEAR.fullmatch(pattern) is not None and len(_UNBOUNDED.findall(pattern)) <= 1


def compile_pattern(pattern: Any) -> Search:
    """The bounded search of a schema's pattern; a pattern no engine reads is a
    `SchemaError`."""
    if not isinstance(pattern, str):
        raise SchemaError(f"a pattern must be a string, got {pattern!r}")
    if _linear(pattern):
        plain = re.compile(pattern).search
        return lambda value: plain(value) is not None
    try:
        compiled = regex.compile(pattern)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise SchemaError(f"invalid pattern {pattern!r}: {exc}") from exc
    search = compiled.search

    def bounded(value: str) -> bool | None:
        try:
            return search(value, timeout=PATTERN_TIMEOUT) is not None
        except TimeoutError:
            return None

    return bounded


@functools.lru_cache(maxsize=512)
def cached_pattern(pattern: str) -> Search:
    """`compile_pattern` for the fallback engine, which meets its patterns only while
    validating."""
    return compile_pattern(pattern)


def check_pattern(pattern: Any) -> str | None:
    """For the registration checks: None, or what is wrong with the pattern."""
    try:
        compile_pattern(pattern)
    except SchemaError as exc:
        return str(exc)
    return None


MAX_REGEX_GROUPS = 200
"""`format: regex` values with more opening parentheses than this are refused (1003) unread:
Python's regex parser recurses once per nested group."""


def check_regex(value: str) -> str | None:
    """`format: regex`: whether the value is a regular expression (as jsonschema decides it,
    with Python's `re`), bounded so that a hostile value cannot exhaust the stack."""
    if value.count("(") > MAX_REGEX_GROUPS:
        return (f"Expected a regular expression of at most {MAX_REGEX_GROUPS} groups; this one "
                f"has more and is not read")
    try:
        re.compile(value)
    except re.error as exc:
        return f"Expected a regular expression, got {value!r}: {exc}"
    except (RecursionError, OverflowError, MemoryError):
        return "Expected a regular expression simple enough to read; this one is not read"
    return None
