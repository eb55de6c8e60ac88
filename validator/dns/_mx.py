"""DNS deliverability of e-mail domains (RFC 5321 §5.1, RFC 7505), with a shared verdict cache.

The decision is the one ``email_validator.validate_email_deliverability`` (2.4) makes, message
for message, so that a payload accepted by email-validator is accepted here and an address it
rejects is rejected with the same sentence. The one deliberate difference: where a lookup fails
(timeout, SERVFAIL, REFUSED, no nameserver reachable) email-validator lets the address through,
while this module answers "unknown", which the engine reports as 1010 (the check could not be
made) instead of pretending the domain was checked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import json
import os
import sqlite3
import threading
import time
import warnings
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import dns.asyncbackend
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver
import idna

__all__ = [
    "DNSCache",
    "DomainVerdict",
    "MXChecker",
    "MXStats",
    "Status",
    "default_cache",
    "normalise_domain",
]

Status = Literal["deliverable", "undeliverable", "unknown"]
FallbackType = Literal["A", "AAAA"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class DomainVerdict:
    """What DNS says about mail to one domain."""

    domain: str
    """The ASCII (IDNA), lowercase domain, without a trailing dot."""
    status: Status
    reason: str
    """One sentence. For "undeliverable" it is email-validator's own wording."""
    mx: tuple[tuple[int, str], ...] = ()
    """For "deliverable": (preference, host) pairs as email-validator reports them."""
    mx_fallback_type: FallbackType | None = None
    """For "deliverable" without MX: which address record stood in for it."""

    @property
    def deliverable(self) -> bool:
        return self.status == "deliverable"


def normalise_domain(domain: str) -> str:
    """The cache key of a domain: ASCII, lowercase, no trailing dot."""
    d = domain[:-1] if domain.endswith(".") else domain
    if not d.isascii():
        # Callers are meant to pass email-validator's ascii_domain; a Unicode domain is still
        # turned into the name that would go on the wire rather than failing later in dnspython.
        try:
            d = idna.encode(d, uts46=True).decode("ascii")
        except idna.IDNAError:
            return d.lower()
    return d.lower()


def _display_name(ascii_domain: str) -> str:
    # email-validator's messages name the domain in its Unicode form (its domain_i18n).
    if "xn--" not in ascii_domain:
        return ascii_domain
    try:
        return idna.decode(ascii_domain.encode("ascii"))
    except (idna.IDNAError, UnicodeError):
        return ascii_domain


def _seconds(value: float) -> str:
    return str(float(value))


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------

_SCHEMA_VERSION = 1
_FLUSH_EVERY = 512


