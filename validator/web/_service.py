"""The app behind `validator serve`: the API's create/update routes and `POST /validate/{schema}`
answered with an empty body (202 for contact creation, as the API does, else 200) or the API's
error body; `GET /openapi.json` generated from the registered schemas; `GET /health`.

SPEC §5's header rules apply by default, and any well-formed key is accepted unless a key file
or callback says otherwise. The app is plain ASGI, so the only work per request is the check
itself; routing is a handful of regular expressions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Unpack

import orjson

from .._catalog import Code
from .._registry import SchemaRegistry
from .._results import ApiError
from ._auth import key_file_check
from ._guard import RequestGuard
from ._openapi import _AUTH_HEADER, ERROR_CONTEXT_ENTRY, ERROR_RESPONSE, _Bundler
from ._options import GuardKeywords, GuardOptions
from ._ratelimit import MemoryRateLimiter, RedisRateLimiter
from ._routes import Route, RouteMatch, RouteTable
from .asgi import ASGIApp, Message, Receive, Scope, Send, ValidationMiddleware, send_error

__all__ = ["ServiceApp", "create_app", "openapi_document"]

log = logging.getLogger("validator.service")

VALIDATE_ROUTE = Route("POST", "/validate/{schema}", schema_param="schema")
OPENAPI_VERSION = "3.1.0"

def _query_parameters(schema: Any, prefix: str = "") -> list[dict[str, Any]]:
    """A query schema's properties as OpenAPI parameters, nested objects as bracketed names
    (`query[createdOn][from]`), the way the API spells them."""
    out: list[dict[str, Any]] = []
    if not isinstance(schema, dict):
        return out
    required = schema.get("required", [])
    for name, sub in schema.get("properties", {}).items():
        full = f"{prefix}[{name}]" if prefix else name
        if isinstance(sub, dict) and sub.get("type") == "object" and "properties" in sub:
            out += _query_parameters(sub, full)
            continue
        out.append({"name": full, "in": "query", "required": name in required,
                    "schema": sub})
    return out


def openapi_document(registry: SchemaRegistry, routes: Iterable[Route]) -> dict[str, Any]:
    """An OpenAPI 3.1 document for the service, its request bodies from the schemas."""
    bundler = _Bundler(registry)
    names = registry.names()
    for name in names:
        bundler.add(name)
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    error_response = {"description": "The API's error body",
                      "content": {"application/json": {"schema": error_ref}}}
    paths: dict[str, Any] = {}
    for route in routes:
        params: list[dict[str, Any]] = [dict(_AUTH_HEADER)]
        for param in route.regex.groupindex:
            schema: dict[str, Any] = {"type": "string"}
            if route.param_pattern is not None:
                schema["pattern"] = route.param_pattern
            if param == route.schema_param:
                schema = {"type": "string", "enum": names}
            params.append({"name": param, "in": "path", "required": True, "schema": schema})
        if route.query_schema is not None:
            query_schema, _ = registry.get(route.query_schema)
            params += _query_parameters(query_schema)
        label = route.schema or route.query_schema
        title = (registry.get(label)[0].get("title") if label is not None else None) \
            or "Validate a payload against a named schema"
        operation: dict[str, Any] = {
            "summary": title,
            "operationId": (label or "validate").replace(".", "_").replace("-", "_"),
            "parameters": params,
            "responses": {str(route.success_status): {"description": "Valid; empty body"},
                          "default": error_response},
        }
        if route.schema is not None or route.schema_param is not None:
            body_schema: dict[str, Any] = (
                {"$ref": f"#/components/schemas/{route.schema}"} if route.schema is not None
                else {"description": "Any JSON; checked against the schema named in the path."})
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": body_schema}}}
        paths.setdefault(route.pattern, {})[route.method.lower()] = operation
    paths["/health"] = {"get": {
        "summary": "Liveness", "operationId": "health",
        "responses": {"200": {"description": "Up", "content": {"application/json": {
            "schema": {"type": "object", "required": ["status"],
                       "properties": {"status": {"const": "ok"},
                                      "schemas": {"type": "array",
                                                  "items": {"type": "string"}}}}}}}},
    }}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "getresponse-validator", "version": "1",
                 "description": "Validates requests the way the GetResponse REST API v3 does; "
                                "a valid request is answered with an empty body."},
        "paths": paths,
        "components": {"schemas": {"ErrorResponse": ERROR_RESPONSE,
                                   "ErrorContextEntry": ERROR_CONTEXT_ENTRY,
                                   **bundler.components}},
    }


def _empty(status: int) -> ASGIApp:
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    return answer


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class ServiceApp:
    """The service as an ASGI app (what `validator serve` runs under uvicorn).

    Give a ready `RequestGuard` (its routes are served as they are), or a `GuardOptions`
    and/or its fields as keywords: then `POST /validate/{schema}` is added to the routes.
    """

    def __init__(self, guard: RequestGuard | GuardOptions | None = None,
                 **options: Unpack[GuardKeywords]) -> None:
        if isinstance(guard, RequestGuard):
            guard = RequestGuard.of(guard, options)
        else:
            settings = GuardOptions.build(guard, **options)
            routes = settings.routes or RouteTable.default()
            guard = RequestGuard(replace(settings,
                                         routes=RouteTable([*routes.routes, VALIDATE_ROUTE])))
        self.guard = guard
        self.rate_limiter = guard.rate_limiter
        self.checker = ValidationMiddleware(_empty(404), guard)
        self._answers = {route: _empty(route.success_status) for route in guard.routes.routes}
        self._openapi: bytes | None = None

    def openapi(self) -> bytes:
        if self._openapi is None:
            self._openapi = orjson.dumps(openapi_document(self.guard.registry,
                                                          self.guard.routes.routes))
        return self._openapi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._route(scope, receive, tracking_send)
        except Exception as exc:
            error = self.guard.internal_error(exc)
            if not started:
                await send_error(send, error)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        match: RouteMatch | None = self.guard.routes.match(method, path)
        if match is not None:
            await self.checker.handle(match, scope, receive, send, self._answers[match.route])
            return
        if method in ("GET", "HEAD") and path == "/health":
            body = orjson.dumps({"status": "ok", "schemas": self.guard.registry.names()})
            await _send_json(send, 200, body)
            return
        if method in ("GET", "HEAD") and path == "/openapi.json":
            await _send_json(send, 200, self.openapi())
            return
        allowed = self.guard.routes.allowed(path)
        if allowed:
            # The path is known, the method is not: HTTP's 405 with the methods there are.
            # The catalog has no code for it, so the body is 1013's with the status it is sent
            # with (RFC 9110 §15.5.6).
            error = self._not_found(method, path)
            error.http_status = 405
            error.context = {"method": method, "path": path, "allowed": allowed}
            await send_error(send, error, [("allow", ", ".join(allowed))])
            return
        await send_error(send, self._not_found(method, path))

    def _not_found(self, method: str, path: str) -> ApiError:
        return self.guard.error(Code.NOT_FOUND, f"There is no route {method} {path}",
                                {"method": method, "path": path})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Compile every routed schema now, so the first requests are not slower and a
                # broken schema stops the server at start instead of failing requests.
                try:
                    for route in self.guard.routes.routes:
                        for name in (route.schema, route.query_schema):
                            if name is not None:
                                self.guard.validator(name)
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                closer = getattr(self.rate_limiter, "aclose", None)
                if closer is not None:
                    await closer()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(options: GuardOptions | None = None, /, *, key_file: str | None = None,
               rate_limit: bool = False, redis_url: str | None = None,
               **keywords: Unpack[GuardKeywords]) -> ServiceApp:
    """The service app from `validator serve`'s options: `key_file` (the accepted keys, one a
    line) becomes the key check, `rate_limit` the API's limits in this process and
    `redis_url` the same limits shared through Redis; the rest is `GuardOptions`."""
    if key_file is not None:
        keywords["key_check"] = key_file_check(key_file)
    if redis_url is not None:
        keywords["rate_limiter"] = RedisRateLimiter(redis_url)
    elif rate_limit:
        keywords["rate_limiter"] = MemoryRateLimiter()
    return ServiceApp(GuardOptions.build(options, **keywords))
