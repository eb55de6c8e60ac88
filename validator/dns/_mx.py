"""The names the MX module held before the room was split by idea; kept only while other rooms
still import this path."""

from __future__ import annotations

from ._cache import DNSCache, default_cache
from ._checker import MXChecker
from ._stats import MXStats
from ._verdict import DomainVerdict, Status, normalise_domain

__all__ = [
    "DNSCache",
    "DomainVerdict",
    "MXChecker",
    "MXStats",
    "Status",
    "default_cache",
    "normalise_domain",
]
