"""The verdict cache: verdicts by domain in memory, shared by every checker given it (and by
default, process-wide), optionally kept between runs in a SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import warnings
import weakref

from ._verdict import DomainVerdict, FallbackType, normalise_domain

__all__ = ["DNSCache", "default_cache"]

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

