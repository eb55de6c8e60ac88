"""The rules an API document does not express, kept apart from the document so that importing
a newer document keeps them.

A rules file is JSON::

    {
      "names": {"upsertContactCustoms": "contacts.upsert-custom-fields"},
      "bodyProperties": {"campaignId": {"format": "resource-id", "notBlank": true}},
      "bodyFormats": {"email": {"notBlank": true, "mx": true}},
      "schemas": {
        "custom-fields.create": {
          "/properties/name": {"reservedWords": ["email", "name"]},
          "": {"if": {...}, "then": {...}}
        }
      }
    }

* ``names`` renames operations (by ``operationId`` or ``"METHOD /path"``);
* ``bodyProperties`` patches every property of that name in every request body (not in query
  schemas, where a field of the same name is a search term, not a value);
* ``bodyFormats`` patches every request-body value of that ``format`` (a property named
  ``email`` is not always an address: ``optinTypes.email`` is a choice of opt-in);
* ``schemas`` patches one generated schema at a JSON Pointer (``""`` is the root).

A patch is an RFC 7396 merge patch: objects merge, ``null`` deletes a key, anything else
replaces. A pointer or schema name that the import no longer produces is an error, not a rule
silently lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from .._exceptions import RulesError

_KNOWN = frozenset({"$comment", "names", "bodyProperties", "bodyFormats", "schemas"})


def load_rules(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        rules = orjson.loads(file.read_bytes())
    except OSError as exc:
        raise RulesError(f"cannot read rules file {file}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise RulesError(f"rules file {file} is not valid JSON: {exc}") from exc
    if not isinstance(rules, dict):
        raise RulesError(f"rules file {file} must hold a JSON object")
    unknown = set(rules) - _KNOWN
    if unknown:
        raise RulesError(f"rules file {file}: unknown keys {sorted(unknown)}; "
                         f"known: {sorted(_KNOWN - {'$comment'})}")
    for key in ("names", "bodyProperties", "bodyFormats", "schemas"):
        if not isinstance(rules.get(key, {}), dict):
            raise RulesError(f"rules file {file}: {key!r} must be an object")
    return rules


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _patch_body(node: Any, names: Mapping[str, Any], formats: Mapping[str, Any]) -> Any:
    """Every subschema, rebuilt with the by-name and by-format patches applied."""
    if isinstance(node, list):
        return [_patch_body(item, names, formats) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: merge_patch(_patch_body(sub, names, formats), names[name])
                        if name in names else _patch_body(sub, names, formats)
                        for name, sub in value.items()}
        elif key in ("enum", "const", "examples", "default", "required"):
            out[key] = value
        else:
            out[key] = _patch_body(value, names, formats)
    found = out.get("format")
    if isinstance(found, str) and found in formats:
        out = merge_patch(out, formats[found])
    return out


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _patch_at(schema: Any, pointer: str, patch: Any, name: str) -> Any:
    if pointer == "":
        return merge_patch(schema, patch)
    if not pointer.startswith("/"):
        raise RulesError(f"rules for {name}: {pointer!r} is not a JSON Pointer")
    tokens = [_unescape(t) for t in pointer[1:].split("/")]
    root = merge_patch(schema, {})
    node = root
    for index, token in enumerate(tokens):
        last = index == len(tokens) - 1
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            key: Any = int(token)
        elif isinstance(node, dict) and token in node:
            key = token
        else:
            raise RulesError(f"rules for {name} target {pointer}, which the imported schema "
                             f"does not have (no {token!r}); the document changed, or the "
                             "rule is wrong")
        if last:
            node[key] = merge_patch(node[key], patch)
        else:
            child = node[key]
            node[key] = child = list(child) if isinstance(child, list) \
                else merge_patch(child, {})
            node = child
    return root


def apply_rules(schemas: Mapping[str, dict[str, Any]], rules: Mapping[str, Any]
                ) -> dict[str, dict[str, Any]]:
    """The schemas with the rules applied; the input is left as it was."""
    by_name = rules.get("bodyProperties", {})
    by_format = rules.get("bodyFormats", {})
    out: dict[str, dict[str, Any]] = {}
    for name, schema in schemas.items():
        if (by_name or by_format) and schema.get("validationType") != "query":
            schema = _patch_body(schema, by_name, by_format)
        out[name] = schema
    for name, patches in rules.get("schemas", {}).items():
        if name not in out:
            raise RulesError(f"rules name schema {name!r}, which the import did not produce; "
                             f"produced: {', '.join(sorted(out))}")
        if not isinstance(patches, dict):
            raise RulesError(f"rules for {name} must be an object of JSON Pointer → patch")
        for pointer, patch in patches.items():
            if pointer == "$comment":
                continue
            out[name] = _patch_at(out[name], pointer, patch, name)
    return out
