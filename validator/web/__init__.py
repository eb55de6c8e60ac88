"""Web backends: the request rules of SPEC §5 for any ASGI or WSGI application, the API's
rate limits, and the `validator serve` application.

The adapters themselves are `validator.asgi` / `validator.web.asgi` and `validator.wsgi` /
`validator.web.wsgi`; this package's face holds what both share.
"""

from .._exceptions import RateLimiterUnavailable
from ._guard import (
    Credential,
    KeyCheck,
    Lookup,
    LookupCallback,
    Refused,
    RequestGuard,
    Route,
    RouteMatch,
    RouteTable,
    Validated,
    api_routes,
    key_file_check,
    related,
    unique,
)
from ._ratelimit import Decision, Limits, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from ._service import ServiceApp, create_app, openapi_document

__all__ = [
    "Credential",
    "Decision",
    "KeyCheck",
    "Limits",
    "Lookup",
    "LookupCallback",
    "MemoryRateLimiter",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisRateLimiter",
    "Refused",
    "RequestGuard",
    "Route",
    "RouteMatch",
    "RouteTable",
    "ServiceApp",
    "Validated",
    "api_routes",
    "create_app",
    "key_file_check",
    "openapi_document",
    "related",
    "unique",
]
