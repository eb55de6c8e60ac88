"""The ASGI adapter, importable as documented: `from validator.asgi import ValidationMiddleware`."""

from .web.asgi import (
    ApiErrorException,
    Receive,
    Scope,
    Send,
    ValidationMiddleware,
    ValidBody,
    install_error_handler,
)

__all__ = [
    "ApiErrorException",
    "Receive",
    "Scope",
    "Send",
    "ValidBody",
    "ValidationMiddleware",
    "install_error_handler",
]
