"""The API's published rate limits, per API key: 80 calls a second, 30,000 per 10 minutes and
10 at once. Off unless an adapter is given a limiter.

Windows are fixed and start with a key's first call, which is what the API's
`X-RateLimit-Reset: 432 seconds` header describes (time left in the current window). Every
answer for a known key carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset`; a call over any limit is answered 1015 (429) with `currentLimit` (the limit
that was hit) and `timeToReset` in the context, as in the API's documented example. Refused
calls do not count against the quota.

`MemoryRateLimiter` serves one process; `RedisRateLimiter` shares the counters between workers
(one Lua script per call, so a decision is atomic across processes).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .._aggregate import single_error
from .._catalog import Code, ErrorCatalog
from .._exceptions import RateLimiterUnavailable
from .._results import ApiError

__all__ = [
    "Decision",
    "Limits",
    "MemoryRateLimiter",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisRateLimiter",
]


Exceeded = Literal["second", "window", "concurrent"]


@dataclass(frozen=True, slots=True)
class Limits:
    per_second: int = 80
    per_window: int = 30_000
    window: float = 600.0
    concurrent: int = 10

    def __post_init__(self) -> None:
        if min(self.per_second, self.per_window, self.concurrent) < 1 or self.window <= 0:
            raise ValueError("rate limits must be positive")


def _seconds(value: float) -> str:
    # The API writes whole seconds ("432 seconds"); rounding up never promises a reset too
    # soon. The millisecond of slack keeps float noise (600.0000001) from showing as 601.
    return f"{max(1, math.ceil(value - 0.001))} seconds"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    """The quota of the long window, shown as X-RateLimit-Limit."""
    remaining: int
    reset: float
    """Seconds until the long window starts over."""
    exceeded: Exceeded | None = None
    current_limit: int = 0
    time_to_reset: float = 0.0

    def headers(self) -> list[tuple[str, str]]:
        """The API's rate-limit headers. On a refusal, the reset and ``Retry-After`` are the
        limit that was hit (the second, the window or a concurrency slot): the same time as
        the body's ``timeToReset``, so a client that waits for the header is let in."""
        shown = [("x-ratelimit-limit", str(self.limit)),
                 ("x-ratelimit-remaining", str(max(0, self.remaining)))]
        if self.allowed:
            return [*shown, ("x-ratelimit-reset", _seconds(self.reset))]
        wait = _seconds(self.time_to_reset)
        return [*shown, ("x-ratelimit-reset", wait), ("retry-after", wait.split()[0])]

    def error(self, catalog: ErrorCatalog) -> ApiError:
        what = {"second": "per second", "window": "for this time window",
                "concurrent": "of simultaneous requests"}[self.exceeded or "window"]
        return single_error(
            Code.QUOTA_REACHED, catalog,
            f"You have reached your requests limit {what}, please wait...",
            {"currentLimit": self.current_limit, "timeToReset": _seconds(self.time_to_reset)},
        )


class RateLimiter(Protocol):
    limits: Limits

    def acquire(self, key: str) -> Decision: ...
    def release(self, key: str) -> None: ...
    async def acquire_async(self, key: str) -> Decision: ...
    async def release_async(self, key: str) -> None: ...


def unavailable_error(catalog: ErrorCatalog) -> ApiError:
    return single_error(Code.SERVICE_UNAVAILABLE, catalog,
                        "Rate limit store unavailable, please try again later", {})


@dataclass(slots=True)
class _Counters:
    window_start: float
    window_count: int
    second_start: float
    second_count: int
    inflight: int


