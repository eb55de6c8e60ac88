"""ASGI adapter: a middleware for Starlette, FastAPI or any ASGI app, and a FastAPI dependency.

    from validator.asgi import ValidationMiddleware
    app.add_middleware(ValidationMiddleware)           # the API's routes, SPEC §5 header rules

A request matching the route table is checked before the application sees it: headers (1021,
1014 and the optional key check), rate limits when a limiter is given, the body (size limit
while it streams in, JSON, nesting, schema, lookups). A refused request is answered with the
API's error body, its status and `Content-Type: application/json`. An accepted request reaches
the application with its body bytes unchanged, and the parsed body as
`request.state.validated.body` (`scope["state"]["validated"]`).

The middleware is plain ASGI (no `BaseHTTPMiddleware`), so it adds no task or stream copies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, Unpack

from ._auth import Credential
from ._guard import CLOSE, MiddlewareBase, RequestGuard, Validated
from ._options import GuardKeywords, GuardOptions
from ._ratelimit import RateLimiterUnavailable, unavailable_error
from ._refused import Refused
from ._routes import Route, RouteMatch

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from .._results import ApiError
else:
    # FastAPI reads `ValidBody.__call__`'s annotations at run time to inject the request and
    # the response, so the names must exist; the middleware itself needs no framework at all.
    try:
        from starlette.requests import Request
        from starlette.responses import Response
    except ImportError:
        Request = Response = Any

__all__ = ["ApiErrorException", "Receive", "Scope", "Send", "ValidBody", "ValidationMiddleware",
           "install_error_handler"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _ClientGone(Exception):
    """The client disconnected before its body arrived; there is nobody to answer."""


def _headers(scope: Scope) -> dict[str, str]:
    # ASGI header names are lowercase bytes; the first of repeated headers wins, as most
    # servers do for the single-valued headers checked here.
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        out.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return out


async def send_error(send: Send, error: ApiError,
                     extra: Iterable[tuple[str, str]] = ()) -> None:
    body = error.to_json()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in extra)
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _receive_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def authenticate(guard: RequestGuard, headers: dict[str, str]) -> Credential | None:
    if not guard.require_auth:
        return None
    credential = guard.credential(headers)
    await guard.check_key_async(credential)
    return credential


async def _read(guard: RequestGuard, chunks: AsyncIterator[bytes]) -> bytes:
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(guard.body_timeout):
            async for chunk in chunks:
                size += len(chunk)
                if size > guard.max_body:
                    raise Refused(guard.too_large(), CLOSE)
                parts.append(chunk)
    except TimeoutError:
        raise Refused(guard.body_late(), CLOSE) from None
    return b"".join(parts)


async def check_body(guard: RequestGuard, match: RouteMatch, headers: dict[str, str],
                     credential: Credential | None, chunks: AsyncIterator[bytes],
                     query_string: bytes = b"") -> tuple[Validated, bytes]:
    """Content headers, then the body as it streams in, then the schema and lookups; the
    query string against the route's query schema, if it has one. Returns the verdict and the
    body bytes exactly as they arrived."""
    query, query_failures = guard.check_query(match, query_string)
    if match.schema is None:
        # A route that checks only its query (GET /v3/contacts): the body is passed on as is.
        body = await _read(guard, chunks)
        result = guard.with_query(None, query_failures)
        if result.error is not None:
            raise Refused(result.error)
        assert match.route.query_schema is not None
        return Validated(match.route.query_schema, None, match.params, credential, result,
                         query), body
    guard.validator(match.schema)  # an unknown schema is refused before the body is read
    guard.check_content(headers)
    body = await _read(guard, chunks)
    with guard.heavy_slot(len(body)):
        data, refusal = await guard.parse_async(guard.validator(match.schema), body)
        if refusal is not None:
            refusal = guard.with_query(refusal, query_failures)
            assert refusal.error is not None
            raise Refused(refusal.error)
        judged = await guard.judge_async(match.schema, data, len(body))
    result = guard.with_query(judged, query_failures)
    if result.error is not None:
        raise Refused(result.error)
    return Validated(match.schema, data, match.params, credential, result, query), body


class ValidationMiddleware(MiddlewareBase[ASGIApp]):
    """Checks the requests of `guard.routes` before `app` sees them (see the module text).

    Give a ready `RequestGuard`, a `GuardOptions`, or its fields as keywords
    (`ValidationMiddleware(app, max_body=4096, rate_limiter=MemoryRateLimiter())`); rate
    limits are off unless a limiter is given.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = self.guard.routes.match(scope["method"], scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        await self.handle(match, scope, receive, send, self.app)

    async def handle(self, match: RouteMatch, scope: Scope, receive: Receive, send: Send,
                     app: ASGIApp) -> None:
        """Check one matched request, then hand it to `app` (the service calls this too)."""
        guard = self.guard
        limiter_key: str | None = None
        extra: list[tuple[str, str]] = []
        try:
            headers = _headers(scope)
            credential = await authenticate(guard, headers)
            client = scope.get("client")
            admitted = await guard.admit_async(credential, client[0] if client else None)
            if admitted is not None:
                limiter_key, extra = admitted
            validated, raw = await check_body(guard, match, headers, credential,
                                              _receive_chunks(receive),
                                              scope.get("query_string", b""))
        except Refused as refused:
            await guard.release_async(limiter_key)
            await send_error(send, refused.error, [*extra, *refused.headers])
            return
        except _ClientGone:
            await guard.release_async(limiter_key)
            return
        except RateLimiterUnavailable:
            await send_error(send, unavailable_error(guard.catalog))
            return
        except Exception as exc:
            await guard.release_async(limiter_key)
            await send_error(send, guard.internal_error(exc), extra)
            return

        scope.setdefault("state", {})["validated"] = validated
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        async def send_with_limits(message: Message) -> None:
            if extra and message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", ()),
                                      *((k.encode(), v.encode()) for k, v in extra)]
            await send(message)

        try:
            await app(scope, replay, send_with_limits)
        finally:
            await guard.release_async(limiter_key)


