"""Request rules shared by the ASGI and WSGI adapters and the service (SPEC §5).

Everything here is free of any web framework: a route table that maps `METHOD /path/{param}`
to schema names, the header checks (1021, 1014), the body limits (size, charset, nesting), the
optional 1001/1008 lookups, and the conversion of unexpected faults into code 1. The adapters
only move bytes and headers in and out; the decisions are taken here so that every backend
answers a request the same way.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Literal

import orjson

from .._aggregate import aggregate, order, single_error
from .._api import Validator
from .._catalog import DEFAULT_CATALOG, Code, ErrorCatalog
from .._exceptions import UnknownSchema
from .._registry import ROUTE_KEY, SchemaRegistry, default_registry
from .._results import ApiError, Failure, Path, Result
from ..rules import is_query_schema

__all__ = [
    "Credential",
    "KeyCheck",
    "Lookup",
    "LookupCallback",
    "Refused",
    "RequestGuard",
    "Route",
    "RouteMatch",
    "RouteTable",
    "Validated",
    "api_routes",
    "key_file_check",
    "related",
    "unique",
]

log = logging.getLogger("validator.web")


DEFAULT_MAX_BODY = 1 << 20
DEFAULT_MAX_DEPTH = 32

# The API's routes come from the generated schemas (their `x-route` annotation); its path
# prefix is the version. Creating a contact is asynchronous in the API and answered 202.
API_PREFIX = "/v3"
ACCEPTED_SCHEMAS = frozenset({"contacts.create"})

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


# -- routes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    schema: str | None
    """The body's schema; None on a route that checks only the query."""
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class Route:
    """`method` + `pattern` (`/v3/contacts/{contactId}`) → the `schema` of the body, and the
    `query_schema` of the query string (either may be left out, not both).

    With `schema_param` the schema name is taken from that path parameter instead, which is
    how the service's `POST /validate/{schema}` is routed.
    """

    method: str
    pattern: str
    schema: str | None = None
    schema_param: str | None = None
    success_status: int = 200
    query_schema: str | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.schema is not None and self.schema_param is not None:
            raise ValueError("a route takes schema or schema_param, not both")
        if self.schema is None and self.schema_param is None and self.query_schema is None:
            raise ValueError("a route needs a schema, a schema_param or a query_schema")
        parts = _PARAM.split(self.pattern)
        # split() alternates literal text and parameter names; a parameter is one path
        # segment, so `/v3/contacts/{id}` never swallows `/v3/contacts/x/tags`.
        source = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)"
                         for i, p in enumerate(parts))
        if self.schema_param is not None and self.schema_param not in parts[1::2]:
            raise ValueError(f"{self.pattern!r} has no parameter {{{self.schema_param}}}")
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "regex", re.compile(f"{source}/?"))

    def match(self, method: str, path: str) -> RouteMatch | None:
        if method != self.method:
            return None
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        params = found.groupdict()
        schema = params[self.schema_param] if self.schema_param is not None else self.schema
        return RouteMatch(self, schema, params)


class RouteTable:
    """The routes whose requests are checked; requests matching none pass through untouched."""

    def __init__(self, routes: Iterable[Route | tuple[str, str, str]] = ()) -> None:
        self.routes: list[Route] = []
        for route in routes:
            if isinstance(route, Route):
                self.routes.append(route)
            else:
                self.add(*route)

    def add(self, method: str, pattern: str, schema: str, *, success_status: int = 200) -> None:
        self.routes.append(Route(method, pattern, schema, success_status=success_status))

    def match(self, method: str, path: str) -> RouteMatch | None:
        for route in self.routes:
            found = route.match(method, path)
            if found is not None:
                return found
        return None

    @classmethod
    def default(cls, registry: SchemaRegistry | None = None) -> RouteTable:
        return cls(api_routes(registry))


def api_routes(registry: SchemaRegistry | None = None, prefix: str = API_PREFIX
               ) -> list[Route]:
    """A route for every operation the registry's schemas name in their `x-route`
    (`"POST /contacts"`, written by the OpenAPI importer): its body schema and its query
    schema. Literal paths come before parameterised ones, so `/contacts/batch` is never
    taken for `/contacts/{contactId}`."""
    registry = registry or default_registry()
    found: dict[tuple[str, str], dict[str, str]] = {}
    for name in registry.names():
        document, _ = registry.get(name)
        route = document.get(ROUTE_KEY) if isinstance(document, dict) else None
        if not isinstance(route, str) or " " not in route:
            continue
        method, path = route.split(" ", 1)
        slot = found.setdefault((method.upper(), prefix + path), {})
        slot["query" if is_query_schema(document) else "body"] = name
    routes = [Route(method, pattern, names.get("body"), query_schema=names.get("query"),
                    success_status=202 if names.get("body") in ACCEPTED_SCHEMAS else 200)
              for (method, pattern), names in found.items()]
    routes.sort(key=lambda r: (r.pattern.count("{"), -len(r.pattern), r.pattern, r.method))
    return routes


