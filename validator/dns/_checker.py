"""The MX checker: many domains at once, each looked up at most once however many checks
ask for it (the cache, and lookups in flight shared between tasks, threads and loops)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._cache import DNSCache, default_cache
from ._canaries import BUILTIN_CANARIES, canary_names
from ._lookup import Lifetimes, LookupFailed, Questions
from ._loops import run_private, wait_for
from ._sanity import Canaries
from ._stats import MXStats
from ._verdict import DomainVerdict, display_name, normalise_domain, seconds

__all__ = ["MXChecker"]


class _Abandoned(Exception):
    """The lookup a check had joined was cancelled; the check must do its own."""


@dataclass(slots=True)
class _InFlight:
    future: concurrent.futures.Future[DomainVerdict]
    loop: asyncio.AbstractEventLoop


class MXChecker:
    """Decides whether domains accept mail, concurrently, over dnspython's async resolver.

    * ``nameservers=None`` reads the system's resolver configuration (``/etc/resolv.conf``);
      otherwise those addresses are asked, on ``port``.
    * ``timeout`` bounds the whole check of one domain (its MX, A, AAAA and TXT questions
      together, as a shared deadline), so one domain never costs more than ``timeout`` seconds.
      A timed-out question is not asked again: dnspython already retransmits within it.
    * A SERVFAIL is asked once more while the deadline allows, since recursive resolvers answer
      SERVFAIL for transient upstream trouble (an upstream timeout) as well as for lasting
      faults; a second SERVFAIL is final. REFUSED and unreachable servers are not retried:
      asking the same server again gets the same refusal.
    * ``budget`` bounds a whole ``check_many`` call; domains not decided by then are "unknown"
      (and not cached, since nothing was learnt about them).
    * ``concurrency`` bounds the lookups in flight at once, per event loop.
    * Checks of a domain whose lookup is already in flight (from any task, thread or loop) wait
      for that lookup instead of asking again.
    * ``canaries``: names that must exist (``None``: gmail.com, outlook.com, yahoo.com; ``()``:
      none). When the resolver first says a domain does not exist (or has no MX and no address
      record), the canaries are asked, all at once, under ``timeout``; if it denies one of them
      too, it is lying (a captive or broken resolver), and for ``SANITY_HOLD`` seconds its
      denials are "unknown", not cached, with that reason. A canary it cannot answer proves
      nothing: denials then stand. With ``()`` denials are believed but never cached, since
      no canary vouched for them and the cache may serve checkers that ask other resolvers.
    """

    def __init__(
        self,
        *,
        nameservers: Sequence[str] | None = None,
        port: int = 53,
        timeout: float = 2.0,
        budget: float | None = None,
        concurrency: int = 64,
        cache: DNSCache | None = None,
        canaries: Sequence[str] | None = None,
    ) -> None:
        if nameservers is not None and isinstance(nameservers, str):
            raise TypeError("nameservers must be a sequence of addresses, not one string")
        if nameservers is not None and len(nameservers) == 0:
            raise ValueError("nameservers must not be empty (use None for the system's)")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if budget is not None and not budget > 0:
            raise ValueError("budget must be positive")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        names = BUILTIN_CANARIES if canaries is None else canary_names(canaries)
        self.nameservers = tuple(nameservers) if nameservers is not None else None
        self.port = port
        self.timeout = float(timeout)
        self.budget = None if budget is None else float(budget)
        self.concurrency = concurrency
        self.cache = cache if cache is not None else default_cache
        self.stats = MXStats()
        self._lock = threading.Lock()
        self._inflight: dict[str, _InFlight] = {}
        self._blocked_loops: set[asyncio.AbstractEventLoop] = set()
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()
        self._questions = Questions(nameservers=self.nameservers, port=port,
                                    timeout=self.timeout, stats=self.stats)
        self._canaries = Canaries(names, self._questions, self.cache, self.stats,
                                  self._resolver_label()) if names else None

    @property
    def canaries(self) -> tuple[str, ...]:
        return self._canaries.names if self._canaries is not None else ()

    @property
    def resolver_down(self) -> str | None:
        """Why the resolver is treated as down (its canaries said it lies), while that holds;
        None otherwise, also before any denial made the canaries be asked."""
        return self._canaries.distrusted if self._canaries is not None else None

    def _resolver_label(self) -> str:
        if self.nameservers is None:
            return "The system's DNS resolver"
        where = ", ".join(self.nameservers)
        return f"DNS server {where}" + ("" if self.port == 53 else f" port {self.port}")

    def __repr__(self) -> str:
        servers = "system" if self.nameservers is None else ",".join(self.nameservers)
        return f"MXChecker(nameservers={servers}, port={self.port}, timeout={self.timeout})"

    # -- public async API ---------------------------------------------------------------------

    async def check_async(self, domain: str) -> DomainVerdict:
        key = normalise_domain(domain)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats._count("hit")
            return cached
        return await self._lookup_shared(key)

    async def check_many_async(self, domains: Iterable[str]) -> dict[str, DomainVerdict]:
        """Verdicts for *domains*, keyed by each domain exactly as given.

        Each distinct domain (after normalisation) is looked up at most once.
        """
        keys, decided, todo = self._from_cache(domains)
        await self._resolve_todo(todo, decided)
        return {item: decided[key] for item, key in keys.items()}

    # -- public sync API ----------------------------------------------------------------------

    def check(self, domain: str) -> DomainVerdict:
        cached = self.cache.get(domain)
        if cached is not None:
            self.stats._count("hit")
            return cached
        return self.check_many([domain])[domain]

    def check_many(self, domains: Iterable[str]) -> dict[str, DomainVerdict]:
        """Like :meth:`check_many_async`, callable from any thread.

        Without a running event loop in this thread, the lookups run in a private loop here.
        Inside a running loop (a sync call from async code) they run in a private loop on a
        worker thread while this thread waits: the caller's loop is blocked for that time, so
        async code should prefer ``await check_many_async(...)``.
        """
        keys, decided, todo = self._from_cache(domains)
        if todo:
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is None:
                run_private(lambda: self._resolve_todo(todo, decided))
            else:
                # While this thread waits, its loop cannot run: lookups it owns stall until we
                # return, so no check may wait for them meanwhile (see _lookup_shared).
                with self._lock:
                    self._blocked_loops.add(running)
                try:
                    with concurrent.futures.ThreadPoolExecutor(1, "mxcheck") as pool:
                        pool.submit(
                            run_private, lambda: self._resolve_todo(todo, decided)
                        ).result()
                finally:
                    with self._lock:
                        self._blocked_loops.discard(running)
        return {item: decided[key] for item, key in keys.items()}

    # -- internals ----------------------------------------------------------------------------

    def _from_cache(
        self, domains: Iterable[str]
    ) -> tuple[dict[str, str], dict[str, DomainVerdict], list[str]]:
        """Input -> key, the verdicts the cache already has, and the keys still to look up."""
        keys = {item: normalise_domain(item) for item in domains}
        decided: dict[str, DomainVerdict] = {}
        todo: list[str] = []
        for key in dict.fromkeys(keys.values()):
            cached = self.cache.get(key)
            if cached is not None:
                self.stats._count("hit")
                decided[key] = cached
            else:
                todo.append(key)
        return keys, decided, todo

    async def _resolve_todo(self, todo: list[str], decided: dict[str, DomainVerdict]) -> None:
        if not todo:
            return
        try:
            await self._resolve_all(todo, decided)
        finally:
            self.cache.flush()

    async def _resolve_all(self, todo: list[str], decided: dict[str, DomainVerdict]) -> None:
        queue = iter(todo)

        # A fixed pool of workers instead of one task per domain: 10,000 domains cost
        # `concurrency` tasks, and the semaphore in _lookup_shared still bounds lookups made
        # by other calls on the same loop.
        async def worker() -> None:
            for key in queue:
                decided[key] = await self._lookup_shared(key)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(todo)))]
        try:
            done, pending = await asyncio.wait(workers, timeout=self.budget)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
        if pending:
            assert self.budget is not None
            for key in todo:
                if key not in decided:
                    decided[key] = DomainVerdict(
                        key,
                        "unknown",
                        f"DNS check of {display_name(key)} not finished within the budget of "
                        f"{seconds(self.budget)} s.",
                    )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            sem = self._semaphores.get(loop)
            if sem is None:
                sem = asyncio.Semaphore(self.concurrency)
                self._semaphores[loop] = sem
            return sem

    async def _lookup_shared(self, key: str) -> DomainVerdict:
        loop = asyncio.get_running_loop()
        while True:
            owned: concurrent.futures.Future[DomainVerdict] | None = None
            joined: concurrent.futures.Future[DomainVerdict] | None = None
            with self._lock:
                entry = self._inflight.get(key)
                if entry is None:
                    # Re-checked under the lock: the owner caches before it leaves the table,
                    # so a check arriving just after a lookup ends finds its result here.
                    cached = self.cache.get(key)
                    if cached is not None:
                        self.stats._count("hit")
                        return cached
                    owned = concurrent.futures.Future()
                    self._inflight[key] = _InFlight(owned, loop)
                elif entry.loop not in self._blocked_loops:
                    joined = entry.future
                # else: that lookup's loop is blocked in a synchronous check_many, perhaps
                # ours; waiting for it could deadlock, so this check asks on its own.
            if owned is not None:
                return await self._own_lookup(key, owned)
            if joined is None:
                verdict, lifetime = await self._lookup(key)
                if lifetime is not None:
                    self.cache.put(verdict, lifetime)
                return verdict
            self.stats._count("join")
            try:
                return await wait_for(joined)
            except _Abandoned:
                continue

    async def _own_lookup(
        self, key: str, future: concurrent.futures.Future[DomainVerdict]
    ) -> DomainVerdict:
        try:
            verdict, lifetime = await self._lookup(key)
        except BaseException:
            with self._lock:
                self._inflight.pop(key, None)
            future.set_exception(_Abandoned())
            raise
        try:
            if lifetime is not None:
                self.cache.put(verdict, lifetime)
        finally:
            # Whatever happens to the cache, the checks waiting for this lookup get its verdict.
            with self._lock:
                self._inflight.pop(key, None)
            future.set_result(verdict)
        return verdict

    async def _lookup(self, key: str) -> tuple[DomainVerdict, float | None]:
        """Resolve one domain; returns the verdict and how long to cache it (None: don't)."""
        async with self._semaphore():
            self.stats._count("lookup")
            lifetimes = Lifetimes(self.cache)
            try:
                verdict = await self._questions.decide(key, lifetimes)
            except LookupFailed as e:
                return (
                    DomainVerdict(key, "unknown", e.reason),
                    self.cache.unknown_ttl if e.cacheable else None,
                )
        if lifetimes.absent is not None:
            if self._canaries is None:
                # Believed, as canaries=() asks, but not cached: the cache is shared (the
                # process's default, a cache_path file) with checkers of other resolvers, or
                # with canaries, which would take this resolver's word without asking theirs.
                return verdict, None
            # Outside the semaphore: the checks waiting here must not hold the slots that
            # the other domains' lookups need.
            distrust = await self._canaries.distrust()
            if distrust is not None:
                # Not cached: nothing was learnt about this domain.
                return DomainVerdict(key, "unknown", distrust), None
        return verdict, (lifetimes.shortest() if lifetimes.cacheable else None)

