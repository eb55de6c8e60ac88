"""Reference loops that never move into the payload, refused when an engine is built.

``{"properties": {"v": {"$ref": "#/properties/v"}}}`` applies the same subschema to the same
value without end: a validator that follows it recurses until the interpreter stops it.
JSON Schema 2020-12 (core §9.4.1) makes such a schema an error. A loop through keywords that
move into a part of the value (`properties`, `items`, ...) is fine: each turn reads a deeper
part, and the payload's nesting limit bounds the turns.

The check walks the subschemas reachable from the root, following `$ref`/`$dynamicRef` (as
`$ref`: resolved statically, which over-approximates where a dynamic reference may lead, and
a loop there is only reported if one of its possible targets closes it) and keeps, for each,
the subschemas it applies in place; a cycle among those is the error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import referencing
import referencing.exceptions
from referencing.jsonschema import DRAFT202012

from .._exceptions import SchemaError

if TYPE_CHECKING:
    from referencing._core import Resolver

# Keywords whose subschemas apply to the same value.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_MANY = ("allOf", "anyOf", "oneOf")
_IN_PLACE_MAP = ("dependentSchemas",)
# Keywords whose subschemas apply to a part of the value.
_INTO_ONE = ("items", "contains", "additionalProperties", "propertyNames",
             "unevaluatedItems", "unevaluatedProperties", "additionalItems")
_INTO_MANY = ("prefixItems",)
_INTO_MAP = ("properties", "patternProperties")

_Key = tuple[int, str]


def _children(node: dict[str, Any], names: tuple[str, ...], kind: str, pointer: str
              ) -> list[tuple[dict[str, Any], str]]:
    """The subschemas under `names`, each with its JSON pointer."""
    found: list[tuple[Any, str]] = []
    for name in names:
        value = node.get(name)
        if kind == "one":
            found.append((value, f"{pointer}/{name}"))
        elif kind == "many" and isinstance(value, list):
            found.extend((item, f"{pointer}/{name}/{i}") for i, item in enumerate(value))
        elif kind == "map" and isinstance(value, dict):
            found.extend((item, f"{pointer}/{name}/{key}") for key, item in value.items())
    return [(child, where) for child, where in found if isinstance(child, dict)]


def check_reference_loops(schema: Any, registry: referencing.Registry[Any],
                          base_uri: str = "") -> None:
    """`SchemaError` when a subschema reachable from `schema` reaches itself again through
    in-place keywords and references only."""
    if not isinstance(schema, dict):
        return
    resource = DRAFT202012.create_resource(schema)
    uri = base_uri or resource.id() or ""
    resolver = registry.with_resource(uri, resource).resolver(base_uri=uri)
    in_place: dict[_Key, list[_Key]] = {}
    where: dict[_Key, str] = {}
    stack: list[tuple[dict[str, Any], Resolver[Any], bool, str]] = [
        (schema, resolver, True, "#")]
    while stack:
        node, resolver, entered, pointer = stack.pop()
        if "$id" in node and not entered:
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        key = (id(node), str(getattr(resolver, "_base_uri", "")))
        if key in in_place:
            continue
        where.setdefault(key, pointer)
        targets: list[_Key] = []
        in_place[key] = targets
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if not isinstance(ref, str):
                continue
            try:
                resolved = resolver.lookup(ref)
            except referencing.exceptions.Unresolvable:
                continue  # the engine that is built next says what is wrong with it
            contents = resolved.contents
            if isinstance(contents, dict):
                inner = resolved.resolver
                targets.append((id(contents), str(getattr(inner, "_base_uri", ""))))
                stack.append((contents, inner, True, ref))
        for child, at in (*_children(node, _IN_PLACE_ONE, "one", pointer),
                          *_children(node, _IN_PLACE_MANY, "many", pointer),
                          *_children(node, _IN_PLACE_MAP, "map", pointer)):
            child_resolver = resolver
            if "$id" in child:
                child_resolver = resolver.in_subresource(DRAFT202012.create_resource(child))
            targets.append((id(child), str(getattr(child_resolver, "_base_uri", ""))))
            stack.append((child, resolver, False, at))
        for child, at in (*_children(node, _INTO_ONE, "one", pointer),
                          *_children(node, _INTO_MANY, "many", pointer),
                          *_children(node, _INTO_MAP, "map", pointer),
                          *_children(node, ("$defs",), "map", pointer)):
            stack.append((child, resolver, False, at))
    _refuse_cycles(in_place, where)


def _refuse_cycles(edges: dict[_Key, list[_Key]], where: dict[_Key, str]) -> None:
    # Iterative depth-first search with three colours: a grey node met again closes a cycle.
    colour: dict[_Key, int] = {}
    for start in edges:
        if colour.get(start):
            continue
        colour[start] = 1
        path: list[tuple[_Key, int]] = [(start, 0)]
        while path:
            node, index = path[-1]
            successors = edges.get(node, [])
            if index < len(successors):
                path[-1] = (node, index + 1)
                nxt = successors[index]
                state = colour.get(nxt, 0)
                if state == 1:
                    raise SchemaError(
                        f"the schema refers to itself without end: {where.get(nxt, '#')} "
                        f"applies to the same value again without reading a part of it "
                        f"(a $ref loop through in-place keywords only)")
                if state == 0:
                    colour[nxt] = 1
                    path.append((nxt, 0))
            else:
                colour[node] = 2
                path.pop()
