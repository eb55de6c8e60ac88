"""Checks against the host's data (1001, 1008), run on the values that passed the schema."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .._catalog import Code
from .._results import Failure, Path, Result

__all__ = ["Lookup", "LookupCallback", "related", "unique"]

log = logging.getLogger("validator.web")

LookupCallback = Callable[[Any], bool | Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Lookup:
    """A check against the host's data, run on values that passed the schema.

    `path` addresses values in the body; `"*"` stands for every index of an array
    (`("tags", "*", "tagId")`). For 1001 the callback says whether the related resource
    exists (False → failure); for 1008 whether the value is already taken (True → failure).
    `schemas` limits the lookup to those schema names (None: every schema).
    """

    code: Literal[Code.RELATED_NOT_FOUND, Code.NOT_UNIQUE]
    path: tuple[str | int, ...]
    callback: LookupCallback
    schemas: frozenset[str] | None = None
    description: str | None = None

    def applies_to(self, schema: str) -> bool:
        return self.schemas is None or schema in self.schemas

    def fails(self, answer: bool) -> bool:
        return not answer if self.code == Code.RELATED_NOT_FOUND else bool(answer)

    def failure(self, path: Path, value: Any) -> Failure:
        if self.description is not None:
            text = self.description
        elif self.code == Code.RELATED_NOT_FOUND:
            text = f"Related resource {value!r} cannot be found"
        else:
            text = f"Value {value!r} is already used by another resource"
        return Failure(self.code, path, value, text, keyword="lookup")

    def fault(self, path: Path, value: Any, exc: Exception) -> Failure:
        """The host's data source failed: the check could not be made, which SPEC §3 names
        1010."""
        log.warning("lookup for %s failed", "/".join(map(str, path)), exc_info=exc)
        kind = "related resource" if self.code == Code.RELATED_NOT_FOUND else "unique"
        return Failure(Code.EXTERNAL_ERROR, path, value, f"The {kind} check could not be made",
                       keyword="lookup")


def related(path: Sequence[str | int], exists: LookupCallback, *,
            schemas: Iterable[str] | None = None, description: str | None = None) -> Lookup:
    """1001 when `exists(value)` is false: the referenced campaign, tag ... is unknown."""
    return Lookup(Code.RELATED_NOT_FOUND, tuple(path), exists,
                  None if schemas is None else frozenset(schemas), description)


def unique(path: Sequence[str | int], taken: LookupCallback, *,
           schemas: Iterable[str] | None = None, description: str | None = None) -> Lookup:
    """1008 when `taken(value)` is true: another resource already has this unique value."""
    return Lookup(Code.NOT_UNIQUE, tuple(path), taken,
                  None if schemas is None else frozenset(schemas), description)


def lookup_targets(lookups: Iterable[Lookup], schema: str, data: Any, result: Result
                   ) -> list[tuple[Lookup, Path, Any]]:
    """Each lookup with the values it applies to; a value that already fails the schema (or
    sits inside or around one that does) is not looked up."""
    targets = []
    for lookup in lookups:
        if not lookup.applies_to(schema):
            continue
        for path, value in _values_at(data, lookup.path):
            if value is None or any(_touches(f.field_name, path) for f in result.failures):
                continue
            targets.append((lookup, path, value))
    return targets


def _values_at(data: Any, pattern: tuple[str | int, ...], prefix: Path = ()
               ) -> list[tuple[Path, Any]]:
    if not pattern:
        return [(prefix, data)]
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if isinstance(data, list):
            return [hit for i, item in enumerate(data) for hit in _values_at(item, rest,
                                                                            (*prefix, i))]
        if isinstance(data, dict):
            return [hit for k, item in data.items() for hit in _values_at(item, rest,
                                                                         (*prefix, k))]
        return []
    if isinstance(data, dict) and isinstance(head, str) and head in data:
        return _values_at(data[head], rest, (*prefix, head))
    if isinstance(data, list) and isinstance(head, int) and 0 <= head < len(data):
        return _values_at(data[head], rest, (*prefix, head))
    return []


def _touches(failure_path: Path, path: Path) -> bool:
    """A failure on the value itself or on anything containing or inside it."""
    short = min(len(failure_path), len(path))
    return failure_path[:short] == path[:short]
