"""Request rules shared by the ASGI and WSGI adapters and the service (SPEC §5).

Everything here is free of any web framework: the header checks (1021, 1014), the rate limits,
the body limits (size, charset, nesting), the schema, the optional 1001/1008 lookups, and the
conversion of unexpected faults into code 1. The adapters only move bytes and headers in and
out; the decisions are taken here, from one `GuardOptions`, so that every backend answers a
request the same way.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, Unpack

import orjson

from .._aggregate import aggregate, order, single_error
from .._api import Validator
from .._catalog import DEFAULT_CATALOG, Code
from .._exceptions import RateLimiterUnavailable, UnknownSchema
from .._registry import default_registry
from .._results import ApiError, Failure, Path, Result
from ._auth import TOKEN, Credential
from ._lookups import Lookup, lookup_targets
from ._options import GuardKeywords, GuardOptions
from ._ratelimit import Decision, RateLimiter
from ._refused import Refused
from ._routes import RouteMatch, RouteTable

__all__ = ["RequestGuard", "Validated"]

log = logging.getLogger("validator.web")


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
    """The request rules of one `GuardOptions` (or of its fields as keywords), configured
    once and shared by every request (thread-safe); see `GuardOptions` for each option."""

    def __init__(self, options: GuardOptions | None = None, /,
                 **keywords: Unpack[GuardKeywords]) -> None:
        self.options = options = GuardOptions.build(options, **keywords)
        # Plain attributes, read on every request.
        self.routes = options.routes if options.routes is not None else RouteTable.default()
        self.require_auth = options.require_auth
        self.key_check = options.key_check
        self.rate_limiter = options.rate_limiter
        self.max_body = options.max_body
        self.max_depth = options.max_depth
        self.lookups: tuple[Lookup, ...] = options.lookups
        self.catalog = options.catalog or options.validation.catalog or DEFAULT_CATALOG
        self.registry = options.registry or default_registry()
        # One catalog for every answer: the schemas' errors and the guard's own.
        self.validation = replace(options.validation, catalog=self.catalog)
        self.check_mx = self.validation.check_mx
        self._validators: dict[str, Validator] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, given: RequestGuard | GuardOptions | None, keywords: GuardKeywords
           ) -> RequestGuard:
        """What a backend was given: a ready guard, or the options (an object, keywords or
        both) to make one of."""
        if isinstance(given, RequestGuard):
            if keywords:
                raise TypeError(f"options ({', '.join(sorted(keywords))}) given with a ready "
                                f"RequestGuard; pass either the guard or the options")
            return given
        return cls(given, **keywords)

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
            found = Validator(schema, self.validation, registry=self.registry)
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
            if scheme.lower() != "api-key" or not TOKEN.fullmatch(key):
                raise Refused(self._auth_error(
                    "auth_token", "Unable to authenticate request: X-Auth-Token must be "
                    "'api-key <your API key>'"))
            return Credential("api-key", key)
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, key = authorization.strip().partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or not TOKEN.fullmatch(key):
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

    # -- rate limits -----------------------------------------------------------------------

    def admit(self, credential: Credential | None, address: str | None
              ) -> tuple[str, list[tuple[str, str]]] | None:
        """Take a slot of the rate limits for the caller's key (without authentication, the
        client's address): the limiter key and the rate-limit headers, or None without a
        limiter. Over a limit: refused with 1015 and the headers. The store down:
        `RateLimiterUnavailable`, which the adapters answer 1019."""
        limiter = self.rate_limiter
        if limiter is None:
            return None
        key = _limiter_key(credential, address)
        return self._admitted(key, limiter.acquire(key))

    async def admit_async(self, credential: Credential | None, address: str | None
                          ) -> tuple[str, list[tuple[str, str]]] | None:
        limiter = self.rate_limiter
        if limiter is None:
            return None
        key = _limiter_key(credential, address)
        return self._admitted(key, await limiter.acquire_async(key))

    def _admitted(self, key: str, decision: Decision) -> tuple[str, list[tuple[str, str]]]:
        headers = decision.headers()
        if not decision.allowed:
            raise Refused(decision.error(self.catalog), headers)
        return key, headers

    def release(self, key: str | None) -> None:
        """Give back the concurrency slot `admit` took (nothing for None)."""
        if key is None or self.rate_limiter is None:
            return
        try:
            self.rate_limiter.release(key)
        except RateLimiterUnavailable:
            # The slot expires in the store on its own; the answer is already decided.
            return

    async def release_async(self, key: str | None) -> None:
        if key is None or self.rate_limiter is None:
            return
        try:
            await self.rate_limiter.release_async(key)
        except RateLimiterUnavailable:
            return

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
        return Result(tuple(every), aggregate(every, self.catalog,
                                              always_combine=self.validation.always_combine))

    def judge_sync(self, schema: str, data: Any) -> Result:
        validator = self.validator(schema)
        result = validator.validate(data, plain=True)  # parsed by orjson
        extra = []
        for lookup, path, value in lookup_targets(self.lookups, schema, data, result):
            try:
                answer = lookup.callback(value)
                if inspect.isawaitable(answer):
                    answer = _run_sync(answer)
            except Exception as exc:
                extra.append(lookup.fault(path, value, exc))
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
        targets = lookup_targets(self.lookups, schema, data, result)
        if not targets:
            return result

        async def ask(lookup: Lookup, path: Path, value: Any) -> Failure | None:
            try:
                answer = lookup.callback(value)
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception as exc:
                return lookup.fault(path, value, exc)
            return lookup.failure(path, value) if lookup.fails(bool(answer)) else None

        found = await asyncio.gather(*(ask(*t) for t in targets))
        return self._merge(validator, data, result, [f for f in found if f is not None])


def _limiter_key(credential: Credential | None, address: str | None) -> str:
    if credential is not None:
        return credential.value
    return f"ip:{address if address is not None else 'unknown'}"


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


AppT = TypeVar("AppT")


class MiddlewareBase(Generic[AppT]):
    """What the ASGI and WSGI middlewares share: the application they wrap and the guard that
    decides, given ready, as a `GuardOptions`, or as its fields in keywords
    (`ValidationMiddleware(app, max_body=4096, rate_limiter=MemoryRateLimiter())`)."""

    def __init__(self, app: AppT, guard: RequestGuard | GuardOptions | None = None,
                 **options: Unpack[GuardKeywords]) -> None:
        self.app = app
        self.guard = RequestGuard.of(guard, options)

    @property
    def rate_limiter(self) -> RateLimiter | None:
        return self.guard.rate_limiter
