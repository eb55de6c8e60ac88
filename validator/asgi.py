"""The ASGI adapter, importable as documented: `from validator.asgi import ValidationMiddleware`."""

from .web.asgi import *  # noqa: F403
from .web.asgi import __all__ as __all__
