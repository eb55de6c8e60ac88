"""Web backends: the request rules of SPEC §5 for any ASGI or WSGI application, the API's
rate limits, and the `validator serve` application.

The adapters themselves are `validator.asgi` / `validator.web.asgi` and `validator.wsgi` /
`validator.web.wsgi`; this package's face holds what both share, starting with
`GuardOptions`, the one description of how requests are checked that every backend takes.
"""

from .._exceptions import RateLimiterUnavailable
from ._auth import Credential, KeyCheck, key_file_check
from ._guard import RequestGuard, Validated
from ._lookups import Lookup, LookupCallback, related, unique
from ._options import GuardKeywords, GuardOptions
from ._ratelimit import Decision, Limits, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from ._refused import Refused
from ._routes import Route, RouteMatch, RouteTable, api_routes
from ._server import run_server
from ._service import ServiceApp, create_app, openapi_document

__all__ = [
    "Credential",
    "Decision",
    "GuardKeywords",
    "GuardOptions",
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
    "run_server",
    "unique",
]
