"""Query strings → the object a query schema checks.

A query schema (``"validationType": "query"`` at its root, as the OpenAPI importer writes them)
describes parameters as one object: ``page``, ``perPage``, and bracketed names nested, so
``query[createdOn][from]=2024-01-01`` is ``{"query": {"createdOn": {"from": "2024-01-01"}}}``
and a failure there points at ``["query", "createdOn", "from"]``.

Every value of a query string is text. Where the schema asks for an integer, a number or a
boolean and the text is one, it is converted; text that is not one stays text, so the engine
reports a 1006 with the value as sent. A name given twice keeps the last value, and ``name[]``
collects a list, as the API's own parameter parsing does; a parameter the schema declares as an
array collects every value given for it (OpenAPI's default ``form`` style).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from .._results import Failure
from ._schema_view import INTEGER_TEXT, MAX_DEPTH, NUMBER_TEXT, SchemaView

QUERY = "query"
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def is_query_schema(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("validationType") == QUERY


def _keys(name: str) -> list[str]:
    """``query[createdOn][from]`` → ``["query", "createdOn", "from"]``; ``ids[]`` ends with
    ``""`` (append)."""
    head, bracket, _ = name.partition("[")
    if not bracket:
        return [name]
    return [head, *_BRACKETS.findall(name[len(head):])]


def _pairs(raw: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw).decode("utf-8", "replace")
    if isinstance(raw, str):
        return parse_qsl(raw.removeprefix("?"), keep_blank_values=True)
    if isinstance(raw, Mapping):
        pairs: list[tuple[str, Any]] = []
        for name, value in raw.items():
            if isinstance(value, list | tuple) and not str(name).endswith("[]"):
                # A multi-dict flattened to lists (parse_qs): the last value wins.
                pairs.extend((str(name), v) for v in value)
            else:
                pairs.append((str(name), value))
        return pairs
    if isinstance(raw, list | tuple) and all(
            isinstance(p, list | tuple) and len(p) == 2 and isinstance(p[0], str) for p in raw):
        return [(name, value) for name, value in raw]
    raise TypeError("not query parameters")


class QueryShape:
    """Converts query parameters to the types the query schema declares."""

    def __init__(self, view: SchemaView) -> None:
        self._view = view

    def _types(self, path: list[str]) -> frozenset[str]:
        # "" (a `name[]` item) is the schema's `items`, which SchemaView reads from an int.
        return self._view.types([0 if key == "" else key for key in path])

    def _convert(self, path: list[str], text: Any) -> Any:
        if not isinstance(text, str):
            return text
        types = self._types(path)
        value = text.strip()
        if "boolean" in types and value in ("true", "false"):
            return value == "true"
        if types & {"integer", "number"} and INTEGER_TEXT.fullmatch(value):
            return int(value)
        if "number" in types and NUMBER_TEXT.fullmatch(value):
            return float(value)
        if "null" in types and value == "null":
            return None
        return text

    def payload(self, raw: Any) -> Any:
        """A raw query string, a mapping of parameters, or (name, value) pairs → the nested
        object, converted. An already nested mapping passes through with its texts converted."""
        if isinstance(raw, Mapping) and all(
                "[" not in str(k) for k in raw) and any(isinstance(v, Mapping)
                                                        for v in raw.values()):
            return self._walk([], raw)
        try:
            pairs = _pairs(raw)
        except TypeError:
            # Not parameters at all (a JSON array sent to /validate/…): the schema's type
            # check reports it.
            return raw
        out: dict[str, Any] = {}
        for name, value in pairs:
            keys = _keys(name)
            if "" in keys[:-1] or not keys[0]:
                # A shape the nesting does not cover (``a[][b]``): kept under its own name,
                # so the schema still sees it rather than losing it.
                out[name] = value
                continue
            node: dict[str, Any] = out
            for depth, key in enumerate(keys[:-1]):
                child = node.get(key)
                append = keys[depth + 1] == ""
                if append and depth + 1 == len(keys) - 1:
                    if not isinstance(child, list):
                        child = node[key] = []
                    child.append(self._convert([*keys[:-1], ""], value))
                    break
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
            else:
                if self._is_array(keys):
                    # OpenAPI's default for an array in a query (form, exploded):
                    # `tags=a&tags=b` is ["a", "b"].
                    items = node.get(keys[-1])
                    if not isinstance(items, list):
                        items = node[keys[-1]] = []
                    items.append(self._convert([*keys, ""], value))
                else:
                    node[keys[-1]] = self._convert(keys, value)
        return out

    def _is_array(self, path: list[str]) -> bool:
        return self._types(path) == {"array"}

    def _walk(self, path: list[str], value: Any) -> Any:
        if len(path) > MAX_DEPTH:
            # Past the nesting limit the value is left as given, unconverted: the depth check
            # that follows refuses the payload, and the walk never outruns the stack.
            return value
        if isinstance(value, Mapping):
            return {k: self._walk([*path, str(k)], v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk([*path, ""], v) for v in value]
        return self._convert(path, value)


def mark_query(failures: list[Failure]) -> list[Failure]:
    for failure in failures:
        failure.validation_type = QUERY
    return failures
