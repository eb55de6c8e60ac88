"""The one exception of the web backends: a request answered with the API's error body."""

from __future__ import annotations

from collections.abc import Iterable

from .._exceptions import ValidatorError
from .._results import ApiError

__all__ = ["Refused"]


class Refused(ValidatorError):
    """A request answered with `error` (the API's error body and status) and `headers`
    instead of reaching the application.

    The request guard raises it; the middlewares answer it; `ValidBody` lets it propagate,
    and `install_error_handler` makes FastAPI render it, which is why `validator.asgi` also
    names it `ApiErrorException`.
    """

    def __init__(self, error: ApiError, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(str(error))
        self.error = error
        self.headers = list(headers)
