"""Django middleware: the guard for a Django project's routes.

    # settings.py
    MIDDLEWARE = [..., "validator.web.django.ValidationMiddleware"]
    VALIDATOR = {"require_auth": True, "max_body": 65536}     # GuardOptions' fields

A request matching the guard's routes (the API's routes by default, or
``VALIDATOR["routes"] = [("POST", "/signup", "contacts.create")]``) is checked before its
view runs, with the rules and answers of every other backend (`validator.wsgi`'s checks); an
accepted one reaches the view with ``request.validated`` (a `Validated`) and its body unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._guard import RequestGuard
from ._options import GuardOptions
from ._refused import Refused
from .wsgi import _headers, check_sync, error_body

__all__ = ["ValidationMiddleware"]

_SETTING = "VALIDATOR"


class ValidationMiddleware:
    """Django's middleware protocol: built once with ``get_response``, called per request.
    Its guard comes from ``settings.VALIDATOR`` (a dict of `GuardOptions` fields, or a
    `GuardOptions`), unless one is given."""

    def __init__(self, get_response: Callable[[Any], Any],
                 guard: RequestGuard | GuardOptions | None = None) -> None:
        self.get_response = get_response
        if guard is None:
            from django.conf import settings

            configured = getattr(settings, _SETTING, None) or {}
            guard = configured if isinstance(configured, GuardOptions) else \
                GuardOptions.build(**configured)
        self.guard = RequestGuard.of(guard, {})

    def __call__(self, request: Any) -> Any:
        match = self.guard.routes.match(request.method, request.path_info)
        if match is None:
            return self.get_response(request)
        meta = request.META
        try:
            # Django reads the body itself (and keeps it for the view); the declared length
            # is checked against the limit before that, and the bytes read after.
            checked = check_sync(self.guard, match, _headers(meta), meta.get("REMOTE_ADDR"),
                                 meta.get("QUERY_STRING", ""), lambda _: [request.body])
        except Refused as refused:
            return _response(refused)
        request.validated = checked.validated
        try:
            response = self.get_response(request)
        finally:
            self.guard.release(checked.limiter_key)
        for name, value in checked.headers:
            response[name.title()] = value
        return response


def _response(refused: Refused) -> Any:
    from django.http import HttpResponse

    body, headers = error_body(refused.error, refused.headers)
    response = HttpResponse(body, status=refused.error.http_status,
                            content_type="application/json")
    for name, value in headers:
        if name != "Content-Type":
            response[name] = value
    return response
