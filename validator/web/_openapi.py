"""OpenAPI for the web backends: the registered schemas as `components/schemas` (`_Bundler`),
the API's error body, and `document_valid_bodies`, which makes a FastAPI app's own
`/openapi.json` (and so its docs page) show what each `ValidBody` route takes and answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urldefrag, urljoin

from .._catalog import DEFAULT_CATALOG, Code
from .._registry import SchemaRegistry

ERROR_RESPONSE: dict[str, Any] = {
    "type": "object",
    "description": "The API's error body (SPEC §2), keys in this order.",
    "required": ["httpStatus", "code", "codeDescription", "message", "moreInfo", "context",
                 "uuid"],
    "additionalProperties": False,
    "properties": {
        "httpStatus": {"type": "integer"},
        "code": {"type": "integer"},
        "codeDescription": {"type": "string"},
        "message": {"type": "string"},
        "moreInfo": {"type": "string"},
        "context": {
            "oneOf": [
                {"type": "array", "items": {"$ref": "#/components/schemas/ErrorContextEntry"}},
                {"type": "object"},
            ],
        },
        "uuid": {"type": "string", "format": "uuid"},
    },
}

ERROR_CONTEXT_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": ["validationType", "fieldName", "originalValue", "errorDescription", "code"],
    "properties": {
        "validationType": {"enum": ["body", "query", "path", "header"]},
        "fieldName": {"type": "array", "items": {"type": ["string", "integer"]}},
        "originalValue": {},
        "errorDescription": {"type": "string"},
        "code": {"type": "integer"},
        "limits": {"type": "object"},
        "expectedType": {"type": "array", "items": {"type": "string"}},
        "allowedValues": {"type": "array"},
        "regex": {"type": "string"},
    },
}

_AUTH_HEADER: dict[str, Any] = {
    "name": "X-Auth-Token",
    "in": "header",
    "required": True,
    "description": "`api-key <key>` (or send `Authorization: Bearer <token>` instead).",
    "schema": {"type": "string", "pattern": "^api-key [A-Za-z0-9]{8,32}$"},
}


class _Bundler:
    """Copies registered schemas into `components/schemas`, rewriting each `$ref` to the
    component it points at: a schema document becomes `<name>`, its `$defs/X` `<name>.X`."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self.components: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        for name in registry.names():
            self._names[registry.get(name)[1]] = name

    def _name_for(self, uri: str) -> str | None:
        found = self._names.get(uri)
        if found is not None:
            return found
        try:
            contents = self.registry.resources().contents(uri)
        except Exception:
            return None
        stem = uri.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json") or "schema"
        name = stem
        while name in self.components or name in self._names.values():
            name += "_"
        self._names[uri] = name
        self._add(name, contents, uri)
        return name

    def add(self, name: str) -> None:
        document, uri = self.registry.get(name)
        self._add(name, document, uri)

    def _add(self, name: str, document: Any, uri: str) -> None:
        if name in self.components:
            return
        if not isinstance(document, dict):
            self.components[name] = document
            return
        body = {k: v for k, v in document.items() if k not in ("$id", "$schema", "$defs")}
        self.components[name] = {}  # reserve the name before recursing (recursive schemas)
        for key, sub in document.get("$defs", {}).items():
            self.components[f"{name}.{key}"] = self._rewrite(sub, uri)
        self.components[name] = self._rewrite(body, uri)

    def _rewrite(self, node: Any, base: str) -> Any:
        if isinstance(node, list):
            return [self._rewrite(item, base) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = self._target(urljoin(base, value))
            elif key in ("$id", "$schema"):
                continue
            else:
                out[key] = self._rewrite(value, base)
        if out.get("$ref") is None and "$ref" in out:
            del out["$ref"]  # a reference this document cannot express: accept anything
        return out

    def _target(self, absolute: str) -> str | None:
        uri, fragment = urldefrag(absolute)
        name = self._name_for(uri)
        if name is None:
            return None
        if not fragment:
            return f"#/components/schemas/{name}"
        parts = fragment.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "$defs":
            return f"#/components/schemas/{name}.{parts[1]}"
        return None


# The codes a ValidBody route can answer, by where they come from (SPEC §3-§5).
_ROUTE_CODES = (Code.VALIDATION_ERROR, Code.WRONG_FORMAT, Code.WRONG_COUNT, Code.EMPTY_VALUE,
                Code.WRONG_TYPE, Code.WRONG_LENGTH, Code.BAD_HEADERS, Code.AUTHENTICATION,
                Code.QUOTA_REACHED, Code.SERVICE_UNAVAILABLE)


def error_responses(codes: tuple[int, ...] = _ROUTE_CODES) -> dict[str, Any]:
    """OpenAPI responses for the statuses ``codes`` answer with, each naming its codes."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        entry = DEFAULT_CATALOG[code]
        by_status.setdefault(entry.http_status, []).append(f"{entry.code} {entry.title}")
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    return {str(status): {"description": "The API's error body: " + "; ".join(names),
                          "content": {"application/json": {"schema": ref}}}
            for status, names in sorted(by_status.items())}


def _valid_bodies(dependant: Any) -> Iterator[Any]:
    # By a mark, not isinstance: `validator.web.asgi` imports this module.
    for sub in getattr(dependant, "dependencies", ()):
        if getattr(type(sub.call), "documents_request_body", False):
            yield sub.call
        yield from _valid_bodies(sub)


def document_valid_bodies(app: Any) -> None:
    """Make ``app.openapi()`` (FastAPI) describe the routes whose dependencies include a
    ``ValidBody``: its schema as the request body (a component, as `validator serve` names
    it), the error responses, and the auth header when the guard requires it."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema  # type: ignore[no-any-return]
        document: dict[str, Any] = original()
        _augment(app, document)
        app.openapi_schema = document
        return document

    app.openapi = openapi


def _augment(app: Any, document: dict[str, Any]) -> None:
    from fastapi.routing import APIRoute

    components = document.setdefault("components", {}).setdefault("schemas", {})
    bundlers: dict[int, _Bundler] = {}
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for body in _valid_bodies(route.dependant):
            registry = body.guard.registry
            bundler = bundlers.setdefault(id(registry), _Bundler(registry))
            bundler.add(body.schema)
            for method in route.methods or ():
                operation = document["paths"][route.path_format][method.lower()]
                operation["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": {
                        "$ref": f"#/components/schemas/{body.schema}"}}}}
                operation.setdefault("responses", {}).update(
                    {k: v for k, v in error_responses().items()
                     if k not in operation["responses"]})
                # FastAPI's own 422 never comes: the body is this guard's to refuse.
                operation["responses"].pop("422", None)
                if body.guard.require_auth:
                    names = {p.get("name") for p in operation.get("parameters", [])}
                    if _AUTH_HEADER["name"] not in names:
                        operation.setdefault("parameters", []).append(dict(_AUTH_HEADER))
        for bundler in bundlers.values():
            components.update(bundler.components)
    if bundlers:
        components.setdefault("ErrorResponse", ERROR_RESPONSE)
        components.setdefault("ErrorContextEntry", ERROR_CONTEXT_ENTRY)
        schemas = components
        if "HTTPValidationError" in schemas and not _still_used(document, "HTTPValidationError"):
            schemas.pop("HTTPValidationError")
            if not _still_used(document, "ValidationError"):
                schemas.pop("ValidationError", None)


def _still_used(document: dict[str, Any], name: str) -> bool:
    import json

    return f'"#/components/schemas/{name}"' in json.dumps(
        {k: v for k, v in document.items() if k != "components"}) or any(
        f'"#/components/schemas/{name}"' in json.dumps(v)
        for k, v in document["components"]["schemas"].items() if k != name)
