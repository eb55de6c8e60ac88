"""What a checker has asked and saved: its counters, for tests, benchmarks and operators."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["MXStats"]


@dataclass
class MXStats:
    """Counters of one MXChecker. Updated from any thread; read them when the checker is idle."""

    queries: Counter[str] = field(default_factory=Counter)
    """DNS questions asked, by record type (a SERVFAIL retry counts as a second question)."""
    lookups: int = 0
    """Domains actually resolved (cache misses that were not joined to a lookup in flight)."""
    cache_hits: int = 0
    inflight_joins: int = 0
    """Checks that waited for a lookup of the same domain already under way."""
    servfail_retries: int = 0
    canary_checks: int = 0
    """Rounds of canary questions (see MXChecker's ``canaries``)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def total_queries(self) -> int:
        with self._lock:
            return sum(self.queries.values())

    def reset(self) -> None:
        with self._lock:
            self.queries.clear()
            self.lookups = self.cache_hits = self.inflight_joins = self.servfail_retries = 0
            self.canary_checks = 0

    def _count(self, what: str, rdtype: str = "") -> None:
        with self._lock:
            if what == "query":
                self.queries[rdtype] += 1
            elif what == "lookup":
                self.lookups += 1
            elif what == "hit":
                self.cache_hits += 1
            elif what == "join":
                self.inflight_joins += 1
            elif what == "servfail_retry":
                self.servfail_retries += 1
            elif what == "canary_check":
                self.canary_checks += 1
