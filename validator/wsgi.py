"""The WSGI adapter, importable as documented: `from validator.wsgi import ValidationMiddleware`."""

from .web.wsgi import *  # noqa: F403
from .web.wsgi import __all__ as __all__
