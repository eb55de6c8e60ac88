"""Which paths of a payload the `mx` rule looks up: the one walker that the quick test (through
`Validator`) and batch runs read, so that the two cannot disagree about a schema.

A path is a tuple of property names, array indexes (``prefixItems``) and `EVERY_ITEM` (every
item of an array, ``items``): ``("contacts", EVERY_ITEM, "email")``. `values_at` reads a
payload at such a path the way the engine's rules walk it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from .._results import Path
from ._dialect import MX
from ._schema_view import SchemaView

if TYPE_CHECKING:
    from referencing._core import Resolver


class Wildcard(enum.Enum):
    EVERY_ITEM = "every item"

    def __repr__(self) -> str:
        return self.name


EVERY_ITEM: Final = Wildcard.EVERY_ITEM

MXPath = tuple[str | int | Wildcard, ...]


@dataclass(frozen=True, slots=True)
class MXPaths:
    paths: tuple[MXPath, ...]
    """Every path at which an `mx` rule may look an address up (each once)."""
    exact: bool
    """Whether a payload valid under the schema has its addresses looked up exactly at
    `paths`: every `mx` rule sits on a chain of ``properties``, ``items``, ``prefixItems``,
    ``allOf`` and ``$ref``. Otherwise (a rule under ``anyOf`` or ``additionalProperties``, a
    recursive one …) `paths` holds what could be named, and only the engine knows the rest."""


# Applicators whose subschema applies to the same value, but not always.
_CONDITIONAL_ONE = ("not", "if", "then", "else")
_CONDITIONAL_LIST = ("anyOf", "oneOf")
# Applicators whose subschema applies to values at paths this walker does not name.
_UNNAMED_ONE = ("additionalProperties", "contains", "propertyNames", "unevaluatedItems",
                "unevaluatedProperties")
_DATA = frozenset({"enum", "const", "examples", "default"})


def mx_paths(view: SchemaView) -> MXPaths:
    found: list[MXPath] = []
    exact = True

    def reaches_mx(node: Any, resolver: Resolver[Any], seen: set[int]) -> bool:
        """Whether any `mx` rule is reachable from here, through any keyword."""
        if isinstance(node, list):
            return any(reaches_mx(item, resolver, seen) for item in node)
        if not isinstance(node, dict) or id(node) in seen:
            return False
        seen.add(id(node))
        if node.get(MX) is True:
            return True
        if isinstance(node.get("$ref"), str):
            try:
                resolved = resolver.lookup(node["$ref"])
            except Unresolvable:
                pass
            else:
                if reaches_mx(resolved.contents, resolved.resolver, seen):
                    return True
        return any(reaches_mx(value, resolver, seen) for key, value in node.items()
                   if key not in _DATA)

    def walk(node: Any, resolver: Resolver[Any], path: MXPath, certain: bool,
             active: frozenset[int], root: bool = False) -> None:
        nonlocal exact
        if not isinstance(node, dict):
            return
        if "$id" in node and not root:
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        if id(node) in active:
            # A recursive schema: `mx` below it would sit at paths without end.
            if reaches_mx(node, resolver, set()):
                exact = False
            return
        active = active | {id(node)}
        if node.get(MX) is True:
            if path in found or not certain:
                exact = False
            if path not in found:
                found.append(path)
        if "$dynamicRef" in node:
            exact = False
        for name, sub in _mapping(node.get("properties")).items():
            walk(sub, resolver, (*path, name), certain, active)
        prefix = node.get("prefixItems")
        for index, sub in enumerate(prefix if isinstance(prefix, list) else ()):
            walk(sub, resolver, (*path, index), certain, active)
        if "items" in node:
            # After prefixItems, `items` covers only the items past them.
            walk(node["items"], resolver, (*path, EVERY_ITEM), certain and not prefix, active)
        if isinstance(node.get("$ref"), str):
            try:
                resolved = resolver.lookup(node["$ref"])
            except Unresolvable:
                pass  # the compiler refuses the schema, naming the reference
            else:
                walk(resolved.contents, resolved.resolver, path, certain, active)
        for sub in _sequence(node.get("allOf")):
            walk(sub, resolver, path, certain, active)
        for key in _CONDITIONAL_LIST:
            for sub in _sequence(node.get(key)):
                walk(sub, resolver, path, False, active)
        for key in _CONDITIONAL_ONE:
            if key in node:
                walk(node[key], resolver, path, False, active)
        for key in ("dependentSchemas", "dependencies"):
            for sub in _mapping(node.get(key)).values():
                walk(sub, resolver, path, False, active)
        unnamed = [node[key] for key in _UNNAMED_ONE if key in node]
        unnamed.extend(_mapping(node.get("patternProperties")).values())
        if exact and any(reaches_mx(sub, resolver, set()) for sub in unnamed):
            exact = False

    walk(view.root, view.resolver, (), True, frozenset(), root=True)
    return MXPaths(tuple(found), exact)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def values_at(data: Any, path: MXPath) -> Iterator[tuple[Path, Any]]:
    """The values of `data` at `path`, each with its own path (indexes for `EVERY_ITEM`),
    where the rules reach them: properties of objects, items of arrays."""
    return _values_at(data, path, ())


def _values_at(value: Any, path: MXPath, where: Path) -> Iterator[tuple[Path, Any]]:
    for depth, key in enumerate(path):
        if key is EVERY_ITEM:
            if isinstance(value, list):
                rest = path[depth + 1:]
                for index, item in enumerate(value):
                    yield from _values_at(item, rest, (*where, index))
            return
        if isinstance(key, int):
            if not isinstance(value, list) or key >= len(value):
                return
            value = value[key]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            return
        where = (*where, key)
    yield where, value
