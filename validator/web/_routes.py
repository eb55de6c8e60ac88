"""Which requests are checked, and against which schemas: a route maps `METHOD /path/{param}`
to the schema of the body and the schema of the query string. The default table is every
operation the registered schemas name in their `x-route`, under the API's `/v3` prefix."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .._registry import ROUTE_KEY, SchemaRegistry, default_registry
from ..rules import is_query_schema

__all__ = ["Route", "RouteMatch", "RouteTable", "api_routes"]

# The API's routes come from the generated schemas (their `x-route` annotation); its path
# prefix is the version. Creating a contact is asynchronous in the API and answered 202.
API_PREFIX = "/v3"
ACCEPTED_SCHEMAS = frozenset({"contacts.create"})

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
    param_pattern: str | None = None
    """The pattern every path parameter (but ``schema_param``) must match, as the route's
    OpenAPI declares it; a parameter that does not is a 1003 entry (``validationType``
    ``"path"``). ``None``: parameters are not checked."""
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

    def allowed(self, path: str) -> list[str]:
        """The methods some route declares for ``path`` (for a 405's ``Allow``)."""
        return sorted({r.method for r in self.routes if r.regex.fullmatch(path)})

    @classmethod
    def default(cls, registry: SchemaRegistry | None = None) -> RouteTable:
        return cls(api_routes(registry))


# The API's path parameters are resource IDs (contactId, campaignId ...): the resource-id
# format, 1 to 64 letters and digits.
API_PARAM_PATTERN = "^[A-Za-z0-9]{1,64}$"


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
                    success_status=202 if names.get("body") in ACCEPTED_SCHEMAS else 200,
                    param_pattern=API_PARAM_PATTERN)
              for (method, pattern), names in found.items()]
    routes.sort(key=lambda r: (r.pattern.count("{"), -len(r.pattern), r.pattern, r.method))
    return routes