# -- authentication ----------------------------------------------------------------------

AuthKind = Literal["api-key", "bearer"]
# The `authenticationType` the API names in a 1014 context (its documented example says
# "auth_token" for X-Auth-Token); OAuth bearer tokens are named after their scheme.
AUTH_TYPES: dict[str, str] = {"api-key": "auth_token", "bearer": "oauth2"}
# RFC 6750 b64token, and the API's keys (letters and digits); no spaces, no controls.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True, slots=True)
class Credential:
    kind: AuthKind
    value: str

    @property
    def authentication_type(self) -> str:
        return AUTH_TYPES[self.kind]


KeyCheck = Callable[[Credential], bool | Awaitable[bool]]


def key_file_check(path: str | FilePath) -> KeyCheck:
    """A key check that accepts the keys listed in a file, one a line (`#` starts a comment).

    Both API keys and bearer tokens are looked up in the same list.
    """
    keys = set()
    for line in FilePath(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            keys.add(line)

    def check(credential: Credential) -> bool:
        return credential.value in keys

    return check


# -- lookups (1001, 1008) ----------------------------------------------------------------

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


# -- the outcome of a check ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Validated:
    """What the application gets for a request that passed: the parsed body (exactly the JSON
    that was sent), the schema, the path parameters, the caller's credential and, on a route
    with a query schema, the query as checked (typed and nested)."""

    schema: str
    body: Any
    params: dict[str, str]
    credential: Credential | None
    result: Result
    query: Any = None


class Refused(Exception):
    """A request answered with an error body instead of reaching the application."""

    def __init__(self, error: ApiError, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(str(error))
        self.error = error
        self.headers = list(headers)


@dataclass(frozen=True, slots=True)
class BodyPolicy:
    """What `read_body` needs to know before reading: the declared length, if any."""

    content_length: int | None


def _depth_over(data: Any, limit: int) -> bool:
    # Iterative, so a hostile body cannot exhaust the interpreter's stack while being judged.
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


class RequestGuard:
    """The request rules, configured once and shared by every request (thread-safe).

    * `routes`: which requests are checked and against which schema.
    * `require_auth`: SPEC §5's 1014 rule; `key_check(credential)` (sync or async) decides
      whether a well-formed key is valid — without it every well-formed key is.
    * `max_body` (bytes) and `max_depth` (nesting of objects/arrays) bound what is parsed.
    * `lookups`: optional 1001/1008 checks against the host's data.
    * `validator_options`: passed to each `Validator` (e.g. `check_mx=True, dns_budget=1.0`).
    """

    def __init__(
        self,
        routes: RouteTable | Iterable[Route | tuple[str, str, str]] | None = None,
        *,
        require_auth: bool = True,
        key_check: KeyCheck | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        max_depth: int = DEFAULT_MAX_DEPTH,
        lookups: Iterable[Lookup] = (),
        catalog: ErrorCatalog | None = None,
        registry: SchemaRegistry | None = None,
        validator_options: Mapping[str, Any] | None = None,
    ) -> None:
        if routes is None:
            self.routes = RouteTable.default()
        elif isinstance(routes, RouteTable):
            self.routes = routes
        else:
            self.routes = RouteTable(routes)
        if max_body < 0 or max_depth < 1:
            raise ValueError("max_body must be >= 0 and max_depth >= 1")
        self.require_auth = require_auth
        self.key_check = key_check
        self.max_body = max_body
        self.max_depth = max_depth
        self.lookups = tuple(lookups)
        self.catalog = catalog or DEFAULT_CATALOG
        self.registry = registry or default_registry()
        self.validator_options = dict(validator_options or {})
        self.validator_options.setdefault("catalog", self.catalog)
        self.validator_options.setdefault("registry", self.registry)
        self.check_mx = bool(self.validator_options.get("check_mx"))
        self._validators: dict[str, Validator] = {}
        self._lock = threading.Lock()

    # -- building blocks -------------------------------------------------------------------

    def validator(self, schema: str) -> Validator:
        """The compiled validator for a schema name; 1013 (404) when there is no such schema."""
        found = self._validators.get(schema)
        if found is not None and found.built_version == self.registry.version:
            return found
        if schema.startswith("_") or schema not in self.registry:
            raise Refused(self.error(Code.NOT_FOUND, f"There is no schema named {schema!r}",
                                     {"schema": schema, "known": self.registry.names()}))
        try:
            found = Validator(schema, **self.validator_options)
        except UnknownSchema:
            raise Refused(self.error(Code.NOT_FOUND, f"There is no schema named {schema!r}",
                                     {"schema": schema})) from None
        with self._lock:
            self._validators[schema] = found
        return found

    def error(self, code: int, message: str,
              context: list[dict[str, Any]] | dict[str, Any]) -> ApiError:
        return single_error(code, self.catalog, message, context)

    def internal_error(self, exc: BaseException) -> ApiError:
        """Code 1 for a fault of ours: logged with its traceback, never shown to the client."""
        log.error("internal error while checking a request", exc_info=exc)
        return self.error(Code.INTERNAL_ERROR, "Internal error, please try again later", {})

    def _header_failure(self, code: int, name: str, value: str | None,
                        description: str) -> ApiError:
        failure = Failure(code, (name,), value, description, validation_type="header",
                          keyword="header")
        error = aggregate([failure], self.catalog)
        assert error is not None
        return error

    def _auth_error(self, authentication_type: str, message: str) -> ApiError:
        return self.error(Code.AUTHENTICATION, message, {"authenticationType": authentication_type})

    # -- headers ---------------------------------------------------------------------------

    def credential(self, headers: Mapping[str, str]) -> Credential:
        """The caller's key from `X-Auth-Token: api-key <key>` or `Authorization: Bearer
        <token>` (header names lowercase); a missing or malformed one is refused with 1014."""
        token = headers.get("x-auth-token")
        if token is not None:
            scheme, _, key = token.strip().partition(" ")
            key = key.strip()
            if scheme.lower() != "api-key" or not _TOKEN.fullmatch(key):
                raise Refused(self._auth_error(
                    "auth_token", "Unable to authenticate request: X-Auth-Token must be "
                    "'api-key <your API key>'"))
            return Credential("api-key", key)
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, key = authorization.strip().partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or not _TOKEN.fullmatch(key):
                raise Refused(self._auth_error(
                    "oauth2", "Unable to authenticate request: Authorization must be "
                    "'Bearer <access token>'"))
            return Credential("bearer", key)
        raise Refused(self._auth_error(
            "auth_token", "Unable to authenticate request: send X-Auth-Token: api-key <key> "
            "or Authorization: Bearer <token>"))

    def key_refused(self, credential: Credential) -> Refused:
        return Refused(self._auth_error(credential.authentication_type,
                                        "Unable to authenticate request: the key is not valid"))

    def check_key_sync(self, credential: Credential) -> None:
        if self.key_check is None:
            return
        answer = self.key_check(credential)
        if inspect.isawaitable(answer):
            answer = _run_sync(answer)
        if not answer:
            raise self.key_refused(credential)

    async def check_key_async(self, credential: Credential) -> None:
        if self.key_check is None:
            return
        answer = self.key_check(credential)
        if inspect.isawaitable(answer):
            answer = await answer
        if not answer:
            raise self.key_refused(credential)

    def check_content(self, headers: Mapping[str, str]) -> BodyPolicy:
        """1021 for a body that is not `application/json` (UTF-8); 1007 for a declared length
        over the limit, so an oversized body is refused before a byte of it is read."""
        raw_length = headers.get("content-length")
        length: int | None = None
        if raw_length is not None:
            if not raw_length.strip().isdigit():
                raise Refused(self._header_failure(
                    Code.BAD_HEADERS, "Content-Length", raw_length,
                    "Expected a non-negative integer"))
            length = int(raw_length)
        has_body = (length or 0) > 0 or "transfer-encoding" in headers
        if has_body:
            content_type = headers.get("content-type")
            media, _, params = (content_type or "").partition(";")
            if media.strip().lower() != "application/json":
                raise Refused(self._header_failure(
                    Code.BAD_HEADERS, "Content-Type", content_type,
                    f"Expected application/json, got {content_type or 'no Content-Type'}"))
            charset = _charset(params)
            if charset is not None and charset not in ("utf-8", "utf8"):
                raise Refused(self._header_failure(
                    Code.BAD_HEADERS, "Content-Type", content_type,
                    f"Unsupported charset {charset!r}: JSON bodies must be UTF-8"))
        if length is not None and length > self.max_body:
            raise Refused(self.too_large())
        return BodyPolicy(length)

    def too_large(self) -> ApiError:
        failure = Failure(Code.WRONG_LENGTH, (), None,
                          f"The request body is larger than the limit of {self.max_body} bytes",
                          limits={"max": self.max_body}, keyword="maxBodySize")
        error = aggregate([failure], self.catalog)
        assert error is not None
        return error

    # -- body ------------------------------------------------------------------------------

    def read_chunks(self, chunks: Iterable[bytes]) -> bytes:
        """Join body chunks, refusing (1007) as soon as more than `max_body` bytes arrived."""
        parts: list[bytes] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > self.max_body:
                raise Refused(self.too_large())
            parts.append(chunk)
        return b"".join(parts)

    def parse(self, validator: Validator, body: bytes) -> tuple[Any, Result | None]:
        """The parsed body, or the result that refuses it (malformed JSON or too deep)."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            # The engine words the parser's message and position the same for every caller.
            return None, validator.validate(body)
        # A body cannot nest deeper than it has brackets, so most bodies skip the walk.
        if (body.count(b"{") + body.count(b"[") > self.max_depth
                and _depth_over(data, self.max_depth)):
            failure = Failure(Code.VALIDATION_ERROR, (), None,
                              f"The body nests objects and arrays deeper than "
                              f"{self.max_depth} levels", keyword="maxDepth")
            return None, Result((failure,), aggregate([failure], self.catalog))
        return data, None

    def _lookup_targets(self, schema: str, data: Any, result: Result
                        ) -> list[tuple[Lookup, Path, Any]]:
        targets = []
        for lookup in self.lookups:
            if not lookup.applies_to(schema):
                continue
            for path, value in _values_at(data, lookup.path):
                if value is None or any(_touches(f.field_name, path) for f in result.failures):
                    continue
                targets.append((lookup, path, value))
        return targets

    def _merge(self, validator: Validator, data: Any, result: Result,
               extra: list[Failure]) -> Result:
        if not extra:
            return result
        failures = order([*result.failures, *extra], data)
        return Result(tuple(failures), aggregate(failures, self.catalog,
                                                 always_combine=validator.always_combine))

    def check_query(self, match: RouteMatch, query: str | bytes) -> tuple[Any, list[Failure]]:
        """The query string as the route's query schema reads it (typed, nested), and its
        failures; nothing on a route without a query schema."""
        name = match.route.query_schema
        if name is None:
            return None, []
        validator = self.validator(name)
        if validator.query_shape is None:
            raise ValueError(f"{name} is not a query schema (no \"validationType\": \"query\")")
        data = validator.query_shape.payload(query)
        return data, list(validator.validate(data).failures)

    def with_query(self, result: Result | None, failures: list[Failure]) -> Result:
        """One verdict for the query and the body: the query's entries first (the URL comes
        before the body), each part in its own order, aggregated by SPEC §4."""
        if not failures:
            return result if result is not None else Result((), None)
        every = [*failures, *(result.failures if result is not None else ())]
        always = bool(self.validator_options.get("always_combine"))
        return Result(tuple(every), aggregate(every, self.catalog, always_combine=always))

    def judge_sync(self, schema: str, data: Any) -> Result:
        validator = self.validator(schema)
        result = validator.validate(data, plain=True)  # parsed by orjson
        extra = []
        for lookup, path, value in self._lookup_targets(schema, data, result):
            try:
                answer = lookup.callback(value)
                if inspect.isawaitable(answer):
                    answer = _run_sync(answer)
            except Exception as exc:
                extra.append(_lookup_fault(lookup, path, value, exc))
                continue
            if lookup.fails(bool(answer)):
                extra.append(lookup.failure(path, value))
        return self._merge(validator, data, result, extra)

    async def judge_async(self, schema: str, data: Any) -> Result:
        import asyncio

        validator = self.validator(schema)
        # Without MX checks validation is pure CPU work measured in microseconds; handing it
        # to a thread would cost more than it saves. With MX checks it awaits DNS.
        result = await validator.validate_async(data) if self.check_mx \
            else validator.validate(data, plain=True)
        targets = self._lookup_targets(schema, data, result)
        if not targets:
            return result

        async def ask(lookup: Lookup, path: Path, value: Any) -> Failure | None:
            try:
                answer = lookup.callback(value)
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception as exc:
                return _lookup_fault(lookup, path, value, exc)
            return lookup.failure(path, value) if lookup.fails(bool(answer)) else None

        found = await asyncio.gather(*(ask(*t) for t in targets))
        return self._merge(validator, data, result, [f for f in found if f is not None])


def _lookup_fault(lookup: Lookup, path: Path, value: Any, exc: Exception) -> Failure:
    # The host's data source failed: the check could not be made, which SPEC §3 names 1010.
    log.warning("lookup for %s failed", "/".join(map(str, path)), exc_info=exc)
    kind = "related resource" if lookup.code == Code.RELATED_NOT_FOUND else "unique"
    return Failure(Code.EXTERNAL_ERROR, path, value, f"The {kind} check could not be made",
                   keyword="lookup")


def _charset(params: str) -> str | None:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _run_sync(awaitable: Awaitable[Any]) -> Any:
    """Resolve an async callback from synchronous (WSGI) code, which has no running loop."""
    import asyncio

    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())
