"""Whether a resolver's "no such domain" can be believed (SPEC §6): canary names that must
exist are asked when it first says a domain does not exist, and a resolver that denies one of
them is treated as down, so that its denials become "unknown" (1010), never 1002.

Captive portals and broken resolvers answer NXDOMAIN (or an empty answer) for every name; without
this, a whole file of gmail.com addresses would be refused as undeliverable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Sequence

from ._cache import DNSCache
from ._lookup import Lifetimes, LookupFailed, Questions
from ._loops import run_private, wait_for
from ._stats import MXStats
from ._verdict import display_name

__all__ = ["SANITY_HOLD", "Canaries"]

SANITY_HOLD = 120.0
"""Seconds a checker keeps what its canaries said before asking them again: a resolver that
is fixed (or breaks) is noticed within this time, at the cost of one round per period."""


class Canaries:
    """The canary check of one checker's resolver: asked at most once per `SANITY_HOLD`
    seconds, whatever number of denials, tasks, threads or loops want it meanwhile."""

    def __init__(self, names: Sequence[str], questions: Questions, cache: DNSCache,
                 stats: MXStats, resolver_label: str) -> None:
        self.names = tuple(names)
        self._questions = questions
        self._cache = cache
        self._stats = stats
        self._label = resolver_label
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._expires = 0.0
        self._pending: concurrent.futures.Future[str | None] | None = None

    @property
    def distrusted(self) -> str | None:
        """Why the resolver is treated as down now, or None (trusted, or not asked lately)."""
        with self._lock:
            return self._reason if time.monotonic() < self._expires else None

    async def distrust(self) -> str | None:
        """None when the resolver's denials stand; else the sentence saying why they do not."""
        with self._lock:
            if time.monotonic() < self._expires:
                return self._reason
            pending = self._pending
            if pending is None:
                pending = self._pending = concurrent.futures.Future()
                # On a thread and loop of its own: every check waiting for it, from any loop
                # (even one blocked in a synchronous check_many), is woken by the future, and
                # no caller's cancellation can abandon it half-way.
                threading.Thread(target=self._probe, args=(pending,), name="mx-canaries",
                                 daemon=True).start()
        return await wait_for(pending)

    def _probe(self, pending: concurrent.futures.Future[str | None]) -> None:
        try:
            reason = run_private(self._ask_all)
        except BaseException as exc:
            # Handed to every waiter, and the next denial asks again.
            with self._lock:
                self._pending = None
            pending.set_exception(exc)
            return
        with self._lock:
            self._reason = reason
            self._expires = time.monotonic() + SANITY_HOLD
            self._pending = None
        pending.set_result(reason)

    async def _ask_all(self) -> str | None:
        self._stats._count("canary_check")
        denials = await asyncio.gather(*(self._denied(name) for name in self.names))
        for name, denial in zip(self.names, denials, strict=True):
            if denial is not None:
                return (f"{self._label} is treated as down: it says that {display_name(name)}, "
                        f"a name that must exist, {denial}, so its answers that a domain does "
                        "not exist are not trusted.")
        # A canary it could not answer (REFUSED by a server authoritative for other names
        # only, a timeout) proves nothing either way: its denials stand.
        return None

    async def _denied(self, name: str) -> str | None:
        lifetimes = Lifetimes(self._cache)
        try:
            verdict = await self._questions.decide(name, lifetimes)
        except LookupFailed:
            return None
        if verdict.status != "undeliverable" or lifetimes.absent is None:
            return None
        return lifetimes.absent
