"""The WSGI adapter, importable as documented: `from validator.wsgi import ValidationMiddleware`."""

from .web.wsgi import ValidationMiddleware

__all__ = ["ValidationMiddleware"]
