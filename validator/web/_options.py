"""How requests are checked, as one typed, immutable object that every backend takes.

`RequestGuard`, both middlewares, `ValidBody`, `ServiceApp` and `create_app` all take a
`GuardOptions` (or the same settings as keywords, which build one), so a web option is
declared, checked and documented once, whatever the framework.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict, Unpack

from .._catalog import ErrorCatalog
from .._exceptions import OptionsError
from .._options import ValidationOptions
from .._registry import SchemaRegistry
from ._auth import KeyCheck
from ._lookups import Lookup
from ._ratelimit import RateLimiter
from ._routes import Route, RouteTable

__all__ = ["GuardKeywords", "GuardOptions"]

DEFAULT_MAX_BODY = 1 << 20
DEFAULT_MAX_DEPTH = 32
DEFAULT_BODY_TIMEOUT = 30.0
# A contact body is a few hundred bytes and is checked in microseconds; a thread hop costs
# more than that. Past a few KiB a body can hold strings whose checks take milliseconds to
# many milliseconds (patterns up to their time bound), so those leave the event loop.
DEFAULT_THREAD_ABOVE = 2048
# Bodies over `thread_above` waiting for (or in) the worker thread. Each holds its bytes (up to
# `max_body`) while it waits; past this many the server is busier than waiting helps.
DEFAULT_MAX_QUEUED = 64

Routes = RouteTable | Iterable[Route | tuple[str, str, str]]
"""A route table, or the routes (or `(method, pattern, schema)` triples) to make one of."""


@dataclass(frozen=True, slots=True)
class GuardOptions:
    """The request rules of SPEC §5, the same in every backend.

    * `routes`: which requests are checked and against which schemas; `None` for the API's
      routes (every `x-route` of the registered schemas, under `/v3`).
    * `require_auth`: the 1014 rule; `key_check(credential)` (sync or async) decides whether
      a well-formed key is valid — without it every well-formed key is.
    * `rate_limiter`: the API's rate limits (e.g. `MemoryRateLimiter()`); off when `None`.
      Applied by the middlewares and the service, which see the whole response.
    * `max_body` (bytes) and `max_depth` (nesting of objects and arrays, and of the brackets
      of a query parameter's name) bound what is parsed.
    * `body_timeout` (seconds, ASGI): the time a body may take to arrive once its headers
      did; past it the request is answered 1000 and the connection closed. `None`: no
      deadline. A WSGI server owns its sockets, so its own timeout applies there.
    * `thread_above` (bytes, ASGI): bodies larger than this are parsed and checked in a
      worker thread, so that an expensive one does not stall every other request on the
      event loop; `None`: always on the loop.
    * `max_queued` (ASGI): how many such bodies may wait for, or be in, the worker thread at
      once; one more is answered 1019 (503, Service unavailable) with `Retry-After`, at once,
      instead of joining an ever longer queue.
    * `lookups`: optional 1001/1008 checks against the host's data.
    * `catalog`: the error catalog of every answer, the guard's own and the schemas'; `None`
      for `validation.catalog`, or else the published one.
    * `registry`: where schema names are looked up; `None` for the default registry.
    * `validation`: how bodies and queries are checked (`check_mx`, `always_combine` ...).
    """

    routes: RouteTable | None = None
    require_auth: bool = True
    key_check: KeyCheck | None = field(default=None, compare=False)
    rate_limiter: RateLimiter | None = field(default=None, compare=False)
    max_body: int = DEFAULT_MAX_BODY
    max_depth: int = DEFAULT_MAX_DEPTH
    body_timeout: float | None = DEFAULT_BODY_TIMEOUT
    thread_above: int | None = DEFAULT_THREAD_ABOVE
    max_queued: int = DEFAULT_MAX_QUEUED
    lookups: tuple[Lookup, ...] = ()
    catalog: ErrorCatalog | None = field(default=None, compare=False)
    registry: SchemaRegistry | None = field(default=None, compare=False)
    validation: ValidationOptions = field(default_factory=ValidationOptions)

    def __post_init__(self) -> None:
        if self.routes is not None and not isinstance(self.routes, RouteTable):
            object.__setattr__(self, "routes", RouteTable(self.routes))
        object.__setattr__(self, "lookups", tuple(self.lookups))
        if not all(isinstance(lookup, Lookup) for lookup in self.lookups):
            raise OptionsError("lookups must be Lookup objects, made by related() or unique()")
        if self.max_body < 0 or self.max_depth < 1:
            raise OptionsError("max_body must be >= 0 and max_depth >= 1")
        if self.body_timeout is not None and not self.body_timeout > 0:
            raise OptionsError("body_timeout must be a positive number of seconds, or None")
        if self.thread_above is not None and self.thread_above < 0:
            raise OptionsError("thread_above must be >= 0 bytes, or None")
        if isinstance(self.max_queued, bool) or not isinstance(self.max_queued, int) \
                or self.max_queued < 1:
            raise OptionsError("max_queued must be a whole number >= 1")
        if self.key_check is not None and not callable(self.key_check):
            raise OptionsError("key_check must be a function of a Credential")
        if self.catalog is not None and not isinstance(self.catalog, ErrorCatalog):
            raise OptionsError("catalog must be an ErrorCatalog")
        if not isinstance(self.validation, ValidationOptions):
            raise OptionsError("validation must be a ValidationOptions")

    @classmethod
    def build(cls, base: GuardOptions | None = None, **keywords: Unpack[GuardKeywords]
              ) -> GuardOptions:
        """`base` (or the defaults) with keywords applied: the adapters' documented keyword
        arguments (`ValidationMiddleware(app, max_body=4096)`) come through here."""
        options = base if base is not None else cls()
        if not keywords:
            return options
        unknown = set(keywords) - _FIELDS
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(_FIELDS))}")
        changes: dict[str, Any] = dict(keywords)
        return replace(options, **changes)


class GuardKeywords(TypedDict, total=False):
    """`GuardOptions`' fields, as the keywords the backends take besides an options object;
    here `routes` and `lookups` may be any iterable."""

    routes: Routes | None
    require_auth: bool
    key_check: KeyCheck | None
    rate_limiter: RateLimiter | None
    max_body: int
    max_depth: int
    body_timeout: float | None
    thread_above: int | None
    max_queued: int
    lookups: Iterable[Lookup]
    catalog: ErrorCatalog | None
    registry: SchemaRegistry | None
    validation: ValidationOptions


_FIELDS = frozenset(GuardOptions.__dataclass_fields__)
