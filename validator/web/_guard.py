"""Request rules shared by the ASGI and WSGI adapters and the service (SPEC §5).

Everything here is free of any web framework: the header checks (1021, 1014), the rate limits,
the body limits (size, charset, nesting), the schema, the optional 1001/1008 lookups, and the
conversion of unexpected faults into code 1. The adapters only move bytes and headers in and
out; the decisions are taken here, from one `GuardOptions`, so that every backend answers a
request the same way.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Any, Generic, TypeVar, Unpack
from urllib.parse import parse_qsl

import orjson

from .._aggregate import aggregate, order, single_error
from .._api import Validator
from .._catalog import DEFAULT_CATALOG, Code
from .._exceptions import RateLimiterUnavailable, UnknownSchema
from .._registry import default_registry
from .._results import ApiError, Failure, Path, Result
from ._auth import API_KEY, TOKEN, Credential
from ._lookups import Lookup, lookup_targets
from ._options import GuardKeywords, GuardOptions
from ._ratelimit import Decision, RateLimiter
from ._refused import Refused
from ._routes import RouteMatch, RouteTable

__all__ = ["CLOSE", "RequestGuard", "Validated"]

log = logging.getLogger("validator.web")

T = TypeVar("T")
# Sent with a refusal while the client may still be sending its body, which it is told is not
# wanted: otherwise the server would go on reading and discarding whatever the client cares
# to send, however slowly. (Hop-by-hop: the WSGI adapter leaves it to its server.)
CLOSE = (("connection", "close"),)
# Worker threads per guard for heavy bodies (see `RequestGuard.in_worker`). One: each thread
# checking a body competes with the event loop for the interpreter, and with nine 1 MB bodies
# in flight a second thread tripled the p99 latency of the small requests beside them.
WORKER_THREADS = 1
# Sent with a 1019 for a full queue: a second is about what a queue of large bodies takes.
RETRY_AFTER = (("retry-after", "1"),)


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
        self.body_timeout = options.body_timeout
        self.thread_above = options.thread_above
        self.max_queued = options.max_queued
        # Heavy bodies admitted to the worker thread and not yet judged; touched only on the
        # event loop, so a plain counter.
        self.queued = 0
        self.lookups: tuple[Lookup, ...] = options.lookups
        self.catalog = options.catalog or options.validation.catalog or DEFAULT_CATALOG
        self.registry = options.registry or default_registry()
        # One catalog for every answer: the schemas' errors and the guard's own.
        self.validation = replace(options.validation, catalog=self.catalog)
        self.check_mx = self.validation.check_mx
        # One MX checker (one cache, one in-flight table) for every schema, built here: its
        # first use imports dnspython, which must not happen on the event loop mid-request.
        self._mx_checker = self.validation.dns.checker() if self.check_mx else None
        self._validators: dict[str, Validator] = {}
        self._lock = threading.Lock()
        self._workers: ThreadPoolExecutor | None = None

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
            found = Validator(schema, self.validation, registry=self.registry,
                              mx_checker=self._mx_checker)
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
            if scheme.lower() != "api-key" or not API_KEY.fullmatch(key):
                raise Refused(self._auth_error(
                    "auth_token", "Unable to authenticate request: X-Auth-Token must be "
                    "'api-key <your API key>', the key 8 to 32 letters and digits"))
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
        """Take a slot of the rate limits for the caller: the limiter key and the rate-limit
        headers, or None without a limiter. Over a limit: refused with 1015 and the headers.
        The store down: `RateLimiterUnavailable`, which the adapters answer 1019.

        The caller is its key when a key check vouches for keys (only accepted keys get a
        bucket); otherwise its address, since unchecked keys cost nothing to invent and a
        bucket per invented key would multiply the limits."""
        limiter = self.rate_limiter
        if limiter is None:
            return None
        key = self.limiter_key(credential, address)
        return self._admitted(key, limiter.acquire(key))

    async def admit_async(self, credential: Credential | None, address: str | None
                          ) -> tuple[str, list[tuple[str, str]]] | None:
        limiter = self.rate_limiter
        if limiter is None:
            return None
        key = self.limiter_key(credential, address)
        return self._admitted(key, await limiter.acquire_async(key))

    def limiter_key(self, credential: Credential | None, address: str | None) -> str:
        """The rate-limit bucket of a caller (see `admit`)."""
        if credential is not None and self.key_check is not None:
            return f"key:{credential.value}"
        return f"ip:{address if address is not None else 'unknown'}"

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
            raise Refused(self.too_large(), CLOSE)
        return BodyPolicy(length)

    def body_late(self) -> ApiError:
        """1000 for a body that did not arrive within `body_timeout`: as a body that is not
        JSON, it cannot be judged (the catalog has no 408)."""
        failure = Failure(Code.VALIDATION_ERROR, (), None,
                          f"The request body did not arrive within {self.body_timeout:g} "
                          f"seconds", limits={"max": self.body_timeout}, keyword="bodyTimeout")
        error = aggregate([failure], self.catalog)
        assert error is not None
        return error

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
                raise Refused(self.too_large(), CLOSE)
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
        path = self.path_failures(match)
        name = match.route.query_schema
        if name is None:
            return None, path
        validator = self.validator(name)
        if validator.query_shape is None:
            raise ValueError(f"{name} is not a query schema (no \"validationType\": \"query\")")
        too_deep = self._query_too_deep(query)
        if too_deep is not None:
            raise Refused(too_deep)
        data = validator.query_shape.payload(query)
        return data, [*path, *validator.validate(data).failures]

    @staticmethod
    def path_failures(match: RouteMatch) -> list[Failure]:
        """1003 for each path parameter that breaks the route's declared pattern; these come
        first, as the path comes first in the URL."""
        pattern = match.route.param_pattern
        if pattern is None:
            return []
        compiled = _param_regex(pattern)
        return [Failure(Code.WRONG_FORMAT, (name,), value,
                        f"Value does not match the pattern {pattern}", validation_type="path",
                        regex=pattern, keyword="pattern")
                for name, value in match.params.items()
                if name != match.route.schema_param and compiled.search(value) is None]

    def _query_too_deep(self, query: str | bytes) -> ApiError | None:
        """1000 for a parameter name nesting more than `max_depth` brackets
        (`query[a][a]…`): the nested object a name makes is as deep as its brackets, and the
        body's nesting limit holds for the query too, so no name can cost unbounded work."""
        raw = query.encode("latin-1", "replace") if isinstance(query, str) else query
        # Bracket counts bound every name's depth, so most query strings skip the parse.
        if raw.count(b"[") + raw.lower().count(b"%5b") <= self.max_depth:
            return None
        failures = []
        for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            if name.count("[") > self.max_depth:
                shown = name if len(name) <= 40 else name[:40] + "…"
                failures.append(Failure(
                    Code.VALIDATION_ERROR, (name.partition("[")[0],), value,
                    f"The query parameter name {shown!r} nests deeper than {self.max_depth} "
                    f"levels", validation_type="query", keyword="maxDepth"))
        return aggregate(failures, self.catalog) if failures else None

    def with_query(self, result: Result | None, failures: list[Failure]) -> Result:
        """One verdict for the query and the body: the query's entries first (the URL comes
        before the body), each part in its own order, aggregated by SPEC §4."""
        if not failures:
            return result if result is not None else Result((), None)
        every = [*failures, *(result.failures if result is not None else ())]
        return Result(tuple(every), aggregate(every, self.catalog,
                                              always_combine=self.validation.always_combine))

    def heavy(self, size: int) -> bool:
        """Whether a body of `size` bytes is parsed and checked in a worker thread."""
        return self.thread_above is not None and size > self.thread_above

    @contextlib.contextmanager
    def heavy_slot(self, size: int) -> Iterator[None]:
        """Around the parsing and judging of one body of `size` bytes: a heavy one takes a
        place in the worker thread's queue, or is refused with 1019 when `max_queued` are
        already there (the queue would only grow, and every body in it waits longer)."""
        if not self.heavy(size):
            yield
            return
        if self.queued >= self.max_queued:
            raise Refused(self.overloaded(), RETRY_AFTER)
        self.queued += 1
        try:
            yield
        finally:
            self.queued -= 1

    def overloaded(self) -> ApiError:
        return self.error(Code.SERVICE_UNAVAILABLE,
                          f"The server is checking {self.max_queued} large request bodies "
                          f"already; please try again later", {})

    async def in_worker(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in the guard's worker thread, so that however many expensive
        bodies arrive at once, the event loop competes for the interpreter with one thread;
        the other bodies wait their turn in its queue, not on the loop."""
        import asyncio

        workers = self._workers
        if workers is None:
            with self._lock:
                if self._workers is None:
                    self._workers = ThreadPoolExecutor(WORKER_THREADS,
                                                       thread_name_prefix="validator-web")
                workers = self._workers
        return await asyncio.get_running_loop().run_in_executor(workers, function, *args)

    async def parse_async(self, validator: Validator, body: bytes
                          ) -> tuple[Any, Result | None]:
        """`parse`, in a worker thread for a heavy body."""
        if self.heavy(len(body)):
            return await self.in_worker(self.parse, validator, body)
        return self.parse(validator, body)

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

    async def judge_async(self, schema: str, data: Any, size: int = 0) -> Result:
        """The verdict on parsed `data` (of a body of `size` bytes): the schema, then the
        lookups, which stay on the event loop since async callbacks belong to it."""
        import asyncio

        validator = self.validator(schema)
        if self.heavy(size):
            # The MX checker may be called from any thread; there it waits for DNS within
            # the same budget.
            result = await self.in_worker(partial(validator.validate, data, plain=True))
        elif self.check_mx:
            result = await validator.validate_async(data)
        else:
            # A small body is checked in microseconds: less than a thread hop would cost.
            result = validator.validate(data, plain=True)
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


@lru_cache(maxsize=16)
def _param_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


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
