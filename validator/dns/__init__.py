"""MX checks: whether an e-mail domain accepts mail (RFC 5321 §5.1, RFC 7505), over
dnspython, with a shared cache.

This room imports nothing of the package but the exceptions, and dnspython only when a
checker or cache is first used: `import validator` stays free of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._options import DNSOptions

if TYPE_CHECKING:
    from ._cache import DNSCache
    from ._checker import MXChecker
    from ._stats import MXStats
    from ._verdict import DomainVerdict, normalise_domain

__all__ = ["DNSCache", "DNSOptions", "DomainVerdict", "MXChecker", "MXStats", "normalise_domain"]

_LAZY = frozenset(__all__) - {"DNSOptions"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        # Spelled out, not importlib: tests/test_architecture.py reads these imports.
        from . import _cache, _checker, _stats, _verdict

        home = {"DNSCache": _cache, "MXChecker": _checker, "MXStats": _stats}.get(name, _verdict)
        return getattr(home, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
