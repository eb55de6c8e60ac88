"""MX checks: whether an e-mail domain accepts mail (RFC 5321 §5.1, RFC 7505), over
dnspython, with a shared cache.

This room imports nothing of the package but the exceptions, and dnspython only when a
checker or cache is first used: `import validator` stays free of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._options import DNSOptions

if TYPE_CHECKING:
    from ._mx import DNSCache, DomainVerdict, MXChecker, MXStats, normalise_domain

__all__ = ["DNSCache", "DNSOptions", "DomainVerdict", "MXChecker", "MXStats", "normalise_domain"]

_LAZY = frozenset(__all__) - {"DNSOptions"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _mx

        return getattr(_mx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