class _SQLiteStore:
    """The persistent half of a DNSCache. Every method runs under the owning cache's lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        # WAL + synchronous=NORMAL: a crash can lose the last batch, which only costs lookups.
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        (version,) = self.conn.execute("PRAGMA user_version").fetchone()
        if version != _SCHEMA_VERSION:
            # The cache is disposable: a file written by another schema is started afresh.
            with self.conn:
                self.conn.execute("DROP TABLE IF EXISTS verdicts")
                self.conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        with self.conn:
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS verdicts ("
                " domain TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT NOT NULL,"
                " mx TEXT NOT NULL, fallback TEXT, expires REAL NOT NULL) WITHOUT ROWID"
            )
        self.pending: dict[str, tuple[str, str, str, str, str | None, float]] = {}
        self.closed = False
        self.failed = False

    def load(self, now: float) -> list[tuple[DomainVerdict, float]]:
        with self.conn:
            self.conn.execute("DELETE FROM verdicts WHERE expires <= ?", (now,))
        rows = self.conn.execute(
            "SELECT domain, status, reason, mx, fallback, expires FROM verdicts"
        ).fetchall()
        loaded: list[tuple[DomainVerdict, float]] = []
        for domain, status, reason, mx_json, fallback, expires in rows:
            if status not in ("deliverable", "undeliverable"):
                continue
            mx = tuple((int(p), str(h)) for p, h in json.loads(mx_json))
            fb: FallbackType | None = fallback if fallback in ("A", "AAAA") else None
            loaded.append((DomainVerdict(domain, status, reason, mx, fb), float(expires)))
        return loaded

    def add(self, verdict: DomainVerdict, expires: float) -> None:
        self.pending[verdict.domain] = (
            verdict.domain,
            verdict.status,
            verdict.reason,
            json.dumps([list(m) for m in verdict.mx]),
            verdict.mx_fallback_type,
            expires,
        )
        if len(self.pending) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self.pending or self.closed or self.failed:
            return
        rows = list(self.pending.values())
        self.pending.clear()
        try:
            # One transaction per batch: 10,000 domains cost ~20 commits, not 10,000.
            with self.conn:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO verdicts"
                    " (domain, status, reason, mx, fallback, expires) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.Error as e:
            # The file only saves lookups; a full disk or a locked file must not stop the
            # checks, which go on with the in-memory cache.
            self.failed = True
            warnings.warn(
                f"DNS cache file {self.path}: writes stopped ({e})", RuntimeWarning, stacklevel=2
            )

    def clear(self) -> None:
        self.pending.clear()
        with self.conn:
            self.conn.execute("DELETE FROM verdicts")

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            self.conn.close()


def _close_store(lock: threading.RLock, store: _SQLiteStore) -> None:
    with lock:
        store.close()


class DNSCache:
    """Verdicts by domain, shared by every checker that is given it (and by default, process-wide).

    Lifetimes:

    * a verdict backed by records (MX, A/AAAA, TXT) lives as long as the shortest TTL among the
      records that decided it, clamped to ``[min_ttl, max_ttl]``; the floor keeps a TTL of 0
      from turning a batch run into one query per row, the ceiling bounds staleness;
    * a verdict backed by a negative answer (NXDOMAIN, or no record of the type) lives as long
      as the zone's SOA says negative answers may be kept (RFC 2308: the smaller of the SOA's
      TTL and its MINIMUM), clamped to ``[min_ttl, negative_ttl]``; without an SOA,
      ``negative_ttl``. A verdict that rests on several answers takes the shortest of them;
    * an "unknown" verdict (the lookup failed) lives ``unknown_ttl`` seconds, in memory only
      and never in the SQLite file. RFC 9520 asks resolvers to remember failures briefly (at
      least 1 s, at most 5 min) so that a dead domain is not asked again for every row of a
      run; it is not persisted because a failure says nothing about the domain tomorrow.

    ``path`` adds a SQLite file: verdicts found there (and not yet expired) are loaded when the
    cache is made, new ones are written in batches of 512 and on :meth:`flush` /
    :meth:`close` (a checker flushes at the end of every ``check_many``). Holding more than
    ``max_entries`` verdicts drops the expired ones, then the oldest, so the process-wide
    default cannot grow without bound. All methods are thread-safe.
    """

    def __init__(
        self,
        *,
        min_ttl: float = 60,
        max_ttl: float = 86400,
        negative_ttl: float = 300,
        path: str | os.PathLike[str] | None = None,
        unknown_ttl: float = 30,
        max_entries: int = 250_000,
    ) -> None:
        if not 0 <= min_ttl <= max_ttl:
            raise ValueError("need 0 <= min_ttl <= max_ttl")
        if negative_ttl < 0 or unknown_ttl < 0:
            raise ValueError("negative_ttl and unknown_ttl must not be negative")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.min_ttl = float(min_ttl)
        self.max_ttl = float(max_ttl)
        self.negative_ttl = float(negative_ttl)
        self.unknown_ttl = float(unknown_ttl)
        self.max_entries = max_entries
        self.path = path
        self._lock = threading.RLock()
        self._entries: dict[str, tuple[DomainVerdict, float]] = {}
        self._store: _SQLiteStore | None = None
        if path is not None:
            self._store = _SQLiteStore(path)
            for verdict, expires in self._store.load(time.time()):
                self._entries[verdict.domain] = (verdict, expires)
            # Unflushed verdicts must reach the file even if nobody calls close().
            self._finalizer = weakref.finalize(self, _close_store, self._lock, self._store)

    # TTL policy, used by MXChecker to turn record TTLs into a lifetime.
    def positive_lifetime(self, ttl: float) -> float:
        return min(max(float(ttl), self.min_ttl), self.max_ttl)

    def negative_lifetime(self, soa_ttl: float | None) -> float:
        if soa_ttl is None:
            return self.negative_ttl
        return min(max(float(soa_ttl), self.min_ttl), self.negative_ttl)

    def get(self, domain: str) -> DomainVerdict | None:
        key = normalise_domain(domain)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= time.time():
                del self._entries[key]
                return None
            return entry[0]

    def expires_at(self, domain: str) -> float | None:
        """When the cached verdict expires (``time.time()`` scale), or None if there is none."""
        key = normalise_domain(domain)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] <= time.time():
                return None
            return entry[1]

    def put(self, verdict: DomainVerdict, lifetime: float) -> float:
        """Keep *verdict* for *lifetime* seconds (an "unknown" one for at most ``unknown_ttl``).

        Returns the expiry time.
        """
        if verdict.status == "unknown":
            lifetime = min(lifetime, self.unknown_ttl)
        expires = time.time() + max(0.0, lifetime)
        with self._lock:
            self._entries.pop(verdict.domain, None)
            self._entries[verdict.domain] = (verdict, expires)
            if len(self._entries) > self.max_entries:
                self._evict()
            if self._store is not None and verdict.status != "unknown":
                self._store.add(verdict, expires)
        return expires

    def _evict(self) -> None:
        now = time.time()
        for key in [k for k, (_, exp) in self._entries.items() if exp <= now]:
            del self._entries[key]
        excess = len(self._entries) - (self.max_entries * 9) // 10
        if excess > 0:
            # Insertion order is write order (put re-inserts), so these are the oldest writes.
            for key in list(self._entries)[:excess]:
                del self._entries[key]

    def flush(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.flush()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            if self._store is not None:
                self._store.clear()

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __enter__(self) -> DNSCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


default_cache = DNSCache()
"""The cache every MXChecker uses unless it is given another."""


# --------------------------------------------------------------------------------------------
# Checker
# --------------------------------------------------------------------------------------------


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
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def total_queries(self) -> int:
        with self._lock:
            return sum(self.queries.values())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "queries": dict(self.queries),
                "lookups": self.lookups,
                "cache_hits": self.cache_hits,
                "inflight_joins": self.inflight_joins,
                "servfail_retries": self.servfail_retries,
            }

    def reset(self) -> None:
        with self._lock:
            self.queries.clear()
            self.lookups = self.cache_hits = self.inflight_joins = self.servfail_retries = 0

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


class _LookupFailed(Exception):
    """A question got no usable answer; the verdict is "unknown" with this reason."""

    def __init__(self, reason: str, cacheable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cacheable = cacheable


class _Abandoned(Exception):
    """The lookup a check had joined was cancelled; the check must do its own."""


@dataclass(slots=True)
class _InFlight:
    future: concurrent.futures.Future[DomainVerdict]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class _Lifetimes:
    """The lifetimes of the answers a verdict rests on; the verdict keeps the shortest."""

    cache: DNSCache
    values: list[float] = field(default_factory=list)
    cacheable: bool = True

    def positive(self, answer: dns.resolver.Answer) -> None:
        self.values.append(self.cache.positive_lifetime(answer.chaining_result.minimum_ttl))

    def negative(self, response: dns.message.Message | None) -> None:
        self.values.append(self.cache.negative_lifetime(_soa_negative_ttl(response)))

    def shortest(self) -> float:
        return min(self.values) if self.values else self.cache.negative_ttl


def _soa_negative_ttl(response: dns.message.Message | None) -> float | None:
    if response is None:
        return None
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset) > 0:
            return float(min(rrset.ttl, rrset[0].minimum))
    return None


def _is_global(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def _server_label(server: str) -> str:
    # dnspython names a server "Do53:127.0.0.1@5353"; say it as a person would.
    text = server.removeprefix("Do53:")
    host, sep, port = text.rpartition("@")
    if not sep:
        return text
    return host if port == "53" else f"{host} port {port}"


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
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._backend = dns.asyncbackend.get_backend("asyncio")

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
                _run_private(lambda: self._resolve_todo(todo, decided))
            else:
                # While this thread waits, its loop cannot run: lookups it owns stall until we
                # return, so no check may wait for them meanwhile (see _lookup_shared).
                with self._lock:
                    self._blocked_loops.add(running)
                try:
                    with concurrent.futures.ThreadPoolExecutor(1, "mxcheck") as pool:
                        pool.submit(
                            _run_private, lambda: self._resolve_todo(todo, decided)
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
                        f"DNS check of {_display_name(key)} not finished within the budget of "
                        f"{_seconds(self.budget)} s.",
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
                return await _wait_for(joined)
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

    def _get_resolver(self, shown: str) -> dns.asyncresolver.Resolver:
        if self._resolver is not None:
            return self._resolver
        if self.nameservers is None:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration as e:
                # Not cached: the configuration may be fixed at any moment.
                raise _LookupFailed(
                    f"DNS lookup of MX for {shown} not possible: no nameserver configured ({e})",
                    cacheable=False,
                ) from e
        else:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = list(self.nameservers)
            resolver.port = self.port
        resolver.lifetime = self.timeout
        resolver.timeout = min(resolver.timeout, self.timeout)
        resolver.cache = None
        self._resolver = resolver
        return resolver

    async def _lookup(self, key: str) -> tuple[DomainVerdict, float | None]:
        """Resolve one domain; returns the verdict and how long to cache it (None: don't)."""
        async with self._semaphore():
            self.stats._count("lookup")
            lifetimes = _Lifetimes(self.cache)
            try:
                verdict = await self._decide(key, lifetimes)
            except _LookupFailed as e:
                return (
                    DomainVerdict(key, "unknown", e.reason),
                    self.cache.unknown_ttl if e.cacheable else None,
                )
            return verdict, (lifetimes.shortest() if lifetimes.cacheable else None)

    async def _decide(self, key: str, lifetimes: _Lifetimes) -> DomainVerdict:
        # Mirrors email_validator.deliverability.validate_email_deliverability step by step;
        # the comments there give the RFC reasons. Failed lookups raise _LookupFailed instead
        # of passing.
        shown = _display_name(key)
        deadline = time.monotonic() + self.timeout
        not_accepting = DomainVerdict(
            key, "undeliverable", f"The domain name {shown} does not accept email."
        )
        try:
            if not key:
                # dnspython would read "" as the root name and ask the root for its MX.
                raise ValueError("The domain name is empty.")
            resolver = self._get_resolver(shown)
            name = dns.name.from_text(key)
            mx = await self._ask(resolver, name, "MX", shown, deadline)
            if mx.rrset is not None:
                lifetimes.positive(mx)
                mtas = sorted((r.preference, str(r.exchange).rstrip(".")) for r in mx)
                mtas = [(pref, host) for pref, host in mtas if host != ""]
                if not mtas:
                    return not_accepting
                hosts = ", ".join(f"{pref} {host}" for pref, host in mtas)
                return DomainVerdict(
                    key,
                    "deliverable",
                    f"The domain name {shown} accepts email (MX {hosts}).",
                    mx=tuple(mtas),
                )
            lifetimes.negative(mx.response)

            fallback: FallbackType | None = None
            for rdtype in ("A", "AAAA"):
                addrs = await self._ask(resolver, name, rdtype, shown, deadline)
                if addrs.rrset is None:
                    lifetimes.negative(addrs.response)
                    continue
                lifetimes.positive(addrs)
                if any(_is_global(r.address) for r in addrs):
                    fallback = "A" if rdtype == "A" else "AAAA"
                    break
            if fallback is None:
                return not_accepting

            txt = await self._ask(resolver, name, "TXT", shown, deadline)
            if txt.rrset is None:
                lifetimes.negative(txt.response)
            else:
                lifetimes.positive(txt)
                for rec in txt:
                    value = b"".join(rec.strings)
                    if value.startswith(b"v=spf1 ") and value == b"v=spf1 -all":
                        return DomainVerdict(
                            key, "undeliverable", f"The domain name {shown} does not send email."
                        )
            return DomainVerdict(
                key,
                "deliverable",
                f"The domain name {shown} has no MX record; mail goes to its {fallback} record"
                " address (RFC 5321 §5.1 fallback).",
                mx=((0, key),),
                mx_fallback_type=fallback,
            )
        except dns.resolver.NXDOMAIN as e:
            responses: dict[dns.name.Name, dns.message.Message] = e.kwargs.get("responses") or {}
            for response in responses.values():
                lifetimes.negative(response)
            return DomainVerdict(key, "undeliverable", f"The domain name {shown} does not exist.")
        except _LookupFailed:
            raise
        except Exception as e:
            # email-validator turns any other error into this rejection; so do we, so that both
            # give the same answer for, e.g., a name dnspython cannot encode.
            lifetimes.cacheable = False
            return DomainVerdict(
                key,
                "undeliverable",
                "There was an error while checking if the domain name in the email address is"
                f" deliverable: {e}",
            )

    async def _ask(
        self,
        resolver: dns.asyncresolver.Resolver,
        name: dns.name.Name,
        rdtype: str,
        shown: str,
        deadline: float,
    ) -> dns.resolver.Answer:
        servfails = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(rdtype, shown)
            self.stats._count("query", rdtype)
            try:
                # dnspython's lifetime can overshoot by its retry back-off; the asyncio timeout
                # makes the deadline hard.
                async with asyncio.timeout(remaining):
                    return await resolver.resolve(
                        name,
                        rdtype,
                        raise_on_no_answer=False,
                        lifetime=remaining,
                        search=False,
                        backend=self._backend,
                    )
            except (dns.exception.Timeout, TimeoutError) as e:
                raise self._timed_out(rdtype, shown) from e
            except dns.resolver.NoNameservers as e:
                errors: list[tuple[Any, ...]] = list(e.kwargs.get("errors") or [])
                all_servfail = bool(errors) and all(err[3] == "SERVFAIL" for err in errors)
                if all_servfail and servfails == 0 and deadline - time.monotonic() > 0:
                    servfails += 1
                    self.stats._count("servfail_retry")
                    continue
                raise _LookupFailed(self._no_nameservers(rdtype, shown, errors, servfails)) from e

    def _timed_out(self, rdtype: str, shown: str) -> _LookupFailed:
        return _LookupFailed(
            f"DNS lookup of {rdtype} for {shown} timed out after {_seconds(self.timeout)} s."
        )

    @staticmethod
    def _no_nameservers(
        rdtype: str, shown: str, errors: list[tuple[Any, ...]], retries: int
    ) -> str:
        answered: list[str] = []
        unreachable: list[str] = []
        for err in errors:
            server = _server_label(str(err[0]))
            if isinstance(err[3], str):
                again = " (asked twice)" if retries and err[3] == "SERVFAIL" else ""
                text = f"{server} answered {err[3]}{again}"
                if text not in answered:
                    answered.append(text)
            else:
                text = f"{server}: {err[3]}"
                if text not in unreachable:
                    unreachable.append(text)
        head = f"DNS lookup of {rdtype} for {shown} failed"
        if answered and not unreachable:
            return f"{head}: {'; '.join(answered)}."
        if unreachable and not answered:
            return f"{head}: no nameserver reachable ({'; '.join(unreachable)})."
        if not errors:
            return f"{head}: no nameserver reachable."
        return f"{head}: {'; '.join(answered + unreachable)}."


async def _wait_for(shared: concurrent.futures.Future[_T]) -> _T:
    """Await a lookup owned by any loop or thread.

    Not asyncio.wrap_future: cancelling its future cancels the shared one, which others await,
    and once this loop is closed its wake-up call would fail in the owner's thread. Here a
    cancelled waiter only stops waiting.
    """
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_: object) -> None:
        with contextlib.suppress(RuntimeError):  # this loop is closed: nobody left to wake
            loop.call_soon_threadsafe(_set_done, woken)

    shared.add_done_callback(wake)
    await woken
    return shared.result()


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _run_private(make: Callable[[], Awaitable[_T]]) -> _T:
    # Not asyncio.run(): that would replace (and then unset) the thread's current event loop,
    # which a caller with a loop set but not running would find gone afterwards.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_as_coroutine(make))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


async def _as_coroutine(make: Callable[[], Awaitable[_T]]) -> _T:
    return await make()
