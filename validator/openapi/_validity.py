"""Is a document valid OpenAPI? openapi-spec-validator's answer, with the error it finds.

The library checks the document's structure (and its own rules: unique operationIds, declared
path parameters ...). It does not follow ``$ref``s, and for 3.1 it does not check what a schema
says. So every schema object the document holds or refers to (inline, under
``components.schemas``, or in a bundled file) is also checked against the dialect's
metaschema: OpenAPI 3.0's Schema Object, or JSON Schema 2020-12 for 3.1. An error names the
place as a JSON pointer, and the file when the place is in a bundled one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._exceptions import OpenAPIError
from ._bundle import BUNDLED

# Keys whose values are data, not parts of the document: never read as schemas.
_DATA = frozenset({"example", "examples", "default", "enum", "const"})


def check_document(document: dict[str, Any], source: str | Path,
                   origins: Mapping[str, Path] | None = None) -> None:
    """Raise OpenAPIError with the document's own error when it is not valid OpenAPI."""
    from jsonschema.exceptions import best_match
    from openapi_spec_validator import validate
    from openapi_spec_validator.schemas import schema_v30, schema_v31

    version = str(document.get("openapi", ""))
    raw = schema_v31 if version.startswith("3.1") else schema_v30
    try:
        validate(document)
    except Exception as exc:  # the library raises its own ValidationError and others
        # Its error on a union (a request body or a reference?) is the whole union; the same
        # document against the same schema, in plain jsonschema, points at the leaf.
        import jsonschema

        structure = jsonschema.validators.validator_for(raw)(raw)
        found = best_match(structure.iter_errors(document))
        if found is not None:
            raise _error(source, origins, found.message, list(found.absolute_path)) from None
        raise OpenAPIError(f"{source} is not a valid OpenAPI {version} document: "
                           f"{str(exc).splitlines()[0]}") from None
    checker = _schema_checker(version, raw)
    for where, schema in _schemas(document):
        found = best_match(checker.iter_errors(schema))
        if found is not None:
            raise _error(source, origins, found.message, [*where, *found.absolute_path])


def _schema_checker(version: str, raw: Any) -> Any:
    import jsonschema

    if version.startswith("3.1"):
        return jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)
    schema = {"$ref": "#/definitions/Schema", "definitions": raw["definitions"]}
    return jsonschema.Draft4Validator(schema)


def _error(source: str | Path, origins: Mapping[str, Path] | None, message: str,
           path: list[Any]) -> OpenAPIError:
    where = path
    file = source
    if len(path) >= 2 and path[0] == BUNDLED and origins and path[1] in origins:
        file, where = origins[path[1]], path[2:]
    pointer = "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in where)
    return OpenAPIError(f"{file} is not valid OpenAPI: {message} (at {pointer})")


def _schemas(document: Mapping[str, Any]) -> Iterator[tuple[list[Any], Any]]:
    """(path, schema) of every schema object reached from the document's structure, each
    once: those at a ``schema`` key, under ``components.schemas``, and the targets of the
    ``$ref``s in and around them."""
    seen: set[str] = set()
    todo: list[tuple[list[Any], Any, bool]] = [([], document, False)]
    components = document.get("components")
    if isinstance(components, Mapping) and isinstance(components.get("schemas"), Mapping):
        todo += [(["components", "schemas", name], value, True)
                 for name, value in components["schemas"].items()]
    while todo:
        path, node, is_schema = todo.pop()
        if is_schema:
            key = "/".join(map(str, path))
            if key in seen:
                continue
            seen.add(key)
            if not (isinstance(node, Mapping) and "$ref" in node):  # a Reference Object
                yield path, node
            todo += [(target_path, target, True) for target_path, target in
                     _targets(document, node)]
            continue
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                target = _resolve(document, ref)
                if target is not None and ref not in seen:
                    seen.add(ref)
                    todo.append((_split(ref), target, False))
            for name, value in node.items():
                if name in _DATA or (isinstance(name, str) and name.startswith("x-")) \
                        or (path == ["components"] and name == "schemas"):  # seen above
                    continue
                todo.append(([*path, name], value, name == "schema"))
        elif isinstance(node, list):
            todo += [([*path, i], item, False) for i, item in enumerate(node)]


def _targets(document: Mapping[str, Any], schema: Any) -> Iterator[tuple[list[Any], Any]]:
    """The schemas that ``$ref``s inside ``schema`` point at."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                target = _resolve(document, ref)
                if target is not None:
                    yield _split(ref), target
            stack += [v for k, v in node.items() if k not in _DATA]
        elif isinstance(node, list):
            stack += node


def _split(ref: str) -> list[Any]:
    return [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]


def _resolve(document: Mapping[str, Any], ref: str) -> Any:
    node: Any = document
    for part in _split(ref):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None  # the translation says so, with the reference
    return node
