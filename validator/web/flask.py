"""Flask extension: the guard for a whole app (`init_app`) and per view (`body`).

    from validator.web.flask import Validation

    validation = Validation()                     # options as for every backend
    validation.init_app(app)                      # the API's routes, as the WSGI middleware

    @app.post("/signup")
    @validation.body("contacts.create")           # this view's body, whatever its URL
    def signup():
        contact = validation.validated.body       # the parsed body that passed
        ...

The same rules and answers as the WSGI middleware (`validator.wsgi`, whose checks it runs):
a refused request is answered with the API's error body before the view runs.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any, TypeVar, Unpack, cast

from ._guard import RequestGuard, Validated
from ._options import GuardKeywords, GuardOptions
from ._refused import Refused
from ._routes import Route, RouteMatch
from .wsgi import ENVIRON_KEY, ValidationMiddleware, _chunks, _headers, check_sync, error_body

__all__ = ["Validation"]

_F = TypeVar("_F", bound=Callable[..., Any])
_EXTENSION = "validator"


class Validation:
    """The extension. ``init_app`` wraps the app's ``wsgi_app`` in the WSGI middleware for the
    guard's routes (the API's routes by default; ``routes=[]`` for none) and registers itself
    as ``app.extensions["validator"]``; ``body(schema)`` decorates one view."""

    def __init__(self, app: Any = None, guard: RequestGuard | GuardOptions | None = None,
                 **options: Unpack[GuardKeywords]) -> None:
        self.guard = RequestGuard.of(guard, options)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        app.extensions[_EXTENSION] = self
        app.wsgi_app = ValidationMiddleware(app.wsgi_app, self.guard)

    @property
    def validated(self) -> Validated:
        """What the guard made of the current request (inside a view it checked)."""
        from flask import request

        found = request.environ.get(ENVIRON_KEY)
        if not isinstance(found, Validated):
            raise LookupError("this request was not checked by the validator")
        return found

    def body(self, schema: str) -> Callable[[_F], _F]:
        """Check the view's request against ``schema`` before the view runs."""
        route = Route("POST", "/", schema)

        def decorate(view: _F) -> _F:
            @functools.wraps(view)
            def checked(*args: Any, **kwargs: Any) -> Any:
                from flask import Response, request

                environ = request.environ
                done = environ.get(ENVIRON_KEY)
                if isinstance(done, Validated) and done.schema == schema:
                    return view(*args, **kwargs)  # the middleware checked it already
                guard = self.guard
                match = RouteMatch(route, schema, dict(request.view_args or {}))
                try:
                    result = check_sync(guard, match, _headers(environ),
                                        environ.get("REMOTE_ADDR"),
                                        environ.get("QUERY_STRING", ""),
                                        lambda n: _chunks(environ, n, guard.max_body))
                except Refused as refused:
                    body, headers = error_body(refused.error, refused.headers)
                    return Response(body, status=refused.error.http_status, headers=headers)
                environ[ENVIRON_KEY] = result.validated
                # The view may read the body too (request.get_json()): the same bytes.
                environ["wsgi.input"] = io.BytesIO(result.body)
                environ["CONTENT_LENGTH"] = str(len(result.body))
                try:
                    response = view(*args, **kwargs)
                finally:
                    guard.release(result.limiter_key)
                if result.headers:
                    response = _with_headers(response, result.headers)
                return response

            return cast(_F, checked)

        return decorate


def _with_headers(response: Any, headers: list[tuple[str, str]]) -> Any:
    from flask import make_response

    made = make_response(response)
    for name, value in headers:
        made.headers[name.title()] = value
    return made
