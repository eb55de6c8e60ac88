"""What a schema says about the value at a path (across ``$ref``s), and when a text is a
number: shared by the two places that turn text into the JSON a schema expects, CSV cells
(`_batch_map`) and query strings (`_query`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from referencing import Registry
from referencing.exceptions import Unresolvable

MAX_DEPTH = 128
"""The deepest nesting of objects and arrays a payload may have (the top-level object or array
is level 1). Deeper payloads are refused before any rule walks them. It lives in this leaf
module because the quick test and the query rules both need it and import each other's
neighbours."""

INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class SchemaView:
    """Answers "what does the schema say about the value at this path?" across ``$ref``s."""

    def __init__(self, document: Any, base_uri: str, resources: Registry[Any]) -> None:
        self.root = document
        self.resolver = resources.resolver(base_uri)

    def node(self, path: Sequence[str | int]) -> dict[str, Any] | None:
        node: Any = self.root
        resolver = self.resolver
        for key in (*path, None):
            # Follow a chain of $refs before looking inside the node.
            for _ in range(32):
                if not isinstance(node, dict) or "$ref" not in node:
                    break
                try:
                    resolved = resolver.lookup(node["$ref"])
                except Unresolvable:
                    return None
                node, resolver = resolved.contents, resolved.resolver
            if key is None:
                break
            if not isinstance(node, dict):
                return None
            if isinstance(key, int):
                node = node.get("items")
            else:
                node = node.get("properties", {}).get(key)
        return node if isinstance(node, dict) else None

    def types(self, path: Sequence[str | int]) -> frozenset[str]:
        node = self.node(path)
        if node is None:
            return frozenset()
        declared = node.get("type")
        if isinstance(declared, str):
            return frozenset((declared,))
        if isinstance(declared, list):
            return frozenset(t for t in declared if isinstance(t, str))
        return frozenset()