class MemoryRateLimiter:
    """Counters in this process's memory (thread-safe; also used from the event loop, where a
    lock held for a few dictionary operations never blocks it noticeably)."""

    _SWEEP_EVERY = 4096

    def __init__(self, limits: Limits | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self._keys: dict[str, _Counters] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def acquire(self, key: str) -> Decision:
        limits = self.limits
        now = self._clock()
        with self._lock:
            self._calls += 1
            if self._calls % self._SWEEP_EVERY == 0:
                self._sweep(now)
            state = self._keys.get(key)
            if state is None:
                state = self._keys[key] = _Counters(now, 0, now, 0, 0)
            if now >= state.window_start + limits.window:
                state.window_start, state.window_count = now, 0
            if now >= state.second_start + 1.0:
                state.second_start, state.second_count = now, 0
            reset = state.window_start + limits.window - now
            remaining = limits.per_window - state.window_count
            if state.window_count >= limits.per_window:
                return Decision(False, limits.per_window, 0, reset, "window",
                                limits.per_window, reset)
            if state.second_count >= limits.per_second:
                return Decision(False, limits.per_window, remaining, reset, "second",
                                limits.per_second, state.second_start + 1.0 - now)
            if state.inflight >= limits.concurrent:
                return Decision(False, limits.per_window, remaining, reset, "concurrent",
                                limits.concurrent, 1.0)
            state.window_count += 1
            state.second_count += 1
            state.inflight += 1
            return Decision(True, limits.per_window, remaining - 1, reset)

    def release(self, key: str) -> None:
        with self._lock:
            state = self._keys.get(key)
            if state is not None and state.inflight > 0:
                state.inflight -= 1

    async def acquire_async(self, key: str) -> Decision:
        return self.acquire(key)

    async def release_async(self, key: str) -> None:
        self.release(key)

    def _sweep(self, now: float) -> None:
        # Keys whose window is over and that have nothing in flight hold no information.
        stale = [k for k, s in self._keys.items()
                 if s.inflight == 0 and now >= s.window_start + self.limits.window]
        for k in stale:
            del self._keys[k]


# KEYS: window counter, second counter, in-flight counter.
# ARGV: window ms, per window, per second, concurrent, in-flight safety TTL ms.
# Returns {allowed, which (0 none, 1 window, 2 second, 3 concurrent), window count, window
# ms left, ms left of the limit that was hit}.
_ACQUIRE = """
local window_ms = tonumber(ARGV[1])
local w = tonumber(redis.call('GET', KEYS[1]) or '0')
local wttl = redis.call('PTTL', KEYS[1])
if wttl < 0 then wttl = window_ms end
if w >= tonumber(ARGV[2]) then return {0, 1, w, wttl, wttl} end
local s = tonumber(redis.call('GET', KEYS[2]) or '0')
local sttl = redis.call('PTTL', KEYS[2])
if sttl < 0 then sttl = 1000 end
if s >= tonumber(ARGV[3]) then return {0, 2, w, wttl, sttl} end
local c = tonumber(redis.call('GET', KEYS[3]) or '0')
if c >= tonumber(ARGV[4]) then return {0, 3, w, wttl, 1000} end
w = redis.call('INCR', KEYS[1])
if w == 1 then
  redis.call('PEXPIRE', KEYS[1], window_ms)
  wttl = window_ms
end
if redis.call('INCR', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], 1000) end
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]))
return {1, 0, w, wttl, 0}
"""

_RELEASE = """
local c = redis.call('DECR', KEYS[1])
if c <= 0 then redis.call('DEL', KEYS[1]) end
return c
"""

_WHICH: dict[int, Exceeded] = {1: "window", 2: "second", 3: "concurrent"}


class RedisRateLimiter:
    """Counters in Redis, shared by every worker that uses the same server and `prefix`.

    Keys are stored hashed, so the store never holds an API key. In-flight counters expire
    after `inflight_ttl` seconds, so a worker that dies mid-request frees its slots.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", limits: Limits | None = None,
                 *, prefix: str = "validator:rl:", inflight_ttl: float = 60.0) -> None:
        import redis
        import redis.asyncio

        self.limits = limits or Limits()
        self.url = url
        self.prefix = prefix
        self.inflight_ttl_ms = int(inflight_ttl * 1000)
        self._sync: Any = redis.Redis.from_url(url)
        self._async: Any = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._async_module = redis.asyncio
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._acquire_sync = self._sync.register_script(_ACQUIRE)
        self._release_sync = self._sync.register_script(_RELEASE)
        self._acquire_async: Any = None
        self._release_async: Any = None

    def _keys(self, key: str) -> list[str]:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        base = f"{self.prefix}{digest}"
        return [f"{base}:w", f"{base}:s", f"{base}:c"]

    def _args(self) -> list[int]:
        limits = self.limits
        return [int(limits.window * 1000), limits.per_window, limits.per_second,
                limits.concurrent, self.inflight_ttl_ms]

    def _decision(self, reply: list[Any]) -> Decision:
        allowed, which, count, window_ms, hit_ms = (int(x) for x in reply)
        limits = self.limits
        reset = window_ms / 1000
        remaining = limits.per_window - count
        if allowed:
            return Decision(True, limits.per_window, remaining, reset)
        exceeded = _WHICH[which]
        current = {"window": limits.per_window, "second": limits.per_second,
                   "concurrent": limits.concurrent}[exceeded]
        return Decision(False, limits.per_window, remaining, reset, exceeded, current,
                        hit_ms / 1000)

    def acquire(self, key: str) -> Decision:
        try:
            reply = self._acquire_sync(keys=self._keys(key), args=self._args())
        except self._errors as exc:
            raise RateLimiterUnavailable(str(exc)) from exc
        return self._decision(reply)

    def release(self, key: str) -> None:
        try:
            self._release_sync(keys=self._keys(key)[2:])
        except self._errors as exc:
            raise RateLimiterUnavailable(str(exc)) from exc

    def _async_client(self) -> None:
        # An asyncio client belongs to the event loop it was made on, so one is made per loop
        # (in a server that is once; tests and scripts may run several loops in turn).
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            self._async_loop = loop
            self._async = self._async_module.Redis.from_url(self.url)
            self._acquire_async = self._async.register_script(_ACQUIRE)
            self._release_async = self._async.register_script(_RELEASE)

    async def acquire_async(self, key: str) -> Decision:
        self._async_client()
        try:
            reply = await self._acquire_async(keys=self._keys(key), args=self._args())
        except self._errors as exc:
            raise RateLimiterUnavailable(str(exc)) from exc
        return self._decision(reply)

    async def release_async(self, key: str) -> None:
        self._async_client()
        try:
            await self._release_async(keys=self._keys(key)[2:])
        except self._errors as exc:
            raise RateLimiterUnavailable(str(exc)) from exc

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self._sync.close()