# -- FastAPI ---------------------------------------------------------------------------------

ApiErrorException = Refused
"""What `ValidBody` raises and `install_error_handler` renders: the guard's one exception,
under the name the README documents."""


async def _error_response(request: Request, exc: Exception) -> Response:
    from starlette.responses import Response

    assert isinstance(exc, Refused)
    return Response(exc.error.to_json(), status_code=exc.error.http_status,
                    headers=dict(exc.headers), media_type="application/json")


def install_error_handler(app: Any) -> None:
    """Make a FastAPI/Starlette app answer `ApiErrorException` (what `ValidBody` raises) with
    the API's error body; in FastAPI, also make its `/openapi.json` and docs page show each
    `ValidBody` route's request schema and error responses."""
    app.add_exception_handler(Refused, _error_response)
    if hasattr(app, "openapi_schema"):
        from ._openapi import document_valid_bodies

        document_valid_bodies(app)


class ValidBody:
    """A FastAPI dependency that checks one route's request and returns the parsed body:

        contacts = ValidBody("contacts.create")

        @app.post("/v3/contacts", status_code=202)
        async def create(body: dict = Depends(contacts)) -> None: ...

    Call `install_error_handler(app)` once: refusals become the API's error bodies, and
    FastAPI's OpenAPI shows the schema and the error responses of the route. The guard is
    given as to the middleware (ready, as a `GuardOptions` or as keywords) and applies all of
    it, as the middleware does: the key, the rate limits (the concurrency slot is held until
    the route's answer is done, and the rate-limit headers are set on it), the body limits,
    the schema and the lookups. When the middleware already checked the request, its result
    is reused.
    """

    documents_request_body = True
    """Marks the dependencies whose schema FastAPI's OpenAPI shows (`install_error_handler`)."""

    def __init__(self, schema: str, guard: RequestGuard | GuardOptions | None = None,
                 **options: Unpack[GuardKeywords]) -> None:
        self.schema = schema
        self.guard = RequestGuard.of(guard, options)
        self._route = Route("POST", "/", schema)

    async def __call__(self, request: Request, response: Response) -> AsyncIterator[Any]:
        state = request.scope.get("state", {})
        done = state.get("validated")
        if isinstance(done, Validated) and done.schema == self.schema:
            yield done.body
            return
        guard = self.guard
        match = RouteMatch(self._route, self.schema, dict(request.path_params))
        limiter_key: str | None = None
        extra: list[tuple[str, str]] = []
        try:
            headers = _headers(request.scope)
            credential = await authenticate(guard, headers)
            client = request.client
            admitted = await guard.admit_async(credential, client.host if client else None)
            if admitted is not None:
                limiter_key, extra = admitted
            validated, _ = await check_body(guard, match, headers, credential,
                                            request.stream(), request.scope.get(
                                                "query_string", b""))
        except Refused as refused:
            await guard.release_async(limiter_key)
            raise Refused(refused.error, [*extra, *refused.headers]) from None
        except RateLimiterUnavailable:
            raise Refused(unavailable_error(guard.catalog)) from None
        except Exception as exc:
            await guard.release_async(limiter_key)
            raise Refused(guard.internal_error(exc), extra) from None
        for name, value in extra:
            response.headers[name] = value
        request.scope.setdefault("state", {})["validated"] = validated
        try:
            yield validated.body
        finally:
            await guard.release_async(limiter_key)
