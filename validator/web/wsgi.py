"""WSGI adapter: a middleware for Flask or any WSGI app.

    from validator.wsgi import ValidationMiddleware
    app.wsgi_app = ValidationMiddleware(app.wsgi_app)

The same rules as the ASGI adapter (see `validator.asgi`), synchronously: a refused request is
answered with the API's error body; an accepted one reaches the application with its body
bytes unchanged in `wsgi.input`, and the parsed body as `environ["validator.validated"].body`.
Async key checks and lookups are run to completion on a private event loop, since a WSGI
worker thread has none of its own. MX checks use the engine's synchronous resolver.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .._results import ApiError
from ._auth import Credential
from ._guard import MiddlewareBase, RequestGuard, Validated
from ._ratelimit import RateLimiterUnavailable, unavailable_error
from ._refused import Refused
from ._routes import RouteMatch

__all__ = ["Checked", "ValidationMiddleware", "check_sync", "error_body"]

ENVIRON_KEY = "validator.validated"
_CHUNK = 64 * 1024


class StartResponse(Protocol):
    def __call__(self, status: str, headers: list[tuple[str, str]],
                 exc_info: Any = ..., /) -> Callable[[bytes], object]: ...


WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Error')}"


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            out[key[5:].replace("_", "-").lower()] = value
    # CGI keeps these two outside HTTP_*.
    if environ.get("CONTENT_TYPE"):
        out["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        out["content-length"] = environ["CONTENT_LENGTH"]
    return out


def _length(headers: dict[str, str]) -> int | None:
    raw = headers.get("content-length", "").strip()
    return int(raw) if raw.isdigit() else None


def _chunks(environ: dict[str, Any], declared: int | None, limit: int) -> Iterator[bytes]:
    stream = environ["wsgi.input"]
    if declared is not None:
        remaining = declared
        while remaining > 0:
            chunk = stream.read(min(_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
        return
    if not environ.get("wsgi.input_terminated"):
        # Without a length and without a server that ends the stream, reading could block
        # forever; such a request has no body we can read safely.
        return
    # Chunked body: read at most one byte past the limit, which is enough to refuse it.
    read = 0
    while read <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - read))
        if not chunk:
            return
        read += len(chunk)
        yield chunk


def _titled(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    # WSGI servers pass header names through as given; the usual spelling is title case.
    # Hop-by-hop headers are the server's alone (PEP 3333), so the guard's `Connection:
    # close` is left out: the server decides how to end a connection.
    return [(name.title(), value) for name, value in headers if name.lower() != "connection"]


def error_body(error: ApiError, extra: Iterable[tuple[str, str]] = ()
               ) -> tuple[bytes, list[tuple[str, str]]]:
    """The bytes and headers of a refusal (its ``extra`` headers title-cased, hop-by-hop
    ones left to the server)."""
    body = error.to_json()
    return body, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                  *_titled(extra)]


def _error(start_response: StartResponse, error: ApiError,
           extra: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    body, headers = error_body(error, extra)
    start_response(_status_line(error.http_status), headers)
    return [body]


@dataclass(frozen=True, slots=True)
class Checked:
    """A request that passed `check_sync`: the verdict, the body bytes as they arrived, and
    the rate-limit slot (`guard.release(limiter_key)` once the response is sent) with its
    headers for the response."""

    validated: Validated
    body: bytes
    limiter_key: str | None
    headers: list[tuple[str, str]]


def check_sync(guard: RequestGuard, match: RouteMatch, headers: dict[str, str],
               address: str | None, query_string: str,
               body_chunks: Callable[[int | None], Iterable[bytes]]) -> Checked:
    """The guard's rules for one request, synchronously, in their order: key, rate limits,
    query, content headers, body, schema, lookups. ``body_chunks(declared_length)`` gives the
    body; it is asked for only after the headers passed. A refusal is `Refused`, carrying the
    rate-limit headers, its slot already given back. What the WSGI middleware, the Flask
    extension and the Django middleware share."""
    limiter_key: str | None = None
    extra: list[tuple[str, str]] = []
    try:
        credential: Credential | None = None
        if guard.require_auth:
            credential = guard.credential(headers)
            guard.check_key_sync(credential)
        admitted = guard.admit(credential, address)
        if admitted is not None:
            limiter_key, extra = admitted
        query, query_failures = guard.check_query(match, query_string)
        schema = match.schema
        if schema is None:
            # A route that checks only its query: the body is passed on as is.
            schema = str(match.route.query_schema)
            body = guard.read_chunks(body_chunks(_length(headers)))
            data, result = None, guard.with_query(None, query_failures)
        else:
            guard.validator(schema)
            policy = guard.check_content(headers)
            body = guard.read_chunks(body_chunks(policy.content_length))
            data, refusal = guard.parse(guard.validator(schema), body)
            result = refusal if refusal is not None else guard.judge_sync(schema, data)
            result = guard.with_query(result, query_failures)
        if result.error is not None:
            raise Refused(result.error)
    except Refused as refused:
        guard.release(limiter_key)
        raise Refused(refused.error, [*extra, *refused.headers]) from None
    except RateLimiterUnavailable:
        raise Refused(unavailable_error(guard.catalog)) from None
    except Exception as exc:
        guard.release(limiter_key)
        raise Refused(guard.internal_error(exc), extra) from None
    validated = Validated(schema, data, match.params, credential, result, query)
    return Checked(validated, body, limiter_key, extra)


class ValidationMiddleware(MiddlewareBase[WSGIApp]):
    """Checks the requests of `guard.routes` before `app` sees them.

    Give a ready `RequestGuard`, a `GuardOptions`, or its fields as keywords
    (`ValidationMiddleware(app.wsgi_app, max_body=4096)`); rate limits are off unless a
    limiter is given.
    """

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        match = self.guard.routes.match(environ.get("REQUEST_METHOD", "GET"),
                                        environ.get("PATH_INFO", "") or "/")
        if match is None:
            return self.app(environ, start_response)
        return self.handle(match, environ, start_response)

    def handle(self, match: RouteMatch, environ: dict[str, Any],
               start_response: StartResponse) -> Iterable[bytes]:
        guard = self.guard
        headers = _headers(environ)
        try:
            checked = check_sync(guard, match, headers, environ.get("REMOTE_ADDR"),
                                 environ.get("QUERY_STRING", ""),
                                 lambda length: _chunks(environ, length, guard.max_body))
        except Refused as refused:
            return _error(start_response, refused.error, refused.headers)
        limiter_key, extra = checked.limiter_key, _titled(checked.headers)
        environ[ENVIRON_KEY] = checked.validated
        environ["wsgi.input"] = io.BytesIO(checked.body)
        environ["CONTENT_LENGTH"] = str(len(checked.body))

        def start_with_limits(status: str, response_headers: list[tuple[str, str]],
                              exc_info: Any = None, /) -> Callable[[bytes], object]:
            return start_response(status, [*response_headers, *extra], exc_info)

        try:
            return _Released(self.app(environ, start_with_limits), guard, limiter_key)
        except BaseException:
            guard.release(limiter_key)
            raise


class _Released:
    """The application's response iterable; the concurrency slot is freed when the server
    closes it, i.e. once the response has been sent (PEP 3333 `close()`)."""

    def __init__(self, inner: Iterable[bytes], guard: RequestGuard, key: str | None) -> None:
        self._inner = inner
        self._guard = guard
        self._key = key

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._guard.release(self._key)
            self._key = None
